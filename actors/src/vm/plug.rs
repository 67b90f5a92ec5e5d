//! Drive and NIC changes on a running VM, in the shell: whether a change
//! can be plugged live (the core decides with that), the task that makes
//! it in QEMU, the write of what QEMU confirmed, the guest's consent to an
//! unplug (`DEVICE_DELETED`, forwarded to the waiting task). After a
//! daemon restart, `reconcile.rs` compares QEMU's devices with the rows.

use super::core::{Confirmed, DETACH_TIMEOUT, Input, Live};
use super::definition::{Written, drive_info};
use super::device_rows::generated_mac;
use super::plug_tasks::PlugContext;
use super::{Origin, Reply, VmActorRef, VmActorState, VmCommand, VmMsg};
use crate::disks::vm_link as disk_vm_link;
use crate::validate;
use crate::wire::{db, storage};
use corvus_protocol::{DriveInfo, DriveInterface, DriveSpec, NicInfo, NicSpec, VmInfo, WireError};
use corvus_qemu::hotplug as names;
use corvus_storage::{Store, rows};
use std::time::Duration;
use tokio::sync::oneshot;
use tracing::Instrument;

/// How long a live detach waits for the guest (`--timeout`).
pub fn detach_timeout(secs: Option<u32>) -> Duration {
    secs.map(|secs| Duration::from_secs(secs.into()))
        .unwrap_or(DETACH_TIMEOUT)
}

/// The drive every boot starts from: the first one with a `bootindex`.
fn boot_disk(vm: &VmInfo) -> Option<i64> {
    vm.drives
        .iter()
        .find(|drive| drive.interface != DriveInterface::Pflash)
        .map(|drive| drive.id)
}

/// Why a drive of this interface can only change while the VM is stopped.
fn fixed_interface(interface: DriveInterface) -> Option<&'static str> {
    match interface {
        DriveInterface::Ide | DriveInterface::Sata => Some(
            "IDE and SATA drives sit on the AHCI controller, whose ports cannot be hot-plugged (use --interface virtio, scsi or nvme)",
        ),
        DriveInterface::Pflash => Some("pflash drives are firmware, read when QEMU starts"),
        DriveInterface::Virtio | DriveInterface::Scsi | DriveInterface::Nvme => None,
    }
}

/// Whether `command` could be carried out on this VM's running QEMU.
pub(super) fn liveness(vm: &VmInfo, command: &VmCommand) -> Live {
    let needs_stop = |reason: String| Live::NeedsStop { reason };
    match command {
        VmCommand::AddDrive(drive) => {
            if let Some(why) = fixed_interface(drive.interface) {
                return needs_stop(why.into());
            }
            // A disk's file is known once the DiskService resolved it (the
            // plug task checks it then).
            match vm.drives.iter().find(|d| d.file_path == drive.file_path) {
                Some(holder) => Live::InUse {
                    reason: format!(
                        "already has {} attached as drive {}; detach it first with `crv vm drive remove {} {}`",
                        drive.file_path, holder.id, vm.name, holder.id
                    ),
                },
                None => Live::Pluggable,
            }
        }
        VmCommand::RemoveDrive { id, .. } => {
            let Some(drive) = vm.drives.iter().find(|d| d.id == *id) else {
                return Live::Pluggable;
            };
            if let Some(why) = fixed_interface(drive.interface) {
                return needs_stop(format!("drive {id}: {why}"));
            }
            if boot_disk(vm) == Some(*id) {
                return needs_stop(format!("drive {id} is the boot disk"));
            }
            Live::Pluggable
        }
        // Every NIC type has a backend QEMU can add and remove live.
        VmCommand::AddNic(_) | VmCommand::RemoveNic { .. } => Live::Pluggable,
        VmCommand::Show
        | VmCommand::Edit(_)
        | VmCommand::Delete
        | VmCommand::Move { .. }
        | VmCommand::AddShare(_)
        | VmCommand::RemoveShare(_)
        | VmCommand::Start
        | VmCommand::Stop { .. }
        | VmCommand::Pause
        | VmCommand::Reset
        | VmCommand::History { .. }
        | VmCommand::Attach { .. }
        | VmCommand::SpiceUri
        | VmCommand::SetCloudInit(_)
        | VmCommand::ClearCloudInit
        | VmCommand::GuestExec(_)
        | VmCommand::GuestInterfaces { .. }
        | VmCommand::Save
        | VmCommand::Snapshot(_) => Live::NeedsStop {
            reason: "it is not a drive or network interface change".into(),
        },
    }
}

