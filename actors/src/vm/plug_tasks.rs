//! Live drive and NIC changes as tasks: the QMP sequences that add a
//! device to a running QEMU or take one away, each undoing its own first
//! steps when a later one fails, so that QEMU is left as it was. The task
//! reports what QEMU confirmed; the definition is written afterwards.

use super::core::Confirmed;
use crate::networks::vm_link;
use crate::supervisor::SupervisorRef;
use corvus_protocol::{DriveInfo, NicInfo, NicType, WireError};
use corvus_qemu::hotplug::{self as names, SCSI_CONTROLLER};
use corvus_qemu::{ImageLayer, QmpCommands, QmpError, managed_tap};
use corvus_storage::{DeviceTable, Store};
use std::time::Duration;
use tokio::sync::oneshot;

#[derive(Debug, thiserror::Error)]
pub enum PlugError {
    #[error(
        "VM '{vm}' has no free hotplug slot (it has {slots}); detach a device, or stop it and raise them with `crv vm edit {vm} --hotplug-slots N`"
    )]
    NoSlot { vm: String, slots: u32 },
    #[error("Cannot reserve an id for the new device")]
    Reserve(#[source] corvus_storage::StorageError),
    #[error("QEMU refused to {step}")]
    Qemu {
        step: String,
        #[source]
        source: QmpError,
    },
    #[error(
        "the guest did not release {device} within {} s (it may not support unplugging, or be busy); the definition keeps it — retry with a longer --timeout, or stop the VM",
        timeout.as_secs()
    )]
    NotReleased { device: String, timeout: Duration },
    /// Boxed: the tap's error is by far the largest.
    #[error(transparent)]
    Network(Box<vm_link::PlugError>),
}

impl From<vm_link::PlugError> for PlugError {
    fn from(error: vm_link::PlugError) -> PlugError {
        PlugError::Network(Box::new(error))
    }
}

impl From<PlugError> for WireError {
    fn from(error: PlugError) -> WireError {
        let message = super::errors::render(&error);
        match error {
            PlugError::NoSlot { .. } => WireError::conflict(message),
            PlugError::NotReleased { .. } => {
                WireError::new(corvus_protocol::ErrorKind::Busy, message)
            }
            PlugError::Reserve(_) | PlugError::Network(_) => WireError::unavailable(message),
            PlugError::Qemu { .. } => {
                WireError::new(corvus_protocol::ErrorKind::QemuFailed, message)
            }
        }
    }
}

fn qemu(step: impl Into<String>) -> impl FnOnce(QmpError) -> PlugError {
    let step = step.into();
    move |source| PlugError::Qemu { step, source }
}

/// What a live change needs besides its own description.
pub struct PlugContext {
    pub qmp: Option<QmpCommands>,
    pub store: Store,
    pub supervisor: SupervisorRef,
    pub vm: String,
    pub slots: u32,
    /// This node, for the HA check of a drive added live.
    pub node: crate::config::NodeConfig,
}

impl PlugContext {
    fn qmp(&self) -> Result<&QmpCommands, PlugError> {
        self.qmp.as_ref().ok_or_else(|| PlugError::Qemu {
            step: "take the change (its QMP connection is gone)".into(),
            source: QmpError::Closed,
        })
    }

    /// The first empty hotplug root port.
    async fn free_port(&self) -> Result<String, PlugError> {
        let qmp = self.qmp()?;
        let pci = qmp
            .query_pci()
            .await
            .map_err(qemu("list its PCI devices"))?;
        names::free_hotplug_port(&pci, self.slots).ok_or_else(|| PlugError::NoSlot {
            vm: self.vm.clone(),
            slots: self.slots,
        })
    }

    /// A drive described by `drive` (its id not yet chosen) into QEMU.
    /// `chain`: the image layers of a drive on a Corvus disk, top first.
    pub async fn attach_drive(
        &self,
        mut drive: DriveInfo,
        chain: Option<Vec<ImageLayer>>,
    ) -> Result<Confirmed, PlugError> {
        let qmp = self.qmp()?;
        drive.id = self
            .store
            .reserve_id(DeviceTable::Drive)
            .await
            .map_err(PlugError::Reserve)?;
        let bus = match drive.interface {
            corvus_protocol::DriveInterface::Scsi => self.scsi_bus().await?,
            _ => self.free_port().await?,
        };
        let node = names::drive_node(drive.id);
        qmp.blockdev_add(names::drive_blockdev(&drive, chain.as_deref()))
            .await
            .map_err(qemu(format!("open {}", drive.file_path)))?;
        let device = names::drive_device(&drive, &bus).map(|props| props.to_qmp());
        let added = match device {
            Some(device) => qmp.device_add(device).await,
            None => Err(QmpError::Protocol(format!(
                "a {} drive has no pluggable device",
                drive.interface
            ))),
        };
        if let Err(source) = added {
            if let Err(err) = qmp.blockdev_del(&node).await {
                tracing::warn!(%err, node, "cannot close the node of a drive QEMU refused");
            }
            return Err(qemu(format!("add the {} device", drive.interface))(source));
        }
        Ok(Confirmed::DriveAttached(drive))
    }

