//! The core's vocabulary: every input a VM can receive, the effects the
//! shell carries out, and the transition that pairs a next state with them.

use super::devices::{Confirmed, Live, Mismatch};
use super::{BootState, RunState, Trigger, View};
use crate::vm::Origin;
use corvus_protocol::{EventCause, EventKind, SnapshotAction, VmState, WireError};
use corvus_qemu::{ExitInfo, QmpEvent, Signal};
use std::time::Duration;

/// An operator command (or the daemon acting like one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Start,
    Stop {
        timeout: Option<Duration>,
    },
    Pause,
    Reset,
    /// A change of the definition (`what` as in "cannot {what}"): the VM
    /// must be stopped.
    Define {
        what: &'static str,
    },
    /// The monitor, the console or the viewer: QEMU must be there.
    Access {
        what: String,
    },
    /// Write RAM and device state to the save file, then end QEMU.
    Save,
    /// A drive or NIC added or removed: a definition change when the VM is
    /// stopped, a hot plug (if `live` allows it) while QEMU runs.
    Device {
        what: &'static str,
        live: Live,
    },
    /// `crv vm snapshot create|revert|delete`: through QMP while QEMU
    /// runs, with qemu-img while the VM is stopped.
    Snapshot {
        action: SnapshotAction,
        with_ram: bool,
    },
}

impl Command {
    pub fn verb(&self) -> &'static str {
        match self {
            Command::Start => "start",
            Command::Stop { .. } => "stop",
            Command::Pause => "pause",
            Command::Reset => "reset",
            Command::Define { .. } => "change",
            Command::Access { .. } => "attach to",
            Command::Save => "save",
            Command::Device { .. } => "change",
            Command::Snapshot { action, .. } => match action {
                SnapshotAction::Create => "snapshot",
                SnapshotAction::Revert => "revert",
                SnapshotAction::Delete => "delete a snapshot of",
                SnapshotAction::List => "list the snapshots of",
            },
        }
    }
}

/// How a re-adoption at actor start went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Adoption {
    /// The recorded state has no process: nothing to adopt.
    Nothing,
    /// The recorded QEMU runs and is this VM's: QMP comes next.
    Alive,
    /// The recorded QEMU is gone (or is not ours), with why.
    Gone { why: String },
}

/// QMP commands the core asks for; each reports back when QEMU answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QmpOp {
    Pause,
    Resume,
    /// The ACPI power button (after `cont` when paused). `again` marks a
    /// repeated press of a stop already under way.
    Powerdown {
        resume_first: bool,
        again: bool,
    },
    /// Ends QEMU once its state is in the save file.
    Quit,
}

/// What the node tells a VM (issue 19, failover).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeEvent {
    /// This node took the VM over from the lost node `from`: start it.
    TakenOver { from: String },
    /// This node lost its database session for longer than its fence
    /// timeout: end QEMU now, before a survivor starts the VM.
    Fenced,
    /// This node holds its lock again and the VM's row still names it:
    /// a VM the fence ended starts again here.
    Reclaimed,
}

/// Every input of the VM, in one enum (DESIGN §3 "observed inputs" and the
/// operator commands). `boot` numbers tie an input to the boot it is about.
#[derive(Debug, Clone)]
pub enum Input {
    Command {
        command: Command,
        origin: Origin,
    },
    Autostart,
    /// `--stop-vms-on-exit`: a graceful stop on the daemon's behalf.
    DaemonStop,
    /// The definition is gone from the database, at `origin`'s request.
    Deleted {
        origin: Origin,
    },
    /// The database took a change of the definition that `origin`'s
    /// `command` asked for; `change` says what it was.
    Redefined {
        command: &'static str,
        change: String,
        origin: Origin,
    },
    /// The supervisor gave up on this VM's actors.
    Quarantine {
        reason: String,
    },
    Adopted(Adoption),
    Launched {
        boot: u64,
    },
    LaunchFailed {
        boot: u64,
        error: String,
    },
    QmpReady {
        boot: u64,
        status: RunState,
    },
    QmpFailed {
        boot: u64,
        error: String,
    },
    QmpDone {
        boot: u64,
        op: QmpOp,
        origin: Option<Origin>,
        result: Result<(), String>,
    },
    Qmp {
        boot: u64,
        event: QmpEvent,
    },
    QmpClosed {
        boot: u64,
    },
    Exited {
        boot: u64,
        exit: ExitInfo,
        stderr: String,
    },
    ExitSettled {
        boot: u64,
    },
    VirtiofsdExited {
        boot: u64,
        tag: String,
        exit: ExitInfo,
    },
    StopTick {
        boot: u64,
    },
    KillTick {
        boot: u64,
    },
    /// A restart timer fired; `scheduled` is false when it was cancelled.
    RestartDue {
        attempt: u32,
        scheduled: bool,
    },
    RestartLimit {
        message: String,
    },
    /// The guest agent took `guest-shutdown` (or did not, with why).
    AgentShutdownDone {
        boot: u64,
        result: Result<(), String>,
    },
    /// The taps of an ended boot's managed NICs were removed, or what of
    /// them could not be.
    TapsRemoved {
        boot: u64,
        result: Result<(), String>,
    },
    /// The save task wrote the complete save file (its size in bytes), or
    /// failed with QEMU resumed as it was and no file left.
    SaveDone {
        boot: u64,
        result: Result<u64, String>,
    },
    /// QEMU's answer to a live drive or NIC change (`verb` as typed).
    Plugged {
        origin: Origin,
        verb: &'static str,
        result: Result<Confirmed, WireError>,
    },
    /// A re-adopted QEMU's devices compared with the definition.
    Reconciled {
        boot: u64,
        mismatch: Mismatch,
    },
    /// A snapshot task is done: the change it made (for the history) or
    /// why it made none, and QEMU's run state afterwards when it runs.
    Snapshotted {
        origin: Origin,
        verb: &'static str,
        result: Result<String, WireError>,
        status: Option<RunState>,
    },
    /// Failover: the VM was taken over here, or this node fenced itself.
    Node(NodeEvent),
}

