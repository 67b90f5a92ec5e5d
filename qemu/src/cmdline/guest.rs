//! What a cloud guest gets beyond its definition's devices:
//!
//! - the cloud-init seed (`seed.img` in the runtime directory, written by
//!   the daemon before each start) as a read-only virtio disk without a
//!   boot index, found by cloud-init through its `CIDATA` label, on a root
//!   port after the drives' so that it never comes before the boot disk;
//! - the QEMU guest agent's channel: a virtio-serial port named
//!   `org.qemu.guest_agent.0` (the name qemu-ga's udev rule waits for) on a
//!   `qga.sock` chardev the daemon connects to. It has a controller of its
//!   own, so it does not depend on the display's.

use super::opts::{Args, Opts};
use super::render;
use crate::hotplug::{PortAllocator, port_of};
use crate::paths::VmPaths;
use corvus_protocol::VmInfo;

pub(super) fn add(args: &mut Args, vm: &VmInfo, paths: &VmPaths, ports: &mut PortAllocator) {
    if vm.cloud_init.is_some() {
        args.pair(
            "-drive",
            Opts::new("")
                .set("if", "none")
                .set("id", "seed")
                .set("file", &paths.seed)
                .set("format", "raw")
                .set("readonly", "on"),
        );
        // On a root port after the drives' ports: the guest numbers disks
        // in bus order, and the boot disk must stay the first (`vda`).
        let port = port_of("seed-disk");
        args.pair("-device", render(&ports.next(&port)));
        args.pair(
            "-device",
            format!("virtio-blk-pci,drive=seed,id=seed-disk,bus={port}"),
        );
    }
    if vm.guest_agent {
        args.pair(
            "-chardev",
            Opts::new("socket")
                .set("id", "qga0")
                .set("path", &paths.qga)
                .set("server", "on")
                .set("wait", "off"),
        );
        args.pair("-device", "virtio-serial-pci,id=qgaser");
        args.pair(
            "-device",
            "virtserialport,bus=qgaser.0,chardev=qga0,name=org.qemu.guest_agent.0",
        );
    }
}
