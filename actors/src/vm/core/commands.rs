//! Operator commands (DESIGN §3's table) and the inputs that act like one:
//! autostart, the daemon's own stop, a restart that is due.

use super::{BootState, Command, Effect, Expected, Phase, QmpOp, Refusal, Timer, Transition, View};
use crate::vm::Origin;
use corvus_protocol::{EventCause, VmState};
use corvus_qemu::Signal;
use std::time::Duration;

fn operator(origin: Origin, command: &Command) -> EventCause {
    origin.cause(format!("vm {}", command.verb()))
}

/// The state machine's answer to a lifecycle command, before any effect.
fn rule(state: VmState, command: &Command) -> Result<(), Refusal> {
    use VmState::*;
    match (state, command) {
        (Stopped | Saved, Command::Start) => Ok(()),
        (Saving | Restoring, Command::Start | Command::Stop { .. } | Command::Save) => {
            Err(Refusal::InProgress)
        }
        (Saved, Command::Stop { .. }) => Err(Refusal::IsSaved),
        (Saving | Saved | Restoring, Command::Pause) => Err(Refusal::NotRunning),
        (Saving | Saved | Restoring, Command::Define { .. }) => Err(Refusal::NotStopped),
        (Saving | Saved | Restoring, Command::Access { .. }) => Err(Refusal::NotStarted),
        (Running | Paused, Command::Save) => Ok(()),
        (Saved, Command::Save) => Err(Refusal::Already),
        (Starting | Stopping, Command::Save) => Err(Refusal::InProgress),
        (Stopped | Error, Command::Save) => Err(Refusal::CannotSave),
        (Stopped, Command::Stop { .. }) => Err(Refusal::Already),
        (Stopped, Command::Pause) => Err(Refusal::NotRunning),
        (Starting | Stopping, Command::Start) => Err(Refusal::InProgress),
        (Starting, Command::Stop { .. }) => Ok(()),
        (Starting | Stopping | Error, Command::Pause) => Err(Refusal::NotRunning),
        (Running, Command::Start) => Err(Refusal::Already),
        (Running | Paused, Command::Stop { .. }) => Ok(()),
        (Running, Command::Pause) => Ok(()),
        (Paused, Command::Start) => Ok(()),
        (Paused, Command::Pause) => Err(Refusal::NotRunning),
        (Stopping, Command::Stop { .. }) => Err(Refusal::UseReset),
        (Error, Command::Start | Command::Stop { .. }) => Err(Refusal::ResetFirst),
        (_, Command::Reset) => Ok(()),
        (Stopped, Command::Define { .. }) => Ok(()),
        (Starting | Running | Paused | Stopping | Error, Command::Define { .. }) => {
            Err(Refusal::NotStopped)
        }
        (Stopped | Running | Paused, Command::Device { .. }) => Ok(()),
        (Starting | Stopping | Error | Saving | Saved | Restoring, Command::Device { .. }) => {
            Err(Refusal::NotStopped)
        }
        (Running | Paused | Stopped, Command::Snapshot { .. }) => Ok(()),
        (Saved, Command::Snapshot { .. }) => Err(Refusal::IsSaved),
        (Starting | Stopping | Saving | Restoring, Command::Snapshot { .. }) => {
            Err(Refusal::InProgress)
        }
        (Error, Command::Snapshot { .. }) => Err(Refusal::ResetFirst),
        (Running | Paused, Command::Access { .. }) => Ok(()),
        (Stopped | Starting | Stopping | Error, Command::Access { .. }) => Err(Refusal::NotStarted),
    }
}

