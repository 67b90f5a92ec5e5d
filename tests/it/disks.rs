//! `crv disk` on real qemu-img: what each command leaves on disk, checked
//! with qemu-img itself, and every refusal of issue 14's "Bad input" list.

use harness::disks::{have_qemu_img, img_info, run};
use harness::{Daemon, Db};

fn create_overlay_clone_resize_delete(db: Db) {
    if !have_qemu_img() {
        return;
    }
    let Some(daemon) = Daemon::start(db) else {
        return;
    };
    let created = daemon
        .crv(&["--json", "disk", "create", "base", "--size", "64M"])
        .json();
    assert_eq!(created["format"], "qcow2");
    assert_eq!(created["managed"], true);
    let base = daemon.disk_path("base");
    assert!(
        base.starts_with(daemon.data_dir().join("disks").to_str().unwrap()),
        "{base}"
    );
    assert!(
        !base.contains("base"),
        "paths never come from names: {base}"
    );
    let info = img_info(&base);
    assert_eq!(
        (info["format"].as_str(), info["virtual-size"].as_u64()),
        (Some("qcow2"), Some(64 << 20))
    );
    let mode = std::fs::metadata(daemon.data_dir().join("disks")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o700
    );

    daemon
        .crv(&[
            "disk", "create", "scratch", "--size", "1048576", "--format", "raw",
        ])
        .ok();
    let info = img_info(&daemon.disk_path("scratch"));
    assert_eq!(
        (info["format"].as_str(), info["virtual-size"].as_u64()),
        (Some("raw"), Some(1 << 20))
    );

    // An overlay: thin, on the base, with the base's format in its header.
    daemon
        .crv(&["disk", "overlay", "thin", "--backing", "base"])
        .ok();
    let thin = daemon.disk("thin");
    assert_eq!(thin["backing_chain"], serde_json::json!(["base"]));
    let info = img_info(thin["path"].as_str().unwrap());
    assert_eq!(info["backing-filename"].as_str(), Some(base.as_str()));
    assert_eq!(info["backing-filename-format"], "qcow2");

    // Data written into the overlay, then a clone: independent and equal.
    let thin_path = thin["path"].as_str().unwrap().to_owned();
    run(
        "qemu-io",
        &["-f", "qcow2", "-c", "write -P 0x5a 1M 64k", &thin_path],
    );
    let clone = daemon
        .crv(&["--json", "disk", "clone", "copy", "thin"])
        .json();
    let copy_path = clone["path"].as_str().unwrap().to_owned();
    let info = img_info(&copy_path);
    assert_eq!(info["backing-filename"], serde_json::Value::Null, "{info}");
    run(
        "qemu-img",
        &[
            "compare", "-U", "-f", "qcow2", "-F", "qcow2", &thin_path, &copy_path,
        ],
    );

    // Resize: grow; shrink only with --shrink.
    daemon.crv(&["disk", "resize", "copy", "128M"]).ok();
    assert_eq!(
        img_info(&copy_path)["virtual-size"].as_u64(),
        Some(128 << 20)
    );
    assert_eq!(
        daemon.disk("copy")["virtual_size"].as_u64(),
        Some(128 << 20)
    );
    daemon
        .crv(&["disk", "resize", "copy", "96M"])
        .fails(1, "pass --shrink");
    daemon
        .crv(&["disk", "resize", "copy", "96M", "--shrink"])
        .ok();
    assert_eq!(
        img_info(&copy_path)["virtual-size"].as_u64(),
        Some(96 << 20)
    );
    daemon
        .crv(&["disk", "resize", "base", "32M", "--shrink"])
        .fails(1, "disk 'thin'");

    // Delete: refused for a base, the file goes with a managed disk,
    // --keep-file keeps it, a registered file always stays.
    daemon
        .crv(&["disk", "delete", "base"])
        .fails(1, "backs them");
    daemon.crv(&["disk", "delete", "copy"]).ok();
    assert!(!std::path::Path::new(&copy_path).exists());
    daemon.crv(&["disk", "delete", "thin", "--keep-file"]).ok();
    assert!(std::path::Path::new(&thin_path).exists());
    std::fs::remove_file(&thin_path).unwrap();
    let outside = daemon.dir.path().join("outside.raw");
    run(
        "qemu-img",
        &["create", "-q", "-f", "raw", outside.to_str().unwrap(), "1M"],
    );
    let registered = daemon
        .crv(&[
            "--json",
            "disk",
            "register",
            "ext",
            outside.to_str().unwrap(),
        ])
        .json();
    assert_eq!(
        (
            registered["managed"].as_bool(),
            registered["format"].as_str()
        ),
        (Some(false), Some("raw"))
    );
    daemon.crv(&["disk", "delete", "ext"]).ok();
    assert!(outside.exists(), "a registered file is never deleted");
    daemon.crv(&["disk", "delete", "base"]).ok();
    daemon.crv(&["disk", "delete", "scratch"]).ok();
    assert_eq!(daemon.disk_names(), Vec::<String>::new());
    assert_eq!(daemon.disk_files(), Vec::<std::path::PathBuf>::new());

    // Offline snapshots: create, list, revert, delete.
    daemon.crv(&["disk", "create", "snap", "--size", "1M"]).ok();
    let path = daemon.disk_path("snap");
    run(
        "qemu-io",
        &["-f", "qcow2", "-c", "write -P 0x11 0 4k", &path],
    );
    daemon
        .crv(&["disk", "snapshot", "create", "snap", "before"])
        .ok();
    daemon
        .crv(&["disk", "snapshot", "create", "snap", "before"])
        .fails(1, "already has a snapshot 'before'");
    run(
        "qemu-io",
        &["-f", "qcow2", "-c", "write -P 0x22 0 4k", &path],
    );
    let listed = daemon
        .crv(&["--json", "disk", "snapshot", "list", "snap"])
        .json();
    assert_eq!(listed[0]["name"], "before", "{listed}");
    daemon
        .crv(&["disk", "snapshot", "revert", "snap", "before"])
        .ok();
    run(
        "qemu-io",
        &["-f", "qcow2", "-c", "read -P 0x11 0 4k", &path],
    );
    daemon
        .crv(&["disk", "snapshot", "revert", "snap", "nope"])
        .fails(1, "has no snapshot 'nope'");
    daemon
        .crv(&["disk", "snapshot", "delete", "snap", "before"])
        .ok();
    assert_eq!(img_info(&path)["snapshots"], serde_json::Value::Null);
}

