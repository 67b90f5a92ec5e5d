//! QMP figures for the stats collector. The actor owns the QMP session, so
//! the collector asks through its mailbox; the actor hands a clone of the
//! session to a task that queries QEMU and answers the collector directly,
//! within the collector's deadline. The actor never waits for QEMU here.

use super::VmActorState;
use corvus_qemu::{BalloonInfo, BlockStats, QmpCommands, QmpError, VcpuThread};
use std::time::Duration;
use tokio::sync::oneshot;
use tracing::Instrument;

/// What QMP said, query by query: one that fails leaves the others.
#[derive(Debug)]
pub struct QmpFigures {
    pub vcpus: Result<Vec<VcpuThread>, QmpError>,
    pub block: Result<Vec<BlockStats>, QmpError>,
    pub balloon: Result<Option<BalloonInfo>, QmpError>,
}

impl QmpFigures {
    /// Every query failed the same way (no session, or the actor is gone).
    pub fn unavailable(error: impl Fn() -> QmpError) -> QmpFigures {
        QmpFigures {
            vcpus: Err(error()),
            block: Err(error()),
            balloon: Err(error()),
        }
    }
}

impl VmActorState {
    pub(super) fn sample_qmp(&self, deadline: Duration, reply: oneshot::Sender<QmpFigures>) {
        let session = self.boot.as_ref().and_then(|boot| boot.qmp.clone());
        tokio::spawn(
            async move {
                let figures = match session {
                    Some(session) => query(session.with_timeout(deadline)).await,
                    None => QmpFigures::unavailable(|| QmpError::Closed),
                };
                // The collector may have given up waiting; that is fine.
                let _ = reply.send(figures);
            }
            .in_current_span(),
        );
    }
}

/// The three queries at once: the session routes replies by id.
async fn query(session: QmpCommands) -> QmpFigures {
    let (vcpus, block, balloon) = tokio::join!(
        session.query_cpus_fast(),
        session.query_blockstats(),
        session.query_balloon()
    );
    QmpFigures {
        vcpus,
        block,
        balloon,
    }
}