pub(super) fn command(
    view: &View<'_>,
    command: Command,
    origin: Origin,
) -> Result<Transition, Refusal> {
    // Before the state's own rule: a VM the fence ended is in error, and
    // a reset would not make its start any safer.
    if view.fenced && command == Command::Start && view.boot.is_none() {
        return Err(Refusal::Fenced);
    }
    rule(view.status, &command)?;
    let stay = Transition::stay(view);
    let cause = operator(origin, &command);
    Ok(match (&command, view.boot) {
        (Command::Start, None) if view.status == VmState::Saved => {
            super::save::begin_restore(view, cause, "restore requested").with(Effect::AwaitRunning)
        }
        (Command::Start, None) => {
            begin_boot(view, cause, "start requested").with(Effect::AwaitRunning)
        }
        (Command::Save, Some(boot)) => super::save::begin(view, boot, origin, cause)?,
        (Command::Reset, None) if view.status == VmState::Saved => {
            super::save::discard(view, cause).with(Effect::Reply(Ok(())))
        }
        (Command::Start, Some(boot)) => {
            // Paused: resume through QMP; the state follows QEMU's answer.
            require_qmp(boot)?;
            let mut next = stay.with(Effect::Qmp {
                op: QmpOp::Resume,
                origin: Some(origin),
            });
            if let Some(boot) = next.boot_mut() {
                boot.events.resume += 1;
            }
            next
        }
        (Command::Pause, Some(boot)) => {
            require_qmp(boot)?;
            let mut next = stay.with(Effect::Qmp {
                op: QmpOp::Pause,
                origin: Some(origin),
            });
            if let Some(boot) = next.boot_mut() {
                boot.events.stop += 1;
            }
            next
        }
        // The guest cannot have booted yet, so there is nothing for a
        // timeout to wait for.
        (Command::Stop { .. }, Some(boot)) if view.status == VmState::Starting => terminate_boot(
            view,
            boot,
            Some(origin),
            cause,
            "stop requested while starting",
        )
        .with(Effect::Reply(Ok(()))),
        (Command::Stop { timeout }, Some(_)) => {
            begin_stop(view, Some(origin), *timeout, cause).with(Effect::Reply(Ok(())))
        }
        (Command::Reset, Some(boot)) => {
            let mut next = stay.with(Effect::AwaitGone).with(Effect::CancelRestart);
            if let Some(b) = next.boot_mut() {
                b.expected = Expected::Kill { origin };
            }
            // While QEMU is being spawned there is nothing to kill yet: the
            // launch's result is killed when it arrives.
            if boot.phase != Phase::Launching {
                next = next.with(Effect::Signal(Signal::SIGKILL));
            }
            next
        }
        (Command::Reset, None) => match view.status {
            VmState::Stopped => stay.with(Effect::CancelRestart).with(Effect::Reply(Ok(()))),
            _ => {
                let reason = match view.status {
                    VmState::Error => "reset after an error",
                    _ => "reset",
                };
                let mut next = stay.to(VmState::Stopped, reason, cause);
                next.last_error = None;
                next.with(Effect::CancelRestart).with(Effect::Reply(Ok(())))
            }
        },
        (Command::Define { .. } | Command::Access { .. }, _) => stay.with(Effect::Proceed),
        (Command::Device { .. }, None) => stay.with(Effect::Proceed),
        (Command::Snapshot { action, with_ram }, boot) => {
            super::snapshot::begin(view, boot, *action, *with_ram)?
        }
        (Command::Device { live, .. }, Some(boot)) => {
            require_qmp(boot)?;
            super::devices::live_change(view, live)?
        }
        // The rules above only let these through with a QEMU; without one
        // the state is inconsistent and saying so beats guessing.
        (Command::Pause | Command::Stop { .. } | Command::Save, None) => {
            return Err(Refusal::NoQmp { connecting: false });
        }
    })
}

pub(super) fn require_qmp(boot: &BootState) -> Result<(), Refusal> {
    match boot.phase {
        Phase::Connected if boot.qmp_open => Ok(()),
        Phase::Connected => Err(Refusal::NoQmp { connecting: false }),
        Phase::Launching | Phase::Spawned => Err(Refusal::NoQmp { connecting: true }),
    }
}

/// A new boot: `starting` until QMP says QEMU runs.
pub(super) fn begin_boot(view: &View<'_>, cause: EventCause, reason: &str) -> Transition {
    let mut next = Transition::stay(view).to(VmState::Starting, reason, cause.clone());
    next.last_error = None;
    next.boot = Some(BootState::new(
        view.last_boot + 1,
        cause,
        Phase::Launching,
        false,
    ));
    next.with(Effect::CancelRestart).with(Effect::Launch)
}

