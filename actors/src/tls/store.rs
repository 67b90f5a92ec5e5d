//! The TLS files in the daemon's config directory (`--config-dir`, 0700):
//! the CA (`ca.crt`, `ca.key`), the server's certificate (`server.crt`,
//! `server.key`) and a copy of every client certificate issued
//! (`issued/SERIAL.crt`, what `tls list` and `tls revoke` read). Every file
//! is 0600 and written whole (a temporary file renamed over the old one),
//! never through a symbolic link.

use super::certificate::ClientCertificate;
use corvus_qemu::Strictness;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub const CA_CERTIFICATE: &str = "ca.crt";
pub const CA_KEY: &str = "ca.key";
pub const SERVER_CERTIFICATE: &str = "server.crt";
pub const SERVER_KEY: &str = "server.key";
const ISSUED: &str = "issued";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot use the config directory (--config-dir)")]
    Directory(#[from] corvus_qemu::private_dir::PrivateDirError),
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("there is no CA in {}: run `corvus tls init` first", .0.display())]
    NoCa(PathBuf),
}

/// The config directory, checked: owned by the daemon's user, closed to others.
pub struct TlsDir {
    path: PathBuf,
}

impl TlsDir {
    /// Creates the directory (0700) if it is missing.
    pub fn create(path: &Path) -> Result<TlsDir, StoreError> {
        corvus_qemu::private_dir::ensure(path, Strictness::Private)?;
        Ok(TlsDir {
            path: path.to_owned(),
        })
    }

    /// The directory as it is; a missing CA is `NoCa`.
    pub fn existing(path: &Path) -> Result<TlsDir, StoreError> {
        if !path.join(CA_KEY).exists() {
            return Err(StoreError::NoCa(path.to_owned()));
        }
        corvus_qemu::private_dir::check(path, Strictness::Private)?;
        Ok(TlsDir {
            path: path.to_owned(),
        })
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.path.join(file)
    }

    pub fn has_ca(&self) -> bool {
        self.path(CA_KEY).exists()
    }

    pub fn read(&self, file: &str) -> Result<String, StoreError> {
        read(&self.path(file))
    }

    pub fn write(&self, file: &str, contents: &str) -> Result<(), StoreError> {
        write_private(&self.path(file), contents)
    }

    /// Keeps a copy of an issued client certificate, named by its serial.
    pub fn record_issued(&self, serial: &str, certificate: &str) -> Result<(), StoreError> {
        let dir = self.path.join(ISSUED);
        corvus_qemu::private_dir::ensure(&dir, Strictness::Private)?;
        write_private(&dir.join(format!("{serial}.crt")), certificate)
    }

    /// Every client certificate issued, oldest first. One that no longer
    /// parses is left out (it cannot be used either).
    pub fn issued(&self) -> Result<Vec<ClientCertificate>, StoreError> {
        let dir = self.path.join(ISSUED);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(StoreError::Read { path: dir, source }),
        };
        let mut issued = Vec::new();
        for entry in entries {
            let path = entry
                .map_err(|source| StoreError::Read {
                    path: dir.clone(),
                    source,
                })?
                .path();
            if path.extension().is_none_or(|ext| ext != "crt") {
                continue;
            }
            let pem = read(&path)?;
            let parsed = CertificateDer::from_pem_slice(pem.as_bytes())
                .ok()
                .and_then(|der| ClientCertificate::read(&der).ok());
            match parsed {
                Some(certificate) => issued.push(certificate),
                None => {
                    tracing::warn!(file = %path.display(), "skipping a file that is not a client certificate")
                }
            }
        }
        issued.sort_by_key(|c| (c.not_before, c.serial.clone()));
        Ok(issued)
    }
}

pub fn read(path: &Path) -> Result<String, StoreError> {
    std::fs::read_to_string(path).map_err(|source| StoreError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Writes `contents` to `path` with mode 0600: into a new file beside it
/// (never following a link), then renamed over `path`.
pub fn write_private(path: &Path, contents: &str) -> Result<(), StoreError> {
    let failed = |source| StoreError::Write {
        path: path.to_owned(),
        source,
    };
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".new");
    let temporary = PathBuf::from(temporary);
    match std::fs::remove_file(&temporary) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(failed(err)),
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(&temporary)
        .map_err(failed)?;
    file.write_all(contents.as_bytes()).map_err(failed)?;
    file.sync_all().map_err(failed)?;
    std::fs::rename(&temporary, path).map_err(failed)
}