/// Timers the shell arms; each comes back as the input of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    StopTick(Duration),
    KillTick,
    ExitSettle,
}

/// What the shell must do. Only I/O and replies: the state itself comes
/// back in the [`Transition`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Answer the command: the VM as it now is, or this error.
    Reply(Result<(), WireError>),
    /// Keep the command's reply until QEMU runs (or fails to).
    AwaitRunning,
    /// Keep the command's reply until QEMU is gone.
    AwaitGone,
    /// Answer every waiting start: the VM, or this failure.
    AnswerStarts(Result<(), String>),
    AnswerResets,
    /// Spawn virtiofsd and QEMU for the boot (a task).
    Launch,
    ConnectQmp {
        deadline: Duration,
    },
    /// A QMP command as a task; the command's reply, if any, goes with it.
    Qmp {
        op: QmpOp,
        origin: Option<Origin>,
    },
    Signal(Signal),
    Schedule(Timer),
    /// Let the restart policy decide; `restarting` when the boot that ended
    /// was itself started by the policy.
    ApplyRestartPolicy {
        trigger: Trigger,
        restarting: bool,
    },
    CancelRestart,
    /// Carry out the definition change or the access the command asked for.
    Proceed,
    /// Ask the guest agent for `guest-shutdown` (a task).
    AgentShutdown,
    /// QEMU of this boot is gone: remove its managed NICs' taps (a task).
    RemoveTaps {
        boot: u64,
    },
    /// Stop the guest and migrate it into the save file (a task that
    /// reports `SaveDone`); the command's reply goes with it.
    Save,
    /// Remove the save file (and a partial one, once its writer is done);
    /// `cancel_migration` first cancels a migration QEMU may still run.
    DiscardSave {
        cancel_migration: bool,
    },
    /// Carry out the drive or NIC change on the running QEMU (a task that
    /// reports back as `Plugged`).
    Plug,
    /// Write the change QEMU confirmed to the definition, then answer.
    Record {
        confirmed: Confirmed,
        origin: Origin,
        verb: &'static str,
    },
    /// Compare the re-adopted QEMU's devices with the definition (a task
    /// that reports back as `Reconciled`).
    ReconcileDevices,
    /// Carry out the snapshot operation (a task that reports back as
    /// `Snapshotted`); the command's reply goes with it.
    Snapshot,
}

/// An event: why, who caused it, and whether the state or the definition
/// changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub reason: String,
    pub cause: EventCause,
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub next: VmState,
    pub boot: Option<BootState>,
    pub last_error: Option<String>,
    /// Recorded in the history; always present when the state changes, and
    /// also for events that leave it (a restart limit, a virtiofsd death).
    pub event: Option<Event>,
    pub effects: Vec<Effect>,
}

impl Transition {
    /// Nothing changes.
    pub(super) fn stay(view: &View<'_>) -> Transition {
        Transition {
            next: view.status,
            boot: view.boot.cloned(),
            last_error: view.last_error.map(str::to_owned),
            event: None,
            effects: Vec::new(),
        }
    }

    pub(super) fn to(
        mut self,
        next: VmState,
        reason: impl Into<String>,
        cause: EventCause,
    ) -> Transition {
        self.next = next;
        self.event = Some(Event {
            reason: reason.into(),
            cause,
            kind: EventKind::State,
        });
        self
    }

    /// The state stays; the definition changed (or is gone).
    pub(super) fn redefined(
        mut self,
        kind: EventKind,
        reason: impl Into<String>,
        cause: EventCause,
    ) -> Transition {
        self.event = Some(Event {
            reason: reason.into(),
            cause,
            kind,
        });
        self
    }

    pub(super) fn with(mut self, effect: Effect) -> Transition {
        self.effects.push(effect);
        self
    }

    pub(super) fn boot_mut(&mut self) -> Option<&mut BootState> {
        self.boot.as_mut()
    }
}
