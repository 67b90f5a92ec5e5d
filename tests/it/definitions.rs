//! VM definitions from the CLI: create, show, edit, devices, delete,
//! validation, scale and persistence across restarts.

use harness::{Daemon, Db};
use serde_json::Value;

fn create_show_edit_delete(db: Db) {
    let Some(daemon) = Daemon::start(db) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let share = dir.path().join("shared dir");
    std::fs::create_dir(&share).unwrap();
    let kernel = dir.path().join("vmlinuz");
    std::fs::write(&kernel, b"not really a kernel").unwrap();
    let kernel = kernel.to_str().unwrap();

    let created = daemon
        .crv(&[
            "vm",
            "create",
            "web",
            "--cpus",
            "2",
            "--ram",
            "512",
            "--description",
            "front end",
            "--display",
            "none",
            "--cpu-model",
            "qemu64",
            "--stop-timeout",
            "30",
            "--restart",
            "on-failure",
            "--max-restarts",
            "3",
            "--restart-window",
            "120",
            "--autostart",
            "--kernel",
            kernel,
            "--cmdline",
            "console=ttyS0 quiet",
        ])
        .ok();
    assert!(created.contains("created VM 'web' (id 1)"), "{created}");
    daemon
        .crv(&[
            "vm",
            "drive",
            "add",
            "web",
            "--file",
            "/var/lib/corvus/a, b/disk one.qcow2",
            "--interface",
            "virtio",
            "--format",
            "qcow2",
            "--cache",
            "none",
            "--discard",
        ])
        .ok();
    daemon
        .crv(&[
            "vm",
            "drive",
            "add",
            "1",
            "--file",
            "/isos/debian.iso",
            "--interface",
            "sata",
            "--media",
            "cdrom",
            "--read-only",
        ])
        .ok();
    let nic = daemon
        .crv(&["vm", "net", "add", "web", "--type", "user"])
        .ok();
    assert!(
        nic.contains("52:54:00:"),
        "the generated MAC is shown: {nic}"
    );
    daemon
        .crv(&[
            "vm",
            "share",
            "add",
            "web",
            "--path",
            share.to_str().unwrap(),
            "--tag",
            "data",
            "--cache",
            "never",
            "--read-only",
        ])
        .ok();

    let vm = daemon.crv(&["--json", "vm", "show", "web"]).json();
    assert_eq!(vm["id"], 1);
    assert_eq!(vm["name"], "web");
    assert_eq!(vm["status"], "stopped");
    assert_eq!(vm["cpu_count"], 2);
    assert_eq!(vm["ram_mb"], 512);
    assert_eq!(vm["description"], "front end");
    assert_eq!(vm["display"], "none");
    assert_eq!(vm["cpu_model"], "qemu64");
    assert_eq!(vm["stop_timeout_secs"], 30);
    assert_eq!(vm["restart_policy"], "on-failure");
    assert_eq!(vm["max_restarts"], 3);
    assert_eq!(vm["restart_window_secs"], 120);
    assert_eq!(vm["autostart"], true);
    assert_eq!(vm["kernel"], kernel);
    assert_eq!(vm["initrd"], Value::Null);
    assert_eq!(vm["cmdline"], "console=ttyS0 quiet");
    assert_eq!(vm["pid"], Value::Null);
    assert_eq!(vm["last_error"], Value::Null);
    assert!(vm["created_at"].as_str().unwrap().ends_with('Z'));
    let drives = vm["drives"].as_array().unwrap();
    assert_eq!(drives.len(), 2);
    assert_eq!(
        drives[0]["file_path"],
        "/var/lib/corvus/a, b/disk one.qcow2"
    );
    assert_eq!(drives[0]["interface"], "virtio");
    assert_eq!(drives[0]["format"], "qcow2");
    assert_eq!(drives[0]["cache"], "none");
    assert_eq!(drives[0]["discard"], true);
    assert_eq!(drives[1]["interface"], "sata");
    assert_eq!(drives[1]["media"], "cdrom");
    assert_eq!(drives[1]["read_only"], true);
    assert_eq!(drives[1]["format"], "raw");
    let nics = vm["network_interfaces"].as_array().unwrap();
    assert_eq!(nics[0]["type"], "user");
    let mac = nics[0]["mac_address"].as_str().unwrap().to_owned();
    assert!(mac.starts_with("52:54:00:") && mac.len() == 17, "{mac}");
    let shares = vm["shared_dirs"].as_array().unwrap();
    assert_eq!(shares[0]["tag"], "data");
    assert_eq!(shares[0]["path"], share.to_str().unwrap());
    assert_eq!(shares[0]["cache"], "never");
    assert_eq!(shares[0]["read_only"], true);
    assert_eq!(shares[0]["pid"], Value::Null);
    let runtime = &vm["runtime"];
    for (key, file) in [
        ("qmp", "qmp.sock"),
        ("monitor", "monitor.sock"),
        ("spice", "spice.sock"),
        ("serial", "serial.sock"),
        ("serial_log", "serial.log"),
    ] {
        let expected = daemon.runtime.join("1").join(file);
        assert_eq!(runtime[key], expected.to_str().unwrap(), "{key}");
    }

    // Long values wrap to fit 80 columns, so compare without whitespace.
    let squeezed = |text: &str| text.split_whitespace().collect::<String>();
    let table = squeezed(&daemon.crv(&["vm", "show", "web"]).ok());
    for needle in [
        "web",
        "stopped",
        "front end",
        "on-failure",
        "/var/lib/corvus/a, b/disk one.qcow2",
        "/isos/debian.iso",
        &mac,
        "data",
        "qmp.sock",
        "monitor.sock",
        "spice.sock",
        "serial.sock",
        "console=ttyS0 quiet",
    ] {
        assert!(
            table.contains(&squeezed(needle)),
            "{needle:?} missing from:\n{table}"
        );
    }
    let list = daemon.crv(&["vm", "list"]).ok();
    assert!(
        list.contains("web") && list.contains("stopped") && list.contains("512 MiB"),
        "{list}"
    );

    let edited = daemon
        .crv(&[
            "--json",
            "vm",
            "edit",
            "web",
            "--cpus",
            "4",
            "--ram",
            "1024",
            "--description",
            "edited",
            "--no-autostart",
        ])
        .json();
    assert_eq!(
        (edited["cpu_count"].as_u64(), edited["ram_mb"].as_u64()),
        (Some(4), Some(1024))
    );
    assert_eq!(edited["description"], "edited");
    assert_eq!(edited["autostart"], false);
    assert_eq!(
        edited["cmdline"], "console=ttyS0 quiet",
        "untouched fields stay"
    );
    let drive_id = drives[0]["id"].as_i64().unwrap().to_string();
    daemon
        .crv(&["vm", "drive", "remove", "web", &drive_id])
        .ok();

    let rows = daemon.stored_vms();
    assert_eq!(rows[0].vm.cpu_count, 4);
    assert_eq!(rows[0].vm.description.as_deref(), Some("edited"));
    assert_eq!(rows[0].drives.len(), 1);
    assert_eq!(rows[0].drives[0].file_path, "/isos/debian.iso");

    let deleted = daemon.crv(&["vm", "delete", "web"]).ok();
    assert!(deleted.contains("deleted VM 'web' (id 1)"), "{deleted}");
    assert!(
        daemon.stored_vms().is_empty(),
        "the VM and its child rows are gone"
    );
    daemon.crv(&["vm", "show", "web"]).fails(1, "no VM named");
    assert_eq!(
        daemon.crv(&["--json", "vm", "list"]).json(),
        serde_json::json!([])
    );
    // The MAC of a deleted VM may be used again.
    daemon
        .crv(&["vm", "create", "web2", "--cpus", "1", "--ram", "64"])
        .ok();
    daemon
        .crv(&[
            "vm",
            "net",
            "add",
            "web2",
            "--type",
            "user",
            "--mac",
            &mac.to_uppercase(),
        ])
        .ok();
}

