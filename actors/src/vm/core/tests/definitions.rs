//! Definition changes: events of their own kind that leave the state
//! alone, and nothing more recorded of a deleted VM.

use super::*;
use corvus_protocol::EventKind;

fn ok(vm: &mut Vm, input: Input) -> Transition {
    vm.feed(input).expect("the core accepts the input")
}

#[test]
fn a_definition_change_is_an_event_that_leaves_the_state_alone() {
    let mut vm = Fixture::Stopped.vm();
    let edited = ok(
        &mut vm,
        Input::Redefined {
            command: "vm drive add",
            change: "drive 4 added".into(),
            origin: ORIGIN,
        },
    );
    assert_eq!(edited.next, VmState::Stopped);
    assert_eq!(
        edited.event,
        Some(Event {
            reason: "drive 4 added".into(),
            cause: ORIGIN.cause("vm drive add"),
            kind: EventKind::Edited,
        })
    );
    let deleted = ok(&mut vm, Input::Deleted { origin: ORIGIN });
    assert_eq!(deleted.next, VmState::Stopped);
    assert_eq!(
        deleted.event.map(|e| (e.kind, e.cause)),
        Some((EventKind::Deleted, ORIGIN.cause("vm delete")))
    );
    // Once deleted, nothing more is recorded of the VM.
    vm.deleted = true;
    let late = ok(
        &mut vm,
        Input::Redefined {
            command: "vm edit",
            change: "changed ram_mb".into(),
            origin: ORIGIN,
        },
    );
    assert_eq!(late.event, None);
}
