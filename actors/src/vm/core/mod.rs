//! The VM's pure core (DESIGN §3, §10): one function takes the VM's state and
//! any input — an operator command, or something QEMU, a task, a timer or the
//! daemon reported — and says what the state becomes and which effects the
//! actor must carry out. No I/O and no clock here: the actor shell passes the
//! time in, performs the effects and is the only writer of the state.

mod agent;
mod boot;
mod commands;
mod devices;
mod exit;
mod io;
mod node;
mod observed;
mod qmp;
mod refusal;
mod run_state;
mod save;
mod snapshot;
mod taps;
#[cfg(test)]
mod tests;

pub use boot::{BootState, Expected, PendingExit, Phase};
pub use devices::{Confirmed, Live, Mismatch};
pub use exit::Trigger;
pub use io::{Adoption, Command, Effect, Event, Input, NodeEvent, QmpOp, Timer, Transition};
pub use refusal::Refusal;
pub use run_state::RunState;

use corvus_protocol::{EventKind, VmState};
use std::time::Duration;
use tokio::time::Instant;

/// QEMU drops a power-button press until the guest has loaded its ACPI
/// driver, so a stop presses it again at this interval until its timeout.
pub const POWERDOWN_RESEND: Duration = Duration::from_secs(2);
/// After SIGTERM, how long QEMU gets before SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(5);
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// QEMU normally answers QMP within tens of milliseconds; TCG on a loaded
/// machine can take seconds.
pub const QMP_DEADLINE: Duration = Duration::from_secs(30);
/// How long a live detach waits for the guest to let go of the device
/// unless told otherwise (`--timeout`).
pub const DETACH_TIMEOUT: Duration = Duration::from_secs(30);
/// A re-adopted QEMU that was running is already up; if its QMP does not
/// answer quickly it is managed through signals alone.
pub const ADOPT_QMP_DEADLINE: Duration = Duration::from_secs(3);
/// QEMU closes its QMP socket as it exits, after its last events; the exit
/// notification can overtake them, so an exit waits this long for the QMP
/// stream to end before it is read.
pub const EXIT_SETTLE: Duration = Duration::from_secs(2);

/// What the core reads: the VM's state and the facts it depends on.
#[derive(Debug, Clone)]
pub struct View<'a> {
    pub name: &'a str,
    pub status: VmState,
    pub last_error: Option<&'a str>,
    pub boot: Option<&'a BootState>,
    /// The number of the last boot, so that the next one is numbered anew.
    pub last_boot: u64,
    /// The VM's own stop timeout (or the default).
    pub stop_timeout: Duration,
    /// The definition is gone; only "deleted" answers remain.
    pub deleted: bool,
    /// The VM has the guest agent's channel: a stop asks the agent first.
    pub guest_agent: bool,
    /// Some NIC is on a managed network: each boot has taps to remove.
    pub managed_nics: bool,
    /// A device QEMU cannot migrate, named for the operator: a save is
    /// refused up front rather than left to fail inside QEMU.
    pub save_blocker: Option<String>,
    /// An HA VM on a node that cannot prove it holds its database lock
    /// (issue 19): another node may be running it, so no boot begins here.
    pub fenced: bool,
    pub now: Instant,
}

/// The one transition function: every input of the VM goes through here.
pub fn transition(view: &View<'_>, input: Input) -> Result<Transition, Refusal> {
    decide(view, input).map(|transition| taps::remove_when_ended(view, transition))
}

fn decide(view: &View<'_>, input: Input) -> Result<Transition, Refusal> {
    if view.deleted {
        return match input {
            Input::Command { .. } => Err(Refusal::Deleted),
            _ => Ok(Transition::stay(view)),
        };
    }
    match input {
        Input::Command { command, origin } => commands::command(view, command, origin),
        Input::Autostart => Ok(commands::autostart(view)),
        Input::DaemonStop => Ok(commands::daemon_stop(view)),
        Input::Deleted { origin } => Ok(Transition::stay(view)
            .redefined(
                EventKind::Deleted,
                "definition removed",
                origin.cause("vm delete"),
            )
            .with(Effect::CancelRestart)),
        Input::Redefined {
            command,
            change,
            origin,
        } => Ok(Transition::stay(view).redefined(EventKind::Edited, change, origin.cause(command))),
        Input::Quarantine { reason } => Ok(observed::quarantine(view, reason)),
        Input::Node(event) => Ok(node::node_event(view, event)),
        Input::Adopted(adoption) => Ok(observed::adopted(view, adoption)),
        Input::RestartDue { attempt, scheduled } => {
            Ok(commands::restart_due(view, attempt, scheduled))
        }
        Input::RestartLimit { message } => Ok(observed::restart_limit(view, message)),
        Input::TapsRemoved { boot, result } => Ok(taps::removed(view, boot, result)),
        Input::Plugged {
            origin,
            verb,
            result,
        } => Ok(devices::plugged(view, origin, verb, result)),
        Input::Reconciled { boot, mismatch } => Ok(devices::reconciled(view, boot, mismatch)),
        Input::Snapshotted {
            origin,
            verb,
            result,
            status,
        } => Ok(snapshot::done(view, origin, verb, result, status)),
        Input::Launched { boot }
        | Input::LaunchFailed { boot, .. }
        | Input::QmpReady { boot, .. }
        | Input::QmpFailed { boot, .. }
        | Input::QmpDone { boot, .. }
        | Input::Qmp { boot, .. }
        | Input::QmpClosed { boot }
        | Input::Exited { boot, .. }
        | Input::ExitSettled { boot }
        | Input::VirtiofsdExited { boot, .. }
        | Input::StopTick { boot }
        | Input::KillTick { boot }
        | Input::AgentShutdownDone { boot, .. }
        | Input::SaveDone { boot, .. } => match view.boot.filter(|b| b.number == boot) {
            Some(current) => Ok(observed::of_boot(view, current, input)),
            // Late news of an earlier boot (or a QMP reply after QEMU left):
            // nothing to do but answer whoever waits on it.
            None => Ok(observed::stale(view, input)),
        },
    }
}
