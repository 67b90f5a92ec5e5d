//! What a boot's tasks report back (the launch, the QMP connection, a
//! virtiofsd that went away), taken into the boot they belong to; a
//! report of a boot that is over is dropped.

use super::core::Input;
use super::{VmActorRef, VmActorState, launch, qmp_tasks};
use tracing::info;

impl VmActorState {
    /// The launch task's QEMU and virtiofsd become the boot's; for a boot
    /// that is over (or was never current) they are killed as they drop.
    pub(super) fn launched(&mut self, myself: &VmActorRef, boot: u64, spawned: launch::Spawned) {
        let Some(current) = self
            .boot
            .as_mut()
            .filter(|current| current.state.number == boot)
        else {
            return;
        };
        let Some((qemu, virtiofsd)) = spawned.take() else {
            return;
        };
        info!(pid = qemu.pid(), "QEMU started");
        current.attach(myself, qemu, virtiofsd);
        self.step(myself, Input::Launched { boot }, None);
    }

    pub(super) fn qmp_up(
        &mut self,
        myself: &VmActorRef,
        boot: u64,
        commands: corvus_qemu::QmpCommands,
        events: corvus_qemu::QmpEvents,
    ) {
        if let Some(current) = self.boot.as_mut().filter(|b| b.state.number == boot) {
            current.connecting = false;
            current.qmp = Some(commands);
            let pump = qmp_tasks::pump(events, boot, myself.clone());
            current.watch(pump);
        }
    }

    pub(super) fn qmp_down(&mut self, boot: u64) {
        if let Some(current) = self.boot.as_mut().filter(|b| b.state.number == boot) {
            current.qmp = None;
        }
    }

    pub(super) fn qmp_failed(&mut self, boot: u64) {
        if let Some(current) = self.boot.as_mut().filter(|b| b.state.number == boot) {
            current.connecting = false;
        }
    }

    pub(super) fn forget_virtiofsd(&mut self, boot: u64, share_id: i64) {
        if let Some(current) = self.boot.as_mut().filter(|b| b.state.number == boot) {
            current.virtiofsd.retain(|(id, _)| *id != share_id);
        }
    }
}
