//! The quick disk operations: create, register, overlay, clone, resize,
//! delete. Each runs as a task with the names and disks it needs already
//! reserved or held, and leaves nothing behind when it fails: a claimed
//! file is removed unless a row now owns it.

use super::catalog::Disk;
use super::error::{DiskError, human_size};
use super::files::{self, NewFile};
use super::job::Reporter;
use super::show::info_of;
use super::usage;
use super::{Change, Env, Outcome};
use crate::wire::db;
use corvus_protocol::{DiskFormat, Response, WireError};
use corvus_storage::{Duplicate, NewDisk};
use std::path::Path;

/// Disk names follow the rules of VM names (`crv vm create`).
pub fn check_name(name: &str) -> Result<(), DiskError> {
    crate::validate::name(name)
        .map_err(|err| DiskError::Invalid(err.message.replacen("VM name", "disk name", 1)))
}

fn check_size(size: u64) -> Result<(), DiskError> {
    if size == 0 {
        return Err(DiskError::Invalid(
            "a disk size must be larger than 0 (e.g. 512M, 20G)".into(),
        ));
    }
    Ok(())
}

/// Records a disk whose file exists; the claim is kept once the row is in.
pub async fn record(env: &Env, new: NewDisk, claim: Option<NewFile>) -> Result<Disk, DiskError> {
    let row = match db(env.store.insert_disk(&new)).await {
        Ok(row) => row,
        Err(err) if err.duplicate() == Some(Duplicate::DiskName) => {
            return Err(DiskError::NameTaken(new.name));
        }
        Err(err) if err.duplicate() == Some(Duplicate::DiskPath) => {
            return Err(DiskError::Invalid(format!(
                "{} is already a disk",
                new.path
            )));
        }
        Err(err) => return Err(err.into()),
    };
    let disk = Disk::from_row(row).map_err(|err| DiskError::Database(crate::wire::storage(err)))?;
    if let Some(claim) = claim {
        claim.keep();
    }
    Ok(disk)
}

/// The answer for a disk just made: its show view, and the catalog change.
async fn made(env: &Env, disk: Disk) -> Outcome {
    let mut catalog = env.catalog.clone();
    catalog.insert(disk.clone());
    let info = info_of(&catalog, &disk, &[], None).await;
    Ok((vec![Change::Added(disk)], Response::Disk(Box::new(info))))
}

pub async fn create(env: Env, name: String, size: u64, format: DiskFormat) -> Outcome {
    check_size(size)?;
    files::ensure_dir(&env.dir).await?;
    files::require_space(&env.dir, size).await?;
    let claim = NewFile::claim(&env.dir, format.as_str()).await?;
    env.img
        .create(&claim.path, format.as_str(), Some(size), None)
        .await
        .map_err(DiskError::img("cannot create the disk image"))?;
    let new = NewDisk {
        name,
        path: claim.path_text(),
        format,
        virtual_size: size,
        backing_disk_id: None,
        managed: true,
    };
    let disk = record(&env, new, Some(claim)).await?;
    made(&env, disk).await
}

