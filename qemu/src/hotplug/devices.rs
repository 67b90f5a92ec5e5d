//! A drive's block nodes and guest device, and a NIC's backend and device,
//! as one description that renders both ways: the command line's
//! `-device` option string at boot, QMP's `device_add` arguments live.

use super::{drive_device_id, drive_file_node, drive_node, nic_device_id, nic_netdev_id};
use crate::cmdline::ImageLayer;
use corvus_protocol::{CacheMode, DriveInfo, DriveInterface, DriveMedia, NicInfo, NicType};
use serde_json::{Map, Value, json};

/// A device's driver and properties, in order. Values are text: QEMU
/// parses them per property on the command line, and every property used
/// live (no `bootindex`) is a string in QMP too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Props {
    pub driver: &'static str,
    pub properties: Vec<(&'static str, String)>,
}

impl Props {
    pub fn new(driver: &'static str) -> Props {
        Props {
            driver,
            properties: Vec::new(),
        }
    }

    pub fn with(mut self, key: &'static str, value: impl Into<String>) -> Props {
        self.properties.push((key, value.into()));
        self
    }

    pub fn with_opt(self, key: &'static str, value: Option<impl Into<String>>) -> Props {
        match value {
            Some(value) => self.with(key, value),
            None => self,
        }
    }

    /// `device_add`'s arguments.
    pub fn to_qmp(&self) -> Value {
        let mut object = Map::new();
        object.insert("driver".into(), self.driver.into());
        for (key, value) in &self.properties {
            object.insert((*key).into(), value.clone().into());
        }
        Value::Object(object)
    }
}

/// The drive's `blockdev-add` arguments (and `-blockdev` JSON): a format
/// node named after the drive over a file node, with the format explicit.
/// `chain` is a Corvus disk's image chain (top first), whose layers are
/// all spelled out; a plain file's qcow2 backing file is left to its header.
pub fn drive_blockdev(drive: &DriveInfo, chain: Option<&[ImageLayer]>) -> Value {
    let read_only = drive.read_only || drive.media == DriveMedia::Cdrom;
    let mut top = match chain.filter(|chain| !chain.is_empty()) {
        Some(chain) => {
            let layers: Vec<Layer<'_>> = chain
                .iter()
                .map(|image| (image.path.as_str(), image.format.as_str()))
                .collect();
            layer(&layers, drive, read_only, true)
        }
        None => layer(
            &[(drive.file_path.as_str(), drive.format.as_str())],
            drive,
            read_only,
            false,
        ),
    };
    if let Some(Value::Object(file)) = top.get_mut("file") {
        file.insert("node-name".into(), drive_file_node(drive.id).into());
    }
    top.insert("node-name".into(), drive_node(drive.id).into());
    Value::Object(top)
}

/// (path, format) of one image.
type Layer<'a> = (&'a str, &'static str);

fn layer(
    chain: &[Layer<'_>],
    drive: &DriveInfo,
    read_only: bool,
    whole_chain: bool,
) -> Map<String, Value> {
    let Some(((path, format), below)) = chain.split_first() else {
        return Map::new();
    };
    let mut file = Map::new();
    file.insert("driver".into(), "file".into());
    file.insert("filename".into(), (*path).into());
    let mut node = Map::new();
    node.insert("driver".into(), (*format).into());
    for fields in [&mut file, &mut node] {
        fields.insert("read-only".into(), read_only.into());
        if let Some(cache) = cache_options(drive.cache) {
            fields.insert("cache".into(), cache);
        }
        if drive.discard && !read_only {
            fields.insert("discard".into(), "unmap".into());
        }
    }
    node.insert("file".into(), Value::Object(file));
    if whole_chain && *format == "qcow2" {
        let backing = if below.is_empty() {
            Value::Null
        } else {
            // Layers below the top are only ever read.
            Value::Object(layer(below, drive, true, true))
        };
        node.insert("backing".into(), backing);
    }
    node
}

fn cache_options(cache: Option<CacheMode>) -> Option<Value> {
    let (direct, no_flush) = match cache? {
        CacheMode::None | CacheMode::Directsync => (true, false),
        CacheMode::Writeback | CacheMode::Writethrough => (false, false),
        CacheMode::Unsafe => (false, true),
    };
    Some(json!({ "direct": direct, "no-flush": no_flush }))
}

/// `write-cache` for the guest device, when the cache mode sets it (as
/// `-drive cache=` would, QEMU's `blockdev_apply_cache_mode`).
pub fn write_cache(cache: Option<CacheMode>) -> Option<&'static str> {
    match cache? {
        CacheMode::Writethrough | CacheMode::Directsync => Some("off"),
        CacheMode::None | CacheMode::Writeback | CacheMode::Unsafe => Some("on"),
    }
}

