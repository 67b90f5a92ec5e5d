//! Event history retention (`--event-retention`): a periodic task, beside
//! the persistence actor rather than inside it, that keeps the newest N
//! events of each VM and deletes older ones.
//!
//! A sweep looks only at the VMs that got events since the previous one
//! (the first sweep, at start, at all of them), so an idle daemon with
//! thousands of VMs does next to nothing.

use corvus_storage::{StorageError, Store};
use std::time::Duration;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

/// Events deleted per statement: short enough that state writes queued
/// behind a batch (SQLite has one connection) wait milliseconds.
const BATCH: u64 = 5000;
/// The longest one statement may take before the sweep gives up until the next.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
enum SweepError {
    #[error("database error")]
    Storage(#[from] StorageError),
    #[error("the database did not answer within {} s", STATEMENT_TIMEOUT.as_secs())]
    TimedOut,
}

/// Starts the task (the daemon aborts it at exit); `None` when every event
/// is kept.
pub fn spawn(store: Store, keep: Option<u64>, interval: Duration) -> Option<JoinHandle<()>> {
    let keep = keep?;
    Some(tokio::spawn(async move {
        // Seqs at or below this were looked at by an earlier sweep.
        let mut swept_up_to = 0;
        loop {
            match sweep(&store, keep, swept_up_to).await {
                Ok(newest) => swept_up_to = newest,
                Err(err) => {
                    warn!(error = %anyhow::Error::new(err).chain().map(ToString::to_string).collect::<Vec<_>>().join(": "), "pruning old events failed; retrying at the next sweep")
                }
            }
            tokio::time::sleep(interval).await;
        }
    }))
}

/// Prunes every VM with events after `swept_up_to`; returns the newest seq
/// it saw, where the next sweep starts.
async fn sweep(store: &Store, keep: u64, swept_up_to: u64) -> Result<u64, SweepError> {
    let newest = timed(store.max_event_seq()).await?;
    if newest <= swept_up_to {
        return Ok(swept_up_to);
    }
    let vms = timed(store.vms_with_events_after(swept_up_to)).await?;
    let mut deleted = 0;
    for vm_id in &vms {
        loop {
            let batch = timed(store.prune_vm_events(*vm_id, keep, BATCH)).await?;
            deleted += batch;
            if batch < BATCH {
                break;
            }
        }
    }
    if deleted > 0 {
        info!(
            deleted,
            vms = vms.len(),
            keep,
            "pruned old events (--event-retention)"
        );
    } else {
        debug!(vms = vms.len(), keep, "no events to prune");
    }
    Ok(newest)
}

async fn timed<T>(call: impl Future<Output = Result<T, StorageError>>) -> Result<T, SweepError> {
    match tokio::time::timeout(STATEMENT_TIMEOUT, call).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(SweepError::TimedOut),
    }
}
