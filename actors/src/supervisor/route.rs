//! Commands to one VM: to its actor here, or, when this node has none,
//! to the database lookup of `foreign.rs` (issue 19).

use super::{SupervisorRef, SupervisorState, shutting_down};
use crate::vm::{self, Origin, VmCommand, VmMsg};
use corvus_protocol::{VmRef, WireError};
use ractor::MessagingErr;

impl SupervisorState {
    pub(super) fn forward(
        &self,
        myself: &SupervisorRef,
        vm: VmRef,
        command: VmCommand,
        origin: Origin,
        reply: vm::Reply,
    ) {
        let reads_only = matches!(command, VmCommand::Show | VmCommand::History { .. });
        if self.shutting_down && !reads_only {
            let _ = reply.send(Err(shutting_down(command.verb())));
            return;
        }
        if self.registry.resolve(&vm).is_err() {
            // Another node's, or this node's but created through another.
            self.locate(myself, vm, command, origin, reply);
            return;
        }
        self.send_to_actor(vm, command, origin, reply);
    }

    pub(super) fn send_to_actor(
        &self,
        vm: VmRef,
        command: VmCommand,
        origin: Origin,
        reply: vm::Reply,
    ) {
        let entry = match self.registry.resolve(&vm) {
            Ok((_, entry)) => entry,
            Err(err) => {
                let _ = reply.send(Err(err));
                return;
            }
        };
        if let Err(MessagingErr::SendErr(VmMsg::Command { reply, .. })) =
            entry.actor.cast(VmMsg::Command {
                command,
                origin,
                reply,
            })
        {
            // The actor is gone between its failure and its respawn.
            let _ = reply.send(Err(WireError::unavailable(format!(
                "VM '{vm}' is being recovered; retry in a moment"
            ))));
        }
    }
}
