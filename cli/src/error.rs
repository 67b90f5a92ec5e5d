//! What can go wrong in `crv`, and the exit status for each (DESIGN §8).

use crate::client::Endpoint;
use corvus_protocol::{FrameError, WireError};
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
    #[error("protocol error: {0}")]
    Protocol(String),
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
            CliError::Unreachable { .. } => ExitCode::from(3),
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
            _ => None,
        }
    }
}
