//! `disk snapshot create|list|delete|revert`: qcow2 internal snapshots made
//! by qemu-img on a disk no running VM uses (live snapshots belong to the
//! VM's QEMU and come with the live-operations issue).

use super::catalog::Disk;
use super::error::DiskError;
use super::show::info_of;
use super::usage;
use super::{Env, Outcome};
use corvus_protocol::{DiskFormat, Response, SnapshotAction};
use corvus_qemu::SnapshotOp;
use std::path::Path;

pub async fn run(
    env: Env,
    disk: Disk,
    action: SnapshotAction,
    snapshot: Option<String>,
) -> Outcome {
    if disk.format != DiskFormat::Qcow2 {
        return Err(DiskError::Invalid(format!(
            "disk '{}' is raw, which has no internal snapshots; `crv disk clone` copies it instead",
            disk.name
        )));
    }
    let vms = usage::vms(&env).await?;
    let name = match (action, snapshot) {
        (SnapshotAction::List, _) => {
            let info = info_of(&env.catalog, &disk, &vms, Some(&env.img)).await;
            if let Some(problem) = info.problem {
                return Err(DiskError::Invalid(format!(
                    "disk '{}': {problem}",
                    disk.name
                )));
            }
            return Ok((
                Vec::new(),
                Response::DiskSnapshots {
                    disk: disk.name,
                    snapshots: info.snapshots,
                },
            ));
        }
        (_, Some(name)) if !name.is_empty() => name,
        (action, _) => {
            return Err(DiskError::Invalid(format!(
                "snapshot {action} needs the snapshot's name"
            )));
        }
    };
    if name.len() > 128 || name.contains(['\0', '\n']) {
        return Err(DiskError::Invalid(
            "a snapshot name is at most 128 bytes on one line".into(),
        ));
    }
    let uses = usage::uses(&env.catalog, &disk, &vms);
    usage::refuse_running(&disk, &uses, "snapshot")?;
    let overlays: Vec<String> = env
        .catalog
        .overlays_of(disk.id)
        .iter()
        .map(|d| format!("disk '{}'", d.name))
        .collect();
    if action == SnapshotAction::Revert && !overlays.is_empty() {
        return Err(DiskError::InUse {
            disk: disk.name,
            users: overlays.join(", "),
            hint: "they depend on its current contents; delete them before reverting it",
        });
    }
    let op = match action {
        SnapshotAction::Create => SnapshotOp::Create(&name),
        SnapshotAction::Delete => SnapshotOp::Delete(&name),
        SnapshotAction::Revert => SnapshotOp::Revert(&name),
        SnapshotAction::List => {
            return Err(DiskError::Invalid(
                "snapshot list takes no snapshot name".into(),
            ));
        }
    };
    let before = env
        .img
        .info(Path::new(&disk.path), Some("qcow2"))
        .await
        .map_err(DiskError::img(format!(
            "qemu-img cannot read disk '{}'",
            disk.name
        )))?;
    let exists = before.snapshots.iter().any(|s| s.name == name);
    match (action, exists) {
        (SnapshotAction::Create, true) => {
            return Err(DiskError::SnapshotExists {
                disk: disk.name,
                snapshot: name,
            });
        }
        (SnapshotAction::Delete | SnapshotAction::Revert, false) => {
            return Err(DiskError::NoSnapshot {
                disk: disk.name,
                snapshot: name,
            });
        }
        _ => {}
    }
    env.img
        .snapshot(Path::new(&disk.path), op)
        .await
        .map_err(DiskError::img(format!("cannot {action} snapshot '{name}'")))?;
    let info = info_of(&env.catalog, &disk, &vms, Some(&env.img)).await;
    Ok((Vec::new(), Response::Disk(Box::new(info))))
}
