//! A graceful stop through the QEMU guest agent: for a VM with the agent's
//! channel, `stop` first asks the agent for `guest-shutdown` (the guest
//! powers off as its init system would), and only when the agent does not
//! take it falls back to the ACPI power button; the stop timeout and the
//! SIGTERM/SIGKILL escalation after it stay the same.

use super::{Effect, Expected, QmpOp, Timer, Transition, View};
use corvus_protocol::{EventCause, VmState};

/// The agent's task reported on `guest-shutdown`.
pub(super) fn shutdown_done(
    view: &View<'_>,
    next: Transition,
    result: Result<(), String>,
) -> Transition {
    let Some(boot) = next.boot.as_ref() else {
        return next;
    };
    if view.status != VmState::Stopping || boot.escalated.is_some() {
        return next;
    }
    let Some(deadline) = boot.stop_deadline else {
        return next;
    };
    match result {
        Ok(()) => {
            let cause = match boot.expected {
                Expected::Stop {
                    origin: Some(origin),
                } => origin.cause("vm stop"),
                Expected::Stop { origin: None }
                | Expected::Nothing
                | Expected::Kill { .. }
                | Expected::Fence
                | Expected::Terminate { .. }
                | Expected::Save { .. } => EventCause::Daemon,
            };
            // The guest shuts down on its own now: only the deadline's
            // escalation is left to schedule.
            let left = deadline.saturating_duration_since(view.now);
            next.to(
                VmState::Stopping,
                "the guest agent is shutting the guest down (guest-shutdown)",
                cause,
            )
            .with(Effect::Schedule(Timer::StopTick(left)))
        }
        Err(_) => next.with(Effect::Qmp {
            op: QmpOp::Powerdown {
                resume_first: false,
                again: false,
            },
            origin: None,
        }),
    }
}
