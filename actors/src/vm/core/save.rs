//! Save and restore (`crv vm save`, and `crv vm start` on a saved VM): the
//! guest's RAM and device state go to the save file through a migration,
//! QEMU ends, and the VM is `saved` until a restore reads the file back
//! (`restoring` → `running`) or a reset discards it.

use super::commands::{begin_boot, escalate, require_qmp};
use super::{BootState, Effect, Expected, QmpOp, Refusal, Transition, View};
use crate::vm::Origin;
use corvus_protocol::{ErrorKind, EventCause, VmState, WireError};
use corvus_qemu::Signal;

/// `save` on a running or paused VM: `saving`, and the save task runs.
pub(super) fn begin(
    view: &View<'_>,
    boot: &BootState,
    origin: Origin,
    cause: EventCause,
) -> Result<Transition, Refusal> {
    if let Some(device) = &view.save_blocker {
        return Err(Refusal::Unmigratable {
            device: device.clone(),
        });
    }
    require_qmp(boot)?;
    let resume = view.status == VmState::Running;
    let mut next = Transition::stay(view).to(VmState::Saving, "save requested", cause);
    if let Some(boot) = next.boot_mut() {
        boot.expected = Expected::Save {
            origin,
            resume,
            written: false,
        };
    }
    Ok(next.with(Effect::Save))
}

/// A restore is a boot that reads the save file instead of booting.
pub(super) fn begin_restore(view: &View<'_>, cause: EventCause, reason: &str) -> Transition {
    let mut next = begin_boot(view, cause, reason);
    next.next = VmState::Restoring;
    if let Some(boot) = next.boot_mut() {
        boot.restore = true;
    }
    next
}

/// `reset` on a saved VM: the save file goes, the VM is stopped.
pub(super) fn discard(view: &View<'_>, cause: EventCause) -> Transition {
    let mut next =
        Transition::stay(view).to(VmState::Stopped, "reset: saved state discarded", cause);
    next.last_error = None;
    next.with(Effect::CancelRestart).with(Effect::DiscardSave {
        cancel_migration: false,
    })
}

/// The save task is done: on success QEMU is told to quit (the exit makes
/// the VM `saved`); on failure the guest is back as it was.
pub(super) fn done(
    view: &View<'_>,
    mut next: Transition,
    result: Result<u64, String>,
) -> Transition {
    let Some(boot) = next.boot_mut() else {
        return next;
    };
    let Expected::Save { origin, resume, .. } = boot.expected else {
        return next;
    };
    if view.status != VmState::Saving {
        return next;
    }
    match result {
        Ok(_) => {
            boot.expected = Expected::Save {
                origin,
                resume,
                written: true,
            };
            // The reply waits for the exit; it must be kept before the
            // QMP effect, which would take it along otherwise.
            next.with(Effect::AwaitGone).with(Effect::Qmp {
                op: QmpOp::Quit,
                origin: None,
            })
        }
        Err(error) => {
            boot.expected = Expected::Nothing;
            let back = if resume {
                VmState::Running
            } else {
                VmState::Paused
            };
            let message = format!("save failed: {error}");
            next.to(back, message.clone(), origin.cause("vm save"))
                .with(Effect::Reply(Err(WireError::new(
                    ErrorKind::QemuFailed,
                    format!(
                        "cannot save VM '{}': {error}; the VM is {back} again and no save file was kept",
                        view.name
                    ),
                ))))
        }
    }
}

/// `quit` was not taken: QEMU is ended by a signal instead (the state is
/// already in the file).
pub(super) fn quit_done(
    view: &View<'_>,
    next: Transition,
    result: Result<(), String>,
) -> Transition {
    match result {
        Err(_) if view.status == VmState::Saving => escalate(next, Signal::SIGTERM),
        _ => next,
    }
}

/// Late news of a save whose QEMU is already gone.
pub(super) fn stale(view: &View<'_>, result: Result<u64, String>) -> Effect {
    let why = match result {
        Ok(_) => "before the saved state was confirmed".to_owned(),
        Err(error) => format!("during the save ({error})"),
    };
    Effect::Reply(Err(WireError::unavailable(format!(
        "QEMU of VM '{}' went away {why}; see `crv vm show {}`",
        view.name, view.name
    ))))
}
