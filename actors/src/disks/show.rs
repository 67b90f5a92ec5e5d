//! `disk list` and `disk show`: the rows, what the files look like now
//! (missing, allocated size; for `show`, qemu-img's view with snapshots),
//! and which VMs use each disk.

use super::catalog::{Catalog, Disk};
use super::usage;
use super::{Env, Outcome};
use corvus_protocol::{DiskInfo, DiskSnapshotInfo, Response, VmInfo};
use corvus_qemu::QemuImg;
use corvus_storage::StorageError;
use corvus_storage::entity::disk;
use std::path::Path;
use std::sync::Arc;

pub async fn list(env: Env) -> Outcome {
    let vms = usage::vms(&env).await?;
    let mut disks = Vec::new();
    for disk in env.catalog.all() {
        disks.push(info_of(&env.catalog, disk, &vms, None).await);
    }
    Ok((Vec::new(), Response::Disks(disks)))
}

pub async fn show(env: Env, disk: Disk) -> Outcome {
    let vms = usage::vms(&env).await?;
    let info = info_of(&env.catalog, &disk, &vms, Some(&env.img)).await;
    Ok((Vec::new(), Response::Disk(Box::new(info))))
}

/// The client's view of a disk; with `img`, also its snapshots (and what
/// qemu-img says is wrong, if anything).
pub async fn info_of(
    catalog: &Catalog,
    disk: &Disk,
    vms: &[Arc<VmInfo>],
    img: Option<&QemuImg>,
) -> DiskInfo {
    let actual_size = super::files::allocated(&disk.path).await;
    let mut problem = actual_size.is_none().then(|| {
        format!(
            "the file {} is missing (deleted outside Corvus?); VMs using this disk cannot start",
            disk.path
        )
    });
    let mut snapshots = Vec::new();
    if let (Some(img), None) = (img, &problem) {
        match img
            .info(Path::new(&disk.path), Some(disk.format.as_str()))
            .await
        {
            Ok(info) => {
                snapshots = info
                    .snapshots
                    .into_iter()
                    .map(|s| DiskSnapshotInfo {
                        id: s.id,
                        name: s.name,
                        created_at: chrono::DateTime::from_timestamp(s.date_sec, 0)
                            .map(|at| corvus_storage::rows::timestamp(&at))
                            .unwrap_or_default(),
                        vm_state_size: s.vm_state_size,
                    })
                    .collect();
            }
            Err(err) => {
                problem = Some(format!(
                    "qemu-img cannot read the file: {:#}",
                    anyhow::Error::new(err)
                ))
            }
        }
    }
    let backing_chain = catalog
        .chain(disk.id)
        .map(|chain| chain.iter().skip(1).map(|d| d.name.clone()).collect())
        .unwrap_or_default();
    DiskInfo {
        id: disk.id,
        name: disk.name.clone(),
        path: disk.path.clone(),
        format: disk.format,
        virtual_size: disk.virtual_size,
        actual_size,
        managed: disk.managed,
        backing_disk_id: disk.backing_disk_id,
        backing_chain,
        created_at: disk.created_at.clone(),
        snapshots,
        used_by: usage::uses(catalog, disk, vms)
            .into_iter()
            .map(|u| u.user)
            .collect(),
        problem,
        node: disk.node.clone(),
    }
}

/// Another node's disk as its row says (no file to look at here).
pub fn stored_info(row: disk::Model) -> Result<DiskInfo, StorageError> {
    let disk = Disk::from_row(row)?;
    Ok(DiskInfo {
        id: disk.id,
        name: disk.name,
        path: disk.path,
        format: disk.format,
        virtual_size: disk.virtual_size,
        actual_size: None,
        managed: disk.managed,
        backing_disk_id: disk.backing_disk_id,
        backing_chain: Vec::new(),
        created_at: disk.created_at,
        snapshots: Vec::new(),
        used_by: Vec::new(),
        problem: None,
        node: disk.node,
    })
}
