//! Save and restore in the orders QEMU and the tasks report them: the file
//! confirmed before QEMU quits, a failed save giving the guest back, a
//! restore that fails keeping the save, and a daemon restart mid-save.

use super::table::{ER, Outcome::No, PA, RS, RU, Row, SAME, SD, SG, SP, ST, SV};
use super::*;

/// The save rows of the table (`table.rs` walks them with the others).
pub(super) fn rows() -> Vec<Row> {
    use Refusal::*;
    vec![
        (
            "save",
            || command(Command::Save),
            [
                No(CannotSave),
                No(InProgress),
                No(InProgress),
                SV,
                SV,
                No(InProgress),
                No(CannotSave),
                No(CannotSave),
                No(InProgress),
                No(Already),
                No(InProgress),
            ],
        ),
        // The file is complete: QEMU is told to quit, its exit makes it saved.
        (
            "save done",
            || Input::SaveDone {
                boot: BOOT,
                result: Ok(4096),
            },
            SAME,
        ),
        (
            "save failed",
            || Input::SaveDone {
                boot: BOOT,
                result: Err("the migration failed: Broken pipe".into()),
            },
            [ST, SG, SG, RU, PA, SP, ER, ER, RU, SD, RS],
        ),
        (
            "quit done",
            || Input::QmpDone {
                boot: BOOT,
                op: QmpOp::Quit,
                origin: None,
                result: Ok(()),
            },
            SAME,
        ),
    ]
}

fn ok(vm: &mut Vm, input: Input) -> Transition {
    vm.feed(input).expect("accepted")
}

fn reason(transition: &Transition) -> &str {
    transition
        .event
        .as_ref()
        .map(|event| event.reason.as_str())
        .unwrap_or_default()
}

#[test]
fn a_save_is_saved_only_once_qemu_is_gone_after_the_file_was_confirmed() {
    let mut vm = Fixture::Running.vm();
    let began = ok(&mut vm, command(Command::Save));
    assert_eq!(vm.status, VmState::Saving);
    assert!(began.effects.contains(&Effect::Save));
    // Neither QEMU's exit before the file is confirmed ...
    let done = ok(
        &mut vm,
        Input::SaveDone {
            boot: BOOT,
            result: Ok(1 << 20),
        },
    );
    assert_eq!(vm.status, VmState::Saving, "saved only once QEMU is gone");
    // ... the reply is kept before the quit, which would take it along.
    let await_gone = done.effects.iter().position(|e| *e == Effect::AwaitGone);
    let quit = done.effects.iter().position(|e| {
        *e == Effect::Qmp {
            op: QmpOp::Quit,
            origin: None,
        }
    });
    assert!(
        matches!((await_gone, quit), (Some(a), Some(q)) if a < q),
        "{done:?}"
    );
    ok(&mut vm, Input::QmpClosed { boot: BOOT });
    let gone = ok(&mut vm, exited(CLEAN_EXIT));
    assert_eq!(vm.status, VmState::Saved);
    assert!(vm.boot.is_none() && vm.last_error.is_none());
    assert!(gone.effects.contains(&Effect::AnswerResets));
    let cause = gone.event.map(|event| event.cause);
    assert_eq!(cause, Some(ORIGIN.cause("vm save")));
}

#[test]
fn qemu_dying_before_the_file_is_confirmed_is_an_error_not_a_save() {
    let mut vm = Fixture::Running.vm();
    ok(&mut vm, command(Command::Save));
    ok(&mut vm, Input::QmpClosed { boot: BOOT });
    ok(
        &mut vm,
        exited(ExitInfo {
            code: None,
            signal: Some(9),
        }),
    );
    assert_eq!(vm.status, VmState::Error);
    let late = ok(
        &mut vm,
        Input::SaveDone {
            boot: BOOT,
            result: Err("The QMP connection is closed".into()),
        },
    );
    assert!(
        matches!(late.effects[..], [Effect::Reply(Err(_))]),
        "{late:?}"
    );
}

