//! The VmActor: the only owner of one VM's definition and runtime state.
//! Every input — an operator command, or what QEMU, a task or a timer
//! reports — goes through the pure core ([`core::transition`]); the shell
//! (`shell.rs`) performs its effects and is the only writer of the state.
//! Nothing here awaits QEMU, virtiofsd or the database: that work runs as
//! tasks that report back as messages, numbered by boot.

mod access;
mod adopt;
mod agent;
mod boot;
mod boot_reports;
mod cloud_init;
mod commands;
pub mod core;
mod definition;
mod device_rows;
pub(crate) mod errors;
mod launch;
mod moving;
mod msg;
mod origin;
mod outbox;
mod plug;
mod plug_tasks;
mod qmp_tasks;
mod reconcile;
mod record;
mod restart;
mod save;
mod shell;
mod snapshot;
mod snapshot_list;
mod snapshot_ops;
mod stats;
mod written;

use crate::context::SharedContext;
use crate::supervisor::SupervisorMsg;
use boot::Boot;
use corvus_protocol::{
    Channel, CloudInitChanges, DriveSpec, ExecSpec, NicSpec, Response, ShareSpec, VmChanges,
    VmInfo, WireError,
};
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::watch;

pub use access::{Attachment, describe as describe_channel};
pub use agent::timeout as agent_timeout;
pub(crate) use device_rows::{MAC_ATTEMPTS, generated_mac};
pub use msg::VmMsg;
pub use origin::Origin;
pub(crate) use outbox::SAFE_WAIT;
pub use plug::detach_timeout;
pub use snapshot::{JOB_DEADLINE as SNAPSHOT_DEADLINE, SnapshotRequest};
pub use stats::QmpFigures;

pub type VmActorRef = ActorRef<VmMsg>;
pub type Reply = RpcReplyPort<Result<VmReply, WireError>>;

/// A command from a client, on behalf of one connection.
#[derive(Debug)]
pub enum VmCommand {
    Show,
    Edit(VmChanges),
    Delete,
    /// Gives the stopped VM to another node (issue 19).
    Move {
        node: String,
    },
    AddDrive(DriveSpec),
    RemoveDrive {
        id: i64,
        timeout_secs: Option<u32>,
    },
    AddNic(NicSpec),
    RemoveNic {
        id: i64,
        timeout_secs: Option<u32>,
    },
    AddShare(ShareSpec),
    RemoveShare(i64),
    Start,
    Stop {
        timeout_secs: Option<u32>,
    },
    Pause,
    Reset,
    Save,
    History {
        limit: Option<u32>,
    },
    Attach {
        channel: Channel,
    },
    SpiceUri,
    SetCloudInit(CloudInitChanges),
    ClearCloudInit,
    GuestExec(ExecSpec),
    GuestInterfaces {
        timeout_secs: Option<u32>,
    },
    Snapshot(SnapshotRequest),
}

pub enum VmReply {
    Response(Response),
    /// A relay to the monitor or the serial console; the connection streams it.
    Attached(Attachment),
}

pub struct VmArgs {
    pub ctx: SharedContext,
    pub supervisor: ActorRef<SupervisorMsg>,
    pub info: VmInfo,
    pub snapshot: watch::Sender<Arc<VmInfo>>,
    /// Set when the supervisor gives up on this VM's actors: the VM is put
    /// in `error` with this reason (its QEMU, if any, stays attached).
    pub quarantine: Option<String>,
    /// A QEMU marked as ours for this VM, found among the processes at
    /// daemon start (whatever the database recorded).
    pub found_pid: Option<u32>,
}

pub struct VmActorState {
    ctx: SharedContext,
    supervisor: ActorRef<SupervisorMsg>,
    info: VmInfo,
    snapshot: watch::Sender<Arc<VmInfo>>,
    span: tracing::Span,
    /// Set once the definition is gone from the database; the actor only
    /// answers "deleted" until it stops.
    deleted: bool,
    /// The boot of QEMU, from its start (or re-adoption) until it is gone.
    boot: Option<Boot>,
    last_boot: u64,
    restarts: restart::Restarts,
    holders: access::Holders,
    /// A definition write is in flight: commands wait behind it, so that
    /// each sees the definition the one before it left.
    writing: bool,
    /// A live drive or NIC change is under way in QEMU; commands wait
    /// behind it too (a reset does not).
    plugging: bool,
    /// A snapshot task (or a list that may reconcile) is under way;
    /// commands wait behind it too.
    snapshotting: bool,
    deferred: VecDeque<(VmCommand, Origin, Reply)>,
    /// Deferred commands are being run (they may defer again).
    replaying: bool,
    settle_waiters: Vec<RpcReplyPort<()>>,
    /// Processes found at actor start, for the boot their adoption creates.
    adopted: Option<adopt::Found>,
    /// The removal of the last ended boot's taps, which the next launch
    /// waits for.
    unplugging: Option<tokio::task::JoinHandle<()>>,
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
            span: span.clone(),
            deleted: false,
            boot: None,
            last_boot: 0,
            restarts: restart::Restarts::default(),
            holders: access::Holders::default(),
            writing: false,
            plugging: false,
            snapshotting: false,
            deferred: VecDeque::new(),
            replaying: false,
            settle_waiters: Vec::new(),
            adopted: None,
            unplugging: None,
        };
        let _guard = span.enter();
        state.adopt(&myself, args.found_pid);
        if let Some(reason) = args.quarantine {
            tracing::error!(%reason, "VM put in error");
            state.step(&myself, core::Input::Quarantine { reason }, None);
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: VmActorRef,
        message: VmMsg,
        state: &mut VmActorState,
    ) -> Result<(), ActorProcessingErr> {
        let _guard = state.span.clone().entered();
        state.handle(&myself, message);
        Ok(())
    }
}