/// The guest device of a virtio, SCSI or NVMe drive on `bus` (a root
/// port, or the SCSI controller's bus); `None` for the interfaces that
/// have no pluggable device (IDE, SATA, pflash).
pub fn drive_device(drive: &DriveInfo, bus: &str) -> Option<Props> {
    let cdrom = drive.media == DriveMedia::Cdrom;
    let device = match drive.interface {
        DriveInterface::Virtio => Props::new("virtio-blk-pci"),
        DriveInterface::Scsi => Props::new(if cdrom { "scsi-cd" } else { "scsi-hd" }),
        // The serial, derived from the drive id, is stable across boots
        // for /dev/disk/by-id.
        DriveInterface::Nvme => Props::new("nvme").with("serial", format!("corvus-{}", drive.id)),
        DriveInterface::Ide | DriveInterface::Sata | DriveInterface::Pflash => return None,
    };
    Some(
        device
            .with("bus", bus)
            .with("drive", drive_node(drive.id))
            .with("id", drive_device_id(drive.id))
            .with_opt("write-cache", write_cache(drive.cache)),
    )
}

/// `netdev_add`'s arguments for a NIC (QMP's typed `Netdev`): the same
/// backend the command line gives it. `tap` is the managed network's tap
/// for a `network` NIC.
pub fn netdev_add(nic: &NicInfo, managed_tap: &str) -> Value {
    let id = nic_netdev_id(nic.id);
    let host_device = nic.host_device.as_deref().filter(|dev| !dev.is_empty());
    match nic.nic_type {
        NicType::User => {
            let forwards: Vec<Value> = nic
                .forwards
                .iter()
                .map(|forward| {
                    json!({ "str": format!(
                        "{}:{}:{}-:{}",
                        forward.protocol, forward.host_address, forward.host_port, forward.guest_port
                    ) })
                })
                .collect();
            let mut args = json!({ "type": "user", "id": id });
            if !forwards.is_empty() {
                args["hostfwd"] = Value::Array(forwards);
            }
            args
        }
        NicType::Tap => {
            let mut args = json!({ "type": "tap", "id": id, "script": "no", "downscript": "no" });
            if let Some(dev) = host_device {
                args["ifname"] = dev.into();
            }
            args
        }
        NicType::Network => json!({
            "type": "tap", "id": id, "ifname": managed_tap, "script": "no", "downscript": "no"
        }),
        NicType::Bridge => {
            let mut args = json!({ "type": "bridge", "id": id });
            if let Some(dev) = host_device {
                args["br"] = dev.into();
            }
            args
        }
        NicType::Vde => {
            let mut args = json!({ "type": "vde", "id": id });
            if let Some(dev) = host_device {
                args["sock"] = dev.into();
            }
            args
        }
    }
}

/// The guest device of a NIC on `bus`.
pub fn nic_device(nic: &NicInfo, bus: &str) -> Props {
    Props::new("virtio-net-pci")
        .with("netdev", nic_netdev_id(nic.id))
        .with("mac", nic.mac_address.clone())
        .with("id", nic_device_id(nic.id))
        .with("bus", bus)
}