/// A graceful stop: ACPI powerdown (after `cont` when paused), pressed again
/// until the timeout, then SIGTERM and SIGKILL.
pub(super) fn begin_stop(
    view: &View<'_>,
    origin: Option<Origin>,
    timeout: Option<Duration>,
    cause: EventCause,
) -> Transition {
    let timeout = timeout.unwrap_or(view.stop_timeout);
    let resume_first = view.status == VmState::Paused;
    let mut next = Transition::stay(view).to(
        VmState::Stopping,
        format!("stop requested (timeout {} s)", timeout.as_secs()),
        cause,
    );
    let Some(boot) = next.boot_mut() else {
        return next;
    };
    boot.expected = Expected::Stop { origin };
    boot.stop_deadline = Some(view.now + timeout);
    if resume_first {
        boot.events.resume += 1;
    }
    if boot.phase == Phase::Connected && boot.qmp_open && view.guest_agent && !resume_first {
        // The agent first; it falls back to the power button (agent.rs).
        next.with(Effect::AgentShutdown)
    } else if boot.phase == Phase::Connected && boot.qmp_open {
        next.with(Effect::Qmp {
            op: QmpOp::Powerdown {
                resume_first,
                again: false,
            },
            origin,
        })
    } else {
        // Without QMP there is no power button to press.
        escalate(next, Signal::SIGTERM)
    }
}

/// The guest cannot have booted yet: ask QEMU itself to exit.
fn terminate_boot(
    view: &View<'_>,
    boot: &BootState,
    origin: Option<Origin>,
    cause: EventCause,
    reason: &str,
) -> Transition {
    let launching = boot.phase == Phase::Launching;
    let mut next = Transition::stay(view)
        .to(VmState::Stopping, reason, cause)
        .with(Effect::AnswerStarts(Err(match origin {
            Some(_) => format!("start of VM '{}' cancelled by a stop", view.name),
            None => "the daemon is exiting".to_owned(),
        })));
    if let Some(boot) = next.boot_mut() {
        boot.expected = Expected::Terminate { origin };
    }
    if launching {
        // Signalled as soon as the launch reports its QEMU.
        next
    } else {
        escalate(next, Signal::SIGTERM)
    }
}

/// Sends `signal`; after SIGTERM, SIGKILL follows if QEMU lingers.
pub(super) fn escalate(mut next: Transition, signal: Signal) -> Transition {
    if let Some(boot) = next.boot_mut() {
        boot.escalated = Some(signal);
    }
    next = next.with(Effect::Signal(signal));
    if signal == Signal::SIGTERM {
        next = next.with(Effect::Schedule(Timer::KillTick));
    }
    next
}

pub(super) fn autostart(view: &View<'_>) -> Transition {
    if view.fenced {
        // The fence's end starts it again if the fence stopped it.
        return Transition::stay(view);
    }
    match (view.status, view.boot) {
        (VmState::Stopped, None) => begin_boot(view, EventCause::Autostart, "autostart"),
        (VmState::Saved, None) => super::save::begin_restore(
            view,
            EventCause::Autostart,
            "autostart: restoring the saved state",
        ),
        // A VM whose QEMU did not survive (a host reboot) comes back too, as
        // libvirt and Incus bring back their autostart guests.
        (VmState::Error, None) => {
            let why = view.last_error.unwrap_or("an earlier error");
            begin_boot(
                view,
                EventCause::Autostart,
                &format!("autostart after: {why}"),
            )
        }
        _ => Transition::stay(view),
    }
}

pub(super) fn daemon_stop(view: &View<'_>) -> Transition {
    match (view.status, view.boot) {
        (VmState::Running | VmState::Paused, Some(_)) => {
            begin_stop(view, None, None, EventCause::Daemon)
        }
        (VmState::Starting, Some(boot)) => terminate_boot(
            view,
            boot,
            None,
            EventCause::Daemon,
            "the daemon is exiting",
        ),
        _ => Transition::stay(view),
    }
}

pub(super) fn restart_due(view: &View<'_>, attempt: u32, scheduled: bool) -> Transition {
    let idle = matches!(view.status, VmState::Error | VmState::Stopped) && view.boot.is_none();
    if !scheduled || !idle || view.fenced {
        return Transition::stay(view);
    }
    let why = view.last_error.unwrap_or("the guest powered off");
    begin_boot(
        view,
        EventCause::RestartPolicy { attempt },
        &format!("restart {attempt} after: {why}"),
    )
}
