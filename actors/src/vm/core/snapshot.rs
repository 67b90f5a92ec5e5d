//! VM snapshots (`crv vm snapshot create|revert|delete`): whether one may
//! go ahead now — through QMP while QEMU runs, with qemu-img while the VM
//! is stopped — and what its outcome does to the state. The shell's task
//! (`vm/snapshot.rs`) finds the drives, checks the name and does the work.

use super::commands::require_qmp;
use super::{BootState, Effect, Refusal, RunState, Transition, View};
use crate::vm::Origin;
use corvus_protocol::{EventKind, SnapshotAction, VmState, WireError};

/// `create`, `revert` or `delete` let through to the task.
pub(super) fn begin(
    view: &View<'_>,
    boot: Option<&BootState>,
    action: SnapshotAction,
    with_ram: bool,
) -> Result<Transition, Refusal> {
    let mut next = Transition::stay(view);
    match boot {
        Some(boot) => {
            require_qmp(boot)?;
            if with_ram && let Some(device) = &view.save_blocker {
                return Err(Refusal::Unmigratable {
                    device: device.clone(),
                });
            }
            // The STOP and RESUME a RAM snapshot causes are its own.
            if let Some(boot) = next.boot_mut() {
                boot.snapshotting = true;
            }
        }
        None if with_ram && action == SnapshotAction::Create => return Err(Refusal::NoRam),
        None => {}
    }
    Ok(next.with(Effect::Snapshot))
}

/// The task's outcome: the reply, the change in the history, and the run
/// state QEMU reported afterwards if it differs from the VM's (a RAM
/// snapshot stops the guest while it is taken or loaded; QEMU resumes it,
/// and `query-status` confirms).
pub(super) fn done(
    view: &View<'_>,
    origin: Origin,
    verb: &'static str,
    result: Result<String, WireError>,
    status: Option<RunState>,
) -> Transition {
    let mut next = Transition::stay(view);
    if let Some(boot) = next.boot_mut() {
        boot.snapshotting = false;
    }
    let cause = origin.cause(verb);
    let now = match (view.boot, status) {
        (Some(_), Some(RunState::Running)) => Some(VmState::Running),
        (Some(_), Some(RunState::Paused(_))) => Some(VmState::Paused),
        _ => None,
    }
    .filter(|now| *now != view.status && matches!(view.status, VmState::Running | VmState::Paused));
    let (change, reply) = match result {
        Ok(change) => (Some(change), Ok(())),
        Err(error) => (None, Err(error)),
    };
    next = match (now, change) {
        (Some(now), Some(change)) => {
            next.to(now, format!("{change}; QEMU is {now} afterwards"), cause)
        }
        (Some(now), None) => next.to(now, format!("QEMU is {now} after a failed {verb}"), cause),
        (None, Some(change)) => next.redefined(EventKind::Edited, change, cause),
        (None, None) => next,
    };
    next.with(Effect::Reply(reply))
}
