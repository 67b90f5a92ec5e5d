//! Devices that can come and go while QEMU runs (issue 16): the names a
//! drive or NIC has inside QEMU, the PCIe root ports they sit on, and the
//! QMP arguments that add them. The command line at boot uses the same
//! names and the same ports, so a device present at boot and one added
//! live look alike to a later detach.

mod devices;
mod ports;
#[cfg(test)]
mod tests;

pub use devices::{Props, drive_blockdev, drive_device, netdev_add, nic_device, write_cache};
pub use ports::{FIRST_PORT_SLOT, PortAllocator, free_hotplug_port, hotplug_port, port_of};

/// The drive's top block node (the format node).
pub fn drive_node(drive_id: i64) -> String {
    format!("drive{drive_id}")
}

/// The drive's protocol node (the file itself), below [`drive_node`].
pub fn drive_file_node(drive_id: i64) -> String {
    format!("drive{drive_id}-file")
}

/// The guest-visible device of a drive.
pub fn drive_device_id(drive_id: i64) -> String {
    format!("disk{drive_id}")
}

/// The network backend of a NIC.
pub fn nic_netdev_id(nic_id: i64) -> String {
    format!("net{nic_id}")
}

/// The guest-visible device of a NIC.
pub fn nic_device_id(nic_id: i64) -> String {
    format!("nic{nic_id}")
}

/// The one virtio-scsi controller that SCSI drives share.
pub const SCSI_CONTROLLER: &str = "scsi0";
