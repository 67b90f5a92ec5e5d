//! Requests for a VM this daemon has no actor for (issue 19). The database
//! says whose it is: this node's (created through another node, or not
//! yet seen), which gets its actor now; another node's, which alone runs
//! it: `vm show` is answered from its row, anything else is refused with
//! the owner's name; or nobody's.

use super::{SupervisorMsg, SupervisorRef, SupervisorState};
use crate::context::SharedContext;
use crate::vm::{self, Origin, VmCommand, VmReply};
use crate::wire::{db, storage};
use corvus_protocol::{Response, VmInfo, VmRef, WireError};
use corvus_storage::StoredVm;
use ractor::{ActorProcessingErr, MessagingErr};

/// Where the database puts a VM the registry does not know.
pub enum Located {
    Missing,
    Mine(Box<StoredVm>),
    Elsewhere {
        info: Box<VmInfo>,
        node: String,
        live: bool,
    },
}

fn not_found(vm: &VmRef) -> WireError {
    WireError::not_found(format!(
        "no VM named or numbered '{vm}' (see `crv vm list`)"
    ))
}

async fn locate(ctx: &SharedContext, vm: &VmRef) -> Result<Located, WireError> {
    let Some((id, node)) = db(ctx.store.locate_vm(vm)).await? else {
        return Ok(Located::Missing);
    };
    let Some(stored) = db(ctx.store.load_vm(id)).await? else {
        return Ok(Located::Missing);
    };
    match node {
        Some(node) if node != ctx.node.name => {
            let live = crate::nodes::is_live(ctx, &node).await;
            let info = stored
                .into_info(ctx.paths(id).to_protocol())
                .map_err(storage)?;
            Ok(Located::Elsewhere {
                info: Box::new(info),
                node,
                live,
            })
        }
        // Unowned rows are claimed at start; one seen now is this node's
        // only once a start claims it.
        None => Ok(Located::Missing),
        Some(_) => Ok(Located::Mine(Box::new(stored))),
    }
}

impl SupervisorState {
    /// Asks the database about `vm` in a task that re-enters as `Located`.
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
            let found = locate(&ctx, &vm).await;
            if let Err(MessagingErr::SendErr(SupervisorMsg::Located { reply, .. })) =
                myself.cast(SupervisorMsg::Located {
                    vm,
                    found,
                    command,
                    origin,
                    reply,
                })
            {
                let _ = reply.send(Err(super::shutting_down("reach the VM")));
            }
        });
    }

    pub(super) async fn located(
        &mut self,
        myself: &SupervisorRef,
        vm: VmRef,
        found: Result<Located, WireError>,
        command: VmCommand,
        origin: Origin,
        reply: vm::Reply,
    ) -> Result<(), ActorProcessingErr> {
        match found {
            Err(err) => {
                let _ = reply.send(Err(err));
            }
            Ok(Located::Missing) => {
                let _ = reply.send(Err(not_found(&vm)));
            }
            Ok(Located::Mine(stored)) => {
                let id = stored.vm.id;
                if self.registry.resolve(&VmRef::Id(id)).is_err() {
                    if self.registry.is_reserved(&stored.vm.name) {
                        // Its `Created` spawns the actor: never two.
                        let _ = reply.send(Err(WireError::unavailable(format!(
                            "VM '{vm}' is being created; retry in a moment"
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
            }
            Ok(Located::Elsewhere { info, node, live }) => {
                let answer = match command {
                    VmCommand::Show => Ok(VmReply::Response(Response::Vm(info))),
                    other => Err(crate::nodes::owned_elsewhere(
                        &info.name,
                        &node,
                        live,
                        other.verb(),
                        &self.ctx,
                    )),
                };
                let _ = reply.send(answer);
            }
        }
        Ok(())
    }
}
