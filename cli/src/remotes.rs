//! The daemons crv knows besides the local one: `remotes.toml` in
//! `$XDG_CONFIG_HOME/corvus` (`~/.config/corvus`), and each remote's
//! certificate, key and CA in `remotes/NAME/` beside it. The directory is
//! 0700 and every file 0600: the key is a credential.

use crate::error::CliError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The name that always means the local Unix socket.
pub const LOCAL: &str = "local";
pub const CERTIFICATE: &str = "client.crt";
pub const KEY: &str = "client.key";
pub const CA: &str = "ca.crt";

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Remotes {
    /// The remote used when neither --remote, --socket nor their variables say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(default)]
    pub remotes: BTreeMap<String, Remote>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Remote {
    /// `HOST:PORT`.
    pub address: String,
}

/// Where crv keeps its configuration.
pub fn config_dir() -> Result<PathBuf, CliError> {
    let from = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = from("XDG_CONFIG_HOME") {
        return Ok(PathBuf::from(dir).join("corvus"));
    }
    from("HOME")
        .map(|home| PathBuf::from(home).join(".config/corvus"))
        .ok_or_else(|| {
            CliError::Usage(
                "neither XDG_CONFIG_HOME nor HOME is set: crv cannot find its remotes".into(),
            )
        })
}

fn file(dir: &Path) -> PathBuf {
    dir.join("remotes.toml")
}

/// The directory holding one remote's certificate, key and CA.
pub fn remote_dir(dir: &Path, name: &str) -> PathBuf {
    dir.join("remotes").join(name)
}

fn broken(path: &Path, what: impl std::fmt::Display) -> CliError {
    CliError::Usage(format!("cannot use {}: {what}", path.display()))
}

impl Remotes {
    /// The remotes of `dir`; none when the file does not exist.
    pub fn load(dir: &Path) -> Result<Remotes, CliError> {
        let path = file(dir);
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|err| broken(&path, err)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Remotes::default()),
            Err(err) => Err(broken(&path, err)),
        }
    }

    pub fn save(&self, dir: &Path) -> Result<(), CliError> {
        let text = toml::to_string(self).map_err(|err| broken(&file(dir), err))?;
        write_private(&file(dir), text.as_bytes())
    }

    pub fn get(&self, name: &str) -> Result<&Remote, CliError> {
        self.remotes.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.remotes.keys().map(String::as_str).collect();
            CliError::Usage(if known.is_empty() {
                format!("no remote named '{name}': add one with `crv remote add {name} HOST --cert F --key F --ca F`")
            } else {
                format!("no remote named '{name}'; known: {} (and '{LOCAL}', the Unix socket)", known.join(", "))
            })
        })
    }
}

/// Creates `dir` (and its parents) with mode 0700, or tightens it to 0700.
pub fn private_dir(dir: &Path) -> Result<(), CliError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|err| broken(dir, err))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|err| broken(dir, err))
}

/// Writes a 0600 file whole: a new file beside it, renamed over it, never
/// through a symbolic link.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<(), CliError> {
    if let Some(parent) = path.parent() {
        private_dir(parent)?;
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".new");
    let temporary = PathBuf::from(temporary);
    let _ = std::fs::remove_file(&temporary);
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(&temporary)
        .and_then(|mut out| out.write_all(contents).and_then(|()| out.sync_all()))
        .and_then(|()| std::fs::rename(&temporary, path));
    written.map_err(|err| broken(path, err))
}

/// `HOST:PORT` (or `[V6]:PORT`), the port defaulting to corvus --listen's.
pub fn split_address(address: &str) -> Result<(String, u16), CliError> {
    let bad = || CliError::Usage(format!("'{address}' is not HOST[:PORT]"));
    if let Some(rest) = address.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(port) => port.parse().map_err(|_| bad())?,
            None if after.is_empty() => corvus_protocol::tls::DEFAULT_TLS_PORT,
            None => return Err(bad()),
        };
        return Ok((host.to_owned(), port));
    }
    match address.rsplit_once(':') {
        // More than one colon: a bare IPv6 address.
        Some((host, _)) if host.contains(':') => {
            Ok((address.to_owned(), corvus_protocol::tls::DEFAULT_TLS_PORT))
        }
        Some((host, port)) if !host.is_empty() => {
            Ok((host.to_owned(), port.parse().map_err(|_| bad())?))
        }
        Some(_) => Err(bad()),
        None if !address.is_empty() => {
            Ok((address.to_owned(), corvus_protocol::tls::DEFAULT_TLS_PORT))
        }
        None => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_take_a_port_or_the_default() {
        let default = corvus_protocol::tls::DEFAULT_TLS_PORT;
        assert_eq!(split_address("h:1").unwrap(), ("h".into(), 1));
        assert_eq!(split_address("h").unwrap(), ("h".into(), default));
        assert_eq!(split_address("[::1]:7").unwrap(), ("::1".into(), 7));
        assert_eq!(split_address("::1").unwrap(), ("::1".into(), default));
        assert!(split_address("h:port").is_err());
        assert!(split_address(":1").is_err());
    }

    #[test]
    fn the_file_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let mut remotes = Remotes::default();
        remotes.remotes.insert(
            "home".into(),
            Remote {
                address: "h:1".into(),
            },
        );
        remotes.default = Some("home".into());
        remotes.save(dir.path()).unwrap();
        let mode = std::fs::metadata(file(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let back = Remotes::load(dir.path()).unwrap();
        assert_eq!(back.default.as_deref(), Some("home"));
        assert_eq!(back.get("home").unwrap().address, "h:1");
        assert!(back.get("work").is_err());
    }
}
