//! What the core knows about one boot of QEMU: its phase, what was asked of
//! it, and what it said so far. Plain data; the shell keeps the processes.

use crate::vm::Origin;
use corvus_protocol::EventCause;
use corvus_qemu::{ExitInfo, Signal};
use tokio::time::Instant;

/// How far a boot has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// virtiofsd and QEMU are being spawned by a task.
    Launching,
    /// QEMU runs; its QMP session is not up (yet).
    Spawned,
    /// QMP answered.
    Connected,
}

/// What the actor asked of QEMU, so that its exit can be read correctly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// Nothing: an exit now is the guest's doing or a crash.
    Nothing,
    /// A graceful stop (`crv vm stop`, or the daemon stopping its VMs).
    Stop { origin: Option<Origin> },
    /// SIGTERM before the guest could boot (stop during `starting`).
    Terminate { origin: Option<Origin> },
    /// SIGKILL (`crv vm reset`).
    Kill { origin: Origin },
    /// SIGKILL because this node lost its database session beyond its
    /// fence timeout (issue 19): a survivor may start the VM soon.
    Fence,
    /// `crv vm save`: `resume` when the guest ran before the save stopped
    /// it; `written` once the save file is complete and QEMU may go.
    Save {
        origin: Origin,
        resume: bool,
        written: bool,
    },
}

/// QMP STOP/RESUME events that our own commands will cause, so that they
/// are not mistaken for someone else's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExpectedEvents {
    pub stop: u32,
    pub resume: u32,
}

/// An exit that waits for QEMU's last QMP events before it is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingExit {
    pub exit: ExitInfo,
    pub stderr: String,
}

/// Everything the core knows about one boot of QEMU. It exists from the
/// start (or re-adoption) until QEMU is gone: "no QEMU" is `boot: None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootState {
    /// Which boot this is; inputs from an earlier boot are ignored.
    pub number: u64,
    /// What started it, for its events and the restart policy.
    pub cause: EventCause,
    pub phase: Phase,
    /// Found running at daemon (or actor) start rather than started here.
    pub adopted: bool,
    pub expected: Expected,
    /// The strongest signal sent so far, when a stop ran out of time.
    pub escalated: Option<Signal>,
    pub events: ExpectedEvents,
    /// The SHUTDOWN event, if QEMU sent one: (guest initiated, reason).
    pub shutdown: Option<(bool, String)>,
    pub panicked: bool,
    /// Why the boot failed before QEMU exited (QMP never answered).
    pub failure: Option<String>,
    pub stop_deadline: Option<Instant>,
    /// QMP events may still arrive (the session is up and not closed).
    pub qmp_open: bool,
    pub pending_exit: Option<PendingExit>,
    /// This boot restores the save file (`-incoming`) instead of booting.
    pub restore: bool,
    /// A snapshot task works on this QEMU: the STOP and RESUME of a RAM
    /// snapshot are its own, not a pause.
    pub snapshotting: bool,
}

impl BootState {
    pub fn new(number: u64, cause: EventCause, phase: Phase, adopted: bool) -> BootState {
        BootState {
            number,
            cause,
            phase,
            adopted,
            expected: Expected::Nothing,
            escalated: None,
            events: ExpectedEvents::default(),
            shutdown: None,
            panicked: false,
            failure: None,
            stop_deadline: None,
            qmp_open: false,
            pending_exit: None,
            restore: false,
            snapshotting: false,
        }
    }
}
