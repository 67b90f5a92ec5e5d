//! The taps of a VM's managed NICs: whenever a boot ends (a stop, a crash,
//! a failed start, a reset, a re-adopted QEMU found gone), its taps are
//! removed; a removal that fails is recorded in the history.

use super::{Effect, Transition, View};
use corvus_protocol::EventCause;

/// Adds the removal of the ended boot's taps to any transition that ends it.
pub(super) fn remove_when_ended(view: &View<'_>, mut transition: Transition) -> Transition {
    let ended = view.boot.filter(|before| {
        transition
            .boot
            .as_ref()
            .is_none_or(|after| after.number != before.number)
    });
    if let Some(ended) = ended
        && view.managed_nics
    {
        transition
            .effects
            .push(Effect::RemoveTaps { boot: ended.number });
    }
    transition
}

pub(super) fn removed(view: &View<'_>, boot: u64, result: Result<(), String>) -> Transition {
    let stay = Transition::stay(view);
    match result {
        Ok(()) => stay,
        Err(reason) => stay.to(
            view.status,
            format!("after boot {boot}: {reason}"),
            EventCause::Daemon,
        ),
    }
}
