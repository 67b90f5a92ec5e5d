//! `vm create`: validated here, written by a task (so that a slow database
//! never holds up the supervisor), announced as a `defined` event, then
//! given an actor. The VM has no actor before its first event, so the
//! supervisor records that one itself; every later one is its actor's.
//! A VM placed on another node (issue 19) gets its actor there.

use super::{SupervisorMsg, SupervisorRef, SupervisorState};
use crate::cloud::{config, forwards};
use crate::events::StateChange;
use crate::persistence::PersistenceMsg;
use crate::validate;
use crate::vm::{Origin, SAFE_WAIT};
use crate::wire::{db, storage};
use corvus_protocol::{EventKind, Response, VmInfo, VmRef, VmSpec, WireError};
use corvus_storage::{Duplicate, NewVmExtras, StateRecord, StoredVm};
use ractor::{ActorProcessingErr, RpcReplyPort};
use tokio::sync::oneshot;
use tracing::{Instrument, warn};

type CreateReply = RpcReplyPort<Result<Response, WireError>>;

fn duplicate_name(name: &str) -> WireError {
    WireError::conflict(format!(
        "a VM named '{name}' already exists; pick another name or delete it first"
    ))
}

/// A new VM has no drives or shares yet: only its policy and kernel files
/// can keep it from being highly available.
fn ha(node: &crate::config::NodeConfig, spec: &VmSpec) -> Result<(), WireError> {
    if !spec.ha {
        return Ok(());
    }
    let files: Vec<std::path::PathBuf> = spec
        .kernel
        .iter()
        .chain(spec.initrd.iter())
        .map(std::path::PathBuf::from)
        .collect();
    crate::nodes::ha::refusal(node, &spec.name, spec.restart_policy, &files)
}

impl SupervisorState {
    pub(super) fn create(
        &mut self,
        myself: &SupervisorRef,
        spec: Box<VmSpec>,
        origin: Origin,
        reply: CreateReply,
    ) {
        if self.shutting_down {
            let _ = reply.send(Err(super::shutting_down("vm create")));
            return;
        }
        let extras = match validate::spec(&spec)
            .and_then(|()| ha(&self.ctx.node, &spec))
            .and_then(|()| extras(&spec))
        {
            Ok(extras) => extras,
            Err(err) => {
                let _ = reply.send(Err(err));
                return;
            }
        };
        if !self.registry.reserve(&spec.name) {
            let _ = reply.send(Err(duplicate_name(&spec.name)));
            return;
        }
        let ctx = self.ctx.clone();
        let myself = myself.clone();
        tokio::spawn(async move {
            let mut spec = spec;
            let name = spec.name.clone();
            let result = match crate::nodes::place(&ctx, spec.node.as_deref()).await {
                Ok(node) => {
                    spec.node = Some(node);
                    insert(&ctx.store, &spec, extras).await
                }
                Err(err) => Err(err),
            };
            if let Err(ractor::MessagingErr::SendErr(SupervisorMsg::Created { reply, .. })) = myself
                .cast(SupervisorMsg::Created {
                    name,
                    origin,
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
        origin: Origin,
        result: Result<Box<StoredVm>, WireError>,
        reply: CreateReply,
    ) -> Result<(), ActorProcessingErr> {
        self.registry.release(&name);
        let stored = match result {
            Ok(stored) => *stored,
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
        // Announced before the actor exists, so that its own events (and
        // records) come after this one.
        let safe = self.announce(&info, origin);
        // Another node's VM gets its actor there, at its first request
        // (`foreign.rs`); a request here met an actor spawned meanwhile.
        if info.node == self.ctx.node.name && self.registry.resolve(&VmRef::Id(info.id)).is_err() {
            self.start_actor(myself, info.clone(), None).await?;
        }
        // Like a VM actor's replies: once the event is safe.
        tokio::spawn(
            async move {
                if tokio::time::timeout(SAFE_WAIT, safe).await.is_err() {
                    warn!(
                        "answering `vm create` before its event is safe: neither the database nor the journal took it within {} s",
                        SAFE_WAIT.as_secs()
                    );
                }
                let _ = reply.send(Ok(Response::Vm(Box::new(info))));
            }
            .in_current_span(),
        );
        Ok(())
    }

    /// The `defined` event of a new VM, published and sent to the
    /// database; the receiver hears once it is safe.
    fn announce(&self, info: &VmInfo, origin: Origin) -> oneshot::Receiver<()> {
        let event = self.ctx.bus.publish(StateChange {
            vm_id: info.id,
            vm_name: info.name.clone(),
            from: info.status,
            to: info.status,
            reason: format!("{} vCPU, {} MiB", info.cpu_count, info.ram_mb),
            cause: origin.cause("vm create"),
            kind: EventKind::Defined,
        });
        let record = StateRecord {
            vm_id: info.id,
            status: info.status,
            pid: info.pid,
            last_error: info.last_error.clone(),
            share_pids: info.shared_dirs.iter().map(|s| (s.id, s.pid)).collect(),
            event: Some(event),
        };
        let (durable, safe) = oneshot::channel();
        let _ = self.ctx.persistence.cast(PersistenceMsg::Record {
            record,
            durable: Some(durable),
        });
        safe
    }
}

/// What comes with the VM: its cloud-init configuration (checked and
/// resolved now) and the user NIC carrying `--forward`s.
fn extras(spec: &VmSpec) -> Result<NewVmExtras, WireError> {
    let cloud_init = spec
        .cloud_init
        .as_ref()
        .map(|cloud| config::resolve(&spec.name, cloud))
        .transpose()?;
    forwards::check_all(&spec.forwards)?;
    let forward_nic_mac = (!spec.forwards.is_empty()).then(crate::vm::generated_mac);
    Ok(NewVmExtras {
        cloud_init,
        forward_nic_mac,
    })
}

async fn insert(
    store: &corvus_storage::Store,
    spec: &VmSpec,
    mut extras: NewVmExtras,
) -> Result<Box<StoredVm>, WireError> {
    validate::files::existing_file("kernel", spec.kernel.as_deref()).await?;
    validate::files::existing_file("initrd", spec.initrd.as_deref()).await?;
    // A generated MAC another NIC already has: draw again (rarely twice).
    for _ in 0..crate::vm::MAC_ATTEMPTS {
        match db(store.insert_vm_with(spec, &extras)).await {
            Ok(stored) => return Ok(Box::new(stored)),
            Err(err) if err.duplicate() == Some(Duplicate::VmName) => {
                return Err(duplicate_name(&spec.name));
            }
            Err(err)
                if err.duplicate() == Some(Duplicate::MacAddress)
                    && extras.forward_nic_mac.is_some() =>
            {
                extras.forward_nic_mac = Some(crate::vm::generated_mac());
            }
            Err(err) => return Err(err.into()),
        }
    }
    Err(WireError::conflict(
        "could not find an unused MAC address for the forwarding NIC; retry",
    ))
}