#[test]
fn a_failed_save_gives_the_guest_back_as_it_was() {
    for (fixture, back) in [
        (Fixture::Running, VmState::Running),
        (Fixture::Paused, VmState::Paused),
    ] {
        let mut vm = fixture.vm();
        ok(&mut vm, command(Command::Save));
        let failed = ok(
            &mut vm,
            Input::SaveDone {
                boot: BOOT,
                result: Err("writing /d/saves/1.state failed".into()),
            },
        );
        assert_eq!(vm.status, back);
        assert_eq!(
            reason(&failed),
            "save failed: writing /d/saves/1.state failed"
        );
        assert!(
            matches!(failed.effects[..], [Effect::Reply(Err(_))]),
            "{failed:?}"
        );
    }
}

#[test]
fn a_virtiofs_share_refuses_the_save_before_anything_happens() {
    let mut vm = Fixture::Running.vm();
    vm.save_blocker = Some("virtiofs share 'home' (vhost-user-fs)".into());
    let refusal = vm.feed(command(Command::Save)).expect_err("refused");
    assert_eq!(
        refusal,
        Refusal::Unmigratable {
            device: "virtiofs share 'home' (vhost-user-fs)".into()
        }
    );
    assert_eq!(vm.status, VmState::Running);
}

#[test]
fn a_restore_that_fails_keeps_the_save_and_a_reset_discards_it() {
    let mut vm = Fixture::Saved.vm();
    let start = ok(&mut vm, command(Command::Start));
    assert_eq!(vm.status, VmState::Restoring);
    assert!(vm.boot().restore && start.effects.contains(&Effect::Launch));
    ok(
        &mut vm,
        Input::LaunchFailed {
            boot: BOOT + 1,
            error: "The save file /d/saves/1.state is missing".into(),
        },
    );
    assert_eq!(vm.status, VmState::Saved);
    assert!(
        vm.last_error
            .as_deref()
            .is_some_and(|e| e.contains("is missing"))
    );

    let reset = ok(&mut vm, command(Command::Reset));
    assert_eq!(vm.status, VmState::Stopped);
    assert!(reset.effects.contains(&Effect::DiscardSave {
        cancel_migration: false
    }));
}

#[test]
fn a_restored_guest_discards_its_save_once_it_runs() {
    let mut vm = Fixture::Restoring.vm();
    let ready = ok(
        &mut vm,
        Input::QmpReady {
            boot: BOOT,
            status: RunState::Running,
        },
    );
    assert_eq!(vm.status, VmState::Running);
    assert_eq!(reason(&ready), "restored from its save file");
    assert!(ready.effects.contains(&Effect::DiscardSave {
        cancel_migration: false
    }));
}

#[test]
fn a_daemon_restart_mid_save_readopts_the_guest_and_cancels_the_save() {
    let mut vm = Fixture::Saving.vm();
    vm.boot = None;
    ok(&mut vm, Input::Adopted(Adoption::Alive));
    assert_eq!(vm.status, VmState::Saving);
    let ready = ok(
        &mut vm,
        Input::QmpReady {
            boot: BOOT + 1,
            status: RunState::Paused("paused".into()),
        },
    );
    assert_eq!(vm.status, VmState::Paused, "as QEMU left it");
    assert!(ready.effects.contains(&Effect::DiscardSave {
        cancel_migration: true
    }));

    // And with QEMU gone meanwhile, no `saved` points at an unconfirmed file.
    let mut vm = Fixture::Saving.vm();
    vm.boot = None;
    let gone = ok(
        &mut vm,
        Input::Adopted(Adoption::Gone {
            why: "process 9 has exited".into(),
        }),
    );
    assert_eq!(vm.status, VmState::Error);
    assert!(gone.effects.contains(&Effect::DiscardSave {
        cancel_migration: false
    }));
}
