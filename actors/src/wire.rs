//! Where daemon-side failures become wire errors: one place, so every
//! client sees the same kinds for the same causes.

use corvus_protocol::WireError;
use corvus_storage::{Duplicate, StorageError};
use std::future::Future;
use std::time::Duration;

/// How long a definition write may take before the client is told the
/// database is unavailable.
const DB_TIMEOUT: Duration = Duration::from_secs(5);

pub fn storage(err: StorageError) -> WireError {
    if err.is_unavailable() {
        WireError::unavailable(format!(
            "the database is unreachable, nothing was changed ({}); retry when it is back",
            anyhow::Error::new(err)
                .chain()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join(": ")
        ))
    } else if let Some(reason) = err.refusal() {
        WireError::unavailable(format!(
            "the database refuses writes ({reason}), nothing was changed; retry once it accepts writes again (`crv status` shows why it does not)"
        ))
    } else {
        WireError::internal(format!("database error: {:#}", anyhow::Error::new(err)))
    }
}

/// A database call that did not succeed: refused (a duplicate, a broken
/// row, an unreachable server) or not answered in time.
pub enum DbFailure {
    Refused(StorageError),
    TimedOut,
}

impl DbFailure {
    /// The unique rule a refused write broke, for callers that say which.
    pub fn duplicate(&self) -> Option<Duplicate> {
        match self {
            DbFailure::Refused(err) => err.duplicate(),
            DbFailure::TimedOut => None,
        }
    }
}

impl From<DbFailure> for WireError {
    fn from(failure: DbFailure) -> WireError {
        match failure {
            DbFailure::Refused(err) => storage(err),
            DbFailure::TimedOut => WireError::unavailable(
                "the database did not answer within 5 s, nothing was changed; retry when it is back",
            ),
        }
    }
}

/// Runs a database call with a deadline; a timeout counts as unavailable.
pub async fn db<T>(call: impl Future<Output = Result<T, StorageError>>) -> Result<T, DbFailure> {
    match tokio::time::timeout(DB_TIMEOUT, call).await {
        Ok(result) => result.map_err(DbFailure::Refused),
        Err(_) => Err(DbFailure::TimedOut),
    }
}
