//! Definition changes of a stopped VM: edit, delete, drives, NICs, shares
//! (drives and NICs of a running VM go through `plug.rs` first).
//! Each is checked first against the whole VM it would make, then written
//! by a task; the actor's copy changes only when the database has confirmed,
//! so a refused or failed change leaves both untouched. Commands that come
//! meanwhile wait (see `commands.rs`). A change the database took goes
//! through the core as `Redefined` (or `Deleted`), whose event tells every
//! subscriber; its reply waits until that event is safe.

use super::core::Input;
use super::device_rows::{add_nic, add_share, tag_taken};
use super::{Origin, Reply, VmActorRef, VmActorState, VmCommand, VmMsg};
use crate::supervisor::{SupervisorMsg, SupervisorRef};
use crate::validate;
use crate::wire::{db, storage};
use corvus_protocol::{
    CloudInitInfo, DriveInfo, DriveSpec, NicInfo, ShareInfo, VmChanges, VmInfo, WireError,
};
use corvus_storage::entity::vm;
use corvus_storage::{Store, rows};
use std::path::PathBuf;
use tracing::Instrument;

/// A change the database has taken.
pub enum Written {
    Edited(Box<vm::Model>, VmChanges),
    Deleted,
    /// Given to another node, with its event (`nodes::moving::commit`).
    Moved(Box<VmInfo>),
    DriveAdded(DriveInfo),
    DriveRemoved(i64),
    NicAdded(NicInfo),
    NicRemoved(i64),
    ShareAdded(ShareInfo),
    ShareRemoved(i64),
    /// The VM's cloud-init configuration, as now stored (`None`: cleared).
    CloudInit(Option<Box<CloudInitInfo>>),
}

/// The VM as an edit would leave it, for the checks that look at the whole.
fn edited(vm: &VmInfo, changes: &VmChanges) -> VmInfo {
    let mut after = vm.clone();
    after.ha = changes.ha.unwrap_or(vm.ha);
    after.restart_policy = changes.restart_policy.unwrap_or(vm.restart_policy);
    after.kernel = merged(&changes.kernel, &vm.kernel);
    after.initrd = merged(&changes.initrd, &vm.initrd);
    after
}

/// The kernel trio as an edit would leave it ('' clears a field).
fn merged(change: &Option<String>, current: &Option<String>) -> Option<String> {
    match change {
        Some(text) if text.is_empty() => None,
        Some(text) => Some(text.clone()),
        None => current.clone(),
    }
}

impl VmActorState {
    /// Checks the change against the VM it would make, then writes it in a task.
    pub(super) fn define(
        &mut self,
        myself: &VmActorRef,
        command: VmCommand,
        origin: Origin,
        reply: Reply,
    ) {
        if let Err(err) = self.check(&command) {
            let _ = reply.send(Err(err));
            return;
        }
        let verb = command.verb();
        self.writing = true;
        let store = self.ctx.store.clone();
        let supervisor = self.supervisor.clone();
        let vm = self.info.clone();
        let dir = self.ctx.paths(self.info.id).dir;
        let me = myself.clone();
        let ctx = self.ctx.clone();
        tokio::spawn(
            async move {
                let outcome = match command {
                    VmCommand::Move { node } => {
                        super::moving::move_to(&ctx, &vm, &node, origin).await
                    }
                    command => write(&store, &ctx.node, &supervisor, &vm, command, dir).await,
                };
                let _ = me.cast(VmMsg::Written {
                    outcome,
                    origin,
                    verb,
                    reply,
                });
            }
            .in_current_span(),
        );
    }

