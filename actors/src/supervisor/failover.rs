//! The supervisor's part in failover (issue 19): a VM taken over from a
//! lost node gets its actor here and is told to start; a fence tells every
//! HA VM to kill its QEMU; once the node holds its lock again, the VMs
//! another node took over meanwhile leave it (their QEMUs were fenced
//! already; one still there is killed, never started again here), then the
//! fence ends and the HA VMs still this node's are told they may run again.

use super::{SupervisorMsg, SupervisorRef, SupervisorState};
use crate::vm::VmMsg;
use crate::vm::core::NodeEvent;
use crate::wire::db;
use corvus_protocol::{VmRef, WireError};
use corvus_storage::StoredVm;
use ractor::ActorProcessingErr;
use tracing::{error, info, warn};

impl SupervisorState {
    /// Loads the VM in a task; `TakenOverLoaded` comes back with it.
    pub(super) fn taken_over(&self, myself: &SupervisorRef, id: i64, from: String) {
        let ctx = self.ctx.clone();
        let myself = myself.clone();
        tokio::spawn(async move {
            match db(ctx.store.load_vm(id)).await {
                Ok(Some(stored)) => {
                    let _ = myself.cast(SupervisorMsg::TakenOverLoaded {
                        stored: Box::new(stored),
                        from,
                    });
                }
                Ok(None) => warn!(vm_id = id, "a VM taken over was deleted meanwhile"),
                Err(err) => {
                    error!(vm_id = id, node = %from, error = %WireError::from(err).message, "cannot load a VM taken over from a lost node; it stays in error here: start it with `crv vm reset` then `crv vm start`")
                }
            }
        });
    }

    /// Spawns the VM's actor (unless it has one) and tells it to start.
    pub(super) async fn taken_over_loaded(
        &mut self,
        myself: &SupervisorRef,
        stored: Box<StoredVm>,
        from: String,
    ) -> Result<(), ActorProcessingErr> {
        let id = stored.vm.id;
        if self.registry.resolve(&VmRef::Id(id)).is_err() {
            match stored.into_info(self.ctx.paths(id).to_protocol()) {
                Ok(info) => self.start_actor(myself, info, None).await?,
                Err(err) => {
                    error!(vm_id = id, error = %format!("{:#}", anyhow::Error::new(err)), "a VM taken over has an invalid stored definition");
                    return Ok(());
                }
            }
        }
        if let Ok((_, entry)) = self.registry.resolve(&VmRef::Id(id)) {
            let _ = entry.actor.cast(VmMsg::Node(NodeEvent::TakenOver { from }));
        }
        Ok(())
    }

    /// Every HA VM kills its QEMU (the others keep running: no survivor
    /// starts them).
    pub(super) fn fence(&self) {
        for (_, entry) in self.registry.entries() {
            if entry.snapshot.borrow().ha {
                let _ = entry.actor.cast(VmMsg::Node(NodeEvent::Fenced));
            }
        }
    }

    /// Asks the database, in a task, which of this node's VMs another node
    /// took over while this node had no lock; `Release` comes back once
    /// every row was read (the fence holds until then: a VM whose owner is
    /// unknown must not start here). The rows are read under row locks
    /// (`still_owned`), so that a takeover in flight is seen.
    pub(super) fn reclaim(&self, myself: &SupervisorRef) {
        let ids: Vec<i64> = self.registry.entries().map(|(id, _)| *id).collect();
        let ctx = self.ctx.clone();
        let myself = myself.clone();
        let fences = ctx.fence.fences();
        tokio::spawn(async move {
            let owned = loop {
                match db(ctx.store.still_owned(&ctx.node.name, &ids)).await {
                    Ok(owned) => break owned,
                    Err(err) => {
                        warn!(error = %WireError::from(err).message, "cannot tell whether another node took this node's VMs over; asking again");
                        tokio::time::sleep(ctx.node.heartbeat()).await;
                    }
                }
            };
            let mut moved = Vec::new();
            for &id in ids.iter().filter(|id| !owned.contains(id)) {
                // Only the new owner's name, for the log: the row lock
                // above already decided.
                if let Ok(Some((_, Some(node)))) = db(ctx.store.locate_vm(&VmRef::Id(id))).await
                    && node != ctx.node.name
                {
                    moved.push((id, node));
                }
            }
            let _ = myself.cast(SupervisorMsg::Release {
                moved,
                owned,
                fences,
            });
        });
    }

    /// The VMs another node owns now lose their actors here; then the
    /// fence the rows were read under ends (unless another began since)
    /// and the HA VMs whose rows still name this node are told so: those
    /// it fenced start again.
    pub(super) fn release(&mut self, moved: Vec<(i64, String)>, owned: Vec<i64>, fences: u64) {
        self.release_moved(moved);
        if !self.ctx.fence.end(fences) {
            return;
        }
        info!(node = %self.ctx.node.name, "the fence ends: this node's HA VMs may run here again");
        for (id, entry) in self.registry.entries() {
            if owned.contains(id) && entry.snapshot.borrow().ha {
                let _ = entry.actor.cast(VmMsg::Node(NodeEvent::Reclaimed));
            }
        }
    }

    fn release_moved(&mut self, moved: Vec<(i64, String)>) {
        for (id, node) in moved {
            let Some(entry) = self.registry.remove(id) else {
                continue;
            };
            warn!(vm_id = id, node = %node, "this VM was taken over by another node while this node had no lock; it leaves this node");
            if entry.snapshot.borrow().status.has_process() {
                let _ = entry.actor.cast(VmMsg::Node(NodeEvent::Fenced));
            }
            // After the messages already queued (the kill above).
            let _ = entry.actor.drain();
        }
    }
}
