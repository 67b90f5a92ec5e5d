//! Self-fencing (issue 19, PostgreSQL): when this node cannot prove for
//! --fence-timeout that it holds its lock (its lock session lost, the
//! server gone), it kills every HA VM's QEMU at once, before any survivor
//! may take them (--node-timeout after its last heartbeat), and refuses to
//! start HA VMs until it can prove its lock again. The lock's session keeps
//! trying to take the lock again; once it has, the VMs whose rows now name
//! another node leave this node and the fenced ones still its own start
//! again here. At start, a QEMU this node once ran for a VM now another
//! node's is killed, never adopted.

use crate::context::SharedContext;
use crate::supervisor::{SupervisorMsg, SupervisorRef};
use corvus_protocol::VmRef;
use corvus_storage::{DbKind, SessionState};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

/// How often the fence looks at the session: a small part of any fence
/// timeout.
const TICK: Duration = Duration::from_millis(100);

/// Whether this node is fenced, for every VM actor to read as it decides
/// whether a start may begin a boot. One word, so that a fence and the end
/// of an earlier one cannot interleave: the number of fences so far (the
/// high bits) and whether the last one still holds (the low bit).
#[derive(Debug, Default)]
pub struct FenceState(AtomicU64);

impl FenceState {
    pub fn is_fenced(&self) -> bool {
        self.0.load(Ordering::SeqCst) & 1 == 1
    }

    /// The number of fences so far: `end` clears only the fence it saw.
    pub fn fences(&self) -> u64 {
        self.0.load(Ordering::SeqCst) >> 1
    }

    /// A new fence begins (before its VMs are told).
    fn begin(&self) {
        let _ = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |word| {
                Some((((word >> 1) + 1) << 1) | 1)
            });
    }

    /// Ends fence number `fences` unless another began since; true when
    /// this call ended it.
    pub fn end(&self, fences: u64) -> bool {
        self.0
            .compare_exchange(
                (fences << 1) | 1,
                fences << 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            )
            .is_ok()
    }
}

/// Starts the fence on PostgreSQL; `None` on SQLite (one node).
pub fn spawn(
    ctx: SharedContext,
    supervisor: SupervisorRef,
    session: Option<watch::Receiver<SessionState>>,
) -> Option<JoinHandle<()>> {
    let session = session.filter(|_| ctx.store.kind() == DbKind::Postgres)?;
    Some(tokio::spawn(watch_session(ctx, supervisor, session)))
}

async fn watch_session(
    ctx: SharedContext,
    supervisor: SupervisorRef,
    session: watch::Receiver<SessionState>,
) {
    let mut fenced = false;
    let mut epoch = session.borrow().epoch;
    loop {
        tokio::time::sleep(TICK).await;
        let state = *session.borrow();
        let silent = state.last_ok.elapsed();
        let retaken = state.epoch != epoch;
        // A server that only stopped answering for a while never let the
        // lock go: no survivor can have taken anything meanwhile.
        let proven = state.held && silent < ctx.node.fence_timeout;
        if retaken || (fenced && proven) {
            epoch = state.epoch;
            fenced = false;
            info!(node = %ctx.node.name, "this node holds its lock again; VMs another node took over leave it, its fenced HA VMs start again");
            let _ = supervisor.cast(SupervisorMsg::Reclaim);
        }
        if !fenced && silent >= ctx.node.fence_timeout {
            fenced = true;
            ctx.fence.begin();
            error!(node = %ctx.node.name, silent_ms = silent.as_millis() as u64, fence_timeout_secs = ctx.node.fence_timeout.as_secs(), "fenced: this node lost its database session; killing its HA VMs before another node starts them");
            let _ = supervisor.cast(SupervisorMsg::Fence);
        }
    }
}

/// Kills the QEMUs in `marked` (VM id → pid) that this node started (in
/// its runtime directory) for VMs it no longer owns: their rows name
/// another node, which may run them now. On SQLite every VM is this
/// node's: nothing to do.
pub async fn kill_moved(ctx: &SharedContext, marked: &HashMap<i64, u32>, mine: &HashSet<i64>) {
    if ctx.store.kind() != DbKind::Postgres {
        return;
    }
    for (&id, &pid) in marked.iter().filter(|(id, _)| !mine.contains(id)) {
        let owner = match ctx.store.locate_vm(&VmRef::Id(id)).await {
            Ok(Some((_, Some(node)))) if node != ctx.node.name => node,
            Ok(_) => continue,
            Err(err) => {
                warn!(vm_id = id, pid, error = %format!("{:#}", anyhow::Error::new(err)), "cannot tell which node owns a QEMU found at start; leaving it");
                continue;
            }
        };
        let dir = ctx.paths(id).dir;
        let ours = tokio::fs::read(format!("/proc/{pid}/cmdline"))
            .await
            .ok()
            .and_then(|cmdline| corvus_qemu::cmdline::runtime_dir_of(&cmdline))
            .is_some_and(|found| found == dir);
        if !ours {
            continue;
        }
        let killed = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        warn!(vm_id = id, pid, node = %owner, killed = killed.is_ok(), "killed this node's QEMU of a VM now owned by another node");
    }
}