/// A file Corvus is told about: its format is read (or checked) with
/// qemu-img now, and recorded so that nothing probes it later. A backing
/// file must itself be a disk already, which also rules out loops.
pub async fn register(env: Env, name: String, path: String, format: Option<DiskFormat>) -> Outcome {
    if !path.starts_with('/') {
        return Err(DiskError::Invalid(format!(
            "'{path}' is not an absolute path; pass the full path of the image"
        )));
    }
    let meta = tokio::fs::metadata(&path)
        .await
        .map_err(DiskError::io(format!("cannot register {path}")))?;
    if !meta.is_file() {
        return Err(DiskError::Invalid(format!("{path} is not a regular file")));
    }
    let chain = env
        .img
        .info_chain(Path::new(&path), format.map(DiskFormat::as_str))
        .await
        .map_err(DiskError::img(format!("qemu-img cannot read {path}")))?;
    let top = chain
        .first()
        .ok_or_else(|| DiskError::Invalid(format!("qemu-img describes nothing at {path}")))?;
    let format: DiskFormat = top.format.parse().map_err(|_| {
        DiskError::Invalid(format!(
            "{path} is a {} image; Corvus keeps qcow2 and raw disks (convert it with `qemu-img convert -O qcow2`)",
            top.format
        ))
    })?;
    let backing_disk_id = match &top.full_backing_filename {
        None => None,
        Some(backing) => {
            let base = env.catalog.by_path(backing).ok_or_else(|| {
                DiskError::Invalid(format!(
                    "{path} is backed by {backing}, which is not a disk; register that file first (`crv disk register NAME {backing}`)"
                ))
            })?;
            let declared = top.backing_filename_format.as_deref();
            if declared != Some(base.format.as_str()) {
                return Err(DiskError::Invalid(format!(
                    "{path} names its backing file {backing} as {}, but disk '{}' is {}; fix the header with `qemu-img rebase -u -F {} -b {backing} {path}`",
                    declared.unwrap_or("an unspecified format"),
                    base.name,
                    base.format,
                    base.format
                )));
            }
            Some(base.id)
        }
    };
    let new = NewDisk {
        name,
        path,
        format,
        virtual_size: top.virtual_size,
        backing_disk_id,
        managed: false,
    };
    let disk = record(&env, new, None).await?;
    made(&env, disk).await
}

pub async fn overlay(env: Env, name: String, base: Disk) -> Outcome {
    let disk = make_overlay(&env, name, &base, None).await?;
    made(&env, disk).await
}

/// A thin qcow2 on `base`, of `size` bytes (the base's size when `None`).
pub async fn make_overlay(
    env: &Env,
    name: String,
    base: &Disk,
    size: Option<u64>,
) -> Result<Disk, DiskError> {
    if tokio::fs::symlink_metadata(&base.path).await.is_err() {
        return Err(DiskError::FileMissing {
            disk: base.name.clone(),
            path: base.path.clone().into(),
        });
    }
    let size = size.unwrap_or(base.virtual_size);
    files::require_space(&env.dir, size.saturating_sub(base.virtual_size)).await?;
    let claim = NewFile::claim(&env.dir, "qcow2").await?;
    env.img
        .create(
            &claim.path,
            "qcow2",
            Some(size),
            Some((Path::new(&base.path), base.format.as_str())),
        )
        .await
        .map_err(DiskError::img("cannot create the overlay"))?;
    let new = NewDisk {
        name,
        path: claim.path_text(),
        format: DiskFormat::Qcow2,
        virtual_size: size,
        backing_disk_id: Some(base.id),
        managed: true,
    };
    record(env, new, Some(claim)).await
}

/// A full, independent copy of `source` and everything below it.
pub async fn clone(env: Env, name: String, source: Disk, reporter: Reporter) -> Outcome {
    let chain_bytes = {
        let mut total = 0;
        for disk in env.catalog.chain(source.id)? {
            total += files::allocated(&disk.path)
                .await
                .ok_or_else(|| DiskError::FileMissing {
                    disk: disk.name.clone(),
                    path: disk.path.clone().into(),
                })?;
        }
        total
    };
    files::require_space(&env.dir, chain_bytes).await?;
    let claim = NewFile::claim(&env.dir, source.format.as_str()).await?;
    let total = source.virtual_size;
    reporter.report("copying", 0, Some(total));
    let progress = reporter.clone();
    env.img
        .convert(
            (Path::new(&source.path), source.format.as_str()),
            (&claim.path, source.format.as_str()),
            move |fraction| {
                progress.report("copying", (fraction * total as f64) as u64, Some(total))
            },
            &reporter.cancel,
        )
        .await
        .map_err(DiskError::img("cannot copy the disk"))?;
    let new = NewDisk {
        name,
        path: claim.path_text(),
        format: source.format,
        virtual_size: source.virtual_size,
        backing_disk_id: None,
        managed: true,
    };
    let disk = record(&env, new, Some(claim)).await?;
    made(&env, disk).await
}

