//! Failover inputs (issue 19): a VM this node took over from a lost node
//! starts here; a node that lost its database session for longer than its
//! fence timeout kills its QEMU at once, so that it never runs beside the
//! one a survivor starts, and starts it again once it holds its session
//! again and the VM is still its own.

use super::commands::begin_boot;
use super::{Effect, Expected, NodeEvent, Phase, Transition, View};
use corvus_protocol::{EventCause, VmState};
use corvus_qemu::Signal;

/// What an exit after a fence says, in the history and in `last_error`.
pub const FENCED: &str = "fenced: node lost its database session";

pub(super) fn node_event(view: &View<'_>, event: NodeEvent) -> Transition {
    match event {
        NodeEvent::TakenOver { from } => taken_over(view, from),
        NodeEvent::Fenced => fenced(view),
        NodeEvent::Reclaimed => reclaimed(view),
    }
}

/// Only a VM the fence ended (in error, without QEMU, for that reason)
/// starts again; one the operator stopped or reset meanwhile stays so.
fn reclaimed(view: &View<'_>) -> Transition {
    match (view.status, view.boot, view.last_error) {
        (VmState::Error, None, Some(FENCED)) if !view.fenced => begin_boot(
            view,
            EventCause::Daemon,
            "started again: node holds its database session again",
        ),
        _ => Transition::stay(view),
    }
}

/// The takeover left the row in `error` without a QEMU; any other state
/// means this actor already runs it (a takeover told twice).
fn taken_over(view: &View<'_>, from: String) -> Transition {
    if view.fenced {
        // A fenced node takes nothing over; should a takeover cross the
        // fence, the VM is a survivor's.
        return Transition::stay(view);
    }
    match (view.status, view.boot) {
        (VmState::Error | VmState::Stopped, None) => begin_boot(
            view,
            EventCause::Node { node: from.clone() },
            &format!("taken over from node '{from}' (lost)"),
        ),
        _ => Transition::stay(view),
    }
}

/// SIGKILL, never a graceful stop: the survivors wait only node-timeout.
/// A launch under way is killed as soon as it reports its QEMU. No restart
/// follows, here: the VM is a survivor's to start now.
fn fenced(view: &View<'_>) -> Transition {
    let Some(boot) = view.boot else {
        return Transition::stay(view).with(Effect::CancelRestart);
    };
    let mut next = Transition::stay(view).with(Effect::CancelRestart);
    if let Some(b) = next.boot_mut() {
        b.expected = Expected::Fence;
    }
    if boot.phase != Phase::Launching {
        next = next.with(Effect::Signal(Signal::SIGKILL));
    }
    next
}
