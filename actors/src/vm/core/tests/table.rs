//! Every input against every state (DESIGN §3 and its observed inputs): the
//! state right after the input, or the refusal. Columns are the fixtures:
//! stopped, starting (launching), starting (spawned), running, paused,
//! stopping, error, error with QEMU still there, saving, saved, restoring
//! (QMP not up yet).

use super::*;
use Outcome::{No, To};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Outcome {
    To(VmState),
    No(Refusal),
}

pub(super) const ST: Outcome = To(VmState::Stopped);
pub(super) const SG: Outcome = To(VmState::Starting);
pub(super) const RU: Outcome = To(VmState::Running);
pub(super) const PA: Outcome = To(VmState::Paused);
pub(super) const SP: Outcome = To(VmState::Stopping);
pub(super) const ER: Outcome = To(VmState::Error);
pub(super) const SV: Outcome = To(VmState::Saving);
pub(super) const SD: Outcome = To(VmState::Saved);
pub(super) const RS: Outcome = To(VmState::Restoring);
/// The state the fixture already has.
pub(super) const SAME: [Outcome; 11] = [ST, SG, SG, RU, PA, SP, ER, ER, SV, SD, RS];

pub(super) type Row = (&'static str, fn() -> Input, [Outcome; 11]);

pub(super) fn rows() -> Vec<Row> {
    let mut rows = lifecycle_rows();
    rows.extend(super::devices::rows());
    rows.extend(super::snapshots::rows());
    rows.extend(super::fenced::rows());
    rows
}

fn lifecycle_rows() -> Vec<Row> {
    use Refusal::*;
    let mut rows: Vec<Row> = vec![
        (
            "start",
            || command(Command::Start),
            [
                SG,
                No(InProgress),
                No(InProgress),
                No(Already),
                PA,
                No(InProgress),
                No(ResetFirst),
                No(ResetFirst),
                No(InProgress),
                RS,
                No(InProgress),
            ],
        ),
        (
            "stop",
            || command(Command::Stop { timeout: None }),
            [
                No(Already),
                SP,
                SP,
                SP,
                SP,
                No(UseReset),
                No(ResetFirst),
                No(ResetFirst),
                No(InProgress),
                No(IsSaved),
                No(InProgress),
            ],
        ),
        (
            "pause",
            || command(Command::Pause),
            [
                No(NotRunning),
                No(NotRunning),
                No(NotRunning),
                RU,
                No(NotRunning),
                No(NotRunning),
                No(NotRunning),
                No(NotRunning),
                No(NotRunning),
                No(NotRunning),
                No(NotRunning),
            ],
        ),
        (
            "reset",
            || command(Command::Reset),
            [ST, SG, SG, RU, PA, SP, ST, ER, SV, ST, RS],
        ),
        (
            "define",
            || command(Command::Define { what: "edit it" }),
            [
                ST,
                No(NotStopped),
                No(NotStopped),
                No(NotStopped),
                No(NotStopped),
                No(NotStopped),
                No(NotStopped),
                No(NotStopped),
                No(NotStopped),
                No(NotStopped),
                No(NotStopped),
            ],
        ),
        (
            "access",
            || {
                command(Command::Access {
                    what: "attach to the monitor".into(),
                })
            },
            [
                No(NotStarted),
                No(NotStarted),
                No(NotStarted),
                RU,
                PA,
                No(NotStarted),
                No(NotStarted),
                No(NotStarted),
                No(NotStarted),
                No(NotStarted),
                No(NotStarted),
            ],
        ),
        (
            "autostart",
            || Input::Autostart,
            [SG, SG, SG, RU, PA, SP, SG, ER, SV, RS, RS],
        ),
        (
            "taken over",
            || Input::Node(NodeEvent::TakenOver { from: "a".into() }),
            [SG, SG, SG, RU, PA, SP, SG, ER, SV, SD, RS],
        ),
        ("fenced", || Input::Node(NodeEvent::Fenced), SAME),
        (
            "daemon stop",
            || Input::DaemonStop,
            [ST, SP, SP, SP, SP, SP, ER, ER, SV, SD, RS],
        ),
        ("deleted", || Input::Deleted { origin: ORIGIN }, SAME),
        (
            "redefined",
            || Input::Redefined {
                command: "vm edit",
                change: "changed cpu_count".into(),
                origin: ORIGIN,
            },
            SAME,
        ),
        (
            "quarantine",
            || Input::Quarantine {
                reason: "actor failed".into(),
            },
            [ER, ER, ER, ER, ER, ER, ER, ER, ER, ER, ER],
        ),
        (
            "adopted: alive",
            || Input::Adopted(Adoption::Alive),
            [SG, SG, SG, RU, PA, SP, SG, SG, SV, RS, RS],
        ),
        (
            "adopted: gone",
            || {
                Input::Adopted(Adoption::Gone {
                    why: "process 9 has exited".into(),
                })
            },
            [ST, ER, ER, ER, ER, ST, ER, ER, ER, SD, SD],
        ),
        (
            "adopted: nothing",
            || Input::Adopted(Adoption::Nothing),
            SAME,
        ),
        ("launched", || Input::Launched { boot: BOOT }, SAME),
        (
            "launch failed",
            || Input::LaunchFailed {
                boot: BOOT,
                error: "no such file".into(),
            },
            [ST, ER, SG, RU, PA, SP, ER, ER, SV, SD, RS],
        ),
        (
            "qmp ready: running",
            || Input::QmpReady {
                boot: BOOT,
                status: RunState::Running,
            },
            [ST, SG, RU, RU, PA, SP, ER, ER, SV, SD, RU],
        ),
        (
            "qmp ready: paused",
            || Input::QmpReady {
                boot: BOOT,
                status: RunState::Paused("paused".into()),
            },
            [ST, SG, PA, RU, PA, SP, ER, ER, SV, SD, PA],
        ),
        (
            "qmp ready: prelaunch",
            || Input::QmpReady {
                boot: BOOT,
                status: RunState::NotStarted("prelaunch".into()),
            },
            SAME,
        ),
        (
            "qmp failed",
            || Input::QmpFailed {
                boot: BOOT,
                error: "refused".into(),
            },
            SAME,
        ),
        (
            "pause done",
            || Input::QmpDone {
                boot: BOOT,
                op: QmpOp::Pause,
                origin: Some(ORIGIN),
                result: Ok(()),
            },
            [ST, SG, SG, PA, PA, SP, ER, ER, SV, SD, RS],
        ),
        (
            "pause failed",
            || Input::QmpDone {
                boot: BOOT,
                op: QmpOp::Pause,
                origin: Some(ORIGIN),
                result: Err("closed".into()),
            },
            SAME,
        ),
        (
            "resume done",
            || Input::QmpDone {
                boot: BOOT,
                op: QmpOp::Resume,
                origin: Some(ORIGIN),
                result: Ok(()),
            },
            [ST, SG, SG, RU, RU, SP, ER, ER, SV, SD, RS],
        ),
        (
            "powerdown done",
            || Input::QmpDone {
                boot: BOOT,
                op: QmpOp::Powerdown {
                    resume_first: false,
                    again: false,
                },
                origin: None,
                result: Ok(()),
            },
            SAME,
        ),
        (
            "STOP event",
            || qmp(QmpEvent::Stop),
            [ST, SG, SG, PA, PA, SP, ER, ER, SV, SD, RS],
        ),
        (
            "RESUME event",
            || qmp(QmpEvent::Resume),
            [ST, SG, SG, RU, RU, SP, ER, ER, SV, SD, RS],
        ),
        (
            "SHUTDOWN event",
            || {
                qmp(QmpEvent::Shutdown {
                    guest: true,
                    reason: "guest-shutdown".into(),
                })
            },
            SAME,
        ),
        (
            "GUEST_PANICKED event",
            || {
                qmp(QmpEvent::GuestPanicked {
                    action: "pause".into(),
                })
            },
            SAME,
        ),
        ("qmp closed", || Input::QmpClosed { boot: BOOT }, SAME),
        // QEMU gone with QMP already closed (starting) is read at once; with
        // QMP open the exit waits for the last events.
        (
            "exited",
            || exited(CLEAN_EXIT),
            [ST, ER, ER, RU, PA, SP, ER, ER, SV, SD, SD],
        ),
        ("exit settled", || Input::ExitSettled { boot: BOOT }, SAME),
        (
            "virtiofsd exited",
            || Input::VirtiofsdExited {
                boot: BOOT,
                tag: "home".into(),
                exit: CLEAN_EXIT,
            },
            SAME,
        ),
        ("stop tick", || Input::StopTick { boot: BOOT }, SAME),
        ("kill tick", || Input::KillTick { boot: BOOT }, SAME),
        (
            "restart due",
            || Input::RestartDue {
                attempt: 1,
                scheduled: true,
            },
            [SG, SG, SG, RU, PA, SP, SG, ER, SV, SD, RS],
        ),
        (
            "restart cancelled",
            || Input::RestartDue {
                attempt: 1,
                scheduled: false,
            },
            SAME,
        ),
        (
            "restart limit",
            || Input::RestartLimit {
                message: "restart limit reached (3 in 60 s)".into(),
            },
            [ER, ER, ER, ER, ER, ER, ER, ER, ER, ER, ER],
        ),
        // The taps go after QEMU: whatever the VM does meanwhile stands.
        (
            "taps removed",
            || Input::TapsRemoved {
                boot: BOOT - 1,
                result: Ok(()),
            },
            SAME,
        ),
        (
            "taps left behind",
            || Input::TapsRemoved {
                boot: BOOT - 1,
                result: Err("cannot remove taps: crvtap4: busy".into()),
            },
            SAME,
        ),
    ];
    rows.extend(super::save::rows());
    rows.extend(super::agent::rows());
    rows
}

pub(super) fn outcome(fixture: Fixture, input: Input) -> (Outcome, Option<Transition>) {
    let mut vm = fixture.vm();
    if matches!(input, Input::Adopted(_)) {
        // Adoption happens as the actor starts, before any boot exists.
        vm.boot = None;
    }
    match vm.feed(input) {
        Ok(transition) => (To(transition.next), Some(transition)),
        Err(refusal) => (No(refusal), None),
    }
}

#[test]
fn every_state_and_input_matches_the_table() {
    let mut mismatches = Vec::new();
    for (name, input, expected) in rows() {
        for (fixture, expected) in Fixture::ALL.into_iter().zip(expected) {
            let (got, _) = outcome(fixture, input());
            if got != expected {
                mismatches.push(format!(
                    "{name} on {fixture:?}: expected {expected:?}, got {got:?}"
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