pub async fn resize(env: Env, disk: Disk, size: u64, shrink: bool) -> Outcome {
    check_size(size)?;
    let vms = usage::vms(&env).await?;
    let uses = usage::uses(&env.catalog, &disk, &vms);
    usage::refuse_running(&disk, &uses, "resize")?;
    if size < disk.virtual_size {
        if !shrink {
            return Err(DiskError::Invalid(format!(
                "{} is smaller than disk '{}' ({}); pass --shrink to cut it, which destroys the data past the new end",
                human_size(size),
                disk.name,
                human_size(disk.virtual_size)
            )));
        }
        let overlays = env.catalog.overlays_of(disk.id);
        if !uses.is_empty() || !overlays.is_empty() {
            let mut users = usage::describe(&uses);
            for overlay in overlays {
                users.push_str(&format!(
                    "{}disk '{}'",
                    if users.is_empty() { "" } else { ", " },
                    overlay.name
                ));
            }
            return Err(DiskError::InUse {
                disk: disk.name,
                users,
                hint: "a disk is only shrunk when nothing uses it",
            });
        }
    } else {
        files::require_space(&env.dir, size - disk.virtual_size).await?;
    }
    env.img
        .resize(Path::new(&disk.path), disk.format.as_str(), size, shrink)
        .await
        .map_err(DiskError::img(format!(
            "cannot resize disk '{}'",
            disk.name
        )))?;
    db(env.store.set_disk_size(disk.id, size)).await?;
    let mut catalog = env.catalog.clone();
    catalog.set_size(disk.id, size);
    let mut resized = disk.clone();
    resized.virtual_size = size;
    let info = info_of(&catalog, &resized, &vms, None).await;
    Ok((
        vec![Change::Resized { id: disk.id, size }],
        Response::Disk(Box::new(info)),
    ))
}

pub async fn delete(env: Env, disk: Disk, keep_file: bool) -> Outcome {
    let vms = usage::vms(&env).await?;
    let uses = usage::uses(&env.catalog, &disk, &vms);
    let direct: Vec<_> = uses.iter().filter(|u| u.user.direct).collect();
    if !direct.is_empty() {
        return Err(DiskError::InUse {
            disk: disk.name.clone(),
            users: usage::describe(direct),
            hint: "remove its drive first (`crv vm drive remove VM ID`) or delete the VM",
        });
    }
    let overlays: Vec<String> = env
        .catalog
        .overlays_of(disk.id)
        .iter()
        .map(|d| format!("disk '{}'", d.name))
        .collect();
    if !overlays.is_empty() {
        return Err(DiskError::InUse {
            disk: disk.name.clone(),
            users: overlays.join(", "),
            hint: "it backs them; delete them first",
        });
    }
    forget(&env, &disk).await?;
    let file_removed = disk.managed && !keep_file;
    if file_removed {
        files::remove(&disk.path).await?;
    }
    Ok((
        vec![Change::Removed(disk.id)],
        Response::DiskDeleted {
            id: disk.id,
            name: disk.name,
            file_removed,
        },
    ))
}

/// Deletes the row; a drive that still refers to it (the database checks)
/// is a refusal.
pub async fn forget(env: &Env, disk: &Disk) -> Result<(), DiskError> {
    match db(env.store.delete_disk(disk.id)).await {
        Ok(_) => Ok(()),
        Err(crate::wire::DbFailure::Refused(err)) if err.referenced() => Err(DiskError::InUse {
            disk: disk.name.clone(),
            users: "a VM definition".into(),
            hint: "remove its drive first",
        }),
        Err(err) => Err(DiskError::Database(WireError::from(err))),
    }
}
