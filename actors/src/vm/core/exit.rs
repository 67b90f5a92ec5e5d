//! Reading a QEMU exit: what it means for the VM's state and for its
//! restart policy. Pure; the actor supplies what it saw.

use super::Expected;
use corvus_protocol::{EventCause, VmState};
use corvus_qemu::{ExitInfo, Signal};

pub struct ExitContext<'a> {
    pub state: VmState,
    pub expected: Expected,
    pub escalated: Option<Signal>,
    /// The SHUTDOWN event: (guest initiated, QEMU's reason).
    pub shutdown: Option<(bool, String)>,
    pub panicked: bool,
    pub exit: ExitInfo,
    /// The end of QEMU's stderr, for failures.
    pub stderr: &'a str,
}

/// What may follow an exit under the VM's restart policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The operator asked for it: never restarted.
    Requested,
    /// The guest powered itself off: restarted only under `always`.
    GuestPoweroff,
    /// A crash, a panic, a kill nobody here sent: `on-failure` and `always`.
    Failure,
    /// QEMU never came up: the caller of the start hears about it.
    StartFailed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub next: VmState,
    pub reason: String,
    pub cause: EventCause,
    pub trigger: Trigger,
}

fn exit_cause(exit: ExitInfo) -> EventCause {
    EventCause::QemuExit {
        code: exit.code,
        signal: exit.signal,
    }
}

fn with_stderr(message: String, stderr: &str) -> String {
    let stderr = stderr.trim();
    if stderr.is_empty() {
        message
    } else {
        format!("{message}: {stderr}")
    }
}