impl VmActorState {
    fn plug_context(&self) -> PlugContext {
        PlugContext {
            qmp: self.boot.as_ref().and_then(|boot| boot.qmp.clone()),
            store: self.ctx.store.clone(),
            supervisor: self.supervisor.clone(),
            vm: self.info.name.clone(),
            slots: self.info.hotplug_slots,
            node: self.ctx.node.clone(),
        }
    }

    /// A waiter for the guest's consent to unplug `device`.
    fn await_release(&mut self, device: String) -> oneshot::Receiver<()> {
        let (tell, released) = oneshot::channel();
        if let Some(boot) = self.boot.as_mut() {
            boot.unplugs.push((device, tell));
        }
        released
    }

    /// QEMU removed a device: its unplug task may go on.
    pub(super) fn device_deleted(&mut self, device: &str) {
        if let Some(boot) = self.boot.as_mut() {
            let (done, waiting) = std::mem::take(&mut boot.unplugs)
                .into_iter()
                .partition(|(id, _)| id == device);
            boot.unplugs = waiting;
            for (_, tell) in done {
                let _ = tell.send(());
            }
        }
    }

    /// Carries out a change the core let through on the running QEMU.
    pub(super) fn plug(
        &mut self,
        myself: &VmActorRef,
        command: VmCommand,
        origin: Origin,
        reply: Reply,
    ) {
        let context = self.plug_context();
        let verb = command.verb();
        let vm = self.info.clone();
        let released = match &command {
            VmCommand::RemoveDrive { id, .. } => {
                Some(self.await_release(names::drive_device_id(*id)))
            }
            VmCommand::RemoveNic { id, .. } => Some(self.await_release(names::nic_device_id(*id))),
            _ => None,
        };
        self.plugging = true;
        let me = myself.clone();
        tokio::spawn(
            async move {
                let result = carry_out(&context, &vm, command, released).await;
                let _ = me.cast(VmMsg::Plugged {
                    origin,
                    verb,
                    result,
                    reply,
                });
            }
            .in_current_span(),
        );
    }

    pub(super) fn plugged(
        &mut self,
        myself: &VmActorRef,
        origin: Origin,
        verb: &'static str,
        result: Result<Confirmed, WireError>,
        reply: Reply,
    ) {
        self.plugging = false;
        if let Err(error) = &result {
            tracing::warn!(%error, verb, "a live device change failed");
        }
        let input = Input::Plugged {
            origin,
            verb,
            result,
        };
        self.step(myself, input, Some(reply));
        self.replay_deferred(myself);
    }

