//! The snapshot operations themselves, for `snapshot.rs`'s task: through
//! QMP while QEMU runs (snapshot jobs with RAM; one transaction of internal
//! snapshots without, the guest's filesystems frozen by its agent around
//! it), with qemu-img on each drive while the VM is stopped.

use super::snapshot::{JOB_DEADLINE, Target, Work};
use corvus_protocol::{ErrorKind, SnapshotAction, WireError};
use corvus_qemu::{QemuImg, QgaChannel, SnapshotJob, SnapshotOp};
use qapi::qga;
use std::path::Path;
use std::time::Duration;
use tracing::{info, warn};

/// The agent freezes filesystems within seconds when it runs at all.
const FREEZE_DEADLINE: Duration = Duration::from_secs(10);

/// Takes the snapshot; says how for a disk-only one.
pub(super) async fn create(
    work: &Work,
    targets: &[Target],
    name: &str,
    with_ram: bool,
) -> Result<&'static str, WireError> {
    let nodes: Vec<String> = targets.iter().map(Target::node).collect();
    let Some(qmp) = &work.qmp else {
        let done = offline_each(targets.iter().collect(), name, SnapshotAction::Create).await;
        return match done {
            Ok(()) => Ok("with qemu-img, the VM stopped"),
            Err((made, error)) => {
                // All or nothing: what was made on some drives goes again.
                let _ = offline_each(made, name, SnapshotAction::Delete).await;
                Err(error)
            }
        };
    };
    if with_ram {
        let vmstate = &nodes[0];
        return qmp
            .snapshot_job(
                SnapshotJob::Save { vmstate },
                &job_id(work),
                name,
                &nodes,
                JOB_DEADLINE,
            )
            .await
            .map(|()| "with RAM")
            .map_err(|err| qemu_failed(&work.vm.name, "take the snapshot", err));
    }
    let frozen = match &work.agent {
        Some(socket) => Some(fsfreeze(socket, true).await),
        None => None,
    };
    let taken = qmp.internal_snapshot(name, &nodes).await;
    if let (Some(socket), Some(_)) = (&work.agent, &frozen)
        && let Err(err) = fsfreeze(socket, false).await
    {
        warn!(%err, "the guest agent did not thaw the filesystems");
    }
    taken.map_err(|err| qemu_failed(&work.vm.name, "take the snapshot", err))?;
    Ok(match frozen {
        Some(Ok(())) => "disks only, the guest's filesystems frozen by its agent",
        Some(Err(_)) => "disks only; the guest agent did not freeze the filesystems",
        None => "disks only, crash-consistent (no guest agent)",
    })
}

pub(super) async fn revert(
    work: &Work,
    targets: &[Target],
    name: &str,
) -> Result<String, WireError> {
    let vm = &work.vm.name;
    let with_ram = targets
        .iter()
        .find(|t| t.find(name).is_some_and(|s| s.vm_state_size > 0));
    let nodes: Vec<String> = targets.iter().map(Target::node).collect();
    match (&work.qmp, with_ram) {
        (Some(_), None) => Err(WireError::invalid(format!(
            "snapshot '{name}' holds no RAM, so a running VM cannot go back to it; stop VM '{vm}' first (`crv vm stop {vm}`) to revert its disks, or pick a snapshot taken with --with-ram"
        ))),
        (Some(qmp), Some(holder)) => {
            if let Some(blocker) = &work.blocker {
                return Err(WireError::invalid(format!(
                    "cannot revert VM '{vm}' to its RAM: {blocker}"
                )));
            }
            qmp.snapshot_job(
                SnapshotJob::Load {
                    vmstate: &holder.node(),
                },
                &job_id(work),
                name,
                &nodes,
                JOB_DEADLINE,
            )
            .await
            .map_err(|err| qemu_failed(vm, "revert to the snapshot", err))?;
            Ok(format!("reverted to snapshot '{name}' (disks and RAM)"))
        }
        (None, Some(_)) => Err(WireError::invalid(format!(
            "snapshot '{name}' holds RAM, which only a running VM can go back to: start VM '{vm}' and revert it then (its disks and RAM come back together)"
        ))),
        (None, None) => {
            offline_each(targets.iter().collect(), name, SnapshotAction::Revert)
                .await
                .map_err(|(reverted, error)| {
                    let done: Vec<String> = reverted.iter().map(|t| t.describe()).collect();
                    match done.is_empty() {
                        true => error,
                        false => WireError::new(
                            error.kind.clone(),
                            format!("{} (already reverted: {})", error.message, done.join(", ")),
                        ),
                    }
                })?;
            Ok(format!("reverted to snapshot '{name}' (disks)"))
        }
    }
}

pub(super) async fn delete(work: &Work, holding: &[&Target], name: &str) -> Result<(), WireError> {
    match &work.qmp {
        Some(qmp) => {
            let nodes: Vec<String> = holding.iter().map(|t| t.node()).collect();
            qmp.snapshot_job(
                SnapshotJob::Delete,
                &job_id(work),
                name,
                &nodes,
                JOB_DEADLINE,
            )
            .await
            .map_err(|err| qemu_failed(&work.vm.name, "delete the snapshot", err))
        }
        None => offline_each(holding.to_vec(), name, SnapshotAction::Delete)
            .await
            .map_err(|(_, error)| error),
    }
}

/// Runs `op` with qemu-img on each target in turn; on a failure, returns
/// the targets already done with the error.
async fn offline_each<'a>(
    targets: Vec<&'a Target>,
    name: &str,
    action: SnapshotAction,
) -> Result<(), (Vec<&'a Target>, WireError)> {
    let op = match action {
        SnapshotAction::Create => SnapshotOp::Create(name),
        SnapshotAction::Revert => SnapshotOp::Revert(name),
        SnapshotAction::Delete | SnapshotAction::List => SnapshotOp::Delete(name),
    };
    let img = QemuImg::default();
    let mut done = Vec::new();
    for target in targets {
        if let Err(err) = img.snapshot(Path::new(&target.drive.file_path), op).await {
            let error = WireError::new(
                ErrorKind::QemuFailed,
                format!(
                    "qemu-img failed on {}: {}",
                    target.describe(),
                    super::errors::render(&err)
                ),
            );
            return Err((done, error));
        }
        done.push(target);
    }
    Ok(())
}

fn qemu_failed(vm: &str, what: &str, err: corvus_qemu::QmpError) -> WireError {
    WireError::new(
        ErrorKind::QemuFailed,
        format!(
            "QEMU could not {what} of VM '{vm}': {}",
            super::errors::render(&err)
        ),
    )
}

/// One job at a time per VM (commands wait behind a running one).
fn job_id(work: &Work) -> String {
    format!("corvus-snapshot-{}", work.vm.id)
}

/// `guest-fsfreeze-freeze` (or `-thaw`) through the agent.
async fn fsfreeze(socket: &Path, freeze: bool) -> Result<(), String> {
    let result = async {
        let mut channel = QgaChannel::connect(socket, FREEZE_DEADLINE).await?;
        match freeze {
            true => channel
                .execute(qga::guest_fsfreeze_freeze {}, FREEZE_DEADLINE)
                .await
                .map(drop),
            false => channel
                .execute(qga::guest_fsfreeze_thaw {}, FREEZE_DEADLINE)
                .await
                .map(drop),
        }
    }
    .await;
    result.map_err(|err| {
        let text = super::errors::render(&err);
        info!(error = %text, freeze, "the guest agent did not take fsfreeze");
        text
    })
}