    /// The checks that need only the definition, before anything is written.
    pub(super) fn check(&self, command: &VmCommand) -> Result<(), WireError> {
        match command {
            VmCommand::Edit(changes) => {
                validate::changes(changes)?;
                let info = &self.info;
                validate::kernel_boot(
                    merged(&changes.kernel, &info.kernel).as_deref(),
                    merged(&changes.initrd, &info.initrd).as_deref(),
                    merged(&changes.cmdline, &info.cmdline).as_deref(),
                )
            }
            // A drive on a disk is checked once its file is known (`write`).
            VmCommand::AddDrive(drive) if drive.disk.is_some() => Ok(()),
            VmCommand::AddDrive(drive) => check_drive(&self.info, drive),
            VmCommand::RemoveDrive { id, .. } => self.has("drive", *id, |vm| &vm.drives, |d| d.id),
            VmCommand::AddNic(nic) => validate::nic(nic),
            VmCommand::RemoveNic { id, .. } => self.has(
                "network interface",
                *id,
                |vm| &vm.network_interfaces,
                |n| n.id,
            ),
            VmCommand::AddShare(share) => {
                validate::share(share)?;
                if self.info.shared_dirs.iter().any(|s| s.tag == share.tag) {
                    return Err(tag_taken(&self.info.name, &share.tag));
                }
                Ok(())
            }
            VmCommand::RemoveShare(id) => self.has("share", *id, |vm| &vm.shared_dirs, |s| s.id),
            VmCommand::SetCloudInit(changes) => super::cloud_init::check(&self.info, changes),
            VmCommand::ClearCloudInit => super::cloud_init::check_clear(&self.info),
            VmCommand::Delete
            | VmCommand::Move { .. }
            | VmCommand::Show
            | VmCommand::Start
            | VmCommand::Stop { .. }
            | VmCommand::Pause
            | VmCommand::Reset
            | VmCommand::Save
            | VmCommand::History { .. }
            | VmCommand::Attach { .. }
            | VmCommand::SpiceUri
            | VmCommand::Snapshot(_)
            | VmCommand::GuestExec(_)
            | VmCommand::GuestInterfaces { .. } => Ok(()),
        }
    }

    fn has<T>(
        &self,
        kind: &str,
        id: i64,
        devices: impl Fn(&VmInfo) -> &Vec<T>,
        id_of: impl Fn(&T) -> i64,
    ) -> Result<(), WireError> {
        if devices(&self.info).iter().any(|device| id_of(device) == id) {
            return Ok(());
        }
        let name = self.name();
        Err(WireError::not_found(format!(
            "VM '{name}' has no {kind} {id} (see `crv vm show {name}`)"
        )))
    }

    /// The database answered: the actor's copy follows, the core records
    /// the change, then the commands that waited run.
    pub(super) fn written(
        &mut self,
        myself: &VmActorRef,
        outcome: Result<Written, WireError>,
        origin: Origin,
        verb: &'static str,
        reply: Reply,
    ) {
        self.writing = false;
        match outcome {
            Ok(Written::Moved(vm)) => return self.moved_away(vm, reply),
            Ok(written) => {
                let input = self.take_written(written, origin, verb);
                self.step(myself, input, Some(reply));
            }
            Err(err) => {
                let _ = reply.send(Err(err));
            }
        }
        self.replay_deferred(myself);
    }

    /// The actor's copy follows the database; the input for the core.
    fn take_written(&mut self, written: Written, origin: Origin, verb: &'static str) -> Input {
        let change = written.change();
        let info = &mut self.info;
        match written {
            Written::Edited(row, changes) => {
                info.cpu_count = row.cpu_count as u32;
                info.ram_mb = row.ram_mb as u64;
                info.description = row.description;
                info.display = changes.display.unwrap_or(info.display);
                info.cpu_model = row.cpu_model;
                info.stop_timeout_secs = row.stop_timeout_secs.map(|s| s as u32);
                info.restart_policy = changes.restart_policy.unwrap_or(info.restart_policy);
                info.max_restarts = row.max_restarts as u32;
                info.restart_window_secs = row.restart_window_secs as u32;
                info.autostart = row.autostart;
                info.kernel = row.kernel;
                info.initrd = row.initrd;
                info.cmdline = row.cmdline;
                info.guest_agent = row.guest_agent;
                info.hotplug_slots = row.hotplug_slots.max(0) as u32;
                info.ha = row.ha;
                info.agent = super::cloud_init::agent_status(row.guest_agent);
                info.updated_at = rows::timestamp(&row.updated_at);
            }
            Written::Deleted => {
                // The supervisor forgets the VM before the client hears back,
                // so whatever the client sends next cannot reach this actor.
                let _ = self
                    .supervisor
                    .cast(SupervisorMsg::Removed { id: self.info.id });
                return Input::Deleted { origin };
            }
            // Handled by `written` before it gets here.
            Written::Moved(_) => {}
            Written::DriveAdded(drive) => info.drives.push(drive),
            Written::DriveRemoved(id) => info.drives.retain(|d| d.id != id),
            Written::NicAdded(nic) => info.network_interfaces.push(nic),
            Written::NicRemoved(id) => info.network_interfaces.retain(|n| n.id != id),
            Written::ShareAdded(share) => info.shared_dirs.push(share),
            Written::ShareRemoved(id) => info.shared_dirs.retain(|s| s.id != id),
            Written::CloudInit(config) => info.cloud_init = config.map(|c| *c),
        }
        Input::Redefined {
            command: verb,
            change,
            origin,
        }
    }
}

