//! Inputs in the orders the world delivers them, including the ones that
//! used to be races: an exit before QEMU's last events, a reset while QEMU
//! is still being spawned, a restart due after a delete.

use super::*;
use corvus_qemu::Signal;

fn has(transition: &Transition, effect: &Effect) -> bool {
    transition.effects.contains(effect)
}

fn reason(transition: &Transition) -> &str {
    transition
        .event
        .as_ref()
        .map(|event| event.reason.as_str())
        .unwrap_or_default()
}

fn ok(vm: &mut Vm, input: Input) -> Transition {
    vm.feed(input).expect("accepted")
}

#[test]
fn an_exit_that_overtakes_the_shutdown_event_is_still_a_clean_poweroff() {
    let mut vm = Fixture::Running.vm();
    let exit = ok(&mut vm, exited(CLEAN_EXIT));
    assert_eq!(vm.status, VmState::Running, "the exit waits for QMP to end");
    assert!(has(&exit, &Effect::Schedule(Timer::ExitSettle)));
    ok(
        &mut vm,
        qmp(QmpEvent::Shutdown {
            guest: true,
            reason: "guest-shutdown".into(),
        }),
    );
    let closed = ok(&mut vm, Input::QmpClosed { boot: BOOT });
    assert_eq!(vm.status, VmState::Stopped);
    assert_eq!(reason(&closed), "the guest powered off");
    assert!(vm.boot.is_none() && vm.last_error.is_none());
    assert!(has(
        &closed,
        &Effect::ApplyRestartPolicy {
            trigger: Trigger::GuestPoweroff,
            restarting: false
        }
    ));
}

#[test]
fn a_monitor_quit_whose_exit_comes_first_ends_stopped() {
    let mut vm = Fixture::Running.vm();
    ok(&mut vm, exited(CLEAN_EXIT));
    ok(
        &mut vm,
        qmp(QmpEvent::Shutdown {
            guest: false,
            reason: "host-qmp-quit".into(),
        }),
    );
    let closed = ok(&mut vm, Input::QmpClosed { boot: BOOT });
    assert_eq!(vm.status, VmState::Stopped, "{}", reason(&closed));
}

#[test]
fn an_exit_with_no_events_at_all_is_read_when_the_wait_is_over() {
    let mut vm = Fixture::Running.vm();
    ok(&mut vm, exited(CLEAN_EXIT));
    let settled = ok(&mut vm, Input::ExitSettled { boot: BOOT });
    assert_eq!(vm.status, VmState::Error);
    assert!(reason(&settled).contains("without a SHUTDOWN event"));
    // The session's end, arriving later, belongs to a boot that is over.
    let late = ok(&mut vm, Input::QmpClosed { boot: BOOT });
    assert!(late.effects.is_empty() && late.event.is_none());
}

#[test]
fn a_pause_changes_the_state_when_qemu_confirms_whatever_comes_first() {
    for event_first in [true, false] {
        let mut vm = Fixture::Running.vm();
        let asked = ok(&mut vm, command(Command::Pause));
        assert!(has(
            &asked,
            &Effect::Qmp {
                op: QmpOp::Pause,
                origin: Some(ORIGIN)
            }
        ));
        assert_eq!(vm.status, VmState::Running);
        let done = Input::QmpDone {
            boot: BOOT,
            op: QmpOp::Pause,
            origin: Some(ORIGIN),
            result: Ok(()),
        };
        let (first, second) = if event_first {
            (qmp(QmpEvent::Stop), done)
        } else {
            (done, qmp(QmpEvent::Stop))
        };
        ok(&mut vm, first);
        ok(&mut vm, second);
        assert_eq!(vm.status, VmState::Paused);
        assert_eq!(vm.boot().events.stop, 0, "our own STOP was expected");
    }
}

#[test]
fn a_pause_qemu_refuses_is_answered_and_forgotten() {
    let mut vm = Fixture::Running.vm();
    ok(&mut vm, command(Command::Pause));
    let failed = ok(
        &mut vm,
        Input::QmpDone {
            boot: BOOT,
            op: QmpOp::Pause,
            origin: Some(ORIGIN),
            result: Err("QEMU did not answer in time".into()),
        },
    );
    assert_eq!(vm.status, VmState::Running);
    assert!(matches!(&failed.effects[..], [Effect::Reply(Err(_))]));
    // A STOP typed in the monitor later is someone else's.
    ok(&mut vm, qmp(QmpEvent::Stop));
    assert_eq!(vm.status, VmState::Paused);
}

