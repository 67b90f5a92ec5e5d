//! Where daemon-side failures become wire errors: one place, so every
//! client sees the same kinds for the same causes.

use corvus_protocol::WireError;
use corvus_storage::StorageError;
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
    } else {
        WireError::internal(format!("database error: {:#}", anyhow::Error::new(err)))
    }
}

/// Runs a database call with a deadline; a timeout counts as unavailable.
pub async fn db<T>(
    call: impl Future<Output = Result<T, StorageError>>,
) -> Result<T, Result<StorageError, WireError>> {
    match tokio::time::timeout(DB_TIMEOUT, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(Ok(err)),
        Err(_) => Err(Err(WireError::unavailable(
            "the database did not answer within 5 s, nothing was changed; retry when it is back",
        ))),
    }
}

/// `db` for callers with no special handling of storage errors.
pub async fn db_plain<T>(
    call: impl Future<Output = Result<T, StorageError>>,
) -> Result<T, WireError> {
    db(call)
        .await
        .map_err(|err| err.map_or_else(|wire| wire, storage))
}
