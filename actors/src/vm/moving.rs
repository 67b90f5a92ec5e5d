//! `vm move` on the VM's owner (issue 19): the move runs as a definition
//! write (so the core refuses it unless the VM is stopped, and commands
//! wait for it), and once the database gave the VM away this actor hands
//! it over: the supervisor drops it, waiting commands are sent on.

use super::definition::Written;
use super::{Origin, Reply, VmActorState};
use crate::supervisor::SupervisorMsg;
use corvus_protocol::{VmInfo, WireError};

impl VmActorState {
    /// The VM is another node's now: the supervisor forgets it (and stops
    /// this actor) before the client hears back; commands that waited
    /// meanwhile are refused naming the new owner.
    pub(super) fn moved_away(&mut self, vm: Box<VmInfo>, reply: Reply) {
        let _ = self
            .supervisor
            .cast(SupervisorMsg::Removed { id: self.info.id });
        // Nothing may reach the VM here any more.
        self.writing = true;
        for (command, _, waiting) in self.deferred.drain(..) {
            let refusal =
                crate::nodes::owned_elsewhere(&vm.name, &vm.node, true, command.verb(), &self.ctx);
            let _ = waiting.send(Err(refusal));
        }
        let _ = reply.send(Ok(super::VmReply::Response(corvus_protocol::Response::Vm(
            vm,
        ))));
    }
}

/// `vm move`: the destination and the VM's paths checked, then the move.
pub(super) async fn move_to(
    ctx: &crate::context::SharedContext,
    vm: &VmInfo,
    node: &str,
    origin: Origin,
) -> Result<Written, WireError> {
    let paths = crate::nodes::shared::paths_of(&ctx.store, vm).await?;
    crate::nodes::moving::check(ctx, &vm.name, &paths, &vm.node, node).await?;
    crate::nodes::moving::commit(ctx, vm, &vm.node, node, origin.cause("vm move"))
        .await
        .map(|moved| Written::Moved(Box::new(moved)))
}
