//! Drives: one `-blockdev` each (node `drive<id>` over `drive<id>-file`,
//! see [`crate::hotplug`]), plus the guest-visible device `disk<id>`.
//!
//! - `virtio` → `virtio-blk-pci`, on a PCIe root port of its own so that
//!   it can be unplugged while the VM runs.
//! - `ide` and `sata` → the q35 built-in AHCI controller (buses `ide.0` to
//!   `ide.5`; q35 has no `if=sata`, both words mean the same ports), ports
//!   allocated in definition order; a seventh drive gets an extra `ich9-ahci`
//!   controller rather than an error.
//! - `scsi` → one shared `virtio-scsi-pci` controller (on its own root port).
//! - `nvme` → an `nvme` controller per drive (on its own root port) with a
//!   serial derived from the drive id, stable across boots for
//!   `/dev/disk/by-id`.
//! - `pflash` → `if=pflash` units in definition order (firmware code, then
//!   variables).
//!
//! A `cdrom` drive is always read-only; on interfaces without CD-ROM devices
//! (virtio, nvme, pflash) it becomes a read-only disk. Bootable devices get a
//! `bootindex` in definition order, starting at 1 (0 belongs to a `-kernel`).

use super::blockdev::DriveImages;
use super::opts::{Args, Opts};
use super::render;
use crate::hotplug::{self, PortAllocator, SCSI_CONTROLLER, port_of};
use corvus_protocol::{DriveInfo, DriveInterface, DriveMedia};
use std::ffi::OsString;

/// Ports per AHCI controller (ICH9 has six).
const AHCI_PORTS: usize = 6;

pub(super) fn add(
    args: &mut Args,
    drives: &[DriveInfo],
    images: &DriveImages,
    ports: &mut PortAllocator,
) {
    let mut slots = Slots::default();
    for drive in drives {
        if drive.interface == DriveInterface::Pflash {
            pflash(args, drive, &mut slots);
            continue;
        }
        let chain = images.get(&drive.id).map(Vec::as_slice);
        args.pair(
            "-blockdev",
            hotplug::drive_blockdev(drive, chain).to_string(),
        );
        if let Some(device) = device(args, drive, &mut slots, ports) {
            args.pair("-device", device.set("bootindex", slots.next_boot()));
        }
    }
}

/// Counters shared by the drives of one VM.
#[derive(Default)]
struct Slots {
    ahci: usize,
    pflash: usize,
    boot: usize,
    scsi_controller: bool,
}

impl Slots {
    fn next_boot(&mut self) -> String {
        self.boot += 1;
        self.boot.to_string()
    }
}

fn pflash(args: &mut Args, drive: &DriveInfo, slots: &mut Slots) {
    let read_only = drive.read_only || drive.media == DriveMedia::Cdrom;
    let backend = Opts::new("")
        .set("if", "pflash")
        .set("unit", slots.pflash.to_string())
        .set("file", file_value(&drive.file_path))
        .set("format", drive.format.as_str())
        .set_if(read_only, "readonly", "on")
        .set_opt("cache", drive.cache.map(|cache| cache.as_str()))
        .set_if(drive.discard, "discard", "unmap");
    slots.pflash += 1;
    args.pair("-drive", backend);
}

/// QEMU reads `name:` at the start of a relative file name as a protocol
/// (`nbd:`, `http:`); `./` keeps a relative path a path.
fn file_value(path: &str) -> OsString {
    if path.starts_with('/') {
        path.into()
    } else {
        format!("./{path}").into()
    }
}

/// The guest device for a drive, adding controllers and ports on first need.
fn device(
    args: &mut Args,
    drive: &DriveInfo,
    slots: &mut Slots,
    ports: &mut PortAllocator,
) -> Option<Opts> {
    let device_id = hotplug::drive_device_id(drive.id);
    let bus = match drive.interface {
        DriveInterface::Virtio | DriveInterface::Nvme => {
            let port = port_of(&device_id);
            args.pair("-device", render(&ports.next(&port)));
            port
        }
        DriveInterface::Scsi => {
            if !slots.scsi_controller {
                slots.scsi_controller = true;
                let port = port_of(SCSI_CONTROLLER);
                args.pair("-device", render(&ports.next(&port)));
                args.pair(
                    "-device",
                    format!("virtio-scsi-pci,id={SCSI_CONTROLLER},bus={port}"),
                );
            }
            format!("{SCSI_CONTROLLER}.0")
        }
        DriveInterface::Ide | DriveInterface::Sata | DriveInterface::Pflash => {
            let cdrom = drive.media == DriveMedia::Cdrom;
            let port = slots.ahci;
            slots.ahci += 1;
            let (controller, slot) = (port / AHCI_PORTS, port % AHCI_PORTS);
            if controller > 0 && slot == 0 {
                args.pair("-device", format!("ich9-ahci,id=ahci{controller}"));
            }
            let bus = match controller {
                0 => format!("ide.{slot}"),
                n => format!("ahci{n}.{slot}"),
            };
            return Some(
                Opts::new(if cdrom { "ide-cd" } else { "ide-hd" })
                    .set("bus", bus)
                    .set("drive", hotplug::drive_node(drive.id))
                    .set("id", device_id)
                    .set_opt("write-cache", hotplug::write_cache(drive.cache)),
            );
        }
    };
    hotplug::drive_device(drive, &bus).map(|props| super::opts_of(&props))
}
