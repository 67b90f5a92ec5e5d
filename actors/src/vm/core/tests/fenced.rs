//! An HA VM on a fenced node (issue 19): no input begins a boot while the
//! node cannot prove its lock, and the fence's end starts again only the
//! VMs the fence ended.

use super::table::{ER, Outcome, PA, RS, RU, Row, SAME, SD, SG, SP, ST, SV};
use super::*;
use Outcome::No;

/// Rows of the main table (a node that is not fenced).
pub(super) fn rows() -> Vec<Row> {
    vec![
        // Only a VM the fence ended starts again; the fixtures' errors are
        // something else.
        ("reclaimed", || Input::Node(NodeEvent::Reclaimed), SAME),
    ]
}

/// The same fixtures with the node fenced.
fn fenced_rows() -> Vec<Row> {
    use Refusal::*;
    vec![
        (
            "start",
            || command(Command::Start),
            [
                No(Fenced),
                No(InProgress),
                No(InProgress),
                No(Already),
                PA,
                No(InProgress),
                No(Fenced),
                No(ResetFirst),
                No(InProgress),
                No(Fenced),
                No(InProgress),
            ],
        ),
        ("autostart", || Input::Autostart, SAME),
        (
            "restart due",
            || Input::RestartDue {
                attempt: 1,
                scheduled: true,
            },
            SAME,
        ),
        (
            "taken over",
            || Input::Node(NodeEvent::TakenOver { from: "a".into() }),
            SAME,
        ),
        ("reclaimed", || Input::Node(NodeEvent::Reclaimed), SAME),
        ("fenced", || Input::Node(NodeEvent::Fenced), SAME),
        // What a fenced QEMU still does is told as before.
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
            "reset",
            || command(Command::Reset),
            [ST, SG, SG, RU, PA, SP, ST, ER, SV, ST, RS],
        ),
        (
            "exited",
            || exited(CLEAN_EXIT),
            [ST, ER, ER, RU, PA, SP, ER, ER, SV, SD, SD],
        ),
    ]
}

#[test]
fn a_fenced_node_begins_no_boot_of_an_ha_vm() {
    let mut mismatches = Vec::new();
    for (name, input, expected) in fenced_rows() {
        for (fixture, expected) in Fixture::ALL.into_iter().zip(expected) {
            let mut vm = fixture.vm();
            vm.fenced = true;
            let got = match vm.feed(input()) {
                Ok(transition) => {
                    assert!(
                        transition.next != VmState::Starting
                            || fixture.vm().status == VmState::Starting,
                        "{name} on {fixture:?} began a boot on a fenced node"
                    );
                    Outcome::To(transition.next)
                }
                Err(refusal) => No(refusal),
            };
            if got != expected {
                mismatches.push(format!(
                    "{name} on {fixture:?} (fenced): expected {expected:?}, got {got:?}"
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn the_refusal_says_the_node_lost_its_session() {
    let message = Refusal::Fenced
        .to_wire("ha1", VmState::Stopped, &Command::Start)
        .message;
    assert!(
        message.contains("lost its database session")
            && message.contains("another node may be running"),
        "{message}"
    );
}

#[test]
fn a_vm_the_fence_ended_starts_again_once_the_fence_ends() {
    let mut vm = Fixture::Running.vm();
    vm.fenced = true;
    vm.feed(Input::Node(NodeEvent::Fenced)).unwrap();
    vm.feed(Input::QmpClosed { boot: BOOT }).unwrap();
    let gone = vm.feed(exited(ExitInfo {
        code: None,
        signal: Some(9),
    }));
    assert_eq!(gone.unwrap().next, VmState::Error);
    assert_eq!(vm.last_error.as_deref(), Some(node::FENCED));
    // Still fenced: nothing begins.
    let still = vm.feed(Input::Node(NodeEvent::Reclaimed)).unwrap();
    assert_eq!(still.next, VmState::Error);
    vm.fenced = false;
    let again = vm.feed(Input::Node(NodeEvent::Reclaimed)).unwrap();
    assert_eq!(again.next, VmState::Starting);
    assert!(
        again.effects.contains(&Effect::Launch),
        "{:?}",
        again.effects
    );
    assert_eq!(vm.boot().number, BOOT + 1);
}

#[test]
fn a_vm_reset_while_fenced_stays_stopped_at_the_fence_end() {
    let mut vm = Fixture::Error.vm();
    vm.last_error = Some(node::FENCED.to_owned());
    vm.fenced = true;
    vm.feed(command(Command::Reset)).unwrap();
    vm.fenced = false;
    let reclaimed = vm.feed(Input::Node(NodeEvent::Reclaimed)).unwrap();
    assert_eq!(reclaimed.next, VmState::Stopped);
}
