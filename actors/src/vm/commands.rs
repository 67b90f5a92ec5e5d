//! A client's command on this VM: read-only ones answered here, the rest
//! put to the core, and the work it lets through (definition writes,
//! attachments) carried out. While a definition write is in flight, later
//! commands wait for it.

use super::agent::AgentQuery;
use super::core::{Command, Input};
use super::shell::Handoff;
use super::{Origin, Reply, VmActorRef, VmActorState, VmCommand, VmReply, describe_channel};
use crate::persistence::PersistenceMsg;
use crate::wire::db;
use corvus_protocol::{DisplayKind, Response, SnapshotAction, WireError};
use corvus_storage::DbKind;
use std::time::Duration;
use tracing::Instrument;

impl VmCommand {
    /// The command as a user types it.
    pub fn verb(&self) -> &'static str {
        match self {
            VmCommand::Show => "vm show",
            VmCommand::Edit(_) => "vm edit",
            VmCommand::Delete => "vm delete",
            VmCommand::Move { .. } => "vm move",
            VmCommand::AddDrive(_) => "vm drive add",
            VmCommand::RemoveDrive { .. } => "vm drive remove",
            VmCommand::AddNic(_) => "vm net add",
            VmCommand::RemoveNic { .. } => "vm net remove",
            VmCommand::AddShare(_) => "vm share add",
            VmCommand::RemoveShare(_) => "vm share remove",
            VmCommand::Start => "vm start",
            VmCommand::Stop { .. } => "vm stop",
            VmCommand::Pause => "vm pause",
            VmCommand::Reset => "vm reset",
            VmCommand::Save => "vm save",
            VmCommand::History { .. } => "vm history",
            VmCommand::Attach { .. } => "attach",
            VmCommand::SpiceUri => "vm view",
            VmCommand::SetCloudInit(_) => "vm cloud-init set",
            VmCommand::ClearCloudInit => "vm cloud-init clear",
            VmCommand::GuestExec(_) => "vm exec",
            VmCommand::GuestInterfaces { .. } => "vm ip",
            VmCommand::Snapshot(request) => super::snapshot::verb(request.action),
        }
    }
}

impl VmActorState {
    pub(super) fn command(
        &mut self,
        myself: &VmActorRef,
        command: VmCommand,
        origin: Origin,
        reply: Reply,
    ) {
        if self.deleted {
            let _ = reply.send(Err(self.gone()));
            return;
        }
        let reads_only = matches!(command, VmCommand::Show | VmCommand::History { .. });
        // A reset never waits for a QEMU's state: killing it needs none.
        let kills = matches!(command, VmCommand::Reset) && !self.writing;
        if self.busy() && !reads_only && !kills {
            self.deferred.push_back((command, origin, reply));
            return;
        }
        let running = self.info.status.has_process();
        crate::test_hooks::panic_if_requested(&self.info.name, command.verb(), running);
        let core_command = match &command {
            VmCommand::Show => {
                let _ = reply.send(Ok(self.info_reply()));
                return;
            }
            VmCommand::History { limit } => return self.history(*limit, reply),
            VmCommand::SpiceUri if self.info.display == DisplayKind::None => {
                let name = self.name();
                let _ = reply.send(Err(WireError::invalid(format!(
                    "VM '{name}' has no display (--display none); use `crv vm console {name}`, or `crv vm edit {name} --display spice` while it is stopped"
                ))));
                return;
            }
            VmCommand::Start => Command::Start,
            VmCommand::Stop { timeout_secs } => Command::Stop {
                timeout: timeout_secs.map(|secs| Duration::from_secs(secs.into())),
            },
            VmCommand::Pause => Command::Pause,
            VmCommand::Reset => Command::Reset,
            VmCommand::Save => Command::Save,
            VmCommand::Edit(_) => Command::Define { what: "edit it" },
            VmCommand::Delete => Command::Define { what: "delete it" },
            VmCommand::Move { .. } => Command::Define { what: "move it" },
            VmCommand::AddDrive(_)
            | VmCommand::RemoveDrive { .. }
            | VmCommand::AddNic(_)
            | VmCommand::RemoveNic { .. } => {
                // Bad input is refused the same way whatever the state.
                if let Err(err) = self.check(&command) {
                    let _ = reply.send(Err(err));
                    return;
                }
                let what = match command {
                    VmCommand::AddDrive(_) | VmCommand::RemoveDrive { .. } => "change its drives",
                    _ => "change its network interfaces",
                };
                Command::Device {
                    what,
                    live: super::plug::liveness(&self.info, &command),
                }
            }
            VmCommand::AddShare(_) | VmCommand::RemoveShare(_) => Command::Define {
                what: "change its shared directories",
            },
            VmCommand::SetCloudInit(_) | VmCommand::ClearCloudInit => Command::Define {
                what: "change its cloud-init configuration",
            },
            VmCommand::Attach { channel } => Command::Access {
                what: format!("attach to the {}", describe_channel(*channel)),
            },
            VmCommand::SpiceUri => Command::Access {
                what: "view it".into(),
            },
            VmCommand::Snapshot(request) if request.action == SnapshotAction::List => {
                return self.list_snapshots(myself, reply);
            }
            VmCommand::Snapshot(request) => Command::Snapshot {
                action: request.action,
                with_ram: request.with_ram,
            },
            VmCommand::GuestExec(_) | VmCommand::GuestInterfaces { .. } => {
                if let Err(err) = self.check_agent() {
                    let _ = reply.send(Err(err));
                    return;
                }
                Command::Access {
                    what: "ask its guest agent".into(),
                }
            }
        };
        let input = Input::Command {
            command: core_command,
            origin,
        };
        let Some((reply, handoff)) = self.step(myself, input, Some(reply)) else {
            return;
        };
        match (handoff, command) {
            (Handoff::Plug, command) => self.plug(myself, command, origin, reply),
            (Handoff::Snapshot, VmCommand::Snapshot(request)) => {
                self.snapshot(myself, request, origin, reply)
            }
            (Handoff::Snapshot, _) => {
                let _ = reply.send(Err(WireError::internal(
                    "a snapshot handoff for another command",
                )));
            }
            (Handoff::Proceed, command) => self.proceed(command, myself, origin, reply),
        }
    }

