//! `crv vm snapshot create|revert|delete`, in the shell: the task that does
//! what the core let through. A snapshot covers every writable drive (not
//! pflash, not CD-ROMs), which must all be qcow2. While QEMU runs it goes
//! through QMP (`snapshot-save`/`-load`/`-delete` jobs with RAM, a
//! transaction of internal snapshots without, the guest's filesystems
//! frozen around it when its agent answers); while the VM is stopped,
//! through qemu-img. The row in `vm_snapshot` is written once QEMU or
//! qemu-img confirmed. `snapshot_list.rs` lists and reconciles.

use super::core::{Input, RunState};
use super::{Origin, Reply, VmActorRef, VmActorState, VmMsg};
use crate::wire::db;
use corvus_protocol::{DriveFormat, DriveInfo, DriveInterface, DriveMedia, SnapshotAction};
use corvus_protocol::{VmInfo, WireError};
use corvus_qemu::hotplug::drive_node;
use corvus_qemu::img::SnapshotInfo;
use corvus_qemu::{QemuImg, QmpCommands};
use corvus_storage::{SnapshotRow, Store};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tracing::{Instrument, info, warn};

/// A snapshot job moves the guest's RAM to or from the image; gigabytes
/// on a slow disk take minutes, an unbounded wait would hide a stuck QEMU.
pub const JOB_DEADLINE: Duration = Duration::from_secs(600);

/// One `crv vm snapshot` operation as the actor receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotRequest {
    pub action: SnapshotAction,
    pub name: Option<String>,
    pub with_ram: bool,
}

/// What a snapshot task needs, taken from the actor when it starts.
pub(super) struct Work {
    pub qmp: Option<QmpCommands>,
    /// The guest agent's socket, when the VM has one and QEMU runs.
    pub agent: Option<PathBuf>,
    pub store: Store,
    pub vm: VmInfo,
    /// Why QEMU could not save or load this VM's RAM, if it could not.
    pub blocker: Option<String>,
}

/// A drive a snapshot covers, and the images' snapshots on it.
pub(super) struct Target {
    pub drive: DriveInfo,
    pub snapshots: Vec<SnapshotInfo>,
}

impl Target {
    pub fn node(&self) -> String {
        drive_node(self.drive.id)
    }

    pub fn find(&self, name: &str) -> Option<&SnapshotInfo> {
        self.snapshots.iter().find(|s| s.name == name)
    }

    pub fn describe(&self) -> String {
        format!("drive {} ({})", self.drive.id, self.drive.file_path)
    }
}

/// The drives a snapshot of `vm` covers.
pub(super) fn covered(vm: &VmInfo) -> Vec<&DriveInfo> {
    vm.drives
        .iter()
        .filter(|d| d.interface != DriveInterface::Pflash)
        .filter(|d| !d.read_only && d.media != DriveMedia::Cdrom)
        .collect()
}

/// The covered drives with what their images hold now: from QEMU while it
/// runs, from qemu-img (`-U`) otherwise.
pub(super) async fn targets(work: &Work) -> Result<Vec<Target>, WireError> {
    let drives = covered(&work.vm);
    let live = match &work.qmp {
        Some(qmp) => Some(qmp.node_snapshots().await.map_err(|err| {
            WireError::unavailable(format!(
                "QEMU did not list the snapshots of VM '{}': {}",
                work.vm.name,
                super::errors::render(&err)
            ))
        })?),
        None => None,
    };
    let mut targets = Vec::new();
    for drive in drives {
        let snapshots = match (&live, drive.format) {
            (_, format) if format != DriveFormat::Qcow2 => Vec::new(),
            (Some(nodes), _) => nodes
                .iter()
                .find(|node| node.node_name == drive_node(drive.id))
                .map(|node| node.snapshots.clone())
                .unwrap_or_default(),
            (None, _) => {
                QemuImg::default()
                    .info(Path::new(&drive.file_path), Some("qcow2"))
                    .await
                    .map_err(|err| {
                        WireError::unavailable(format!(
                            "qemu-img cannot read drive {} ({}): {}",
                            drive.id,
                            drive.file_path,
                            super::errors::render(&err)
                        ))
                    })?
                    .snapshots
            }
        };
        targets.push(Target {
            drive: drive.clone(),
            snapshots,
        });
    }
    Ok(targets)
}

fn check_name(name: Option<&str>) -> Result<&str, WireError> {
    match name {
        None | Some("") => Err(WireError::invalid("give the snapshot's name")),
        Some(name) if name.len() > 128 || name.contains(['\0', '\n']) => Err(WireError::invalid(
            "a snapshot name is at most 128 bytes on one line",
        )),
        // qemu-img and QEMU take a number as a snapshot id as well as a name.
        Some(name) if name.bytes().all(|b| b.is_ascii_digit()) => Err(WireError::invalid(
            "a snapshot name cannot be only digits (QEMU would read it as a snapshot id)",
        )),
        Some(name) => Ok(name),
    }
}

/// Every covered drive must be qcow2: only qcow2 holds internal snapshots.
fn require_qcow2(vm: &VmInfo, targets: &[Target]) -> Result<(), WireError> {
    if targets.is_empty() {
        return Err(WireError::invalid(format!(
            "VM '{}' has no writable drive to snapshot",
            vm.name
        )));
    }
    match targets
        .iter()
        .find(|t| t.drive.format != DriveFormat::Qcow2)
    {
        Some(raw) => Err(WireError::invalid(format!(
            "cannot snapshot VM '{}': its {} is {}, which has no internal snapshots; convert it to qcow2 (`qemu-img convert -O qcow2`) or detach it",
            vm.name,
            raw.describe(),
            raw.drive.format
        ))),
        None => Ok(()),
    }
}

