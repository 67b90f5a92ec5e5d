//! Takeover (issue 19, PostgreSQL): every heartbeat interval this node
//! asks the database for lost nodes (lock free and heartbeat older than
//! --node-timeout) and handles their VMs that had a QEMU, one transaction
//! per lost node (`corvus_storage` `take_over`): the HA VMs it wins become
//! its own and the supervisor starts them; the others are left in `error`.
//! A node that cannot prove its own lock takes nothing.

use crate::context::SharedContext;
use crate::supervisor::{SupervisorMsg, SupervisorRef};
use corvus_storage::{DbKind, SessionState};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

/// Starts the takeover loop on PostgreSQL; `None` on SQLite (one node).
pub fn spawn(
    ctx: SharedContext,
    supervisor: SupervisorRef,
    session: Option<watch::Receiver<SessionState>>,
) -> Option<JoinHandle<()>> {
    let session = session.filter(|_| ctx.store.kind() == DbKind::Postgres)?;
    Some(tokio::spawn(rounds(ctx, supervisor, session)))
}

async fn rounds(
    ctx: SharedContext,
    supervisor: SupervisorRef,
    session: watch::Receiver<SessionState>,
) {
    let mut failing = false;
    loop {
        tokio::time::sleep(ctx.node.heartbeat()).await;
        let proven = {
            let state = session.borrow();
            state.held && state.last_ok.elapsed() < ctx.node.fence_timeout
        };
        if !proven {
            continue;
        }
        match round(&ctx, &supervisor).await {
            Ok(()) => failing = false,
            Err(err) => {
                if !failing {
                    warn!(error = %format!("{:#}", anyhow::Error::new(err)), "cannot look for lost nodes; trying again every heartbeat");
                }
                failing = true;
            }
        }
    }
}

async fn round(
    ctx: &SharedContext,
    supervisor: &SupervisorRef,
) -> Result<(), corvus_storage::StorageError> {
    let me = ctx.node.name.as_str();
    for dead in ctx.store.lost_nodes(me, ctx.node.timeout).await? {
        let handled = ctx.store.take_over(&dead, me, ctx.node.timeout).await?;
        for vm in handled {
            if vm.taken {
                info!(node = %dead, vm = %vm.name, vm_id = vm.id, "taking over a highly available VM of a lost node");
                let _ = supervisor.cast(SupervisorMsg::TakenOver {
                    id: vm.id,
                    from: dead.clone(),
                });
            } else {
                warn!(node = %dead, vm = %vm.name, vm_id = vm.id, "a lost node's VM is not highly available: marked error");
            }
        }
    }
    Ok(())
}