/// The drive alone, then the whole VM it would make.
fn check_drive(vm: &VmInfo, drive: &DriveSpec) -> Result<(), WireError> {
    validate::drive(drive)?;
    let mut prospective = vm.clone();
    prospective.drives.push(drive_info(0, drive, None));
    validate::whole(&prospective)
}

pub(super) fn drive_info(id: i64, spec: &DriveSpec, disk_id: Option<i64>) -> DriveInfo {
    DriveInfo {
        id,
        disk_id,
        interface: spec.interface,
        file_path: spec.file_path.clone(),
        format: spec.format,
        media: spec.media,
        read_only: spec.read_only,
        cache: spec.cache,
        discard: spec.discard,
    }
}

fn gone(vm: &VmInfo) -> WireError {
    super::errors::deleted(&vm.name)
}

/// The write itself, and the checks that look at the filesystem.
async fn write(
    store: &Store,
    node: &crate::config::NodeConfig,
    supervisor: &SupervisorRef,
    vm: &VmInfo,
    command: VmCommand,
    dir: PathBuf,
) -> Result<Written, WireError> {
    let id = vm.id;
    match command {
        VmCommand::Edit(changes) => {
            crate::nodes::ha::check(node, store, &edited(vm, &changes)).await?;
            validate::files::existing_file("kernel", changes.kernel.as_deref()).await?;
            validate::files::existing_file("initrd", changes.initrd.as_deref()).await?;
            let row = db(store.update_vm(id, &changes))
                .await?
                .ok_or_else(|| gone(vm))?;
            Ok(Written::Edited(Box::new(row), changes))
        }
        VmCommand::Delete => {
            if !db(store.delete_vm(id)).await? {
                return Err(gone(vm));
            }
            let _ = tokio::fs::remove_dir_all(&dir).await;
            Ok(Written::Deleted)
        }
        VmCommand::AddDrive(mut drive) => {
            // `--disk NAME`: the disk's file and format, from the DiskService.
            let disk_id =
                crate::disks::vm_link::drive_disk(supervisor, store, &node.name, &mut drive)
                    .await?;
            if disk_id.is_some() {
                check_drive(vm, &drive)?;
            }
            let mut after = vm.clone();
            after.drives.push(drive_info(0, &drive, disk_id));
            crate::nodes::ha::check(node, store, &after).await?;
            let row = db(store.insert_drive(id, &drive, disk_id)).await?;
            Ok(Written::DriveAdded(rows::drive_info(row).map_err(storage)?))
        }
        VmCommand::RemoveDrive { id: drive_id, .. } => {
            db(store.delete_drive(id, drive_id)).await?;
            Ok(Written::DriveRemoved(drive_id))
        }
        VmCommand::AddNic(nic) => {
            let network_id = crate::networks::vm_link::nic_network(supervisor, &nic).await?;
            add_nic(store, id, &nic, network_id).await
        }
        VmCommand::RemoveNic { id: nic_id, .. } => {
            db(store.delete_nic(id, nic_id)).await?;
            Ok(Written::NicRemoved(nic_id))
        }
        VmCommand::AddShare(share) => {
            let mut after = vm.clone();
            after.shared_dirs.push(ShareInfo {
                id: 0,
                path: share.path.clone(),
                tag: share.tag.clone(),
                cache: share.cache,
                read_only: share.read_only,
                pid: None,
            });
            crate::nodes::ha::check(node, store, &after).await?;
            add_share(store, vm, &share).await
        }
        VmCommand::RemoveShare(share_id) => {
            db(store.delete_share(id, share_id)).await?;
            Ok(Written::ShareRemoved(share_id))
        }
        VmCommand::SetCloudInit(changes) => super::cloud_init::set(store, vm, &changes).await,
        VmCommand::ClearCloudInit => super::cloud_init::clear(store, vm).await,
        VmCommand::Show
        | VmCommand::Move { .. }
        | VmCommand::Start
        | VmCommand::Stop { .. }
        | VmCommand::Pause
        | VmCommand::Reset
        | VmCommand::Save
        | VmCommand::History { .. }
        | VmCommand::Attach { .. }
        | VmCommand::SpiceUri
        | VmCommand::Snapshot(_)
        | VmCommand::GuestExec(_)
        | VmCommand::GuestInterfaces { .. } => Err(WireError::internal(
            "a lifecycle command reached the definition writer",
        )),
    }
}
