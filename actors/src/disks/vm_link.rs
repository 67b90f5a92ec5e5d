//! Where disks meet VMs: what a VmActor asks of the DiskService (a disk
//! for `drive add --disk`, the image chains at each start), and the two VM
//! operations that make or remove disks (`vm create --image`,
//! `vm delete --with-disks`), run by the DiskService through the
//! supervisor like any client's commands.

use super::catalog::Disk;
use super::error::DiskError;
use super::files;
use super::ops::{forget, make_overlay};
use super::usage;
use super::{Change, DiskMsg, Env, Outcome};
use crate::supervisor::{SupervisorMsg, SupervisorRef};
use crate::vm::{Origin, VmCommand, VmReply};
use crate::wire::db;
use corvus_protocol::{
    CacheMode, DriveFormat, DriveInfo, DriveInterface, DriveMedia, DriveSpec, ErrorKind,
    ImageVmSpec, Response, VmInfo, VmRef, WireError,
};
use corvus_qemu::DriveImages;
use corvus_storage::Store;
use ractor::rpc::CallResult;
use std::time::Duration;

/// The DiskService answers from memory; this only bounds a daemon in trouble.
const ASK_TIMEOUT: Duration = Duration::from_secs(10);
/// A VM's own commands (create, drive add, delete) wait on the database.
const VM_TIMEOUT: Duration = Duration::from_secs(15);

/// The name of the root disk `vm create --image` makes.
pub fn root_disk_name(vm: &str) -> String {
    format!("{vm}-root")
}

async fn ask<T: Send + 'static>(
    supervisor: &SupervisorRef,
    message: impl FnOnce(ractor::RpcReplyPort<Result<T, WireError>>) -> DiskMsg,
    timeout: Duration,
) -> Result<T, WireError> {
    match supervisor
        .call(|reply| SupervisorMsg::Disk(message(reply)), Some(timeout))
        .await
    {
        Ok(CallResult::Success(result)) => result,
        _ => Err(WireError::unavailable(
            "the disk service did not answer in time; retry",
        )),
    }
}

/// `drive add --disk NAME`: puts the disk's path and format into the spec
/// and returns its id; a plain `--file` drive returns `None`. A disk of
/// another node (issue 19) is refused saying so: a VM's drives are its own
/// node's disks.
pub async fn drive_disk(
    supervisor: &SupervisorRef,
    store: &Store,
    node: &str,
    drive: &mut DriveSpec,
) -> Result<Option<i64>, WireError> {
    let Some(disk) = drive.disk.clone() else {
        return Ok(None);
    };
    let resolved = ask(
        supervisor,
        |reply| DiskMsg::ResolveDrive {
            disk: disk.clone(),
            reply,
        },
        ASK_TIMEOUT,
    )
    .await;
    let (id, path, format) = match resolved {
        Err(err) if err.kind == ErrorKind::NotFound => {
            let owner = db(store.locate_disk(&disk)).await.ok().flatten().flatten();
            return Err(match owner.filter(|owner| owner != node) {
                Some(owner) => WireError::invalid(format!(
                    "disk '{disk}' is on node '{owner}', and this VM runs on node '{node}': a VM's drives are disks of its own node; create the VM on node '{owner}', or give the disk's file with `--file PATH` if both hosts see it (shared storage)"
                )),
                None => err,
            });
        }
        other => other?,
    };
    drive.file_path = path;
    drive.format = format.into();
    Ok(Some(id))
}

