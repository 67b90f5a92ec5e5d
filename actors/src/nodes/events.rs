//! Events of the other nodes' VMs (issue 19, PostgreSQL): a task listens
//! to `corvus_events`, reads each event another node stored from its row
//! and hands it to this node's event bus, so `crv events` on any node
//! shows every node's VMs. This node's own events are on its bus already.

use crate::context::SharedContext;
use crate::wire::db;
use corvus_storage::{Announced, DbKind};
use std::time::Duration;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

/// How long a failed listener waits before it tries again.
const RETRY: Duration = Duration::from_secs(1);

/// Starts the relay on PostgreSQL; `None` on SQLite (one node).
pub fn spawn(ctx: SharedContext) -> Option<JoinHandle<()>> {
    (ctx.store.kind() == DbKind::Postgres).then(|| tokio::spawn(relay(ctx)))
}

async fn relay(ctx: SharedContext) {
    loop {
        let mut listener = match ctx.store.listen_events().await {
            Ok(listener) => listener,
            Err(err) => {
                warn!(error = %format!("{:#}", anyhow::Error::new(err)), "cannot listen to the other nodes' events; retrying");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        loop {
            // It reconnects by itself; what was announced meanwhile is only
            // in the rows (`crv events --since`).
            let notice = match listener.recv().await {
                Ok(notice) => notice,
                Err(err) => {
                    warn!(error = %err, "the other nodes' events stopped; listening again");
                    tokio::time::sleep(RETRY).await;
                    break;
                }
            };
            let Some(announced) = Announced::parse(notice.payload()) else {
                debug!(
                    payload = notice.payload(),
                    "ignoring a malformed event notice"
                );
                continue;
            };
            if announced.node == ctx.node.name {
                continue;
            }
            match db(ctx.store.event_by_seq(announced.seq)).await {
                Ok(Some(event)) => ctx.bus.relay(event),
                // Pruned already, or a database that does not answer.
                Ok(None) | Err(_) => {
                    debug!(seq = announced.seq, node = %announced.node, "an announced event could not be read")
                }
            }
        }
    }
}
