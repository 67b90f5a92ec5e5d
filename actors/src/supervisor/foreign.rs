//! Requests for a VM this daemon has no actor for (issue 19). The database
//! says whose it is: another node's, which alone runs it (`vm show` and
//! `vm history` are answered from its rows, anything else is refused with
//! the owner's name); this node's (created through another node), which
//! gets its actor now; or nobody's.

use super::{SupervisorMsg, SupervisorRef, SupervisorState};
use crate::context::SharedContext;
use crate::vm::{self, Origin, VmCommand, VmReply};
use crate::wire::{db, storage};
use corvus_protocol::{Response, VmRef, WireError};
use corvus_storage::StoredVm;
use ractor::{ActorProcessingErr, MessagingErr};

/// What the database said of a VM the registry does not know.
enum Found {
    /// The whole answer (another node's VM, or none).
    Answer(Result<Response, WireError>),
    /// This node's: it needs an actor.
    Mine(Box<StoredVm>),
}

fn not_found(vm: &VmRef) -> WireError {
    WireError::not_found(format!(
        "no VM named or numbered '{vm}' (see `crv vm list`)"
    ))
}

async fn find(
    ctx: &SharedContext,
    vm: &VmRef,
    command: &VmCommand,
    origin: Origin,
) -> Result<Found, WireError> {
    let Some((id, node)) = db(ctx.store.locate_vm(vm)).await? else {
        return Err(not_found(vm));
    };
    let Some(stored) = db(ctx.store.load_vm(id)).await? else {
        return Err(not_found(vm));
    };
    let node = match node {
        Some(node) if node != ctx.node.name => node,
        Some(_) => return Ok(Found::Mine(Box::new(stored))),
        // Unowned rows are claimed at daemon start; until then nobody runs them.
        None => return Err(not_found(vm)),
    };
    let answer = match command {
        // The owner is dead: nothing runs the VM, so any node may give it away.
        VmCommand::Move { node: to } if !crate::nodes::is_live(ctx, &node).await => {
            let info = stored
                .into_info(ctx.paths(id).to_protocol())
                .map_err(storage)?;
            let paths = crate::nodes::shared::paths_of(&ctx.store, &info).await?;
            if info.status.has_process() {
                return Err(WireError::conflict(format!(
                    "VM '{}' was {} when its node '{node}' was lost; only a stopped VM moves: `crv vm reset {}` first once it is recorded so",
                    info.name, info.status, info.name
                )));
            }
            crate::nodes::moving::check(ctx, &info.name, &paths, &node, to).await?;
            let moved =
                crate::nodes::moving::commit(ctx, &info, &node, to, origin.cause("vm move"))
                    .await?;
            Response::Vm(Box::new(moved))
        }
        VmCommand::Show => stored
            .into_info(ctx.paths(id).to_protocol())
            .map(|info| Response::Vm(Box::new(info)))
            .map_err(storage)?,
        VmCommand::History { limit } => {
            Response::History(db(ctx.store.history(id, limit.map(u64::from))).await?)
        }
        VmCommand::Edit(_)
        | VmCommand::Delete
        | VmCommand::Move { .. }
        | VmCommand::AddDrive(_)
        | VmCommand::RemoveDrive { .. }
        | VmCommand::AddNic(_)
        | VmCommand::RemoveNic { .. }
        | VmCommand::AddShare(_)
        | VmCommand::RemoveShare(_)
        | VmCommand::Start
        | VmCommand::Stop { .. }
        | VmCommand::Pause
        | VmCommand::Reset
        | VmCommand::Save
        | VmCommand::Attach { .. }
        | VmCommand::SpiceUri
        | VmCommand::SetCloudInit(_)
        | VmCommand::ClearCloudInit
        | VmCommand::GuestExec(_)
        | VmCommand::GuestInterfaces { .. }
        | VmCommand::Snapshot(_) => {
            let live = crate::nodes::is_live(ctx, &node).await;
            return Err(crate::nodes::owned_elsewhere(
                &stored.vm.name,
                &node,
                live,
                command.verb(),
                ctx,
            ));
        }
    };
    Ok(Found::Answer(Ok(answer)))
}

impl SupervisorState {
    /// Asks the database about `vm` in a task, which answers another
    /// node's VM itself and sends this node's back as `Located`.
    pub(super) fn locate(
        &self,
        myself: &SupervisorRef,
        vm: VmRef,
        command: VmCommand,
        origin: Origin,
        reply: vm::Reply,
    ) {
        let ctx = self.ctx.clone();
        let myself = myself.clone();
        tokio::spawn(async move {
            let stored = match find(&ctx, &vm, &command, origin).await {
                Ok(Found::Mine(stored)) => stored,
                Ok(Found::Answer(answer)) => {
                    let _ = reply.send(answer.map(VmReply::Response));
                    return;
                }
                Err(err) => {
                    let _ = reply.send(Err(err));
                    return;
                }
            };
            if let Err(MessagingErr::SendErr(SupervisorMsg::Located { reply, .. })) =
                myself.cast(SupervisorMsg::Located {
                    stored,
                    command,
                    origin,
                    reply,
                })
            {
                let _ = reply.send(Err(super::shutting_down("reach the VM")));
            }
        });
    }

    /// This node's VM without an actor yet: one is spawned (unless one
    /// came meanwhile), then the command goes to it.
    pub(super) async fn located(
        &mut self,
        myself: &SupervisorRef,
        stored: Box<StoredVm>,
        command: VmCommand,
        origin: Origin,
        reply: vm::Reply,
    ) -> Result<(), ActorProcessingErr> {
        let id = stored.vm.id;
        if self.registry.resolve(&VmRef::Id(id)).is_err() {
            if self.registry.is_reserved(&stored.vm.name) {
                // Its `Created` spawns the actor: never two.
                let _ = reply.send(Err(WireError::unavailable(format!(
                    "VM '{}' is being created; retry in a moment",
                    stored.vm.name
                ))));
                return Ok(());
            }
            match stored.into_info(self.ctx.paths(id).to_protocol()) {
                Ok(info) => self.start_actor(myself, info, None).await?,
                Err(err) => {
                    let _ = reply.send(Err(storage(err)));
                    return Ok(());
                }
            }
        }
        self.send_to_actor(VmRef::Id(id), command, origin, reply);
        Ok(())
    }
}