impl VmActorState {
    fn handle(&mut self, myself: &VmActorRef, message: VmMsg) {
        use core::Input;
        let input = match message {
            VmMsg::Command {
                command,
                origin,
                reply,
            } => return self.command(myself, command, origin, reply),
            VmMsg::Written {
                outcome,
                origin,
                verb,
                reply,
            } => return self.written(myself, outcome, origin, verb, reply),
            VmMsg::SampleQmp { deadline, reply } => return self.sample_qmp(deadline, reply),
            VmMsg::Settled(reply) => {
                self.settle_waiters.push(reply);
                return self.answer_settled();
            }
            VmMsg::Autostart => Input::Autostart,
            VmMsg::DaemonStop => Input::DaemonStop,
            VmMsg::Node(event) => Input::Node(event),
            VmMsg::Launched { boot, spawned } => return self.launched(myself, boot, spawned),
            VmMsg::LaunchFailed { boot, error } => {
                tracing::warn!(error = %errors::render(&error), "QEMU did not start");
                Input::LaunchFailed {
                    boot,
                    error: errors::render(&error),
                }
            }
            VmMsg::QmpReady {
                boot,
                commands,
                events,
                status,
            } => {
                self.qmp_up(myself, boot, commands, events);
                Input::QmpReady { boot, status }
            }
            VmMsg::QmpFailed { boot, error } => {
                self.qmp_failed(boot);
                tracing::warn!(error = %errors::render(&error), "QEMU's QMP did not come up");
                Input::QmpFailed {
                    boot,
                    error: errors::render(&error),
                }
            }
            VmMsg::QmpDone {
                boot,
                op,
                origin,
                result,
                reply,
            } => {
                let input = Input::QmpDone {
                    boot,
                    op,
                    origin,
                    result: result.map_err(|err| errors::render(&err)),
                };
                self.step(myself, input, reply);
                return;
            }
            VmMsg::Qmp { boot, event } => {
                if let corvus_qemu::QmpEvent::DeviceDeleted { device } = &event {
                    self.device_deleted(device);
                }
                Input::Qmp { boot, event }
            }
            VmMsg::Plugged {
                origin,
                verb,
                result,
                reply,
            } => return self.plugged(myself, origin, verb, result, reply),
            VmMsg::Reconciled { boot, mismatch } => Input::Reconciled { boot, mismatch },
            VmMsg::QmpClosed { boot } => {
                self.qmp_down(boot);
                Input::QmpClosed { boot }
            }
            VmMsg::Exited { boot, exit, stderr } => {
                tracing::info!(%exit, "QEMU exited");
                Input::Exited { boot, exit, stderr }
            }
            VmMsg::VirtiofsdExited {
                boot,
                share_id,
                exit,
            } => {
                let Some(tag) = self.share_tag(share_id) else {
                    return;
                };
                self.forget_virtiofsd(boot, share_id);
                Input::VirtiofsdExited { boot, tag, exit }
            }
            VmMsg::TapsRemoved { boot, result } => Input::TapsRemoved { boot, result },
            VmMsg::Timer { boot, timer } => match timer {
                core::Timer::StopTick(_) => Input::StopTick { boot },
                core::Timer::KillTick => Input::KillTick { boot },
                core::Timer::ExitSettle => Input::ExitSettled { boot },
            },
            VmMsg::AgentShutdownDone { boot, result } => Input::AgentShutdownDone { boot, result },
            VmMsg::AgentSeen {
                boot,
                answered,
                addresses,
            } => return self.agent_seen(boot, answered, addresses),
            VmMsg::SaveDone {
                boot,
                result,
                reply,
            } => return self.save_done(myself, boot, result, reply),
            VmMsg::Snapshotted {
                origin,
                verb,
                result,
                status,
                reply,
            } => return self.snapshotted(myself, origin, verb, result, status, reply),
            VmMsg::SnapshotsListed { result, reply } => {
                return self.snapshots_listed(myself, result, reply);
            }
            VmMsg::Restart { attempt } => Input::RestartDue {
                attempt,
                scheduled: self.restarts.take_if_scheduled(attempt),
            },
        };
        self.step(myself, input, None);
    }

    fn name(&self) -> &str {
        &self.info.name
    }
}
