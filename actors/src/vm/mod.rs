//! The VmActor: the only owner of one VM's definition and runtime state.
//! Every command on the VM goes through its mailbox, so commands on one VM
//! are serialized; process waits, QMP reads and timers are tasks that send
//! messages back here.

mod access;
mod boot;
mod definition;
mod exit;
mod lifecycle;
mod observe;
mod restart;
mod runtime;
pub mod transition;

use crate::context::SharedContext;
use crate::events::StateChange;
use crate::persistence::PersistenceMsg;
use crate::supervisor::SupervisorMsg;
use crate::wire::db;
use corvus_protocol::{
    Channel, DriveSpec, EventCause, NicSpec, Response, ShareSpec, VmChanges, VmEvent, VmInfo,
    VmState, WireError,
};
use corvus_qemu::{ExitInfo, QmpCommands, QmpEvent, QmpEvents, RunStatus};
use corvus_storage::StateRecord;
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort};
use runtime::Runtime;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::Instrument;
use transition::Command;

pub type VmActorRef = ActorRef<VmMsg>;
pub type Reply = RpcReplyPort<Result<VmReply, WireError>>;

/// A command from a client, on behalf of one connection.
#[derive(Debug)]
pub enum VmCommand {
    Show,
    Edit(VmChanges),
    Delete,
    AddDrive(DriveSpec),
    RemoveDrive(i64),
    AddNic(NicSpec),
    RemoveNic(i64),
    AddShare(ShareSpec),
    RemoveShare(i64),
    Start,
    Stop { timeout_secs: Option<u32> },
    Pause,
    Reset,
    History { limit: Option<u32> },
    Attach { channel: Channel },
    SpiceUri,
}

impl VmCommand {
    /// The command as a user types it.
    pub fn verb(&self) -> &'static str {
        match self {
            VmCommand::Show => "vm show",
            VmCommand::Edit(_) => "vm edit",
            VmCommand::Delete => "vm delete",
            VmCommand::AddDrive(_) => "vm drive add",
            VmCommand::RemoveDrive(_) => "vm drive remove",
            VmCommand::AddNic(_) => "vm net add",
            VmCommand::RemoveNic(_) => "vm net remove",
            VmCommand::AddShare(_) => "vm share add",
            VmCommand::RemoveShare(_) => "vm share remove",
            VmCommand::Start => "vm start",
            VmCommand::Stop { .. } => "vm stop",
            VmCommand::Pause => "vm pause",
            VmCommand::Reset => "vm reset",
            VmCommand::History { .. } => "vm history",
            VmCommand::Attach { .. } => "attach",
            VmCommand::SpiceUri => "vm view",
        }
    }
}

/// Who sent a command, for the events it causes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pub connection: u64,
}

pub use access::{Attachment, describe as describe_channel};

pub enum VmReply {
    Response(Response),
    /// A relay to the monitor or the serial console; the connection streams it.
    Attached(Attachment),
}

pub enum VmMsg {
    Command {
        command: VmCommand,
        origin: Origin,
        reply: Reply,
    },
    /// Start at daemon start (the VM's autostart flag).
    Autostart,
    /// The daemon is exiting with `--stop-vms-on-exit`.
    DaemonStop,
    /// QMP answered after a boot.
    QmpReady {
        boot: u64,
        commands: QmpCommands,
        events: QmpEvents,
        status: RunStatus,
    },
    BootFailed {
        boot: u64,
        error: String,
    },
    Exited {
        boot: u64,
        exit: ExitInfo,
    },
    Qmp {
        boot: u64,
        event: QmpEvent,
    },
    QmpClosed {
        boot: u64,
    },
    VirtiofsdExited {
        boot: u64,
        share_id: i64,
        exit: ExitInfo,
    },
    StopTick {
        boot: u64,
    },
    KillTick {
        boot: u64,
    },
    Restart {
        attempt: u32,
    },
}

pub struct VmArgs {
    pub ctx: SharedContext,
    pub supervisor: ActorRef<SupervisorMsg>,
    pub info: VmInfo,
    pub snapshot: watch::Sender<Arc<VmInfo>>,
    /// Set when the supervisor gives up on this VM's actors: the VM is put
    /// in `error` with this reason (its QEMU, if any, stays attached).
    pub quarantine: Option<String>,
}

/// QMP STOP/RESUME events that our own commands will cause, so that they
/// are not mistaken for someone else's.
#[derive(Default)]
struct ExpectedEvents {
    stop: u32,
    resume: u32,
}

