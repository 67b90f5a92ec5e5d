use std::io;

/// What can go wrong talking QMP. "QEMU said no" ([`QmpError::Refused`]) and
/// "the connection is gone" ([`QmpError::Closed`], [`QmpError::Io`]) are
/// different: the first leaves the session usable.
#[derive(Debug, thiserror::Error)]
pub enum QmpError {
    /// The socket never accepted a connection before the deadline.
    #[error("Cannot connect to the QMP socket")]
    Connect(#[source] io::Error),
    #[error("QMP connection failed")]
    Io(#[source] io::Error),
    /// QEMU sent something that is not QMP as we know it.
    #[error("Unexpected QMP message: {0}")]
    Protocol(String),
    /// QEMU answered the command with an error; the session is fine.
    #[error("QEMU refused the command: {desc} ({class})")]
    Refused { class: String, desc: String },
    #[error("The QMP connection is closed")]
    Closed,
    #[error("QEMU did not answer in time")]
    Timeout,
}