impl VmActorState {
    /// Starts the task for an operation the core let through.
    pub(super) fn snapshot(
        &mut self,
        myself: &VmActorRef,
        request: SnapshotRequest,
        origin: Origin,
        reply: Reply,
    ) {
        self.snapshotting = true;
        let work = self.snapshot_work();
        let verb = verb(request.action);
        let me = myself.clone();
        tokio::spawn(
            async move {
                let result = carry_out(&work, &request).await;
                let status = match &work.qmp {
                    Some(qmp) => qmp
                        .query_status()
                        .await
                        .ok()
                        .map(|status| RunState::from_qemu(status.running, &status.status)),
                    None => None,
                };
                let _ = me.cast(VmMsg::Snapshotted {
                    origin,
                    verb,
                    result,
                    status,
                    reply,
                });
            }
            .in_current_span(),
        );
    }

    pub(super) fn snapshot_work(&self) -> Work {
        let boot = self.boot.as_ref();
        Work {
            qmp: boot.and_then(|boot| boot.qmp.clone()),
            agent: boot
                .filter(|_| self.info.guest_agent)
                .map(|boot| boot.paths.qga.clone()),
            store: self.ctx.store.clone(),
            vm: self.info.clone(),
            blocker: self.view().save_blocker,
        }
    }

    /// The task's outcome goes through the core.
    pub(super) fn snapshotted(
        &mut self,
        myself: &VmActorRef,
        origin: Origin,
        verb: &'static str,
        result: Result<String, WireError>,
        status: Option<RunState>,
        reply: Reply,
    ) {
        self.snapshotting = false;
        match &result {
            Ok(change) => info!(%change, "snapshot operation done"),
            Err(error) => warn!(%error, verb, "snapshot operation failed"),
        }
        let input = Input::Snapshotted {
            origin,
            verb,
            result,
            status,
        };
        self.step(myself, input, Some(reply));
        self.replay_deferred(myself);
    }
}

pub fn verb(action: SnapshotAction) -> &'static str {
    match action {
        SnapshotAction::Create => "vm snapshot create",
        SnapshotAction::Revert => "vm snapshot revert",
        SnapshotAction::Delete => "vm snapshot delete",
        SnapshotAction::List => "vm snapshot list",
    }
}

async fn carry_out(work: &Work, request: &SnapshotRequest) -> Result<String, WireError> {
    let name = check_name(request.name.as_deref())?;
    let targets = targets(work).await?;
    require_qcow2(&work.vm, &targets)?;
    let vm = &work.vm.name;
    match request.action {
        SnapshotAction::Create => {
            if targets.iter().any(|t| t.find(name).is_some()) {
                return Err(WireError::conflict(format!(
                    "VM '{vm}' already has a snapshot '{name}'; pick another name, or delete it first with `crv vm snapshot delete {vm} {name}`"
                )));
            }
            let how = super::snapshot_ops::create(work, &targets, name, request.with_ram).await?;
            let size = record_created(work, name, request.with_ram).await?;
            Ok(match request.with_ram {
                true => format!("snapshot '{name}' taken with RAM ({size} bytes of state)"),
                false => format!("snapshot '{name}' taken ({how})"),
            })
        }
        SnapshotAction::Revert => {
            if let Some(lacking) = targets.iter().find(|t| t.find(name).is_none()) {
                return Err(WireError::not_found(format!(
                    "VM '{vm}' has no snapshot '{name}' on its {}; see `crv vm snapshot list {vm}`",
                    lacking.describe()
                )));
            }
            super::snapshot_ops::revert(work, &targets, name).await
        }
        SnapshotAction::Delete => {
            let holding: Vec<&Target> = targets.iter().filter(|t| t.find(name).is_some()).collect();
            if holding.is_empty() {
                return Err(WireError::not_found(format!(
                    "VM '{vm}' has no snapshot '{name}'; see `crv vm snapshot list {vm}`"
                )));
            }
            super::snapshot_ops::delete(work, &holding, name).await?;
            db(work
                .store
                .change_vm_snapshots(work.vm.id, &[], &[name.to_owned()]))
            .await
            .map_err(|err| unrecorded(vm, "deleted", err.into()))?;
            Ok(format!("snapshot '{name}' deleted"))
        }
        SnapshotAction::List => Err(WireError::internal("a list is not an operation")),
    }
}

/// Writes the new snapshot's row, with the size of its state as the images
/// now report it.
async fn record_created(work: &Work, name: &str, with_ram: bool) -> Result<u64, WireError> {
    let size = targets(work)
        .await
        .ok()
        .and_then(|targets| {
            targets
                .iter()
                .filter_map(|t| t.find(name))
                .map(|s| s.vm_state_size)
                .max()
        })
        .unwrap_or(0);
    let row = SnapshotRow {
        name: name.to_owned(),
        created_at: chrono::Utc::now(),
        with_ram,
        size_bytes: size,
    };
    db(work.store.change_vm_snapshots(work.vm.id, &[row], &[]))
        .await
        .map_err(|err| unrecorded(&work.vm.name, "taken", err.into()))?;
    Ok(size)
}

fn unrecorded(vm: &str, done: &str, err: WireError) -> WireError {
    WireError::new(
        err.kind,
        format!(
            "the snapshot was {done} but the database could not record it: {}; `crv vm snapshot list {vm}` records what the images hold",
            err.message
        ),
    )
}
