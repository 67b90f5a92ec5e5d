//! What can go wrong in `crv`, and the exit status for each (DESIGN §8).

use crate::client::Endpoint;
use corvus_protocol::tls::Refusal;
use corvus_protocol::{CallError, FrameError, WireError};
use std::process::ExitCode;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Refused(WireError),
    #[error("{0}")]
    Failed(String),
    #[error("{0}")]
    Usage(String),
    #[error("cannot reach the corvus daemon at {endpoint}: {source}")]
    Unreachable {
        endpoint: Endpoint,
        #[source]
        source: std::io::Error,
    },
    #[error("the daemon at {endpoint} accepted the connection but did not answer within {secs} s")]
    NoHandshake { endpoint: Endpoint, secs: u64 },
    #[error("{endpoint}: {refusal}")]
    TlsRefused {
        endpoint: Endpoint,
        refusal: corvus_protocol::tls::Refusal,
    },
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl From<CallError> for CliError {
    fn from(err: CallError) -> CliError {
        match err {
            CallError::Refused(err) => CliError::Refused(err),
            CallError::Frame(err) => CliError::frame(err),
            CallError::Closed | CallError::Unexpected(_) => CliError::Protocol(err.to_string()),
        }
    }
}

/// An error and its causes on one line, as `anyhow`'s `{:#}` prints them.
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl CliError {
    pub fn frame(err: FrameError) -> CliError {
        match err {
            // What a TLS peer that vanishes without a close_notify looks like.
            FrameError::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                CliError::Protocol("the daemon closed the connection".into())
            }
            FrameError::Io(io) => {
                CliError::Protocol(format!("connection to the daemon broke: {io}"))
            }
            other => CliError::Protocol(other.to_string()),
        }
    }

    /// A connection that failed: a TLS refusal either way, or unreachable.
    pub fn connect(endpoint: &Endpoint, err: std::io::Error) -> CliError {
        match corvus_protocol::tls::refusal(&err) {
            Some(refusal) => CliError::TlsRefused {
                endpoint: endpoint.clone(),
                refusal,
            },
            None => CliError::Unreachable {
                endpoint: endpoint.clone(),
                source: err,
            },
        }
    }

    /// A handshake that broke: with TLS 1.3 the daemon's refusal of the
    /// client's certificate arrives here, on the first read.
    pub fn handshake(endpoint: &Endpoint, err: FrameError) -> CliError {
        match &err {
            FrameError::Io(io) => match corvus_protocol::tls::refusal(io) {
                Some(refusal) => CliError::TlsRefused {
                    endpoint: endpoint.clone(),
                    refusal,
                },
                None => CliError::frame(err),
            },
            _ => CliError::frame(err),
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Refused(_)
            | CliError::Failed(_)
            | CliError::Protocol(_)
            | CliError::TlsRefused { .. } => ExitCode::from(1),
            CliError::Usage(_) => ExitCode::from(2),
            CliError::Unreachable { .. } | CliError::NoHandshake { .. } => ExitCode::from(3),
        }
    }

    /// What to do about it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            CliError::Unreachable {
                endpoint: Endpoint::Unix(path),
                ..
            } => Some(format!(
                "start the daemon with `corvus --socket {}` (or `systemctl --user start corvus`), or point crv elsewhere with --socket PATH / CORVUS_SOCKET",
                path.display()
            )),
            CliError::Unreachable {
                endpoint: Endpoint::Tcp(_),
                ..
            } => Some(
                "start the daemon with `corvus --tcp --insecure-tcp`, or check --host and --port"
                    .into(),
            ),
            CliError::Unreachable {
                endpoint: Endpoint::Remote(remote),
                ..
            } => Some(format!(
                "check that the daemon runs with `corvus --listen` on that address, or change the remote (`crv remote remove {0}`, then `crv remote add {0} HOST:PORT …`)",
                remote.name
            )),
            CliError::TlsRefused {
                refusal: Refusal::ByDaemon(_),
                ..
            } => Some(
                "ask the daemon's administrator for a valid certificate (`corvus tls issue`), then `crv remote add` it again".into(),
            ),
            CliError::TlsRefused {
                refusal: Refusal::OfDaemon(_),
                ..
            } => Some(
                "the remote's address must be one the daemon's certificate names (`corvus tls init --san ADDRESS` on its host adds one), and its CA the one `corvus tls issue` wrote".into(),
            ),
            CliError::NoHandshake { .. } => Some(
                "the daemon may be hung or overloaded (see its log), or something other than corvus listens there".into(),
            ),
            _ => None,
        }
    }
}
