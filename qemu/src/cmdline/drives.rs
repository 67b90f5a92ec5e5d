//! Drives: one backend each, plus the guest-visible device. A drive on a
//! Corvus disk gets a `-blockdev` with its whole image chain (see
//! [`super::blockdev`]); a plain file gets `-drive` with its format.
//!
//! - `virtio` → `virtio-blk-pci`.
//! - `ide` and `sata` → the q35 built-in AHCI controller (buses `ide.0` to
//!   `ide.5`; q35 has no `if=sata`, both words mean the same ports), ports
//!   allocated in definition order; a seventh drive gets an extra `ich9-ahci`
//!   controller rather than an error.
//! - `scsi` → one shared `virtio-scsi-pci` controller.
//! - `nvme` → an `nvme` controller per drive with a serial derived from the
//!   drive id, stable across boots for `/dev/disk/by-id`.
//! - `pflash` → `if=pflash` units in definition order (firmware code, then
//!   variables).
//!
//! A `cdrom` drive is always read-only; on interfaces without CD-ROM devices
//! (virtio, nvme, pflash) it becomes a read-only disk. Bootable devices get a
//! `bootindex` in definition order, starting at 1 (0 belongs to a `-kernel`).

use super::blockdev::{self, DriveImages};
use super::opts::{Args, Opts};
use corvus_protocol::{DriveInfo, DriveInterface, DriveMedia};
use std::ffi::OsString;

/// Ports per AHCI controller (ICH9 has six).
const AHCI_PORTS: usize = 6;

pub(super) fn add(args: &mut Args, drives: &[DriveInfo], images: &DriveImages) {
    let mut slots = Slots::default();
    for drive in drives {
        let chain = images.get(&drive.id).filter(|chain| !chain.is_empty());
        if let (Some(chain), false) = (chain, drive.interface == DriveInterface::Pflash) {
            args.pair(
                "-blockdev",
                blockdev::blockdev(drive, &node_name(drive), chain),
            );
            if let Some(device) = device(args, drive, &mut slots) {
                let device = device.set_opt("write-cache", blockdev::write_cache(drive.cache));
                args.pair("-device", device);
            }
            continue;
        }
        let read_only = drive.read_only || drive.media == DriveMedia::Cdrom;
        let backend = match drive.interface {
            DriveInterface::Pflash => Opts::new("")
                .set("if", "pflash")
                .set("unit", slots.pflash.to_string()),
            _ => Opts::new("").set("if", "none").set("id", node_name(drive)),
        }
        .set("file", file_value(&drive.file_path))
        .set("format", drive.format.as_str())
        .set_if(read_only, "readonly", "on")
        .set_opt("cache", drive.cache.map(|cache| cache.as_str()))
        .set_if(drive.discard, "discard", "unmap");
        args.pair("-drive", backend);
        if let Some(device) = device(args, drive, &mut slots) {
            args.pair("-device", device);
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

fn node_name(drive: &DriveInfo) -> String {
    format!("drive{}", drive.id)
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

/// The guest device for a drive, adding controllers on first need.
fn device(args: &mut Args, drive: &DriveInfo, slots: &mut Slots) -> Option<Opts> {
    let cdrom = drive.media == DriveMedia::Cdrom;
    let device = match drive.interface {
        DriveInterface::Pflash => {
            slots.pflash += 1;
            return None;
        }
        DriveInterface::Virtio => Opts::new("virtio-blk-pci"),
        DriveInterface::Ide | DriveInterface::Sata => {
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
            Opts::new(if cdrom { "ide-cd" } else { "ide-hd" }).set("bus", bus)
        }
        DriveInterface::Scsi => {
            if !slots.scsi_controller {
                slots.scsi_controller = true;
                args.pair("-device", "virtio-scsi-pci,id=scsi0");
            }
            Opts::new(if cdrom { "scsi-cd" } else { "scsi-hd" }).set("bus", "scsi0.0")
        }
        DriveInterface::Nvme => Opts::new("nvme").set("serial", format!("corvus-{}", drive.id)),
    };
    Some(
        device
            .set("drive", node_name(drive))
            .set("id", format!("disk{}", drive.id))
            .set("bootindex", slots.next_boot()),
    )
}