/// At each start: the image chain of every drive on a disk, with each
/// layer's file checked, so that a file deleted behind Corvus's back is
/// named rather than left to QEMU's message. Plain qcow2 files are checked
/// too: QEMU follows their headers, so every backing file there must come
/// with its format, or QEMU would guess it.
pub async fn boot_images(
    supervisor: &SupervisorRef,
    drives: &[DriveInfo],
) -> Result<DriveImages, String> {
    for drive in drives {
        if drive.disk_id.is_none() && drive.format == DriveFormat::Qcow2 {
            plain_chain_has_formats(drive).await?;
        }
    }
    let wanted: Vec<(i64, i64)> = drives
        .iter()
        .filter_map(|d| d.disk_id.map(|disk| (d.id, disk)))
        .collect();
    if wanted.is_empty() {
        return Ok(DriveImages::new());
    }
    let (images, names) = ask(
        supervisor,
        |reply| DiskMsg::BootImages {
            drives: wanted,
            reply,
        },
        ASK_TIMEOUT,
    )
    .await
    .map_err(|err| err.message)?;
    for (drive, chain) in &images {
        for layer in chain {
            if tokio::fs::symlink_metadata(&layer.path).await.is_err() {
                let disk = names
                    .iter()
                    .find(|(path, _)| *path == layer.path)
                    .map_or("?", |(_, name)| name.as_str());
                return Err(format!(
                    "the file of disk '{disk}' (drive {drive}) is missing: {} (deleted outside Corvus?); see `crv disk show {disk}`",
                    layer.path
                ));
            }
        }
    }
    Ok(images)
}

/// Refuses a plain qcow2 whose chain names a backing file without its
/// format. A file that is not there is left to QEMU, whose message names it.
async fn plain_chain_has_formats(drive: &DriveInfo) -> Result<(), String> {
    let path = std::path::Path::new(&drive.file_path);
    if tokio::fs::symlink_metadata(path).await.is_err() {
        return Ok(());
    }
    let chain = corvus_qemu::QemuImg::default()
        .info_chain(path, Some("qcow2"))
        .await
        .map_err(|err| {
            format!(
                "drive {}: qemu-img cannot read {}: {:#}",
                drive.id,
                drive.file_path,
                anyhow::Error::new(err)
            )
        })?;
    for layer in &chain {
        if let (Some(backing), None) = (&layer.backing_filename, &layer.backing_filename_format) {
            return Err(format!(
                "drive {}: {} names its backing file {backing} without a format, and QEMU would have to guess it; write the format into its header (`qemu-img rebase -u -F raw|qcow2 -b {backing} {}`) or register the files as disks",
                drive.id, layer.filename, layer.filename
            ));
        }
    }
    Ok(())
}

async fn vm_call<T: Send + 'static>(
    env: &Env,
    message: impl FnOnce(ractor::RpcReplyPort<Result<T, WireError>>) -> SupervisorMsg,
) -> Result<T, DiskError> {
    match env.supervisor.call(message, Some(VM_TIMEOUT)).await {
        Ok(CallResult::Success(result)) => result.map_err(DiskError::Database),
        _ => Err(DiskError::Unavailable(
            "the supervisor did not answer in time; retry".into(),
        )),
    }
}

async fn vm_command(
    env: &Env,
    vm: VmRef,
    command: VmCommand,
    origin: Origin,
) -> Result<Response, DiskError> {
    match vm_call(env, |reply| SupervisorMsg::Forward {
        vm,
        command,
        origin,
        reply,
    })
    .await?
    {
        VmReply::Response(response) => Ok(response),
        VmReply::Attached(_) => Err(DiskError::Unavailable("a VM answered with a stream".into())),
    }
}

