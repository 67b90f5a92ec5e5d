//! The VmActor's mailbox: every message it takes, from clients (through
//! the supervisor), from its own tasks and timers, and from the daemon.

use super::errors::BootError;
use super::stats::QmpFigures;
use super::{Origin, Reply, VmCommand, core, definition, launch, save};
use corvus_protocol::WireError;
use corvus_qemu::{ExitInfo, QmpCommands, QmpError, QmpEvent, QmpEvents};
use ractor::RpcReplyPort;

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
    /// Failover (issue 19): taken over from a lost node, or fenced.
    Node(core::NodeEvent),
    /// Answered once a re-adoption has settled: QMP answered or was given up on.
    Settled(RpcReplyPort<()>),
    Launched {
        boot: u64,
        spawned: launch::Spawned,
    },
    LaunchFailed {
        boot: u64,
        error: BootError,
    },
    QmpReady {
        boot: u64,
        commands: QmpCommands,
        events: QmpEvents,
        status: core::RunState,
    },
    QmpFailed {
        boot: u64,
        error: BootError,
    },
    QmpDone {
        boot: u64,
        op: core::QmpOp,
        origin: Option<Origin>,
        result: Result<(), QmpError>,
        reply: Option<Reply>,
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
    VirtiofsdExited {
        boot: u64,
        share_id: i64,
        exit: ExitInfo,
    },
    /// The taps of an ended boot are gone, or some could not be removed.
    TapsRemoved {
        boot: u64,
        result: Result<(), String>,
    },
    Timer {
        boot: u64,
        timer: core::Timer,
    },
    Restart {
        attempt: u32,
    },
    /// A definition write finished (or was refused); `origin`'s `verb`
    /// asked for it.
    Written {
        outcome: Result<definition::Written, WireError>,
        origin: Origin,
        verb: &'static str,
        reply: Reply,
    },
    AgentShutdownDone {
        boot: u64,
        result: Result<(), String>,
    },
    /// A `vm exec` or `vm ip` task's news of the agent.
    AgentSeen {
        boot: u64,
        answered: bool,
        addresses: Option<Vec<String>>,
    },
    /// A live drive or NIC change's outcome in QEMU, with the command's reply.
    Plugged {
        origin: Origin,
        verb: &'static str,
        result: Result<core::Confirmed, WireError>,
        reply: Reply,
    },
    /// A re-adopted QEMU's devices, compared with the definition.
    Reconciled {
        boot: u64,
        mismatch: core::Mismatch,
    },
    /// The stats collector asks for this boot's QMP figures; a task answers
    /// `reply` directly, within `deadline` (see `stats.rs`).
    SampleQmp {
        deadline: std::time::Duration,
        reply: tokio::sync::oneshot::Sender<QmpFigures>,
    },
    /// The save task's result, with the `crv vm save` reply it carried.
    SaveDone {
        boot: u64,
        result: Result<u64, save::SaveError>,
        reply: Option<Reply>,
    },
    /// A snapshot task's outcome, with QEMU's run state afterwards.
    Snapshotted {
        origin: Origin,
        verb: &'static str,
        result: Result<String, WireError>,
        status: Option<core::RunState>,
        reply: Reply,
    },
    /// `crv vm snapshot list`'s answer, reconciled.
    SnapshotsListed {
        result: Result<corvus_protocol::Response, WireError>,
        reply: Reply,
    },
}
