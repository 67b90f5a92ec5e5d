//! Snapshots in the table, and what the core makes of them: live through
//! QMP with the snapshot's own STOP/RESUME not taken for a pause, offline
//! with qemu-img, no RAM snapshot of a stopped VM, and an outcome that
//! records the change or says QEMU's state moved.

use super::table::{ER, Outcome, PA, RS, RU, Row, SAME, SD, SG, SP, ST, SV};
use super::*;
use Outcome::No;
use corvus_protocol::{EventKind, SnapshotAction, WireError};

fn snapshot(action: SnapshotAction, with_ram: bool) -> Input {
    command(Command::Snapshot { action, with_ram })
}

fn snapshotted(result: Result<String, WireError>, status: Option<RunState>) -> Input {
    Input::Snapshotted {
        origin: ORIGIN,
        verb: "vm snapshot create",
        result,
        status,
    }
}

pub(super) fn rows() -> Vec<Row> {
    use Refusal::*;
    vec![
        (
            "snapshot create (disks)",
            || snapshot(SnapshotAction::Create, false),
            [
                ST,
                No(InProgress),
                No(InProgress),
                RU,
                PA,
                No(InProgress),
                No(ResetFirst),
                No(ResetFirst),
                No(InProgress),
                No(IsSaved),
                No(InProgress),
            ],
        ),
        (
            "snapshot create with RAM",
            || snapshot(SnapshotAction::Create, true),
            [
                No(NoRam),
                No(InProgress),
                No(InProgress),
                RU,
                PA,
                No(InProgress),
                No(ResetFirst),
                No(ResetFirst),
                No(InProgress),
                No(IsSaved),
                No(InProgress),
            ],
        ),
        (
            "snapshot done",
            || snapshotted(Ok("snapshot 's1' taken".into()), None),
            SAME,
        ),
        (
            "snapshot done, QEMU left paused",
            || {
                snapshotted(
                    Err(WireError::conflict("exists")),
                    Some(RunState::Paused("restore-vm".into())),
                )
            },
            [ST, SG, SG, PA, PA, SP, ER, ER, SV, SD, RS],
        ),
    ]
}

#[test]
fn a_live_snapshot_goes_to_the_task_and_its_stop_is_not_a_pause() {
    let mut vm = Fixture::Running.vm();
    let begun = vm
        .feed(snapshot(SnapshotAction::Create, true))
        .expect("taken");
    assert_eq!(begun.effects, vec![Effect::Snapshot]);
    assert!(vm.boot().snapshotting);
    for event in [QmpEvent::Stop, QmpEvent::Resume] {
        let quiet = vm.feed(qmp(event)).expect("taken");
        assert_eq!(quiet.next, VmState::Running);
        assert!(quiet.event.is_none());
    }
    let done = vm
        .feed(snapshotted(
            Ok("snapshot 's1' taken with RAM".into()),
            Some(RunState::Running),
        ))
        .expect("taken");
    assert!(!vm.boot().snapshotting);
    assert_eq!(done.effects, vec![Effect::Reply(Ok(()))]);
    let event = done.event.expect("an event");
    assert_eq!(event.kind, EventKind::Edited);
    assert_eq!(event.cause, ORIGIN.cause("vm snapshot create"));
    // Once it is over, a STOP is someone's pause again.
    assert_eq!(
        vm.feed(qmp(QmpEvent::Stop)).map(|t| t.next),
        Ok(VmState::Paused)
    );
}

#[test]
fn a_stopped_vm_snapshots_its_disks_offline_and_has_no_ram() {
    let offline = Fixture::Stopped
        .vm()
        .feed(snapshot(SnapshotAction::Revert, false));
    assert_eq!(offline.map(|t| t.effects), Ok(vec![Effect::Snapshot]));
    let refusal = Fixture::Stopped
        .vm()
        .feed(snapshot(SnapshotAction::Create, true))
        .expect_err("refused");
    let command = Command::Snapshot {
        action: SnapshotAction::Create,
        with_ram: true,
    };
    let message = refusal.message("web", VmState::Stopped, &command);
    assert!(message.contains("--with-ram"), "{message}");
}

#[test]
fn a_ram_snapshot_of_an_unmigratable_vm_is_refused_naming_the_device() {
    let mut vm = Fixture::Running.vm();
    vm.save_blocker = Some("its virtiofs share 'data' cannot be migrated".into());
    let refusal = vm
        .feed(snapshot(SnapshotAction::Create, true))
        .expect_err("refused");
    let command = Command::Snapshot {
        action: SnapshotAction::Create,
        with_ram: true,
    };
    let message = refusal.message("web", VmState::Running, &command);
    assert!(message.contains("virtiofs share 'data'"), "{message}");
    // Without RAM the share does not matter.
    assert!(vm.feed(snapshot(SnapshotAction::Create, false)).is_ok());
}

#[test]
fn a_failure_answers_with_its_error_and_records_nothing() {
    let failed = Fixture::Running
        .vm()
        .feed(snapshotted(
            Err(WireError::conflict("exists")),
            Some(RunState::Running),
        ))
        .expect("taken");
    assert_eq!(
        failed.effects,
        vec![Effect::Reply(Err(WireError::conflict("exists")))]
    );
    assert!(failed.event.is_none());
}
