//! What QMP reports: the first answer after a (re)start, the answers to the
//! commands the core asked for, and QEMU's events.

use super::commands::escalate;
use super::{Effect, Expected, POWERDOWN_RESEND, QmpOp, RunState, Timer, Transition, View};
use crate::vm::Origin;
use corvus_protocol::{EventCause, VmState, WireError};
use corvus_qemu::{QmpEvent, Signal};

fn operator(origin: Option<Origin>, command: &str) -> EventCause {
    match origin {
        Some(origin) => origin.cause(command),
        None => EventCause::Daemon,
    }
}

pub(super) fn qmp_ready(view: &View<'_>, mut next: Transition, status: RunState) -> Transition {
    let Some(boot) = next.boot.as_mut() else {
        return next;
    };
    let adopted = boot.adopted;
    let cause = if adopted {
        EventCause::Readoption
    } else {
        boot.cause.clone()
    };
    if matches!(
        view.status,
        VmState::Error | VmState::Stopped | VmState::Saved
    ) {
        // A quarantined VM stays in error: QMP only makes its reset gentler.
        return next;
    }
    if view.status == VmState::Stopping {
        return match boot.expected {
            // A stop recorded before a daemon restart goes on.
            Expected::Stop { origin } if boot.escalated.is_none() => next.with(Effect::Qmp {
                op: QmpOp::Powerdown {
                    resume_first: status != RunState::Running,
                    again: false,
                },
                origin,
            }),
            _ => next,
        };
    }
    let reached = |state: VmState, reason: String| (state, reason);
    let outcome = match &status {
        RunState::Running => reached(VmState::Running, "QEMU is running".into()),
        RunState::Paused(word) => reached(VmState::Paused, format!("QEMU is paused ({word})")),
        RunState::NotStarted(word) => {
            boot.failure = Some(format!("QEMU stayed in its {word} state"));
            return next.with(Effect::Signal(Signal::SIGKILL));
        }
        RunState::Panicked => {
            boot.panicked = true;
            boot.failure = Some("the guest panicked".into());
            return next.with(Effect::Signal(Signal::SIGKILL));
        }
        // QEMU exits next; its exit settles the state.
        RunState::ShuttingDown => return next,
        RunState::Broken(word) => {
            boot.failure = Some(format!("QEMU reports the guest as {word}"));
            return next.with(Effect::Signal(Signal::SIGKILL));
        }
    };
    let (state, reason) = outcome;
    let reason = match view.status {
        VmState::Restoring => "restored from its save file".to_owned(),
        VmState::Saving => {
            "re-adopted after a daemon restart interrupted its save; the partial save was discarded"
                .to_owned()
        }
        _ if adopted => "re-adopted after a daemon restart".to_owned(),
        _ => reason,
    };
    let discard = match view.status {
        // The guest runs from the restored state: the file has served.
        VmState::Restoring => Some(false),
        // A save the daemon did not see to its end cannot be trusted;
        // QEMU may still be writing it.
        VmState::Saving => Some(true),
        _ => None,
    };
    let next = if view.status == state {
        next
    } else {
        next.to(state, reason, cause)
    }
    .with(Effect::AnswerStarts(Ok(())));
    let next = match discard {
        Some(cancel_migration) => next.with(Effect::DiscardSave { cancel_migration }),
        None => next,
    };
    if adopted {
        // Devices may have come or gone while no daemon was watching.
        next.with(Effect::ReconcileDevices)
    } else {
        next
    }
}

pub(super) fn qmp_done(
    view: &View<'_>,
    mut next: Transition,
    op: QmpOp,
    origin: Option<Origin>,
    result: Result<(), String>,
) -> Transition {
    let Some(boot) = next.boot.as_mut() else {
        return next;
    };
    match (op, result) {
        (QmpOp::Pause, Ok(())) if view.status == VmState::Running => next
            .to(VmState::Paused, "paused", operator(origin, "vm pause"))
            .with(Effect::Reply(Ok(()))),
        (QmpOp::Resume, Ok(())) if view.status == VmState::Paused => next
            .to(VmState::Running, "resumed", operator(origin, "vm start"))
            .with(Effect::Reply(Ok(()))),
        // QEMU did it, and something else moved the state meanwhile.
        (QmpOp::Pause | QmpOp::Resume, Ok(())) => next.with(Effect::Reply(Ok(()))),
        (QmpOp::Pause, Err(err)) => {
            boot.events.stop = boot.events.stop.saturating_sub(1);
            next.with(Effect::Reply(Err(WireError::unavailable(format!(
                "QEMU did not pause: {err}"
            )))))
        }
        (QmpOp::Resume, Err(err)) => {
            boot.events.resume = boot.events.resume.saturating_sub(1);
            next.with(Effect::Reply(Err(WireError::unavailable(format!(
                "QEMU did not resume: {err}"
            )))))
        }
        (QmpOp::Powerdown { again: true, .. }, _) => next,
        (QmpOp::Quit, result) => super::save::quit_done(view, next, result),
        (QmpOp::Powerdown { again: false, .. }, result) => {
            if view.status != VmState::Stopping || boot.escalated.is_some() {
                return next;
            }
            match (result, boot.stop_deadline) {
                (Ok(()), Some(deadline)) => {
                    let left = deadline.saturating_duration_since(view.now);
                    next.with(Effect::Schedule(Timer::StopTick(
                        POWERDOWN_RESEND.min(left),
                    )))
                }
                // No power button to press (or no deadline to wait for).
                _ => escalate(next, Signal::SIGTERM),
            }
        }
    }
}

pub(super) fn qmp_event(view: &View<'_>, mut next: Transition, event: QmpEvent) -> Transition {
    let Some(boot) = next.boot.as_mut() else {
        return next;
    };
    match event {
        // A RAM snapshot stops and resumes the guest itself.
        QmpEvent::Stop | QmpEvent::Resume if boot.snapshotting => next,
        QmpEvent::Stop if boot.events.stop > 0 => {
            boot.events.stop -= 1;
            next
        }
        QmpEvent::Stop if view.status == VmState::Running => next.to(
            VmState::Paused,
            "paused inside QEMU (STOP event)",
            EventCause::QemuEvent {
                event: "STOP".into(),
            },
        ),
        QmpEvent::Resume if boot.events.resume > 0 => {
            boot.events.resume -= 1;
            next
        }
        QmpEvent::Resume if view.status == VmState::Paused => next.to(
            VmState::Running,
            "resumed inside QEMU (RESUME event)",
            EventCause::QemuEvent {
                event: "RESUME".into(),
            },
        ),
        QmpEvent::Shutdown { guest, reason } => {
            boot.shutdown = Some((guest, reason));
            next
        }
        QmpEvent::GuestPanicked { .. } => {
            boot.panicked = true;
            next
        }
        QmpEvent::Stop
        | QmpEvent::Resume
        | QmpEvent::Powerdown
        | QmpEvent::Reset { .. }
        | QmpEvent::DeviceDeleted { .. }
        | QmpEvent::Other { .. }
        | QmpEvent::Lagged { .. } => next,
    }
}
