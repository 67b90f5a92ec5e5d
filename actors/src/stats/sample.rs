//! One reading of one VM: QMP through its actor (answered by a task of the
//! actor's, within a deadline), then /proc and /sys on the blocking pool.
//! Runs in the collector's tasks; nothing here runs in an actor handler.

use super::nics::{self, NicReading};
use super::procfs::{self, ProcFigures};
use crate::vm::{QmpFigures, VmActorRef, VmMsg};
use chrono::{SecondsFormat, Utc};
use corvus_protocol::VmInfo;
use corvus_qemu::{BlockStats, QmpError, VcpuThread};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};
use tracing::debug;

/// How long QEMU has to answer the stats queries. Past it, /proc figures
/// are still served and the QMP ones are marked unavailable.
pub const QMP_DEADLINE: Duration = Duration::from_secs(1);
/// Beyond the deadline, for the actor's mailbox and the task to start.
const MAILBOX_MARGIN: Duration = Duration::from_millis(500);

/// A VM as the collector reaches it: its actor and its published snapshot.
#[derive(Clone)]
pub struct Target {
    pub id: i64,
    pub actor: VmActorRef,
    pub snapshot: watch::Receiver<Arc<VmInfo>>,
}

impl Target {
    pub fn info(&self) -> Arc<VmInfo> {
        self.snapshot.borrow().clone()
    }
}

/// What one reading found, before rates: counters only.
#[derive(Debug, Clone)]
pub struct RawSample {
    pub vm_id: i64,
    pub pid: u32,
    pub at: Instant,
    /// RFC 3339 UTC.
    pub wall: String,
    /// The definition when read: drive ids and NIC types come from it.
    pub info: Arc<VmInfo>,
    pub proc: ProcFigures,
    pub vcpus: Result<Vec<VcpuThread>, String>,
    pub block: Result<Vec<BlockStats>, String>,
    pub balloon: Option<u64>,
    pub nics: Vec<NicReading>,
}

/// Reads one VM, or `None` when it has no QEMU (or its QEMU went away
/// while it was being read: its figures are not worth showing).
pub async fn read(target: Target, deadline: Duration) -> Option<RawSample> {
    let info = target.info();
    let pid = info.pid?;
    let qmp = ask_actor(&target.actor, deadline).await;
    let threads: Vec<u32> = qmp
        .vcpus
        .as_ref()
        .map(|vcpus| vcpus.iter().map(|vcpu| vcpu.thread_id).collect())
        .unwrap_or_default();
    let nic_defs = info.network_interfaces.clone();
    let at = Instant::now();
    let (proc, nics) = tokio::task::spawn_blocking(move || {
        (
            procfs::read_process(pid, &threads),
            nics::read(pid, &nic_defs),
        )
    })
    .await
    .ok()?;
    let proc = match proc {
        Ok(proc) => proc,
        Err(err) => {
            debug!(vm_id = target.id, pid, error = %chain(&err), "no figures: QEMU is gone");
            return None;
        }
    };
    // A QEMU that exited (and a PID used again) while it was read: its
    // figures would be stale at once.
    if target.snapshot.borrow().pid != Some(pid) {
        return None;
    }
    let unavailable = |err: QmpError| qmp_reason(&err, deadline);
    Some(RawSample {
        vm_id: target.id,
        pid,
        at,
        wall: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        info,
        proc,
        vcpus: qmp.vcpus.map_err(unavailable),
        block: qmp.block.map_err(unavailable),
        balloon: qmp.balloon.ok().flatten().map(|balloon| balloon.actual),
        nics,
    })
}

/// QMP's figures through the VM's actor; an actor that does not pass the
/// request on in time counts as a QMP that did not answer.
async fn ask_actor(actor: &VmActorRef, deadline: Duration) -> QmpFigures {
    let (reply, answer) = oneshot::channel();
    if actor.cast(VmMsg::SampleQmp { deadline, reply }).is_err() {
        return QmpFigures::unavailable(|| QmpError::Closed);
    }
    match tokio::time::timeout(deadline + MAILBOX_MARGIN, answer).await {
        Ok(Ok(figures)) => figures,
        Ok(Err(_)) => QmpFigures::unavailable(|| QmpError::Closed),
        Err(_) => QmpFigures::unavailable(|| QmpError::Timeout),
    }
}

/// Why QMP figures are missing, in words for the user.
fn qmp_reason(err: &QmpError, deadline: Duration) -> String {
    match err {
        QmpError::Timeout => format!(
            "QEMU's QMP did not answer within {} ms",
            deadline.as_millis()
        ),
        QmpError::Closed => "QEMU's QMP is not connected".to_owned(),
        other => format!("QMP query failed: {}", chain(other)),
    }
}

/// An error and its causes on one line.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