on_both_databases!(create_overlay_clone_resize_delete);

fn bad_input_is_refused_and_leaves_nothing(db: Db) {
    if !have_qemu_img() {
        return;
    }
    let Some(daemon) = Daemon::start(db) else {
        return;
    };
    daemon
        .crv(&["disk", "show", "ghost"])
        .fails(1, "no disk named or numbered 'ghost'");
    daemon
        .crv(&["disk", "delete", "ghost"])
        .fails(1, "no disk named");
    daemon
        .crv(&["disk", "overlay", "o", "--backing", "ghost"])
        .fails(1, "no disk named");
    daemon.crv(&["disk", "create", "a", "--size", "1M"]).ok();
    daemon
        .crv(&["disk", "create", "a", "--size", "1M"])
        .fails(1, "a disk named 'a' already exists");
    daemon
        .crv(&["disk", "create", "z", "--size", "0"])
        .fails(1, "larger than 0");
    daemon
        .crv(&["disk", "create", "huge", "--size", "1000000T"])
        .fails(1, "not enough free space");
    daemon
        .crv(&["disk", "create", "../evil", "--size", "1M"])
        .fails(1, "contains '/'");
    daemon
        .crv(&["disk", "create", "x", "--size", "12Q"])
        .fails(2, "unknown size unit");
    daemon
        .crv(&["disk", "resize", "a", "0"])
        .fails(1, "larger than 0");
    daemon
        .crv(&["disk", "resize", "a", "1000000T"])
        .fails(1, "not enough free space");
    assert_eq!(daemon.disk("a")["virtual_size"].as_u64(), Some(1 << 20));
    // Registered files: relative paths, non-images and backing loops.
    daemon
        .crv(&["disk", "register", "r", "disk.img"])
        .fails(1, "not an absolute path");
    let dir = daemon.dir.path();
    let (a, b) = (dir.join("a.qcow2"), dir.join("b.qcow2"));
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    run("qemu-img", &["create", "-q", "-f", "qcow2", a, "1M"]);
    run(
        "qemu-img",
        &["create", "-q", "-f", "qcow2", "-b", a, "-F", "qcow2", b],
    );
    daemon
        .crv(&["disk", "register", "top", b])
        .fails(1, "register that file first");
    run("qemu-img", &["rebase", "-u", "-b", b, "-F", "qcow2", a]);
    daemon
        .crv(&["disk", "register", "loop", b])
        .fails(1, "infinite loop");
    assert_eq!(daemon.disk_names(), ["a"]);
    assert_eq!(daemon.disk_files().len(), 1, "{:?}", daemon.disk_files());
}

on_both_databases!(bad_input_is_refused_and_leaves_nothing);