pub struct VmActorState {
    ctx: SharedContext,
    supervisor: ActorRef<SupervisorMsg>,
    info: VmInfo,
    snapshot: watch::Sender<Arc<VmInfo>>,
    /// Set once the definition is gone from the database; the actor only
    /// answers "not found" until it stops.
    deleted: bool,
    runtime: Option<Runtime>,
    boot_seq: u64,
    start_cause: EventCause,
    pending_start: Vec<Reply>,
    pending_reset: Vec<Reply>,
    stop_deadline: Option<Instant>,
    expected_events: ExpectedEvents,
    restarts: restart::Restarts,
    restart_after_readoption: bool,
    holders: access::Holders,
    span: tracing::Span,
}

pub struct VmActor;

pub async fn spawn(args: VmArgs, supervisor: ActorCell) -> Result<VmActorRef, ractor::SpawnErr> {
    // Unnamed: a respawned actor must not wait for its predecessor's name
    // to be released, and 10,000 names would only cost memory.
    let (actor, _) = Actor::spawn_linked(None, VmActor, args, supervisor).await?;
    Ok(actor)
}

impl Actor for VmActor {
    type Msg = VmMsg;
    type State = VmActorState;
    type Arguments = VmArgs;

    async fn pre_start(
        &self,
        myself: VmActorRef,
        args: VmArgs,
    ) -> Result<VmActorState, ActorProcessingErr> {
        let span = tracing::info_span!("vm", id = args.info.id, name = %args.info.name);
        let mut state = VmActorState {
            ctx: args.ctx,
            supervisor: args.supervisor,
            info: args.info,
            snapshot: args.snapshot,
            deleted: false,
            runtime: None,
            boot_seq: 0,
            start_cause: EventCause::Daemon,
            pending_start: Vec::new(),
            pending_reset: Vec::new(),
            stop_deadline: None,
            expected_events: ExpectedEvents::default(),
            restarts: restart::Restarts::default(),
            restart_after_readoption: false,
            holders: access::Holders::default(),
            span: span.clone(),
        };
        state.adopt(&myself).instrument(span.clone()).await;
        if let Some(reason) = args.quarantine {
            let _guard = span.enter();
            tracing::error!(%reason, "VM put in error");
            state.info.last_error = Some(reason.clone());
            state.change_state_with_event(VmState::Error, reason, EventCause::Daemon);
        }
        Ok(state)
    }

    async fn post_start(
        &self,
        myself: VmActorRef,
        state: &mut VmActorState,
    ) -> Result<(), ActorProcessingErr> {
        if std::mem::take(&mut state.restart_after_readoption) {
            let _guard = state.span.clone().entered();
            state.after_exit(&myself, exit::Trigger::Failure);
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: VmActorRef,
        message: VmMsg,
        state: &mut VmActorState,
    ) -> Result<(), ActorProcessingErr> {
        let span = state.span.clone();
        // Boxed: every actor's task would otherwise hold room for the
        // largest handler's state (~18 KiB) while idle; with 10,000 VMs
        // that was 180 MiB of the daemon's RSS (corvus-bench, figure 7).
        Box::pin(state.handle(&myself, message).instrument(span)).await;
        Ok(())
    }
}

impl VmActorState {
    async fn handle(&mut self, myself: &VmActorRef, message: VmMsg) {
        match message {
            VmMsg::Command {
                command,
                origin,
                reply,
            } => {
                if self.deleted {
                    let _ = reply.send(Err(self.gone()));
                    return;
                }
                let running = matches!(self.info.status, VmState::Running | VmState::Paused);
                crate::test_hooks::panic_if_requested(&self.info.name, command.verb(), running);
                self.command(myself, command, origin, reply).await;
            }
            VmMsg::Autostart => {
                if self.info.status == VmState::Stopped {
                    let _ = self
                        .boot(myself, EventCause::Autostart, "autostart".into())
                        .await;
                }
            }
            VmMsg::DaemonStop => self.daemon_stop(myself).await,
            VmMsg::QmpReady {
                boot,
                commands,
                events,
                status,
            } => self.qmp_ready(myself, boot, commands, events, status),
            VmMsg::BootFailed { boot, error } => self.boot_failed(boot, error),
            VmMsg::Exited { boot, exit } => self.exited(myself, boot, exit).await,
            VmMsg::Qmp { boot, event } => self.qmp_event(boot, event),
            VmMsg::QmpClosed { boot } => self.qmp_closed(boot),
            VmMsg::VirtiofsdExited {
                boot,
                share_id,
                exit,
            } => self.virtiofsd_exited(boot, share_id, exit),
            VmMsg::StopTick { boot } => self.stop_tick(myself, boot).await,
            VmMsg::KillTick { boot } => self.kill_tick(boot),
            VmMsg::Restart { attempt } => self.restart_due(myself, attempt).await,
        }
    }