fn every_validation_error_is_refused_and_changes_nothing(db: Db) {
    let Some(daemon) = Daemon::start(db) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let file = file.to_str().unwrap();
    let missing = dir.path().join("missing");
    let missing = missing.to_str().unwrap();
    let share_dir = dir.path().to_str().unwrap();
    daemon
        .crv(&["vm", "create", "web", "--cpus", "1", "--ram", "128"])
        .ok();
    daemon
        .crv(&[
            "vm",
            "net",
            "add",
            "web",
            "--type",
            "user",
            "--mac",
            "52:54:00:aa:bb:cc",
        ])
        .ok();
    daemon
        .crv(&[
            "vm", "share", "add", "web", "--path", share_dir, "--tag", "data",
        ])
        .ok();
    daemon
        .crv(&["vm", "create", "other", "--cpus", "1", "--ram", "128"])
        .ok();
    let before = daemon.stored_vms();

    let create = |name: &str, extra: &[&str]| {
        let mut args = vec!["vm", "create", name, "--cpus", "1", "--ram", "128"];
        args.extend_from_slice(extra);
        daemon.crv(&args)
    };
    create("", &[]).fails(1, "1 to 64 characters");
    create(&"x".repeat(65), &[]).fails(1, "1 to 64 characters");
    create("web 1", &[]).fails(1, "contains ' '");
    create("wéb", &[]).fails(1, "contains 'é'");
    create("ウェブ", &[]).fails(1, "ASCII letters");
    create("1234", &[]).fails(1, "all digits");
    create("web", &[]).fails(1, "already exists");
    daemon
        .crv(&["vm", "create", "big", "--cpus", "0", "--ram", "128"])
        .fails(1, "--cpus must be between 1 and 256");
    daemon
        .crv(&["vm", "create", "big", "--cpus", "257", "--ram", "128"])
        .fails(1, "--cpus must be between 1 and 256");
    daemon
        .crv(&["vm", "create", "big", "--cpus", "1", "--ram", "15"])
        .fails(1, "between 16 and 4194304");
    daemon
        .crv(&["vm", "create", "big", "--cpus", "1", "--ram", "4194305"])
        .fails(1, "between 16 and 4194304");
    create("x", &["--display", "vnc"]).fails(2, "expected one of spice, none");
    create("x", &["--restart", "sometimes"]).fails(2, "expected one of never, on-failure, always");
    create("x", &["--kernel", missing]).fails(1, "cannot be read");
    create("x", &["--kernel", "relative/vmlinuz"]).fails(1, "absolute path");
    create("x", &["--initrd", file]).fails(1, "--initrd needs --kernel");
    create("x", &["--cmdline", "quiet"]).fails(1, "--cmdline needs --kernel");
    create("x", &["--kernel", file, "--initrd", missing]).fails(1, "initrd");

    let drive = |extra: &[&str]| {
        let mut args = vec!["vm", "drive", "add", "web"];
        args.extend_from_slice(extra);
        daemon.crv(&args)
    };
    drive(&["--file", "disk.img", "--interface", "virtio"]).fails(1, "pass an absolute path");
    drive(&["--file", "/d.img", "--interface", "floppy"])
        .fails(2, "expected one of virtio, ide, sata, scsi, nvme, pflash");
    drive(&[
        "--file",
        "/d.img",
        "--interface",
        "virtio",
        "--format",
        "iso",
    ])
    .fails(2, "expected one of qcow2, raw, vmdk, vdi");
    drive(&[
        "--file",
        "/d.img",
        "--interface",
        "virtio",
        "--media",
        "tape",
    ])
    .fails(2, "expected one of disk, cdrom");
    drive(&[
        "--file",
        "/d.img",
        "--interface",
        "virtio",
        "--cache",
        "fast",
    ])
    .fails(2, "expected one of none, writeback");
    drive(&[
        "--file",
        "/d.iso",
        "--interface",
        "nvme",
        "--media",
        "cdrom",
    ])
    .fails(1, "cannot be a cdrom");

    let nic = |extra: &[&str]| {
        let mut args = vec!["vm", "net", "add", "other"];
        args.extend_from_slice(extra);
        daemon.crv(&args)
    };
    nic(&["--type", "wifi"]).fails(2, "expected one of user, tap, bridge, vde");
    nic(&["--type", "user", "--mac", "52:54:00:zz:00:01"]).fails(1, "malformed");
    nic(&["--type", "user", "--mac", "52:54:00:00:01"]).fails(1, "malformed");
    nic(&["--type", "user", "--mac", "01:00:5e:00:00:01"]).fails(1, "multicast");
    nic(&["--type", "user", "--mac", "52:54:00:AA:BB:CC"]).fails(1, "already used");
    nic(&["--type", "bridge"]).fails(1, "needs --host-device");

    let share = |extra: &[&str]| {
        let mut args = vec!["vm", "share", "add", "web"];
        args.extend_from_slice(extra);
        daemon.crv(&args)
    };
    share(&["--path", share_dir, "--tag", "data"]).fails(1, "already has a share tagged 'data'");
    share(&["--path", missing, "--tag", "new"]).fails(1, "not an existing directory");
    share(&["--path", file, "--tag", "new"]).fails(1, "not a directory");
    share(&["--path", "rel/dir", "--tag", "new"]).fails(1, "absolute path");
    share(&["--path", share_dir, "--tag", "bad tag"]).fails(1, "share tag");
    share(&["--path", share_dir, "--tag", "x", "--cache", "sometimes"])
        .fails(2, "expected one of auto, always, never");

    daemon
        .crv(&["vm", "edit", "web", "--cpus", "300"])
        .fails(1, "--cpus must be between");
    daemon
        .crv(&["vm", "edit", "web"])
        .fails(1, "nothing to change");
    daemon
        .crv(&["vm", "edit", "web", "--initrd", file])
        .fails(1, "--initrd needs --kernel");
    daemon
        .crv(&["vm", "edit", "nope", "--cpus", "2"])
        .fails(1, "no VM named or numbered 'nope'");
    daemon
        .crv(&["vm", "drive", "remove", "web", "999"])
        .fails(1, "has no drive 999");
    daemon
        .crv(&["vm", "net", "remove", "web", "999"])
        .fails(1, "has no network interface 999");
    daemon
        .crv(&["vm", "share", "remove", "web", "999"])
        .fails(1, "has no share 999");
    daemon
        .crv(&["vm", "delete", "999"])
        .fails(1, "no VM named or numbered '999'");

    assert_eq!(
        daemon.stored_vms(),
        before,
        "no refused command changed the database"
    );
}

