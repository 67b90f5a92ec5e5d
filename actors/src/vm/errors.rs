//! Why a boot failed, with every cause kept, and the one place where it
//! becomes text for the history and a typed error for the client.

use corvus_protocol::{ErrorKind, WireError};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error(transparent)]
    PathTooLong(#[from] corvus_qemu::PathTooLong),
    #[error("The definition cannot start")]
    InvalidDefinition(#[from] corvus_qemu::InvalidVm),
    #[error("Cannot prepare the runtime directory")]
    RuntimeDir(#[from] corvus_qemu::PrepareError),
    #[error(
        "This VM has shared directories but no virtiofsd was found (looked on PATH, in /usr/libexec and /usr/lib/qemu; Debian ships it in qemu-system-common or the virtiofsd package)"
    )]
    NoVirtiofsd,
    #[error(
        "The save file {} is missing; use `crv vm reset` to discard the saved state",
        path.display()
    )]
    SaveMissing { path: PathBuf },
    #[error("Cannot restore the saved state")]
    Restore(#[source] super::save::SaveError),
    #[error("Cannot serve share '{tag}'")]
    Virtiofsd {
        tag: String,
        #[source]
        source: corvus_qemu::VirtiofsdError,
    },
    #[error("Cannot run {}", binary.display())]
    Spawn {
        binary: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A drive's disk image chain is not usable (a file deleted behind
    /// Corvus's back, a backing file without its format); the text says which.
    #[error("{0}")]
    Disks(String),
    #[error("Cannot open QEMU's QMP socket {}", path.display())]
    QmpConnect {
        path: PathBuf,
        #[source]
        source: corvus_qemu::QmpError,
    },
    #[error(transparent)]
    Network(#[from] crate::networks::vm_link::PlugError),
    #[error("QEMU did not answer query-status")]
    QmpStatus(#[source] corvus_qemu::QmpError),
    #[error(transparent)]
    Seed(#[from] crate::cloud::seed::SeedError),
    /// A forwarded host port is taken; the text names it and its holder.
    #[error("{0}")]
    PortTaken(String),
    #[error("The seed task failed: {0}")]
    SeedTask(String),
}

/// The whole cause chain on one line, the same way everywhere: the history,
/// `last_error`, the log and the client's message.
pub fn render(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // `#[error(transparent)]` repeats its source's text; say it once.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A command for a VM whose definition is gone (deleted meanwhile).
pub fn deleted(vm: &str) -> WireError {
    WireError::not_found(format!("VM '{vm}' was deleted"))
}

impl From<&BootError> for WireError {
    fn from(err: &BootError) -> WireError {
        WireError::new(ErrorKind::QemuFailed, render(err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whole_chain_reaches_the_message() {
        let err = BootError::QmpConnect {
            path: PathBuf::from("/run/corvus/1/qmp.sock"),
            source: corvus_qemu::QmpError::Connect(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "Connection refused",
            )),
        };
        assert_eq!(
            render(&err),
            "Cannot open QEMU's QMP socket /run/corvus/1/qmp.sock: Cannot connect to the QMP socket: Connection refused"
        );
        let wire = WireError::from(&err);
        assert_eq!(wire.kind, ErrorKind::QemuFailed);
        assert!(wire.message.ends_with("Connection refused"));
    }

    #[test]
    fn a_transparent_wrapper_is_not_said_twice() {
        let err = BootError::PathTooLong(corvus_qemu::PathTooLong {
            path: PathBuf::from("/x/qmp.sock"),
            len: 200,
            limit: 107,
        });
        let text = render(&err);
        assert_eq!(text.matches("over the 107-byte limit").count(), 1, "{text}");
    }
}
