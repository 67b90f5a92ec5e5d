//! What can go wrong in `crv`, and the exit status for each (DESIGN §8).

use crate::client::Endpoint;
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

impl CliError {
    pub fn frame(err: FrameError) -> CliError {
        match err {
            FrameError::Io(io) => {
                CliError::Protocol(format!("connection to the daemon broke: {io}"))
            }
            other => CliError::Protocol(other.to_string()),
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Refused(_) | CliError::Failed(_) | CliError::Protocol(_) => ExitCode::from(1),
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
            } => Some("start the daemon with `corvus --tcp`, or check --host and --port".into()),
            CliError::NoHandshake { .. } => Some(
                "the daemon may be hung or overloaded (see its log), or something other than corvus listens there".into(),
            ),
            _ => None,
        }
    }
}
