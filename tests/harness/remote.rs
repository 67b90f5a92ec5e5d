//! Remote access as a user sets it up: certificates issued by `corvus tls`
//! itself, added to crv with `crv remote add`, used with `--remote`.

use crate::access::Via;
use crate::daemon::Daemon;
use std::path::PathBuf;

/// The three files `corvus tls issue NAME --out DIR` writes.
pub struct Issued {
    pub certificate: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

impl Daemon {
    /// `corvus tls issue NAME --role ROLE EXTRA… --out DIR`.
    pub fn issue(&self, name: &str, role: &str, extra: &[&str]) -> Issued {
        let out = self.dir.path().join("issued").join(name);
        let out_arg = out.to_string_lossy().into_owned();
        let mut args = vec!["tls", "issue", name, "--role", role, "--out", &out_arg];
        args.extend_from_slice(extra);
        self.corvus(&args).ok();
        Issued {
            certificate: out.join(format!("{name}.crt")),
            key: out.join(format!("{name}.key")),
            ca: out.join("ca.crt"),
        }
    }

    /// `crv remote add NAME ADDRESS` with `files`.
    pub fn add_remote(&self, name: &str, address: &str, files: &Issued) {
        let path = |p: &PathBuf| p.to_string_lossy().into_owned();
        let (certificate, key, ca) = (path(&files.certificate), path(&files.key), path(&files.ca));
        self.crv(&[
            "remote",
            "add",
            name,
            address,
            "--cert",
            &certificate,
            "--key",
            &key,
            "--ca",
            &ca,
        ])
        .ok();
    }

    /// The daemon's `--listen` address.
    pub fn listen_address(&self) -> &str {
        self.options
            .listen
            .as_deref()
            .expect("the daemon was started with DaemonOptions::listen")
    }

    /// A client certificate `name` with `role`, issued and added as the
    /// remote `name` of this daemon's --listen address: `Via::Remote(name)`.
    pub fn remote<'a>(&self, name: &'a str, role: &str) -> Via<'a> {
        let files = self.issue(name, role, &[]);
        self.add_remote(name, self.listen_address(), &files);
        Via::Remote(name)
    }
}
