//! Inputs nobody typed: what QEMU, the launch and QMP tasks, the timers and
//! the daemon report about a VM (DESIGN §3 "observed inputs").

use super::commands::escalate;
use super::exit::{ExitContext, Trigger, classify};
use super::qmp::{qmp_done, qmp_event, qmp_ready};
use super::{
    ADOPT_QMP_DEADLINE, Adoption, BootState, Effect, Expected, Input, POWERDOWN_RESEND,
    PendingExit, Phase, QMP_DEADLINE, QmpOp, Timer, Transition, View,
};
use crate::vm::Origin;
use corvus_protocol::{EventCause, VmState, WireError};
use corvus_qemu::{ExitInfo, Signal};

fn operator(origin: Option<Origin>, command: &str) -> EventCause {
    match origin {
        Some(origin) => origin.cause(command),
        None => EventCause::Daemon,
    }
}

fn restart_policy(boot: &BootState, trigger: Trigger) -> Effect {
    Effect::ApplyRestartPolicy {
        trigger,
        restarting: matches!(boot.cause, EventCause::RestartPolicy { .. }),
    }
}

pub(super) fn quarantine(view: &View<'_>, reason: String) -> Transition {
    let mut next = Transition::stay(view).to(VmState::Error, reason.clone(), EventCause::Daemon);
    next.last_error = Some(reason);
    next
}

pub(super) fn restart_limit(view: &View<'_>, message: String) -> Transition {
    let mut next = Transition::stay(view).to(VmState::Error, message.clone(), EventCause::Daemon);
    next.last_error = Some(message);
    next
}

pub(super) fn adopted(view: &View<'_>, adoption: Adoption) -> Transition {
    let stay = Transition::stay(view);
    match adoption {
        Adoption::Nothing => stay,
        // The database lagged behind a crash (it says stopped or error) but
        // the VM's QEMU runs: adopted, never doubled; QMP tells its state.
        Adoption::Alive if !view.status.has_process() => {
            let reason = format!(
                "found its QEMU running although the database recorded the VM as {}",
                view.status
            );
            // A saved VM's QEMU can only be a restore the database did not
            // record yet: it ends running (the save is then discarded) or
            // back in `saved`.
            let to = match view.status {
                VmState::Saved => VmState::Restoring,
                _ => VmState::Starting,
            };
            let mut next = stay
                .to(to, reason, EventCause::Readoption)
                .with(Effect::ConnectQmp {
                    deadline: QMP_DEADLINE,
                });
            next.last_error = None;
            next.boot = Some(BootState::new(
                view.last_boot + 1,
                EventCause::Readoption,
                Phase::Spawned,
                true,
            ));
            next
        }
        Adoption::Alive => {
            let mut boot = BootState::new(
                view.last_boot + 1,
                EventCause::Readoption,
                Phase::Spawned,
                true,
            );
            if view.status == VmState::Stopping {
                // The stop was asked for before the daemon went away: carry it on.
                boot.expected = Expected::Stop { origin: None };
                boot.stop_deadline = Some(view.now + view.stop_timeout);
            }
            // A QEMU recorded as starting may still be coming up: it gets a
            // boot's full QMP deadline rather than the quick adoption one.
            let deadline = match view.status {
                VmState::Starting => QMP_DEADLINE,
                _ => ADOPT_QMP_DEADLINE,
            };
            let mut next = stay.with(Effect::ConnectQmp { deadline });
            next.boot = Some(boot);
            next
        }
        Adoption::Gone { why } => match view.status {
            VmState::Stopping => {
                let mut next = stay.to(
                    VmState::Stopped,
                    "QEMU exited while the daemon was down, as a stop had asked",
                    EventCause::Readoption,
                );
                next.last_error = None;
                next
            }
            VmState::Saving => {
                let message = format!(
                    "QEMU exited during a save while the daemon was down ({why}); the save could not be confirmed and was discarded"
                );
                let mut next = stay.to(VmState::Error, message.clone(), EventCause::Readoption);
                next.last_error = Some(message);
                next.boot = None;
                next.with(Effect::DiscardSave {
                    cancel_migration: false,
                })
            }
            VmState::Restoring => {
                let message = format!(
                    "QEMU exited during a restore while the daemon was down ({why}); the saved state is kept"
                );
                let mut next = stay.to(VmState::Saved, message.clone(), EventCause::Readoption);
                next.last_error = Some(message);
                next.boot = None;
                next
            }
            VmState::Starting | VmState::Running | VmState::Paused => {
                let message = format!("QEMU exited while the daemon was down ({why})");
                let mut next = stay.to(VmState::Error, message.clone(), EventCause::Readoption);
                next.last_error = Some(message);
                next.boot = None;
                next.with(Effect::ApplyRestartPolicy {
                    trigger: Trigger::Failure,
                    restarting: false,
                })
            }
            VmState::Stopped | VmState::Error | VmState::Saved => stay,
        },
    }
}

