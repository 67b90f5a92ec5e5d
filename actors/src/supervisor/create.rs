//! `vm create`: validated here, written by a task (so that a slow database
//! never holds up the supervisor), then given an actor.

use super::{SupervisorMsg, SupervisorRef, SupervisorState};
use crate::validate;
use crate::wire::{db, storage};
use corvus_protocol::{Response, VmSpec, WireError};
use corvus_storage::{Duplicate, StoredVm};
use ractor::{ActorProcessingErr, RpcReplyPort};

type CreateReply = RpcReplyPort<Result<Response, WireError>>;

fn duplicate_name(name: &str) -> WireError {
    WireError::conflict(format!(
        "a VM named '{name}' already exists; pick another name or delete it first"
    ))
}

impl SupervisorState {
    pub(super) fn create(&mut self, myself: &SupervisorRef, spec: VmSpec, reply: CreateReply) {
        if self.shutting_down {
            let _ = reply.send(Err(super::shutting_down("vm create")));
            return;
        }
        if let Err(err) = validate::spec(&spec) {
            let _ = reply.send(Err(err));
            return;
        }
        if !self.registry.reserve(&spec.name) {
            let _ = reply.send(Err(duplicate_name(&spec.name)));
            return;
        }
        let store = self.ctx.store.clone();
        let myself = myself.clone();
        tokio::spawn(async move {
            let name = spec.name.clone();
            let result = insert(&store, &spec).await;
            if let Err(ractor::MessagingErr::SendErr(SupervisorMsg::Created { reply, .. })) = myself
                .cast(SupervisorMsg::Created {
                    name,
                    result,
                    reply,
                })
            {
                let _ = reply.send(Err(WireError::unavailable("the daemon is shutting down")));
            }
        });
    }

    pub(super) async fn created(
        &mut self,
        myself: &SupervisorRef,
        name: String,
        result: Result<StoredVm, WireError>,
        reply: CreateReply,
    ) -> Result<(), ActorProcessingErr> {
        self.registry.release(&name);
        let stored = match result {
            Ok(stored) => stored,
            Err(err) => {
                let _ = reply.send(Err(err));
                return Ok(());
            }
        };
        let id = stored.vm.id;
        let info = match stored.into_info(self.ctx.paths(id).to_protocol()) {
            Ok(info) => info,
            Err(err) => {
                let _ = reply.send(Err(storage(err)));
                return Ok(());
            }
        };
        self.start_actor(myself, info.clone(), None).await?;
        let _ = reply.send(Ok(Response::Vm(Box::new(info))));
        Ok(())
    }
}

async fn insert(store: &corvus_storage::Store, spec: &VmSpec) -> Result<StoredVm, WireError> {
    validate::files::existing_file("kernel", spec.kernel.as_deref()).await?;
    validate::files::existing_file("initrd", spec.initrd.as_deref()).await?;
    match db(store.insert_vm(spec)).await {
        Ok(stored) => Ok(stored),
        Err(err) if err.duplicate() == Some(Duplicate::VmName) => Err(duplicate_name(&spec.name)),
        Err(err) => Err(err.into()),
    }
}
