//! More kinds of live change (issue 16): a drive on a Corvus disk (its
//! image chain opened as at a start), a SCSI drive (the controller added on
//! first need) and a tap NIC come and go while the guest runs. The daemon
//! runs in a namespace of its own, where QEMU makes the tap.

use super::hotplug::{WATCHER, added, drive_ids, has, wait_for_guest};
use harness::guest::BOOT_TIMEOUT;
use harness::netns::Netns;
use harness::postgres::wait_until;
use harness::{Daemon, DaemonOptions, Db, Guest};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn a_disk_a_scsi_drive_and_a_tap_come_and_go_while_the_guest_runs() {
    let Some(guest) = Guest::get() else { return };
    let Some(netns) = Netns::create() else { return };
    let netns = Arc::new(netns);
    let options = DaemonOptions {
        netns: Some(netns.clone()),
        ..DaemonOptions::tcg()
    };
    let Some(daemon) = Daemon::start_with(Db::Sqlite, options) else {
        return;
    };
    let images = tempfile::tempdir().expect("tempdir");
    let scsi = images.path().join("scsi, data.raw");
    std::fs::File::create(&scsi)
        .and_then(|file| file.set_len(8 << 20))
        .expect("scsi image");
    let scsi = scsi.display().to_string();
    let boot = images.path().join("boot.raw");
    std::fs::File::create(&boot)
        .and_then(|file| file.set_len(1 << 20))
        .expect("boot image");
    let boot = boot.display().to_string();
    daemon
        .crv(&["disk", "create", "data", "--size", "16M"])
        .ok();
    let id = daemon.create_guest_vm(guest, "kinds", "", &["--hotplug-slots", "3"]);
    // The first drive is the boot disk, which stays while the VM runs.
    let vm = daemon
        .crv(&[
            "--json",
            "vm",
            "drive",
            "add",
            "kinds",
            "--file",
            &boot,
            "--format",
            "raw",
            "--interface",
            "virtio",
        ])
        .json();
    let at_boot = drive_ids(&vm);
    daemon.crv(&["vm", "start", "kinds"]).ok();
    daemon.wait_for_serial(id, "GUEST READY", BOOT_TIMEOUT);
    daemon
        .crv_with_input(&["vm", "console", "kinds"], WATCHER)
        .ok();

    // A Corvus disk, attached live like a file; the same disk twice is refused.
    let add_disk = || {
        daemon.crv(&[
            "--json",
            "vm",
            "drive",
            "add",
            "kinds",
            "--disk",
            "data",
            "--interface",
            "virtio",
        ])
    };
    let vm = add_disk().json();
    let disk_drive = added(&at_boot, &drive_ids(&vm));
    assert!(vm["drives"][1]["disk_id"].as_i64().is_some(), "{vm:#}");
    wait_for_guest(&daemon, id, "the disk's drive", |blocks, _| {
        has(blocks, "vdb")
    });
    add_disk().fails(1, "already has");

    // A SCSI drive: the controller comes with the first one.
    let before = drive_ids(&vm);
    let vm = daemon
        .crv(&[
            "--json",
            "vm",
            "drive",
            "add",
            "kinds",
            "--file",
            &scsi,
            "--format",
            "raw",
            "--interface",
            "scsi",
        ])
        .json();
    let scsi_drive = added(&before, &drive_ids(&vm));
    wait_for_guest(&daemon, id, "the SCSI drive", |blocks, _| {
        has(blocks, "sda")
    });

    // A tap NIC: QEMU makes the link, the guest gets the device.
    let vm = daemon
        .crv(&[
            "--json",
            "vm",
            "net",
            "add",
            "kinds",
            "--type",
            "tap",
            "--host-device",
            "kindstap0",
        ])
        .json();
    let nic = vm["network_interfaces"][0]["id"].as_i64().expect("a NIC");
    wait_for_guest(&daemon, id, "the tap NIC", |_, nets| has(nets, "eth0"));
    assert!(netns.link("kindstap0").is_some(), "QEMU made the tap");

    // All three go again; the tap with them.
    for drive in [disk_drive, scsi_drive] {
        daemon
            .crv(&["vm", "drive", "remove", "kinds", &drive.to_string()])
            .ok();
    }
    daemon
        .crv(&["vm", "net", "remove", "kinds", &nic.to_string()])
        .ok();
    wait_for_guest(&daemon, id, "the devices go", |blocks, nets| {
        !has(blocks, "vdb") && !has(blocks, "sda") && !has(nets, "eth0")
    });
    assert!(
        wait_until(Duration::from_secs(10), || netns
            .link("kindstap0")
            .is_none()),
        "the tap goes with its NIC"
    );
    let vm = daemon.crv(&["--json", "vm", "show", "kinds"]).json();
    assert_eq!(drive_ids(&vm), at_boot, "{vm:#}");
    // The disk is free again: attached once more.
    add_disk().ok();
    wait_for_guest(&daemon, id, "the disk's drive again", |blocks, _| {
        has(blocks, "vdb")
    });
}