    /// The SCSI controller's bus, adding the controller on a free port
    /// when the VM has none yet (it stays until QEMU exits).
    async fn scsi_bus(&self) -> Result<String, PlugError> {
        let qmp = self.qmp()?;
        let ids = qmp.device_ids().await.map_err(qemu("list its devices"))?;
        if !ids.iter().any(|id| id == SCSI_CONTROLLER) {
            let port = self.free_port().await?;
            qmp.device_add(serde_json::json!({
                "driver": "virtio-scsi-pci", "id": SCSI_CONTROLLER, "bus": port
            }))
            .await
            .map_err(qemu("add a SCSI controller"))?;
        }
        Ok(format!("{SCSI_CONTROLLER}.0"))
    }

    /// Unplugs a drive once the guest lets go of it, then closes its image.
    pub async fn detach_drive(
        &self,
        drive_id: i64,
        released: oneshot::Receiver<()>,
        timeout: Duration,
    ) -> Result<Confirmed, PlugError> {
        let qmp = self.qmp()?;
        let device = names::drive_device_id(drive_id);
        unplug(qmp, &device, released, timeout).await?;
        let node = names::drive_node(drive_id);
        if let Err(err) = qmp.blockdev_del(&node).await {
            // A QEMU started by an older daemon has `-drive` nodes, which
            // went with their device.
            tracing::warn!(%err, node, "the drive's node was not closed");
        }
        Ok(Confirmed::DriveDetached(drive_id))
    }

    /// A NIC described by `nic` (its id not yet chosen) into QEMU; a NIC on
    /// a managed network gets its tap first, as at launch.
    pub async fn attach_nic(&self, mut nic: NicInfo) -> Result<Confirmed, PlugError> {
        let qmp = self.qmp()?;
        nic.id = self
            .store
            .reserve_id(DeviceTable::NetworkInterface)
            .await
            .map_err(PlugError::Reserve)?;
        let port = self.free_port().await?;
        let managed = nic.nic_type == NicType::Network;
        if managed {
            vm_link::plug(&self.supervisor, std::slice::from_ref(&nic)).await?;
        }
        let result = self.add_nic_devices(qmp, &nic, &port).await;
        if result.is_err() && managed {
            let _ = vm_link::unplug(&[nic.id]).await;
        }
        result.map(|()| Confirmed::NicAttached(nic))
    }

    async fn add_nic_devices(
        &self,
        qmp: &QmpCommands,
        nic: &NicInfo,
        port: &str,
    ) -> Result<(), PlugError> {
        let netdev = names::nic_netdev_id(nic.id);
        qmp.netdev_add(names::netdev_add(nic, &managed_tap(nic.id)))
            .await
            .map_err(qemu(format!("add the {} network backend", nic.nic_type)))?;
        if let Err(source) = qmp.device_add(names::nic_device(nic, port).to_qmp()).await {
            if let Err(err) = qmp.netdev_del(&netdev).await {
                tracing::warn!(%err, netdev, "cannot remove the backend of a NIC QEMU refused");
            }
            return Err(qemu("add the virtio-net device")(source));
        }
        Ok(())
    }

    /// Unplugs a NIC once the guest lets go of it, then its backend (and
    /// its tap, on a managed network).
    pub async fn detach_nic(
        &self,
        nic: &NicInfo,
        released: oneshot::Receiver<()>,
        timeout: Duration,
    ) -> Result<Confirmed, PlugError> {
        let qmp = self.qmp()?;
        unplug(qmp, &names::nic_device_id(nic.id), released, timeout).await?;
        let netdev = names::nic_netdev_id(nic.id);
        if let Err(err) = qmp.netdev_del(&netdev).await {
            tracing::warn!(%err, netdev, "the NIC's backend was not removed");
        }
        if nic.nic_type == NicType::Network
            && let Err(reason) = vm_link::unplug(&[nic.id]).await
        {
            tracing::warn!(%reason, "tap left behind");
        }
        Ok(Confirmed::NicDetached(nic.id))
    }
}

/// `device_del`, then the guest's consent: QEMU's `DEVICE_DELETED` for the
/// device, which the actor forwards through `released`.
async fn unplug(
    qmp: &QmpCommands,
    device: &str,
    released: oneshot::Receiver<()>,
    timeout: Duration,
) -> Result<(), PlugError> {
    match qmp.device_del(device).await {
        Ok(()) => {}
        // An earlier unplug timed out here but the guest let go later: QEMU
        // dropped the device then, so this detach only has the rest to do.
        Err(QmpError::Refused { class, .. }) if class == "DeviceNotFound" => {
            tracing::info!(device, "already gone from QEMU (a late unplug)");
            return Ok(());
        }
        Err(source) => return Err(qemu(format!("unplug {device}"))(source)),
    }
    match tokio::time::timeout(timeout, released).await {
        Ok(Ok(())) => Ok(()),
        // The actor dropped the waiter: QEMU is gone, and the device with it.
        Ok(Err(_)) => Err(PlugError::Qemu {
            step: format!("unplug {device}"),
            source: QmpError::Closed,
        }),
        Err(_) => Err(PlugError::NotReleased {
            device: device.to_owned(),
            timeout,
        }),
    }
}
