//! What holds for every cell of the table: each input kind has a row, a
//! state change always says why and who, and refusals keep their words.

use super::table::{outcome, rows};
use super::*;

#[test]
fn the_table_has_a_row_for_every_kind_of_input() {
    // One representative of each `Input` variant, by name: adding a variant
    // without a row here fails to compile below.
    let covered = |input: &Input| match input {
        Input::Command { .. } => "command",
        Input::Autostart => "autostart",
        Input::DaemonStop => "daemon stop",
        Input::Deleted { .. } => "deleted",
        Input::Redefined { .. } => "redefined",
        Input::Quarantine { .. } => "quarantine",
        Input::Adopted(_) => "adopted",
        Input::Launched { .. } => "launched",
        Input::LaunchFailed { .. } => "launch failed",
        Input::QmpReady { .. } => "qmp ready",
        Input::QmpFailed { .. } => "qmp failed",
        Input::QmpDone { .. } => "qmp done",
        Input::Qmp { .. } => "qmp event",
        Input::QmpClosed { .. } => "qmp closed",
        Input::Exited { .. } => "exited",
        Input::ExitSettled { .. } => "exit settled",
        Input::VirtiofsdExited { .. } => "virtiofsd exited",
        Input::StopTick { .. } => "stop tick",
        Input::KillTick { .. } => "kill tick",
        Input::RestartDue { .. } => "restart due",
        Input::RestartLimit { .. } => "restart limit",
        Input::AgentShutdownDone { .. } => "agent shutdown done",
        Input::TapsRemoved { .. } => "taps removed",
        Input::SaveDone { .. } => "save done",
        Input::Plugged { .. } => "plugged",
        Input::Reconciled { .. } => "reconciled",
        Input::Snapshotted { .. } => "snapshotted",
        Input::Node(_) => "node",
    };
    let mut kinds: Vec<&str> = rows()
        .iter()
        .map(|(_, input, _)| covered(&input()))
        .collect();
    kinds.sort_unstable();
    kinds.dedup();
    assert_eq!(kinds.len(), 28, "every input variant has a row: {kinds:?}");
}

#[test]
fn a_state_change_always_says_why_and_who() {
    for (name, input, _) in rows() {
        for fixture in Fixture::ALL {
            let before = fixture.vm().status;
            if let (_, Some(transition)) = outcome(fixture, input()) {
                assert!(
                    transition.next == before || transition.event.is_some(),
                    "{name} on {fixture:?} changes the state without an event"
                );
                if transition.next == VmState::Error {
                    assert!(
                        transition.last_error.is_some(),
                        "{name} on {fixture:?}: error without a reason"
                    );
                }
                if transition.next == VmState::Stopped {
                    assert!(
                        transition.boot.is_none(),
                        "{name} on {fixture:?}: stopped with a boot"
                    );
                }
            }
        }
    }
}

#[test]
fn refusals_keep_their_words() {
    let cases = [
        (
            Fixture::Error,
            Command::Start,
            "VM 'web' is in error; see `crv vm show web`, then `crv vm reset web` before you start it",
        ),
        (
            Fixture::Paused,
            Command::Pause,
            "VM 'web' is already paused; use `crv vm start web` to resume it",
        ),
        (
            Fixture::Stopping,
            Command::Stop { timeout: None },
            "VM 'web' is already stopping; use `crv vm reset web` to kill it now",
        ),
        (
            Fixture::Running,
            Command::Start,
            "VM 'web' is already running",
        ),
        (
            Fixture::Spawned,
            Command::Start,
            "VM 'web' is starting; wait for it to finish, or use `crv vm reset web` to kill it",
        ),
        (
            Fixture::Running,
            Command::Define { what: "edit it" },
            "cannot edit it: VM 'web' is running; stop it first with `crv vm stop web`",
        ),
        (
            Fixture::Error,
            Command::Define {
                what: "change its drives",
            },
            "cannot change its drives: VM 'web' is error; use `crv vm reset web` first",
        ),
        (
            Fixture::Stopped,
            Command::Access {
                what: "attach to the serial console".into(),
            },
            "cannot attach to the serial console: VM 'web' is stopped; start it with `crv vm start web`",
        ),
    ];
    for (fixture, command, words) in cases {
        let vm = fixture.vm();
        let refusal = transition(&vm.view(), super::command(command.clone())).expect_err("refused");
        let wire = refusal.to_wire("web", vm.status, &command);
        assert_eq!(wire.message, words, "{fixture:?}");
        assert_eq!(
            wire.kind,
            corvus_protocol::ErrorKind::InvalidTransition { state: vm.status }
        );
    }
}

/// Every cell where QEMU's boot ends removes its taps (a stop, a crash, a
/// failed start, a reset, a quarantine...), and only then, only once, and
/// only for a VM with managed NICs.
#[test]
fn every_ended_boot_removes_its_taps() {
    let mut mismatches = Vec::new();
    let mut ended_cells = 0;
    for (name, input, _) in rows() {
        for fixture in Fixture::ALL {
            for managed_nics in [false, true] {
                let mut vm = fixture.vm();
                vm.managed_nics = managed_nics;
                if matches!(input(), Input::Adopted(_)) {
                    vm.boot = None;
                }
                let before = vm.boot.as_ref().map(|boot| boot.number);
                let Ok(transition) = vm.feed(input()) else {
                    continue;
                };
                let after = transition.boot.as_ref().map(|boot| boot.number);
                let ended = before.filter(|number| after != Some(*number));
                let removals: Vec<&Effect> = transition
                    .effects
                    .iter()
                    .filter(|effect| matches!(effect, Effect::RemoveTaps { .. }))
                    .collect();
                let expected: Vec<Effect> = ended
                    .filter(|_| managed_nics)
                    .map(|boot| Effect::RemoveTaps { boot })
                    .into_iter()
                    .collect();
                ended_cells += usize::from(ended.is_some() && managed_nics);
                if removals != expected.iter().collect::<Vec<_>>() {
                    mismatches.push(format!(
                        "{name} on {fixture:?} (managed NICs: {managed_nics}): {removals:?}, expected {expected:?}"
                    ));
                }
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    // The table ends boots in a few cells (exits, failed starts, resets).
    assert!(ended_cells >= 3, "only {ended_cells} cells end a boot");
}