/// `vm create NAME --image BASE`: the overlay `NAME-root` (grown to
/// `disk_size`), the VM, and the overlay as its first (boot) virtio drive;
/// on any failure, whatever was made is removed again.
pub async fn create_vm(
    env: Env,
    spec: ImageVmSpec,
    base: Disk,
    root_name: String,
    origin: Origin,
) -> Outcome {
    // The root overlay is a file on this host: the VM runs here.
    if let Some(node) = spec.spec.node.as_ref().filter(|node| **node != env.node) {
        return Err(DiskError::Invalid(format!(
            "a VM made from an image runs on the node that holds the image, this one ('{}'), not '{node}'; create it through node '{node}' instead",
            env.node
        )));
    }
    if let Some(size) = spec.disk_size
        && size < base.virtual_size
    {
        return Err(DiskError::Invalid(format!(
            "--disk-size must be at least the image's size ({} bytes)",
            base.virtual_size
        )));
    }
    files::ensure_dir(&env.dir).await?;
    let root = make_overlay(&env, root_name, &base, spec.disk_size).await?;
    // The catalog learns of the disk before the VM's actor asks for it.
    env.apply(vec![Change::Added(root.clone())]);
    let undo_disk = |env: Env, root: Disk| async move {
        let _ = forget(&env, &root).await;
        let _ = files::remove(&root.path).await;
        env.apply(vec![Change::Removed(root.id)]);
    };
    let mut vm_spec = Box::new(spec.spec.clone());
    vm_spec.node = Some(env.node.clone());
    let created = vm_call(&env, |reply| SupervisorMsg::Create {
        spec: vm_spec,
        origin,
        reply,
    })
    .await;
    let vm = match created {
        Ok(Response::Vm(vm)) => vm,
        Ok(_) | Err(_) => {
            undo_disk(env.clone(), root).await;
            return Err(match created {
                Err(err) => err,
                Ok(_) => DiskError::Unavailable("vm create answered oddly".into()),
            });
        }
    };
    let drive = DriveSpec {
        file_path: root.path.clone(),
        interface: DriveInterface::Virtio,
        format: DriveFormat::Qcow2,
        media: DriveMedia::Disk,
        read_only: false,
        cache: None::<CacheMode>,
        discard: false,
        disk: Some(VmRef::Id(root.id)),
    };
    match vm_command(&env, VmRef::Id(vm.id), VmCommand::AddDrive(drive), origin).await {
        Ok(response) => Ok((Vec::new(), response)),
        Err(err) => {
            let _ = vm_command(&env, VmRef::Id(vm.id), VmCommand::Delete, origin).await;
            undo_disk(env.clone(), root).await;
            Err(err)
        }
    }
}

/// `vm delete NAME --with-disks`: the VM, then each managed disk that only
/// this VM used and that backs no other disk.
pub async fn delete_vm(env: Env, vm: VmRef, origin: Origin) -> Outcome {
    let info: Box<VmInfo> = match vm_command(&env, vm.clone(), VmCommand::Show, origin).await? {
        Response::Vm(info) => info,
        _ => return Err(DiskError::Unavailable("vm show answered oddly".into())),
    };
    let vms = usage::vms(&env).await?;
    let mut doomed: Vec<Disk> = Vec::new();
    for disk_id in info.drives.iter().filter_map(|d| d.disk_id) {
        let Some(disk) = env.catalog.get(disk_id) else {
            continue;
        };
        let others = usage::uses(&env.catalog, disk, &vms)
            .iter()
            .any(|u| u.user.vm_id != info.id);
        if disk.managed
            && !others
            && env.catalog.overlays_of(disk.id).is_empty()
            && !doomed.iter().any(|d| d.id == disk.id)
        {
            doomed.push(disk.clone());
        }
    }
    let (id, name) = match vm_command(&env, VmRef::Id(info.id), VmCommand::Delete, origin).await? {
        Response::Deleted { id, name } => (id, name),
        _ => return Err(DiskError::Unavailable("vm delete answered oddly".into())),
    };
    let mut changes = Vec::new();
    let mut deleted = Vec::new();
    for disk in doomed {
        match forget(&env, &disk).await {
            Ok(()) => {
                if let Err(err) = files::remove(&disk.path).await {
                    tracing::warn!(disk = %disk.name, error = %err, "the disk's row is gone but its file stayed");
                }
                changes.push(Change::Removed(disk.id));
                deleted.push(disk.name);
            }
            Err(err) => {
                tracing::warn!(disk = %disk.name, error = %err, "kept a disk of a deleted VM")
            }
        }
    }
    Ok((
        changes,
        Response::VmDeletedWithDisks {
            id,
            name,
            disks: deleted,
        },
    ))
}
