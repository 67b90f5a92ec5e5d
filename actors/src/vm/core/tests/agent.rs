//! A stop of a VM with the guest agent's channel: the agent first, the
//! ACPI power button when it does not take the shutdown, and the same
//! deadline either way.

use super::table::{Row, SAME};
use super::*;

/// The agent's answer to a shutdown changes no state by itself: the
/// guest powering off (or the ACPI fallback) does.
pub(super) fn rows() -> Vec<Row> {
    vec![
        (
            "agent shutdown taken",
            || Input::AgentShutdownDone {
                boot: BOOT,
                result: Ok(()),
            },
            SAME,
        ),
        (
            "agent shutdown refused",
            || Input::AgentShutdownDone {
                boot: BOOT,
                result: Err("The guest agent did not answer in time".into()),
            },
            SAME,
        ),
    ]
}

fn stopping_with_agent() -> (Vm, Transition) {
    let mut vm = Fixture::Running.vm();
    vm.guest_agent = true;
    let stop = vm
        .feed(command(Command::Stop {
            timeout: Some(Duration::from_secs(30)),
        }))
        .expect("stop accepted");
    (vm, stop)
}

fn powerdown() -> Effect {
    Effect::Qmp {
        op: QmpOp::Powerdown {
            resume_first: false,
            again: false,
        },
        origin: None,
    }
}

#[test]
fn a_stop_asks_the_agent_before_the_power_button() {
    let (vm, stop) = stopping_with_agent();
    assert_eq!(vm.status, VmState::Stopping);
    assert!(stop.effects.contains(&Effect::AgentShutdown), "{stop:?}");
    assert!(
        !stop.effects.iter().any(|e| matches!(e, Effect::Qmp { .. })),
        "no power button yet: {stop:?}"
    );
    // Without the agent's channel: the power button at once, as before.
    let mut plain = Fixture::Running.vm();
    let stop = plain
        .feed(command(Command::Stop { timeout: None }))
        .expect("stop accepted");
    assert!(!stop.effects.contains(&Effect::AgentShutdown));
    assert!(stop.effects.iter().any(|e| matches!(e, Effect::Qmp { .. })));
}

#[test]
fn an_agent_that_takes_the_shutdown_leaves_only_the_deadline() {
    let (mut vm, _) = stopping_with_agent();
    let done = vm
        .feed(Input::AgentShutdownDone {
            boot: BOOT,
            result: Ok(()),
        })
        .expect("accepted");
    assert_eq!(vm.status, VmState::Stopping);
    let reason = done.event.as_ref().map(|e| e.reason.as_str());
    assert!(
        reason.is_some_and(|r| r.contains("guest agent")),
        "{done:?}"
    );
    assert!(!done.effects.contains(&powerdown()));
    assert!(
        done.effects
            .contains(&Effect::Schedule(Timer::StopTick(Duration::from_secs(30)))),
        "{done:?}"
    );
}

#[test]
fn an_agent_that_does_not_answer_falls_back_to_the_power_button() {
    let (mut vm, _) = stopping_with_agent();
    let done = vm
        .feed(Input::AgentShutdownDone {
            boot: BOOT,
            result: Err("The guest agent did not answer in time".into()),
        })
        .expect("accepted");
    assert_eq!(vm.status, VmState::Stopping);
    assert!(done.effects.contains(&powerdown()), "{done:?}");
    // A late answer for an earlier boot changes nothing.
    let stale = vm
        .feed(Input::AgentShutdownDone {
            boot: BOOT - 1,
            result: Ok(()),
        })
        .expect("accepted");
    assert!(stale.effects.is_empty() && stale.event.is_none());
}
