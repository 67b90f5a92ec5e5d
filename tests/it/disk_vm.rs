//! VMs on disks, booting the test guest under TCG: `vm create --image`
//! boots with its root overlay, the guest writes a marker to it and the
//! base image stays as it was; an offline snapshot brings a marker back.

use harness::disks::{have_qemu_img, run, sector_line, sha256};
use harness::guest::{BASE_CMDLINE, BOOT_TIMEOUT};
use harness::{Daemon, DaemonOptions, Db, Guest};
use std::time::Duration;

/// Boots the VM, waits for the guest's disk line, and powers it off.
#[track_caller]
fn boot_once(daemon: &Daemon, vm: &str, id: i64, expect: &str) {
    daemon.crv(&["vm", "start", vm]).ok();
    daemon.wait_for_serial(id, "GUEST READY", BOOT_TIMEOUT);
    let log = daemon.serial_log(id);
    assert!(
        log.contains(expect),
        "expected {expect:?} on the console:\n{log}"
    );
    daemon.crv(&["vm", "stop", vm, "--wait"]).ok();
    daemon.wait_for_state(vm, "stopped", Duration::from_secs(30));
}

fn a_vm_from_an_image_boots_writes_its_overlay_and_reverts(db: Db) {
    if !have_qemu_img() {
        return;
    }
    let Some(guest) = Guest::get() else { return };
    let Some(daemon) = Daemon::start_with(db, DaemonOptions::tcg()) else {
        return;
    };
    // The base image: sector 1 says who it is.
    let image = daemon.dir.path().join("guest-base.raw");
    let mut bytes = vec![0u8; 8 << 20];
    bytes[512..512 + 12].copy_from_slice(b"CORVUS-BASE\n");
    std::fs::write(&image, bytes).unwrap();
    daemon
        .crv(&["disk", "import", "guest-base", image.to_str().unwrap()])
        .ok();
    let base_path = daemon.disk_path("guest-base");
    let base_digest = sha256(std::path::Path::new(&base_path));

    let mut args = guest.create_args("g", "corvus.mark=FIRST-MARK");
    args.extend(["--image", "guest-base", "--disk-size", "16M", "--json"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let vm = daemon.crv(&args).json();
    let id = vm["id"].as_i64().unwrap();
    let drive = &vm["drives"][0];
    assert_eq!(
        (drive["interface"].as_str(), drive["format"].as_str()),
        (Some("virtio"), Some("qcow2"))
    );
    let root = daemon.disk("g-root");
    assert_eq!(drive["disk_id"], root["id"]);
    assert_eq!(root["virtual_size"].as_u64(), Some(16 << 20));
    assert_eq!(root["backing_chain"], serde_json::json!(["guest-base"]));

    // The overlay reads through to the base; the guest writes its marker.
    let root_path = daemon.disk_path("g-root");
    let scratch = daemon.dir.path();
    assert_eq!(sector_line(&root_path, "qcow2", scratch), "CORVUS-BASE");
    boot_once(&daemon, "g", id, "DISK MARKED FIRST-MARK");
    assert_eq!(sector_line(&root_path, "qcow2", scratch), "FIRST-MARK");
    assert_eq!(sector_line(&base_path, "qcow2", scratch), "CORVUS-BASE");
    assert_eq!(
        sha256(std::path::Path::new(&base_path)),
        base_digest,
        "the base is unchanged"
    );
    // QEMU was given the chain, formats and all.
    let qemu_log = std::fs::read_to_string(daemon.runtime.join(id.to_string()).join("qemu.log"))
        .unwrap_or_default();
    assert!(!qemu_log.contains("probing"), "{qemu_log}");

    // Offline snapshot: take it, change the marker, revert, boot: it is back.
    daemon
        .crv(&["disk", "snapshot", "create", "g-root", "first"])
        .ok();
    let cmdline = format!("{BASE_CMDLINE} corvus.mark=SECOND-MARK");
    daemon.crv(&["vm", "edit", "g", "--cmdline", &cmdline]).ok();
    boot_once(&daemon, "g", id, "DISK MARKED SECOND-MARK");
    assert_eq!(sector_line(&root_path, "qcow2", scratch), "SECOND-MARK");
    daemon
        .crv(&["disk", "snapshot", "revert", "g-root", "first"])
        .ok();
    daemon
        .crv(&["vm", "edit", "g", "--cmdline", BASE_CMDLINE])
        .ok();
    boot_once(&daemon, "g", id, "DISK SAYS FIRST-MARK");

    // In use: neither the base nor the root can go while the VM is defined.
    daemon
        .crv(&["disk", "delete", "g-root"])
        .fails(1, "in use by VM 'g'");
    daemon
        .crv(&["disk", "delete", "guest-base"])
        .fails(1, "backs them");
    let deleted = daemon
        .crv(&["--json", "vm", "delete", "g", "--with-disks"])
        .json();
    assert_eq!(deleted["deleted"]["disks"], serde_json::json!(["g-root"]));
    assert!(!std::path::Path::new(&root_path).exists());
    assert_eq!(daemon.disk_names(), ["guest-base"]);
    run("qemu-img", &["check", "-U", "-f", "qcow2", &base_path]);
}

on_both_databases!(a_vm_from_an_image_boots_writes_its_overlay_and_reverts);

fn a_failed_vm_create_from_an_image_leaves_nothing(db: Db) {
    if !have_qemu_img() {
        return;
    }
    let Some(daemon) = Daemon::start(db) else {
        return;
    };
    daemon.crv(&["disk", "create", "base", "--size", "2M"]).ok();
    daemon.create_firmware_vm("taken", &[]);
    let create = |name: &str, extra: &[&str]| {
        let mut args = vec![
            "vm", "create", name, "--cpus", "1", "--ram", "64", "--image", "base",
        ];
        args.extend_from_slice(extra);
        daemon.crv(&args)
    };
    create("taken", &[]).fails(1, "a VM named 'taken' already exists");
    create("small", &["--disk-size", "1M"]).fails(1, "at least the image's size");
    create("bad", &["--kernel", "/nonexistent/vmlinuz"]).fails(1, "vmlinuz");
    daemon
        .crv(&[
            "vm", "create", "ghost", "--cpus", "1", "--ram", "64", "--image", "nope",
        ])
        .fails(1, "no disk named or numbered 'nope'");
    assert_eq!(daemon.disk_names(), ["base"]);
    assert_eq!(daemon.disk_files().len(), 1);
    let vms = daemon.crv(&["--json", "vm", "list"]).json();
    assert_eq!(vms.as_array().unwrap().len(), 1, "{vms}");

    // Overlays only read their base: VMs made from one image at once all succeed.
    std::thread::scope(|scope| {
        let runs: Vec<_> = (0..4)
            .map(|n| scope.spawn(move || create(&format!("many-{n}"), &[])))
            .collect();
        for run in runs {
            run.join().unwrap().ok();
        }
    });
    assert_eq!(daemon.disk_names().len(), 5, "{:?}", daemon.disk_names());
}

on_both_databases!(a_failed_vm_create_from_an_image_leaves_nothing);