/// Inputs about a boot that is over: only waiting replies need an answer.
pub(super) fn stale(view: &View<'_>, input: Input) -> Transition {
    let stay = Transition::stay(view);
    match input {
        Input::QmpDone {
            op: op @ (QmpOp::Pause | QmpOp::Resume),
            ..
        } => {
            let what = if op == QmpOp::Pause {
                "pause"
            } else {
                "resume"
            };
            stay.with(Effect::Reply(Err(WireError::unavailable(format!(
                "QEMU of VM '{}' went away before it confirmed the {what}",
                view.name
            )))))
        }
        Input::SaveDone { result, .. } => stay.with(super::save::stale(view, result)),
        _ => stay,
    }
}

/// An input about the current boot.
pub(super) fn of_boot(view: &View<'_>, current: &BootState, input: Input) -> Transition {
    let mut next = Transition::stay(view);
    let Some(boot) = next.boot.as_mut() else {
        return next;
    };
    // Each step of a boot happens once, in its phase; a late duplicate is
    // no news.
    let in_phase = match input {
        Input::Launched { .. } | Input::LaunchFailed { .. } => boot.phase == Phase::Launching,
        Input::QmpReady { .. } | Input::QmpFailed { .. } => boot.phase == Phase::Spawned,
        _ => true,
    };
    if !in_phase {
        return next;
    }
    match input {
        Input::Launched { .. } => {
            boot.phase = Phase::Spawned;
            match boot.expected {
                Expected::Nothing => next.with(Effect::ConnectQmp {
                    deadline: QMP_DEADLINE,
                }),
                Expected::Kill { .. } | Expected::Fence => {
                    next.with(Effect::Signal(Signal::SIGKILL))
                }
                // A save needs a connected QEMU: it cannot precede the launch.
                Expected::Terminate { .. } | Expected::Stop { .. } | Expected::Save { .. } => {
                    escalate(next, Signal::SIGTERM)
                }
            }
        }
        Input::LaunchFailed { error, .. } => launch_failed(view, next, current, error),
        Input::QmpReady { status, .. } => {
            boot.phase = Phase::Connected;
            boot.qmp_open = true;
            qmp_ready(view, next, status)
        }
        Input::QmpFailed { error, .. } => {
            if boot.adopted && matches!(view.status, VmState::Running | VmState::Paused) {
                // A guest that ran before the daemon restarted keeps running;
                // without QMP it can only be reset.
                return next;
            }
            boot.failure = Some(error);
            next.with(Effect::Signal(Signal::SIGKILL))
        }
        Input::QmpDone {
            op, origin, result, ..
        } => qmp_done(view, next, op, origin, result),
        Input::Qmp { event, .. } => qmp_event(view, next, event),
        Input::QmpClosed { .. } => {
            boot.qmp_open = false;
            match boot.pending_exit.take() {
                Some(pending) => settle_exit(view, current, pending),
                None => next,
            }
        }
        Input::Exited { exit, stderr, .. } => {
            let pending = PendingExit { exit, stderr };
            if boot.qmp_open {
                boot.pending_exit = Some(pending);
                next.with(Effect::Schedule(Timer::ExitSettle))
            } else {
                settle_exit(view, current, pending)
            }
        }
        Input::ExitSettled { .. } => match &current.pending_exit {
            Some(pending) => settle_exit(view, current, pending.clone()),
            None => next,
        },
        Input::VirtiofsdExited { tag, exit, .. } => virtiofsd_exited(view, next, &tag, exit),
        Input::StopTick { .. } => stop_tick(view, next, current),
        Input::AgentShutdownDone { result, .. } => super::agent::shutdown_done(view, next, result),
        Input::KillTick { .. } => {
            boot.escalated = Some(Signal::SIGKILL);
            next.with(Effect::Signal(Signal::SIGKILL))
        }
        Input::SaveDone { result, .. } => super::save::done(view, next, result),
        Input::Command { .. }
        | Input::Autostart
        | Input::DaemonStop
        | Input::Deleted { .. }
        | Input::Redefined { .. }
        | Input::Quarantine { .. }
        | Input::Adopted(_)
        | Input::RestartDue { .. }
        | Input::RestartLimit { .. }
        | Input::TapsRemoved { .. }
        | Input::Plugged { .. }
        | Input::Reconciled { .. }
        | Input::Snapshotted { .. }
        | Input::Node(_) => next,
    }
}

