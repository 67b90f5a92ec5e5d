//! What a state change leaves behind: the runtime columns (PIDs, paths)
//! that follow the boot, the history event, the database record and the
//! snapshot that `list` and `show` read.

use super::VmActorState;
use super::core;
use crate::events::StateChange;
use crate::persistence::PersistenceMsg;
use corvus_protocol::{VmEvent, VmState};
use corvus_storage::StateRecord;
use tokio::sync::oneshot;
use tracing::info;

impl VmActorState {
    /// PIDs and the runtime paths follow the boot: set while QEMU is there,
    /// cleared when it is gone. Nothing else writes them.
    pub(super) fn sync_runtime(&mut self) {
        let boot = self.boot.as_ref();
        self.info.pid = boot
            .and_then(|boot| boot.qemu.as_ref())
            .map(|qemu| qemu.pid());
        for share in &mut self.info.shared_dirs {
            share.pid = boot.and_then(|boot| boot.share_pid(share.id));
        }
        let paths = boot
            .map(|boot| boot.paths.clone())
            .unwrap_or_else(|| self.ctx.paths(self.info.id));
        self.info.runtime = paths.to_protocol();
    }

    /// A share's tag, which the event of its virtiofsd's exit names.
    pub(super) fn share_tag(&self, share_id: i64) -> Option<String> {
        self.info
            .shared_dirs
            .iter()
            .find(|share| share.id == share_id)
            .map(|share| share.tag.clone())
    }

    /// What the database keeps of the runtime state.
    pub(super) fn runtime_columns(
        &self,
    ) -> (VmState, Option<u32>, Option<String>, Vec<Option<u32>>) {
        (
            self.info.status,
            self.info.pid,
            self.info.last_error.clone(),
            self.info.shared_dirs.iter().map(|s| s.pid).collect(),
        )
    }

    pub(super) fn publish_event(&self, from: VmState, to: VmState, event: core::Event) -> VmEvent {
        let recorded = self.ctx.bus.publish(StateChange {
            vm_id: self.info.id,
            vm_name: self.info.name.clone(),
            from,
            to,
            reason: event.reason,
            cause: event.cause,
            kind: event.kind,
        });
        info!(%from, %to, kind = %recorded.kind, reason = %recorded.reason, "event");
        recorded
    }

    /// Sends the runtime columns (and an event, if any) to the database;
    /// the receiver hears once the change is safe.
    pub(super) fn persist(&self, event: Option<VmEvent>) -> oneshot::Receiver<()> {
        let record = StateRecord {
            vm_id: self.info.id,
            status: self.info.status,
            pid: self.info.pid,
            last_error: self.info.last_error.clone(),
            share_pids: self
                .info
                .shared_dirs
                .iter()
                .map(|s| (s.id, s.pid))
                .collect(),
            event,
        };
        let (durable, safe) = oneshot::channel();
        let _ = self.ctx.persistence.cast(PersistenceMsg::Record {
            record,
            durable: Some(durable),
        });
        safe
    }

    /// Makes the current definition and state visible to `list` and `show`.
    pub(super) fn publish(&self) {
        self.snapshot
            .send_replace(std::sync::Arc::new(self.info.clone()));
    }
}