on_both_databases!(
    create_show_edit_delete,
    every_validation_error_is_refused_and_changes_nothing
);

fn a_thousand_vms_list_in_id_order_and_survive_a_restart(db: Db) {
    let Some(mut daemon) = Daemon::start(db) else {
        return;
    };
    for i in 0..1000 {
        daemon
            .crv(&[
                "vm",
                "create",
                &format!("vm-{i:04}"),
                "--cpus",
                "1",
                "--ram",
                "64",
            ])
            .ok();
    }
    let check = |daemon: &Daemon| {
        let list = daemon.crv(&["--json", "vm", "list"]).json();
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), 1000);
        for (i, vm) in list.iter().enumerate() {
            assert_eq!(vm["id"], i as u64 + 1);
            assert_eq!(vm["name"], format!("vm-{i:04}"));
        }
    };
    check(&daemon);
    daemon.restart();
    check(&daemon);
    let status = daemon.crv(&["--json", "status"]).json();
    assert_eq!(status["vm_count"], 1000);
}

on_both_databases!(a_thousand_vms_list_in_id_order_and_survive_a_restart);

/// What QEMU would refuse at start is refused when the drive is added,
/// with the reason, and nothing is written.
fn drive_checks_run_when_the_drive_is_added(db: Db) {
    let Some(daemon) = Daemon::start(db) else {
        return;
    };
    daemon.create_firmware_vm("web", &[]);
    let drive = |extra: &[&str]| {
        let mut args = vec!["vm", "drive", "add", "web"];
        args.extend_from_slice(extra);
        daemon.crv(&args)
    };
    drive(&["--file", "/d.img", "--interface", "sata", "--read-only"])
        .fails(1, "A read-only sata disk is not possible");
    for unit in ["/code.fd", "/vars.fd"] {
        drive(&["--file", unit, "--interface", "pflash"]).ok();
    }
    drive(&["--file", "/third.fd", "--interface", "pflash"]).fails(1, "At most 2 pflash drives");
    let stored: Vec<String> = daemon.stored_vms()[0]
        .drives
        .iter()
        .map(|d| d.file_path.clone())
        .collect();
    assert_eq!(
        stored,
        ["/code.fd", "/vars.fd"],
        "only the valid drives were written"
    );
}

on_both_databases!(drive_checks_run_when_the_drive_is_added);