    /// Writes what QEMU confirmed; the reply goes out with the write's outcome.
    pub(super) fn record(
        &mut self,
        myself: &VmActorRef,
        confirmed: Confirmed,
        origin: Origin,
        verb: &'static str,
        reply: Reply,
    ) {
        self.writing = true;
        let store = self.ctx.store.clone();
        let vm_id = self.info.id;
        let me = myself.clone();
        tokio::spawn(
            async move {
                let outcome = write(&store, vm_id, confirmed).await.map_err(|err| {
                    WireError::new(
                        err.kind,
                        format!(
                            "QEMU made the change but the definition could not record it: {}; the next start follows the definition",
                            err.message
                        ),
                    )
                });
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
}

async fn carry_out(
    context: &PlugContext,
    vm: &VmInfo,
    command: VmCommand,
    released: Option<oneshot::Receiver<()>>,
) -> Result<Confirmed, WireError> {
    let gone =
        |kind: &str, id: i64| WireError::not_found(format!("VM '{}' has no {kind} {id}", vm.name));
    let released = released.unwrap_or_else(|| oneshot::channel().1);
    let confirmed = match command {
        VmCommand::AddDrive(mut spec) => {
            let disk_id = disk_vm_link::drive_disk(
                &context.supervisor,
                &context.store,
                &context.node.name,
                &mut spec,
            )
            .await?;
            let drive = drive_info(0, &spec, disk_id);
            let mut after = vm.clone();
            after.drives.push(drive.clone());
            crate::nodes::ha::check(&context.node, &context.store, &after).await?;
            let chain = match disk_id {
                None => {
                    validate::files::existing_file("drive", Some(&spec.file_path)).await?;
                    None
                }
                Some(_) => {
                    if let Some(holder) = vm.drives.iter().find(|d| d.file_path == spec.file_path) {
                        return Err(WireError::conflict(format!(
                            "VM '{}' already has {} attached as drive {}; detach it first with `crv vm drive remove {} {}`",
                            vm.name, spec.file_path, holder.id, vm.name, holder.id
                        )));
                    }
                    let mut images = disk_vm_link::boot_images(
                        &context.supervisor,
                        std::slice::from_ref(&drive),
                    )
                    .await
                    .map_err(WireError::invalid)?;
                    images.remove(&drive.id)
                }
            };
            context.attach_drive(drive, chain).await
        }
        VmCommand::RemoveDrive { id, timeout_secs } => {
            if !vm.drives.iter().any(|d| d.id == id) {
                return Err(gone("drive", id));
            }
            context
                .detach_drive(id, released, detach_timeout(timeout_secs))
                .await
        }
        VmCommand::AddNic(spec) => context.attach_nic(nic_info(context, &spec).await?).await,
        VmCommand::RemoveNic { id, timeout_secs } => {
            let nic = vm
                .network_interfaces
                .iter()
                .find(|n| n.id == id)
                .ok_or_else(|| gone("network interface", id))?;
            context
                .detach_nic(nic, released, detach_timeout(timeout_secs))
                .await
        }
        other => {
            return Err(WireError::internal(format!(
                "`{}` reached the live device path",
                other.verb()
            )));
        }
    };
    confirmed.map_err(WireError::from)
}

/// The NIC as it will be: its MAC (given or generated) and network.
async fn nic_info(context: &PlugContext, spec: &NicSpec) -> Result<NicInfo, WireError> {
    let mac = match spec.mac_address.as_deref() {
        Some(given) => validate::parse_mac(given)?,
        None => generated_mac(),
    };
    let network_id = crate::networks::vm_link::nic_network(&context.supervisor, spec).await?;
    Ok(NicInfo {
        id: 0,
        nic_type: spec.nic_type,
        host_device: spec.host_device.clone(),
        mac_address: mac,
        forwards: spec.forwards.clone(),
        network_id,
        ip_address: network_id.and(spec.ip_address.clone()),
        lease_address: None,
    })
}

fn drive_spec(drive: &DriveInfo) -> DriveSpec {
    DriveSpec {
        file_path: drive.file_path.clone(),
        interface: drive.interface,
        format: drive.format,
        media: drive.media,
        read_only: drive.read_only,
        cache: drive.cache,
        discard: drive.discard,
        disk: None,
    }
}

async fn write(store: &Store, vm_id: i64, confirmed: Confirmed) -> Result<Written, WireError> {
    match confirmed {
        Confirmed::DriveAttached(drive) => {
            let row = db(store.insert_drive_as(
                Some(drive.id),
                vm_id,
                &drive_spec(&drive),
                drive.disk_id,
            ))
            .await?;
            Ok(Written::DriveAdded(rows::drive_info(row).map_err(storage)?))
        }
        Confirmed::DriveDetached(id) => {
            db(store.delete_drive(vm_id, id)).await?;
            Ok(Written::DriveRemoved(id))
        }
        Confirmed::NicAttached(nic) => {
            let spec = NicSpec {
                nic_type: nic.nic_type,
                host_device: nic.host_device.clone(),
                mac_address: Some(nic.mac_address.clone()),
                forwards: nic.forwards.clone(),
                network: None,
                ip_address: nic.ip_address.clone(),
            };
            let row = db(store.insert_nic_as(
                Some(nic.id),
                vm_id,
                &spec,
                &nic.mac_address,
                nic.network_id,
            ))
            .await?;
            Ok(Written::NicAdded(rows::nic_info(row).map_err(storage)?))
        }
        Confirmed::NicDetached(id) => {
            db(store.delete_nic(vm_id, id)).await?;
            Ok(Written::NicRemoved(id))
        }
    }
}
