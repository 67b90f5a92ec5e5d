//! Events on PostgreSQL (issue 19): the database numbers every node's
//! events as it stores them (`corvus_storage` numbering), and this task
//! hands them to this node's event bus from their rows, in seq order, this
//! node's own as every other's. A notice on `corvus_events` says a new
//! event is stored; the task then reads every row after the last one it
//! delivered, so a notice lost while the listener reconnects loses no
//! event, and every node's subscribers see one numbering.

use crate::context::SharedContext;
use crate::wire::{DbFailure, db};
use corvus_protocol::WireError;
use corvus_storage::{Announced, DbKind};
use std::time::Duration;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

/// How long a failed listener or read waits before it tries again.
const RETRY: Duration = Duration::from_secs(1);
/// Rows read per query while catching up.
const PAGE: u64 = 1000;

/// Starts the relay on PostgreSQL; `None` on SQLite (one node, which
/// numbers its own events).
pub fn spawn(ctx: SharedContext) -> Option<JoinHandle<()>> {
    (ctx.store.kind() == DbKind::Postgres).then(|| tokio::spawn(relay(ctx)))
}

async fn relay(ctx: SharedContext) {
    loop {
        let mut listener = match ctx.store.listen_events().await {
            Ok(listener) => listener,
            Err(err) => {
                warn!(error = %format!("{:#}", anyhow::Error::new(err)), "cannot listen for stored events; retrying");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        // Listening first, then reading: an event stored in between is in
        // the rows, and its notice only finds it streamed already.
        let mut behind = true;
        let mut failing = false;
        loop {
            if behind {
                match catch_up(&ctx).await {
                    Ok(()) => failing = false,
                    Err(err) => {
                        // Said once per outage: it is retried every second.
                        if !std::mem::replace(&mut failing, true) {
                            warn!(error = %WireError::from(err).message, "cannot read the stored events; retrying");
                        }
                        tokio::time::sleep(RETRY).await;
                        continue;
                    }
                }
            }
            behind = match listener.try_recv().await {
                Ok(Some(notice)) => Announced::parse(notice.payload())
                    .is_none_or(|announced| announced.seq > ctx.bus.last_seq()),
                // The connection was lost and made again: notices sent
                // meanwhile are gone, the rows are not.
                Ok(None) => {
                    debug!("the event listener reconnected; reading the rows");
                    true
                }
                Err(err) => {
                    warn!(error = %err, "the event listener failed; listening again");
                    tokio::time::sleep(RETRY).await;
                    break;
                }
            };
        }
    }
}

/// Delivers every stored event after the last one delivered, oldest first.
async fn catch_up(ctx: &SharedContext) -> Result<(), DbFailure> {
    loop {
        let after = ctx.bus.last_seq();
        let page = db(ctx.store.events_page(after, None, &[], Some(PAGE))).await?;
        let full = page.len() as u64 == PAGE;
        for event in page {
            ctx.bus.relay(event);
        }
        if !full {
            return Ok(());
        }
    }
}
