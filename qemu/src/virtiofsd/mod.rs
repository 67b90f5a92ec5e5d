//! virtiofsd, the host side of a virtiofs share: one process per share and
//! boot, listening on `virtiofsd-<tag>.sock` before QEMU starts.
//!
//! Two implementations exist with different flags: the C one shipped with
//! QEMU up to 7.2 (Debian 12's `/usr/lib/qemu/virtiofsd`) and the Rust one
//! that replaced it. [`find`] detects which one it found, once.
//!
//! Read-only shares: the Rust virtiofsd has `--readonly` (since 1.11). The C
//! one has no such option (`-o ro` is "unknown option"), so Corvus starts it
//! in a private mount namespace where the shared directory is a read-only
//! bind mount of itself; virtiofsd's own sandbox then pivots into that
//! read-only mount. This needs root, which the C virtiofsd needs anyway.
//! Submounts below a read-only share are not exposed (the bind is not
//! recursive, so nothing writable hides underneath).

mod readonly;
mod spawn;

use crate::process::ExitInfo;
use corvus_protocol::{ShareCache, ShareInfo};
use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Places searched after `PATH`, where distributions install it.
const KNOWN_LOCATIONS: &[&str] = &["/usr/libexec/virtiofsd", "/usr/lib/qemu/virtiofsd"];

/// How long `virtiofsd --help` may take when probing.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagStyle {
    /// QEMU's C virtiofsd: `--socket-path=S -o source=DIR -o cache=...`.
    C,
    /// The Rust virtiofsd: `--socket-path S --shared-dir DIR --cache ...`.
    Rust,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Virtiofsd {
    binary: PathBuf,
    style: FlagStyle,
    /// Whether the binary has `--readonly` (only some Rust versions).
    readonly_flag: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum VirtiofsdError {
    #[error(
        "{} cannot serve read-only shares: it has no read-only option, and a read-only mount needs root",
        binary.display()
    )]
    ReadOnlyUnsupported { binary: PathBuf },
    #[error("Cannot remove the stale socket {}", path.display())]
    StaleSocket {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("Cannot start {}", binary.display())]
    Spawn {
        binary: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("virtiofsd {status} before listening: {log}")]
    Exited { status: ExitInfo, log: String },
    #[error("virtiofsd did not listen on {} within {:?}", socket.display(), deadline)]
    Timeout { socket: PathBuf, deadline: Duration },
}

/// Looks on `PATH`, then in `/usr/libexec` and `/usr/lib/qemu`; the first
/// binary whose `--help` reveals a known flag style wins.
pub async fn find() -> Option<Virtiofsd> {
    let on_path = std::env::var_os("PATH")
        .map(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("virtiofsd"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let candidates = on_path
        .into_iter()
        .chain(KNOWN_LOCATIONS.iter().map(PathBuf::from));
    for candidate in candidates {
        let is_file = tokio::fs::metadata(&candidate)
            .await
            .is_ok_and(|meta| meta.is_file());
        if !is_file {
            continue;
        }
        if let Some(found) = Virtiofsd::probe(&candidate).await {
            return Some(found);
        }
    }
    None
}

impl Virtiofsd {
    /// A binary whose style is known (configuration, tests).
    pub fn with_style(binary: impl Into<PathBuf>, style: FlagStyle) -> Virtiofsd {
        Virtiofsd {
            binary: binary.into(),
            style,
            readonly_flag: style == FlagStyle::Rust,
        }
    }

    /// Runs `binary --help` and reads its flag style from the output.
    pub async fn probe(binary: &Path) -> Option<Virtiofsd> {
        let run = tokio::process::Command::new(binary)
            .arg("--help")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(PROBE_TIMEOUT, run).await.ok()?.ok()?;
        let mut text = output.stdout;
        text.extend_from_slice(&output.stderr);
        let help = String::from_utf8_lossy(&text);
        Self::from_help(binary, &help)
    }

    fn from_help(binary: &Path, help: &str) -> Option<Virtiofsd> {
        let (style, readonly_flag) = if help.contains("--shared-dir") {
            (FlagStyle::Rust, help.contains("--readonly"))
        } else if help.contains("source=") {
            (FlagStyle::C, false)
        } else {
            return None;
        };
        Some(Virtiofsd {
            binary: binary.to_owned(),
            style,
            readonly_flag,
        })
    }

    pub fn binary(&self) -> &Path {
        &self.binary
    }

    pub fn style(&self) -> FlagStyle {
        self.style
    }

    /// Whether read-only shares are made with a private read-only bind
    /// mount rather than a flag.
    fn needs_readonly_mount(&self, share: &ShareInfo) -> bool {
        share.read_only && !self.readonly_flag
    }

    /// The arguments for serving `share` on `socket`. Pure; nothing passes
    /// through a shell.
    pub fn args(&self, socket: &Path, share: &ShareInfo) -> Vec<OsString> {
        match self.style {
            FlagStyle::C => {
                let cache = match share.cache {
                    ShareCache::Auto => "auto",
                    ShareCache::Always => "always",
                    ShareCache::Never => "none",
                };
                vec![
                    concat("--socket-path=", socket.as_os_str().as_encoded_bytes()),
                    "-o".into(),
                    concat("source=", &fuse_escape(share.path.as_bytes())),
                    "-o".into(),
                    format!("cache={cache}").into(),
                ]
            }
            FlagStyle::Rust => {
                let mut args: Vec<OsString> = vec![
                    "--socket-path".into(),
                    socket.into(),
                    "--shared-dir".into(),
                    (&share.path).into(),
                    "--cache".into(),
                    share.cache.as_str().into(),
                ];
                if share.read_only && self.readonly_flag {
                    args.push("--readonly".into());
                }
                // Its namespace sandbox needs root; without it, run unsandboxed.
                if !rustix::process::geteuid().is_root() {
                    args.extend(["--sandbox".into(), "none".into()]);
                }
                args
            }
        }
    }
}

fn concat(prefix: &str, value: &[u8]) -> OsString {
    let mut bytes = prefix.as_bytes().to_vec();
    bytes.extend_from_slice(value);
    OsString::from_vec(bytes)
}

/// The C virtiofsd splits `-o` values on commas (libfuse's option parser),
/// which takes `\,` for a literal comma and `\\` for a backslash.
fn fuse_escape(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    for &byte in value {
        if byte == b',' || byte == b'\\' {
            out.push(b'\\');
        }
        out.push(byte);
    }
    out
}

#[cfg(test)]
mod tests;