fn launch_failed(
    view: &View<'_>,
    next: Transition,
    current: &BootState,
    error: String,
) -> Transition {
    let restoring = view.status == VmState::Restoring;
    let mut next = match current.expected {
        Expected::Nothing if restoring => {
            let message = format!("restore failed: {error}; the saved state is kept");
            let mut failed = next.to(VmState::Saved, message.clone(), current.cause.clone());
            failed.last_error = Some(message);
            failed
        }
        Expected::Kill { origin } if restoring => next
            .to(
                VmState::Stopped,
                "reset: restore abandoned, saved state discarded",
                operator(Some(origin), "vm reset"),
            )
            .with(Effect::DiscardSave {
                cancel_migration: false,
            }),
        Expected::Nothing | Expected::Stop { .. } | Expected::Save { .. } => {
            let mut failed = next.to(VmState::Error, error.clone(), current.cause.clone());
            failed.last_error = Some(error.clone());
            failed.with(restart_policy(current, Trigger::StartFailed))
        }
        Expected::Fence => {
            let mut fenced = next.to(
                VmState::Error,
                super::node::FENCED,
                corvus_protocol::EventCause::Daemon,
            );
            fenced.last_error = Some(super::node::FENCED.to_owned());
            fenced
        }
        // The start had been called off anyway.
        Expected::Kill { origin } => next.to(
            VmState::Stopped,
            "reset: QEMU killed",
            operator(Some(origin), "vm reset"),
        ),
        Expected::Terminate { origin } => next.to(
            VmState::Stopped,
            "stopped before the guest booted",
            operator(origin, "vm stop"),
        ),
    };
    next.boot = None;
    next.with(Effect::AnswerStarts(Err(error)))
        .with(Effect::AnswerResets)
}

/// QEMU is gone: read its exit and end the boot.
fn settle_exit(view: &View<'_>, boot: &BootState, pending: PendingExit) -> Transition {
    let mut outcome = classify(&ExitContext {
        state: view.status,
        expected: boot.expected,
        escalated: boot.escalated,
        shutdown: boot.shutdown.clone(),
        panicked: boot.panicked,
        exit: pending.exit,
        stderr: &pending.stderr,
    });
    // The QMP failure explains an exit only when our kill caused it; a
    // QEMU that exited by itself first (a bad drive) makes QMP fail too,
    // and its own stderr says why.
    if let Some(failure) = &boot.failure
        && pending.exit.signal.is_some()
    {
        outcome.reason = failure.clone();
    }
    let mut next = Transition::stay(view).to(outcome.next, outcome.reason.clone(), outcome.cause);
    next.boot = None;
    let failed_restore = view.status == VmState::Restoring && outcome.next == VmState::Saved;
    next.last_error =
        (outcome.next == VmState::Error || failed_restore).then(|| outcome.reason.clone());
    if view.status == VmState::Restoring && outcome.next == VmState::Stopped {
        // A reset during a restore discards the save, as on a saved VM.
        next = next.with(Effect::DiscardSave {
            cancel_migration: false,
        });
    }
    next.with(Effect::AnswerStarts(Err(outcome.reason)))
        .with(Effect::AnswerResets)
        .with(restart_policy(boot, outcome.trigger))
}

fn virtiofsd_exited(
    view: &View<'_>,
    mut next: Transition,
    tag: &str,
    exit: ExitInfo,
) -> Transition {
    if !matches!(view.status, VmState::Running | VmState::Paused) {
        return next;
    }
    let message = format!(
        "virtiofsd of share '{tag}' {exit}; the guest can no longer use it until the VM restarts"
    );
    next.last_error = Some(message.clone());
    next.to(
        view.status,
        message,
        EventCause::QemuEvent {
            event: "virtiofsd exit".into(),
        },
    )
}

fn stop_tick(view: &View<'_>, next: Transition, boot: &BootState) -> Transition {
    if view.status != VmState::Stopping || boot.escalated.is_some() {
        return next;
    }
    let Some(deadline) = boot.stop_deadline else {
        return next;
    };
    if view.now >= deadline || !boot.qmp_open {
        return escalate(next, Signal::SIGTERM);
    }
    next.with(Effect::Qmp {
        op: QmpOp::Powerdown {
            resume_first: false,
            again: true,
        },
        origin: None,
    })
    .with(Effect::Schedule(Timer::StopTick(
        POWERDOWN_RESEND.min(deadline - view.now),
    )))
}