    /// Work the core let through that the shell does itself.
    fn proceed(&mut self, command: VmCommand, myself: &VmActorRef, origin: Origin, reply: Reply) {
        match command {
            VmCommand::Attach { channel } => self.attach(channel, origin.connection, reply),
            VmCommand::SpiceUri => self.spice_uri(reply),
            VmCommand::GuestExec(spec) => self.ask_agent(myself, AgentQuery::Exec(spec), reply),
            VmCommand::GuestInterfaces { timeout_secs } => {
                self.ask_agent(myself, AgentQuery::Interfaces { timeout_secs }, reply)
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
            | VmCommand::SetCloudInit(_)
            | VmCommand::ClearCloudInit => self.define(myself, command, origin, reply),
            VmCommand::Show
            | VmCommand::History { .. }
            | VmCommand::Start
            | VmCommand::Stop { .. }
            | VmCommand::Pause
            | VmCommand::Reset
            | VmCommand::Save
            | VmCommand::Snapshot(_) => {
                let _ = reply.send(Ok(self.info_reply()));
            }
        }
    }

    /// The answer to a command: the VM as it now is, or, for the command
    /// that deleted it, its deletion.
    pub(super) fn info_reply(&self) -> VmReply {
        if self.deleted {
            return VmReply::Response(Response::Deleted {
                id: self.info.id,
                name: self.info.name.clone(),
            });
        }
        let mut info = self.info.clone();
        self.agent_view(&mut info);
        VmReply::Response(Response::Vm(Box::new(info)))
    }

    pub(super) fn gone(&self) -> WireError {
        super::errors::deleted(&self.info.name)
    }

    /// Stored events, read by a task so the actor does not wait on the database.
    /// On PostgreSQL events are numbered as they are stored (issue 19), so
    /// the read waits for this VM's changes recorded so far to be safe.
    fn history(&self, limit: Option<u32>, reply: Reply) {
        let store = self.ctx.store.clone();
        let bus = self.ctx.bus.clone();
        let id = self.info.id;
        let settled = (store.kind() == DbKind::Postgres).then(|| {
            let (durable, settled) = tokio::sync::oneshot::channel();
            let _ = self
                .ctx
                .persistence
                .cast(PersistenceMsg::Settled { durable });
            settled
        });
        tokio::spawn(
            async move {
                if let Some(settled) = settled {
                    // Past the wait, the stored history is read as it is.
                    let _ = tokio::time::timeout(super::SAFE_WAIT, settled).await;
                }
                let events = db(store.history(id, limit.map(u64::from)))
                    .await
                    .map(|stored| bus.complete_history(id, stored, limit.map(|l| l as usize)));
                let _ = reply.send(
                    events
                        .map(|events| VmReply::Response(Response::History(events)))
                        .map_err(WireError::from),
                );
            }
            .in_current_span(),
        );
    }
}