    async fn command(
        &mut self,
        myself: &VmActorRef,
        command: VmCommand,
        origin: Origin,
        reply: Reply,
    ) {
        let result = match command {
            VmCommand::Start => {
                return self
                    .lifecycle(myself, Command::Start, origin, None, reply)
                    .await;
            }
            VmCommand::Stop { timeout_secs } => {
                return self
                    .lifecycle(myself, Command::Stop, origin, timeout_secs, reply)
                    .await;
            }
            VmCommand::Pause => {
                return self
                    .lifecycle(myself, Command::Pause, origin, None, reply)
                    .await;
            }
            VmCommand::Reset => {
                self.restarts.cancel();
                return self
                    .lifecycle(myself, Command::Reset, origin, None, reply)
                    .await;
            }
            VmCommand::History { limit } => return self.history(limit, reply),
            VmCommand::Show => Ok(self.info_reply()),
            VmCommand::Edit(changes) => self.edit(changes).await,
            VmCommand::Delete => self.delete().await,
            VmCommand::AddDrive(drive) => self.add_drive(drive).await,
            VmCommand::RemoveDrive(id) => self.remove_drive(id).await,
            VmCommand::AddNic(nic) => self.add_nic(nic).await,
            VmCommand::RemoveNic(id) => self.remove_nic(id).await,
            VmCommand::AddShare(share) => self.add_share(share).await,
            VmCommand::RemoveShare(id) => self.remove_share(id).await,
            VmCommand::Attach { channel } => self.attach(channel, origin.connection).await,
            VmCommand::SpiceUri => self.spice_uri().await,
        };
        let _ = reply.send(result);
    }

    /// Stored events, read by a task so the actor does not wait on the database.
    fn history(&self, limit: Option<u32>, reply: Reply) {
        let store = self.ctx.store.clone();
        let bus = self.ctx.bus.clone();
        let id = self.info.id;
        tokio::spawn(
            async move {
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

    fn name(&self) -> &str {
        &self.info.name
    }

    fn gone(&self) -> WireError {
        WireError::not_found(format!("VM '{}' was deleted", self.info.name))
    }

    fn info_reply(&self) -> VmReply {
        VmReply::Response(self.info_reply_value())
    }

    fn info_reply_value(&self) -> Response {
        Response::Vm(Box::new(self.info.clone()))
    }

    /// Makes the current definition and state visible to `list` and `show`.
    fn publish(&self) {
        self.snapshot.send_replace(Arc::new(self.info.clone()));
    }

    /// Sends the runtime columns (and an event, if any) to the database.
    fn persist(&self, event: Option<VmEvent>) {
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
        let _ = self.ctx.persistence.cast(PersistenceMsg::Record(record));
    }

    /// Moves to `to`, with an event when the state actually changes.
    fn change_state(&mut self, to: VmState, reason: impl Into<String>, cause: EventCause) {
        if self.info.status == to {
            self.persist(None);
            self.publish();
        } else {
            self.change_state_with_event(to, reason, cause);
        }
    }

    /// Moves to `to` and records an event even if the state stays the same
    /// (a restart limit reached while in `error`, a virtiofsd that died).
    fn change_state_with_event(
        &mut self,
        to: VmState,
        reason: impl Into<String>,
        cause: EventCause,
    ) {
        let from = self.info.status;
        self.info.status = to;
        let event = self.ctx.bus.publish(StateChange {
            vm_id: self.info.id,
            vm_name: self.info.name.clone(),
            from,
            to,
            reason: reason.into(),
            cause,
        });
        tracing::info!(%from, %to, reason = %event.reason, "state changed");
        self.persist(Some(event));
        self.publish();
    }

    /// Definition changes need a stopped VM; the error says how to get there.
    fn require_stopped(&self, what: &str) -> Result<(), WireError> {
        let state = self.info.status;
        if state == VmState::Stopped {
            return Ok(());
        }
        let name = self.name();
        let way_out = match state {
            VmState::Error => format!("use `crv vm reset {name}` first"),
            _ => format!("stop it first with `crv vm stop {name}`"),
        };
        Err(WireError::transition(
            state,
            format!("cannot {what}: VM '{name}' is {state}; {way_out}"),
        ))
    }
}