#[test]
fn a_reset_while_qemu_is_being_spawned_kills_it_as_soon_as_it_exists() {
    let mut vm = Fixture::Launching.vm();
    let reset = ok(&mut vm, command(Command::Reset));
    assert!(has(&reset, &Effect::AwaitGone));
    assert!(!reset.effects.iter().any(|e| matches!(e, Effect::Signal(_))));
    let launched = ok(&mut vm, Input::Launched { boot: BOOT });
    assert!(has(&launched, &Effect::Signal(Signal::SIGKILL)));
    assert!(!has(
        &launched,
        &Effect::ConnectQmp {
            deadline: QMP_DEADLINE
        }
    ));
    let killed = ok(
        &mut vm,
        exited(ExitInfo {
            code: None,
            signal: Some(9),
        }),
    );
    assert_eq!(vm.status, VmState::Stopped);
    assert!(has(&killed, &Effect::AnswerResets));
}

#[test]
fn a_stop_while_qemu_is_being_spawned_fails_the_start_and_terminates() {
    let mut vm = Fixture::Launching.vm();
    let stop = ok(&mut vm, command(Command::Stop { timeout: None }));
    assert_eq!(vm.status, VmState::Stopping);
    assert!(
        stop.effects
            .iter()
            .any(|e| matches!(e, Effect::AnswerStarts(Err(_))))
    );
    let launched = ok(&mut vm, Input::Launched { boot: BOOT });
    assert!(has(&launched, &Effect::Signal(Signal::SIGTERM)));
    assert!(has(&launched, &Effect::Schedule(Timer::KillTick)));
}

#[test]
fn a_vm_deleted_while_a_restart_is_due_never_boots_again() {
    let mut vm = Fixture::Error.vm();
    let deleted = ok(&mut vm, Input::Deleted { origin: ORIGIN });
    assert!(has(&deleted, &Effect::CancelRestart));
    vm.deleted = true;
    let due = ok(
        &mut vm,
        Input::RestartDue {
            attempt: 1,
            scheduled: true,
        },
    );
    assert!(!has(&due, &Effect::Launch));
    assert_eq!(vm.status, VmState::Error);
    assert_eq!(
        vm.feed(command(Command::Start)).unwrap_err(),
        Refusal::Deleted
    );
}

#[test]
fn a_vm_recorded_starting_is_given_a_whole_boot_to_answer_qmp() {
    let mut vm = Fixture::Spawned.vm();
    vm.boot = None;
    let adopted = ok(&mut vm, Input::Adopted(Adoption::Alive));
    assert!(has(
        &adopted,
        &Effect::ConnectQmp {
            deadline: QMP_DEADLINE
        }
    ));
    let ready = ok(
        &mut vm,
        Input::QmpReady {
            boot: BOOT + 1,
            status: RunState::Running,
        },
    );
    assert_eq!(vm.status, VmState::Running);
    assert_eq!(reason(&ready), "re-adopted after a daemon restart");

    // If it never answers, it is not left `starting`.
    let mut vm = Fixture::Spawned.vm();
    vm.boot = None;
    ok(&mut vm, Input::Adopted(Adoption::Alive));
    let failed = ok(
        &mut vm,
        Input::QmpFailed {
            boot: BOOT + 1,
            error: "Cannot open QEMU's QMP socket".into(),
        },
    );
    assert!(has(&failed, &Effect::Signal(Signal::SIGKILL)));
    let exit = ok(
        &mut vm,
        Input::Exited {
            boot: BOOT + 1,
            exit: ExitInfo::UNKNOWN,
            stderr: String::new(),
        },
    );
    assert_eq!(vm.status, VmState::Error, "{}", reason(&exit));
}

#[test]
fn a_running_vm_adopted_without_qmp_keeps_running() {
    let mut vm = Fixture::Running.vm();
    vm.boot = None;
    let adopted = ok(&mut vm, Input::Adopted(Adoption::Alive));
    assert!(has(
        &adopted,
        &Effect::ConnectQmp {
            deadline: ADOPT_QMP_DEADLINE
        }
    ));
    let failed = ok(
        &mut vm,
        Input::QmpFailed {
            boot: BOOT + 1,
            error: "timed out".into(),
        },
    );
    assert!(failed.effects.is_empty());
    assert_eq!(vm.status, VmState::Running);
}