fn disks_in_use_are_refused(db: Db) {
    if !have_qemu_img() {
        return;
    }
    let Some(daemon) = Daemon::start(db) else {
        return;
    };
    daemon.crv(&["disk", "create", "base", "--size", "1M"]).ok();
    daemon
        .crv(&["disk", "overlay", "root", "--backing", "base"])
        .ok();
    daemon.create_firmware_vm("fw", &[]);
    daemon
        .crv(&[
            "vm",
            "drive",
            "add",
            "fw",
            "--disk",
            "root",
            "--interface",
            "virtio",
        ])
        .ok();
    let drive = &daemon.show("fw")["drives"][0];
    assert_eq!(drive["disk_id"], daemon.disk("root")["id"]);
    assert_eq!(drive["format"], "qcow2");

    // A definition uses it: no delete, no shrink.
    daemon
        .crv(&["disk", "delete", "root"])
        .fails(1, "in use by VM 'fw'");
    daemon
        .crv(&["disk", "resize", "root", "512K", "--shrink"])
        .fails(1, "in use by VM 'fw'");
    let users = daemon.disk("base")["used_by"].clone();
    assert_eq!(
        users,
        serde_json::json!([{"vm_id": 1, "vm_name": "fw", "direct": false}])
    );

    // A running VM: no snapshot, no resize, not even of the base under it.
    daemon.crv(&["vm", "start", "fw"]).ok();
    daemon
        .crv(&["disk", "snapshot", "create", "root", "s"])
        .fails(1, "(running)");
    daemon
        .crv(&["disk", "snapshot", "create", "base", "s"])
        .fails(1, "running, through an overlay");
    daemon
        .crv(&["disk", "resize", "root", "2M"])
        .fails(1, "stop the VM first");
    daemon.crv(&["vm", "reset", "fw"]).ok();
    daemon
        .crv(&["disk", "snapshot", "create", "root", "s"])
        .ok();

    // A plain --file drive on a disk's path counts too.
    daemon.create_firmware_vm("plain", &[]);
    let base_path = daemon.disk_path("base");
    daemon
        .crv(&[
            "vm",
            "drive",
            "add",
            "plain",
            "--file",
            &base_path,
            "--interface",
            "virtio",
            "--format",
            "qcow2",
        ])
        .ok();
    daemon
        .crv(&["disk", "delete", "root"])
        .fails(1, "in use by VM 'fw'");
    daemon
        .crv(&[
            "vm",
            "drive",
            "add",
            "fw",
            "--disk",
            "ghost",
            "--interface",
            "virtio",
        ])
        .fails(1, "no disk named");

    // A disk file deleted behind Corvus's back: show says so, start names it.
    std::fs::remove_file(daemon.disk_path("root")).unwrap();
    let shown = daemon.disk("root");
    assert!(
        shown["problem"].as_str().unwrap().contains("missing"),
        "{shown}"
    );
    daemon
        .crv(&["vm", "start", "fw"])
        .fails(1, "the file of disk 'root' (drive 1) is missing");

    // --with-disks deletes what only that VM used, and keeps the base.
    daemon.crv(&["vm", "reset", "fw"]).ok();
    let deleted = daemon
        .crv(&["--json", "vm", "delete", "fw", "--with-disks"])
        .json();
    assert_eq!(deleted["deleted"]["disks"], serde_json::json!(["root"]));
    assert_eq!(daemon.disk_names(), ["base"]);
    daemon
        .crv(&["disk", "delete", "base"])
        .fails(1, "in use by VM 'plain'");
}

on_both_databases!(disks_in_use_are_refused);

/// A plain qcow2 drive whose header names a backing file without its
/// format would make QEMU guess the format: the start is refused.
fn a_plain_qcow2_with_an_unformatted_backing_file_is_refused(db: Db) {
    if !have_qemu_img() {
        return;
    }
    let Some(daemon) = Daemon::start(db) else {
        return;
    };
    let dir = daemon.dir.path();
    let (base, top) = (dir.join("base.raw"), dir.join("top.qcow2"));
    let (base, top) = (base.to_str().unwrap(), top.to_str().unwrap());
    run("qemu-img", &["create", "-q", "-f", "raw", base, "1M"]);
    run(
        "qemu-img",
        &["create", "-q", "-f", "qcow2", "-b", base, "-F", "raw", top],
    );
    // Hide the backing format (a header extension, magic 0xe2792aca) as
    // old tools wrote images; qemu-img 7.2 will not write one without it.
    let mut bytes = std::fs::read(top).unwrap();
    let at = bytes
        .windows(4)
        .position(|w| w == [0xe2, 0x79, 0x2a, 0xca])
        .expect("a backing format extension");
    bytes[at..at + 4].copy_from_slice(&[0x0b, 0xad, 0xf0, 0x0d]);
    std::fs::write(top, bytes).unwrap();
    assert_eq!(
        img_info(top)["backing-filename-format"],
        serde_json::Value::Null
    );
    daemon.create_firmware_vm("fw", &[]);
    daemon
        .crv(&[
            "vm",
            "drive",
            "add",
            "fw",
            "--file",
            top,
            "--format",
            "qcow2",
            "--interface",
            "virtio",
        ])
        .ok();
    daemon
        .crv(&["vm", "start", "fw"])
        .fails(1, "without a format, and QEMU would have to guess it");
    daemon.crv(&["vm", "reset", "fw"]).ok();
    run("qemu-img", &["rebase", "-u", "-F", "raw", "-b", base, top]);
    daemon.crv(&["vm", "start", "fw"]).ok();
}

on_both_databases!(a_plain_qcow2_with_an_unformatted_backing_file_is_refused);