pub fn classify(ctx: &ExitContext<'_>) -> Outcome {
    let outcome = |next, reason: String, cause, trigger| Outcome {
        next,
        reason,
        cause,
        trigger,
    };
    match ctx.expected {
        Expected::Kill { origin } => {
            return outcome(
                VmState::Stopped,
                "reset: QEMU killed".into(),
                origin.cause("vm reset"),
                Trigger::Requested,
            );
        }
        Expected::Fence => {
            // Never restarted here: a survivor starts it.
            return outcome(
                VmState::Error,
                super::node::FENCED.into(),
                EventCause::Daemon,
                Trigger::Requested,
            );
        }
        Expected::Terminate { origin } => {
            let cause = match origin {
                Some(origin) => origin.cause("vm stop"),
                None => EventCause::Daemon,
            };
            return outcome(
                VmState::Stopped,
                "stopped before the guest booted".into(),
                cause,
                Trigger::Requested,
            );
        }
        Expected::Stop { origin } => {
            let cause = match (ctx.escalated, origin) {
                (Some(_), _) => EventCause::TimeoutEscalation,
                (None, Some(origin)) => origin.cause("vm stop"),
                (None, None) => EventCause::Daemon,
            };
            let reason = match ctx.escalated {
                Some(Signal::SIGKILL) => "stop timed out: QEMU killed".to_owned(),
                Some(_) => "stop timed out: QEMU terminated".to_owned(),
                None => "guest powered off".to_owned(),
            };
            return outcome(VmState::Stopped, reason, cause, Trigger::Requested);
        }
        Expected::Save {
            origin,
            written: true,
            ..
        } => {
            return outcome(
                VmState::Saved,
                "saved: QEMU ended with the guest's state in its save file".into(),
                origin.cause("vm save"),
                Trigger::Requested,
            );
        }
        // QEMU died before the save file was complete: a failure like any.
        Expected::Save { written: false, .. } | Expected::Nothing => {}
    }
    if ctx.state == VmState::Restoring {
        let message = with_stderr(format!("restore failed: QEMU {}", ctx.exit), ctx.stderr);
        return outcome(
            VmState::Saved,
            format!("{message}; the saved state is kept"),
            exit_cause(ctx.exit),
            Trigger::Requested,
        );
    }
    if ctx.state == VmState::Starting {
        let message = with_stderr(format!("QEMU failed to start ({})", ctx.exit), ctx.stderr);
        return outcome(
            VmState::Error,
            message,
            exit_cause(ctx.exit),
            Trigger::StartFailed,
        );
    }
    if ctx.panicked {
        return outcome(
            VmState::Error,
            "the guest panicked".into(),
            EventCause::Guest,
            Trigger::Failure,
        );
    }
    match &ctx.shutdown {
        Some((true, _)) => {
            return outcome(
                VmState::Stopped,
                "the guest powered off".into(),
                EventCause::Guest,
                Trigger::GuestPoweroff,
            );
        }
        Some((false, reason)) if reason == "host-qmp-quit" => {
            let cause = EventCause::QemuEvent {
                event: "SHUTDOWN (quit)".into(),
            };
            return outcome(
                VmState::Stopped,
                "QEMU was told to quit through its monitor".into(),
                cause,
                Trigger::GuestPoweroff,
            );
        }
        Some((false, reason)) if reason == "host-signal" => {
            let message = format!(
                "QEMU was terminated by a signal that Corvus did not send ({})",
                ctx.exit
            );
            return outcome(
                VmState::Error,
                message,
                exit_cause(ctx.exit),
                Trigger::Failure,
            );
        }
        _ => {}
    }
    let message = match (ctx.exit.code, ctx.exit.signal) {
        (_, Some(_)) => format!("QEMU was {}", ctx.exit),
        (Some(0), None) => "QEMU exited without a SHUTDOWN event (its QMP connection ended first)".to_owned(),
        (Some(_), None) => with_stderr(format!("QEMU {}", ctx.exit), ctx.stderr),
        (None, None) => "QEMU exited unexpectedly (it was adopted after a daemon restart, so its exit status is unknown)".to_owned(),
    };
    outcome(
        VmState::Error,
        message,
        exit_cause(ctx.exit),
        Trigger::Failure,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::Origin;

    fn ctx(expected: Expected, exit: ExitInfo) -> ExitContext<'static> {
        ExitContext {
            state: VmState::Running,
            expected,
            escalated: None,
            shutdown: None,
            panicked: false,
            exit,
            stderr: "",
        }
    }

    const KILLED: ExitInfo = ExitInfo {
        code: None,
        signal: Some(9),
    };
    const CLEAN: ExitInfo = ExitInfo {
        code: Some(0),
        signal: None,
    };

    #[test]
    fn an_operator_reset_or_stop_never_counts_as_a_failure() {
        let origin = Origin {
            connection: 3,
            client: crate::client_name::ClientName::from_static("alice"),
        };
        let reset = classify(&ctx(Expected::Kill { origin }, KILLED));
        assert_eq!(
            (reset.next, reset.trigger),
            (VmState::Stopped, Trigger::Requested)
        );
        let mut stop = ctx(
            Expected::Stop {
                origin: Some(origin),
            },
            CLEAN,
        );
        stop.escalated = Some(Signal::SIGTERM);
        stop.shutdown = Some((false, "host-signal".into()));
        let stop = classify(&stop);
        assert_eq!(
            (stop.next, stop.trigger, stop.cause),
            (
                VmState::Stopped,
                Trigger::Requested,
                EventCause::TimeoutEscalation
            )
        );
    }

    #[test]
    fn a_kill_nobody_asked_for_is_a_failure_that_names_the_signal() {
        let outcome = classify(&ctx(Expected::Nothing, KILLED));
        assert_eq!(
            (outcome.next, outcome.trigger),
            (VmState::Error, Trigger::Failure)
        );
        assert!(
            outcome.reason.contains("signal 9") && outcome.reason.contains("SIGKILL"),
            "{}",
            outcome.reason
        );
    }

    #[test]
    fn a_sigterm_from_outside_is_a_failure_even_though_qemu_exits_0() {
        let mut c = ctx(Expected::Nothing, CLEAN);
        c.shutdown = Some((false, "host-signal".into()));
        assert_eq!(classify(&c).trigger, Trigger::Failure);
    }

    #[test]
    fn a_guest_poweroff_is_a_clean_stop_and_a_panic_an_error() {
        let mut c = ctx(Expected::Nothing, CLEAN);
        c.shutdown = Some((true, "guest-shutdown".into()));
        let outcome = classify(&c);
        assert_eq!(
            (outcome.next, outcome.trigger, outcome.cause),
            (VmState::Stopped, Trigger::GuestPoweroff, EventCause::Guest)
        );
        c.panicked = true;
        assert_eq!(classify(&c).trigger, Trigger::Failure);
    }

    #[test]
    fn a_failed_start_quotes_qemu() {
        let mut c = ctx(
            Expected::Nothing,
            ExitInfo {
                code: Some(1),
                signal: None,
            },
        );
        c.state = VmState::Starting;
        c.stderr = "qemu-system-x86_64: -blockdev ...: Could not open '/nope': No such file or directory\n";
        let outcome = classify(&c);
        assert_eq!(outcome.trigger, Trigger::StartFailed);
        assert!(
            outcome.reason.contains("Could not open '/nope'"),
            "{}",
            outcome.reason
        );
    }

    #[test]
    fn qmp_eof_without_shutdown_is_a_failure() {
        let outcome = classify(&ctx(Expected::Nothing, CLEAN));
        assert_eq!(outcome.trigger, Trigger::Failure);
        assert!(outcome.reason.contains("without a SHUTDOWN"));
    }
}