#[test]
fn qemu_states_other_than_running_and_paused_are_read_on_purpose() {
    let ready = |status| Input::QmpReady { boot: BOOT, status };
    let mut vm = Fixture::Spawned.vm();
    let panicked = ok(&mut vm, ready(RunState::Panicked));
    assert!(has(&panicked, &Effect::Signal(Signal::SIGKILL)));
    ok(&mut vm, Input::QmpClosed { boot: BOOT });
    let exit = ok(
        &mut vm,
        exited(ExitInfo {
            code: None,
            signal: Some(9),
        }),
    );
    assert_eq!(vm.status, VmState::Error);
    assert_eq!(reason(&exit), "the guest panicked");

    let mut vm = Fixture::Spawned.vm();
    ok(&mut vm, ready(RunState::NotStarted("inmigrate".into())));
    ok(&mut vm, Input::QmpClosed { boot: BOOT });
    let exit = ok(
        &mut vm,
        exited(ExitInfo {
            code: None,
            signal: Some(9),
        }),
    );
    assert_eq!(reason(&exit), "QEMU stayed in its inmigrate state");

    let mut vm = Fixture::Spawned.vm();
    let paused = ok(&mut vm, ready(RunState::Paused("suspended".into())));
    assert_eq!(vm.status, VmState::Paused);
    assert_eq!(reason(&paused), "QEMU is paused (suspended)");
}

#[test]
fn a_stop_that_runs_out_of_time_escalates_to_signals() {
    let mut vm = Fixture::Running.vm();
    let stop = ok(
        &mut vm,
        command(Command::Stop {
            timeout: Some(Duration::from_secs(1)),
        }),
    );
    assert_eq!(vm.status, VmState::Stopping);
    assert_eq!(reason(&stop), "stop requested (timeout 1 s)");
    let pressed = ok(
        &mut vm,
        Input::QmpDone {
            boot: BOOT,
            op: QmpOp::Powerdown {
                resume_first: false,
                again: false,
            },
            origin: Some(ORIGIN),
            result: Ok(()),
        },
    );
    assert!(has(
        &pressed,
        &Effect::Schedule(Timer::StopTick(Duration::from_secs(1)))
    ));
    vm.now += Duration::from_secs(2);
    let tick = ok(&mut vm, Input::StopTick { boot: BOOT });
    assert!(has(&tick, &Effect::Signal(Signal::SIGTERM)));
    let kill = ok(&mut vm, Input::KillTick { boot: BOOT });
    assert!(has(&kill, &Effect::Signal(Signal::SIGKILL)));
    ok(&mut vm, Input::QmpClosed { boot: BOOT });
    let exit = ok(
        &mut vm,
        exited(ExitInfo {
            code: None,
            signal: Some(9),
        }),
    );
    assert_eq!(vm.status, VmState::Stopped);
    assert_eq!(reason(&exit), "stop timed out: QEMU killed");
    assert_eq!(
        exit.event.map(|e| e.cause),
        Some(EventCause::TimeoutEscalation)
    );
}

#[test]
fn an_autostart_vm_whose_qemu_did_not_survive_a_reboot_starts_again() {
    let mut vm = Fixture::Running.vm();
    vm.boot = None;
    ok(
        &mut vm,
        Input::Adopted(Adoption::Gone {
            why: "process 4242 has exited".into(),
        }),
    );
    assert_eq!(vm.status, VmState::Error);
    let autostart = ok(&mut vm, Input::Autostart);
    assert_eq!(vm.status, VmState::Starting);
    assert_eq!(
        reason(&autostart),
        "autostart after: QEMU exited while the daemon was down (process 4242 has exited)"
    );
    assert!(has(&autostart, &Effect::Launch));
}

#[test]
fn a_quarantined_vm_stays_in_error_when_its_qemu_answers() {
    let mut vm = Fixture::Running.vm();
    vm.boot = None;
    ok(&mut vm, Input::Adopted(Adoption::Alive));
    ok(
        &mut vm,
        Input::Quarantine {
            reason: "the VM's actor failed more than 3 times".into(),
        },
    );
    ok(
        &mut vm,
        Input::QmpReady {
            boot: BOOT + 1,
            status: RunState::Running,
        },
    );
    assert_eq!(vm.status, VmState::Error);
    assert!(vm.boot.is_some(), "QEMU stays attached for a reset");
    let reset = ok(&mut vm, command(Command::Reset));
    assert!(has(&reset, &Effect::Signal(Signal::SIGKILL)));
}
