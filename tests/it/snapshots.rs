//! VM snapshots (issue 16): `crv vm snapshot create|list|revert|delete`.
//! Live with RAM through QEMU's snapshot jobs (the guest's RAM and disk
//! come back, the same boot goes on), live disk-only, offline with
//! qemu-img on every qcow2 drive at once; metadata rows reconciled with
//! what the images hold; every refusal says what to do instead.

use super::save::in_guest;
use harness::access::Via;
use harness::{Daemon, DaemonOptions, Db, Guest};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn qcow2(dir: &Path, name: &str) -> String {
    let path = dir.join(name);
    let status = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&path)
        .arg("16M")
        .status()
        .expect("qemu-img runs");
    assert!(status.success());
    path.display().to_string()
}

/// The internal snapshots of an image, by name, as qemu-img sees them.
fn held(path: &str) -> Vec<String> {
    let output = Command::new("qemu-img")
        .args(["info", "-U", "--output=json", "-f", "qcow2", path])
        .output()
        .expect("qemu-img runs");
    let info: Value = serde_json::from_slice(&output.stdout).expect("qemu-img info JSON");
    info["snapshots"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|s| s["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn qemu_img(args: &[&str]) {
    let status = Command::new("qemu-img")
        .args(args)
        .status()
        .expect("qemu-img runs");
    assert!(status.success(), "qemu-img {args:?}");
}

/// `qemu-io` writes (or checks) a byte pattern at the image's start.
fn qemu_io(path: &str, command: &str) -> bool {
    Command::new("qemu-io")
        .args(["-f", "qcow2", "-c", command, path])
        .output()
        .map(|out| out.status.success() && !String::from_utf8_lossy(&out.stdout).contains("fail"))
        .unwrap_or(false)
}

fn listed(daemon: &Daemon, vm: &str) -> Vec<Value> {
    daemon
        .crv(&["--json", "vm", "snapshot", "list", vm])
        .json()
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The listed names, sorted: snapshots taken within one second have no
/// order of their own.
fn names(list: &[Value]) -> Vec<&str> {
    let mut names: Vec<&str> = list.iter().filter_map(|s| s["name"].as_str()).collect();
    names.sort_unstable();
    names
}

/// A stopped VM: qemu-img on every drive, the row written once it is done,
/// and the list follows the images (snapshots made or removed by hand).
fn offline_snapshots_follow_the_images(db: Db) {
    let Some(daemon) = Daemon::start(db) else {
        return;
    };
    let images = tempfile::tempdir().expect("tempdir");
    let dir = images.path().join("a dir, with commas");
    std::fs::create_dir(&dir).expect("mkdir");
    let (first, second) = (qcow2(&dir, "one.qcow2"), qcow2(&dir, "two.qcow2"));
    daemon
        .crv(&["vm", "create", "box", "--cpus", "1", "--ram", "64"])
        .ok();
    for file in [&first, &second] {
        daemon
            .crv(&[
                "vm",
                "drive",
                "add",
                "box",
                "--file",
                file,
                "--format",
                "qcow2",
                "--interface",
                "virtio",
            ])
            .ok();
    }
    assert!(qemu_io(&first, "write -P 0x11 0 4k"));

    daemon
        .crv(&["vm", "snapshot", "create", "box", "clean"])
        .ok();
    assert_eq!(held(&first), ["clean"]);
    assert_eq!(held(&second), ["clean"]);
    let list = listed(&daemon, "box");
    assert_eq!(names(&list), ["clean"]);
    assert_eq!(list[0]["with_ram"], false);
    assert_eq!(list[0]["problem"], Value::Null);

    // Refusals: a name taken, a number, RAM of a stopped VM.
    daemon
        .crv(&["vm", "snapshot", "create", "box", "clean"])
        .fails(1, "already has a snapshot 'clean'");
    daemon
        .crv(&["vm", "snapshot", "create", "box", "42"])
        .fails(1, "only digits");
    daemon
        .crv(&["vm", "snapshot", "create", "box", "ram", "--with-ram"])
        .fails(1, "leave out --with-ram");
    daemon
        .crv(&["vm", "snapshot", "revert", "box", "nope"])
        .fails(1, "no snapshot 'nope'");
    daemon
        .crv(&["vm", "snapshot", "delete", "nosuchvm", "clean"])
        .fails(1, "nosuchvm");

    // Revert puts both drives back.
    assert!(qemu_io(&first, "write -P 0x22 0 4k"));
    daemon
        .crv(&["vm", "snapshot", "revert", "box", "clean"])
        .ok();
    assert!(
        qemu_io(&first, "read -P 0x11 0 4k"),
        "the data at the snapshot is back"
    );

    // Made by hand on every drive: recorded. On one drive only: listed with
    // what lacks it. Gone from every drive: dropped.
    qemu_img(&["snapshot", "-c", "by-hand", &first]);
    qemu_img(&["snapshot", "-c", "by-hand", &second]);
    qemu_img(&["snapshot", "-c", "half", &first]);
    qemu_img(&["snapshot", "-d", "clean", &first]);
    let list = listed(&daemon, "box");
    assert_eq!(names(&list), ["by-hand", "clean", "half"], "{list:?}");
    let problem = |name: &str| {
        let entry = list.iter().find(|s| s["name"] == name).expect("listed");
        entry["problem"].as_str().map(str::to_owned)
    };
    assert!(
        problem("clean")
            .is_some_and(|p| p.contains("missing from drive") && p.contains("one.qcow2")),
        "{list:?}"
    );
    assert_eq!(problem("by-hand"), None);
    assert!(
        problem("half").is_some_and(|p| p.contains("two.qcow2")),
        "{list:?}"
    );
    qemu_img(&["snapshot", "-d", "clean", &second]);
    assert_eq!(names(&listed(&daemon, "box")), ["by-hand", "half"]);

    daemon
        .crv(&["vm", "snapshot", "delete", "box", "by-hand"])
        .ok();
    assert_eq!(held(&first), ["half"]);
    assert!(held(&second).is_empty());

    // Only qcow2 holds snapshots: a raw drive is named.
    let raw = dir.join("raw.img");
    std::fs::write(&raw, vec![0u8; 1 << 20]).expect("raw image");
    let raw = raw.display().to_string();
    daemon
        .crv(&[
            "vm",
            "drive",
            "add",
            "box",
            "--file",
            &raw,
            "--format",
            "raw",
            "--interface",
            "virtio",
        ])
        .ok();
    let refused = daemon
        .crv(&["vm", "snapshot", "create", "box", "later"])
        .fails(1, "is raw, which has no internal snapshots");
    assert!(refused.contains("raw.img"), "{refused}");
    assert_eq!(
        held(&first),
        ["half"],
        "nothing was taken on the other drives"
    );
}

on_both_databases!(offline_snapshots_follow_the_images);

/// Marker text of the guest's first disk sector (read past the page cache).
const READ_DISK: &str = "dd if=/dev/vda bs=512 count=1 iflag=direct 2>/dev/null | head -c 9";

fn write_disk(daemon: &Daemon, id: i64, marker: &str) {
    let command = format!(
        "echo {marker} | dd of=/dev/vda bs=512 count=1 conv=sync,fsync 2>/dev/null && echo ok"
    );
    assert_eq!(in_guest(daemon, id, "snap", "WROTE", &command), "ok");
}

fn write_ram(daemon: &Daemon, id: i64, marker: &str) {
    let command = format!("echo {marker} > /tmp/marker && echo ok");
    assert_eq!(in_guest(daemon, id, "snap", "RAMSET", &command), "ok");
}

/// A RAM snapshot of a running guest brings back its RAM and its disk, and
/// the same boot goes on; a disk-only one is refused while it runs and
/// taken back once it is stopped.
#[test]
fn a_ram_snapshot_brings_back_the_running_guest() {
    let Some(guest) = Guest::get() else { return };
    let Some(daemon) = Daemon::start_with(Db::Sqlite, DaemonOptions::tcg()) else {
        return;
    };
    let images = tempfile::tempdir().expect("tempdir");
    let data = qcow2(images.path(), "data.qcow2");
    let id = daemon.create_guest_vm(guest, "snap", "", &[]);
    let events = daemon.crv_background(Via::Unix, &["--json", "events", "--vm", "snap"]);
    daemon
        .crv(&[
            "vm",
            "drive",
            "add",
            "snap",
            "--file",
            &data,
            "--format",
            "qcow2",
            "--interface",
            "virtio",
        ])
        .ok();
    daemon.crv(&["vm", "start", "snap"]).ok();
    daemon.wait_for_serial(id, "GUEST READY", harness::guest::BOOT_TIMEOUT);
    let boot_id = in_guest(
        &daemon,
        id,
        "snap",
        "BOOTID",
        "cat /proc/sys/kernel/random/boot_id",
    );
    write_ram(&daemon, id, "ram-one");
    write_disk(&daemon, id, "DISK-ONE");

    let taken = daemon
        .crv(&[
            "--json",
            "vm",
            "snapshot",
            "create",
            "snap",
            "one",
            "--with-ram",
        ])
        .json();
    assert_eq!(
        taken["status"], "running",
        "QEMU resumed the guest: {taken}"
    );
    let list = listed(&daemon, "snap");
    assert_eq!(list[0]["with_ram"], true, "{list:?}");
    assert!(list[0]["size"].as_u64().is_some_and(|n| n > 0), "{list:?}");

    write_ram(&daemon, id, "ram-two");
    write_disk(&daemon, id, "DISK-TWO");
    daemon
        .crv(&["vm", "snapshot", "create", "snap", "two"])
        .ok();
    write_disk(&daemon, id, "DISK-333");

    daemon
        .crv(&["vm", "snapshot", "revert", "snap", "two"])
        .fails(1, "taken with --with-ram");
    let reverted = daemon
        .crv(&["--json", "vm", "snapshot", "revert", "snap", "one"])
        .json();
    assert_eq!(reverted["status"], "running", "{reverted}");
    assert_eq!(
        in_guest(&daemon, id, "snap", "RAM", "cat /tmp/marker"),
        "ram-one"
    );
    assert_eq!(in_guest(&daemon, id, "snap", "DISK", READ_DISK), "DISK-ONE");
    assert_eq!(
        in_guest(
            &daemon,
            id,
            "snap",
            "BOOTNOW",
            "cat /proc/sys/kernel/random/boot_id"
        ),
        boot_id,
        "the same boot went on"
    );

    // The snapshots' own STOP and RESUME were not taken for pauses.
    assert_eq!(
        daemon.transitions("snap"),
        harness::transitions(&[("stopped", "starting"), ("starting", "running")])
    );
    let expected = [
        "snapshot 'one' taken with RAM",
        "snapshot 'two' taken (disks only, crash-consistent (no guest agent))",
        "reverted to snapshot 'one' (disks and RAM)",
    ];
    let out = events.wait_for_stdout("the snapshot events", Duration::from_secs(10), |out| {
        expected.iter().all(|reason| out.contains(reason))
    });
    let edited: Vec<Value> = out
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|event| event["kind"] == "edited")
        .filter(|event| {
            event["cause"]["operator"]["command"]
                .as_str()
                .is_some_and(|command| command.starts_with("vm snapshot"))
        })
        .collect();
    assert_eq!(edited.len(), 3, "{edited:?}");
    assert_eq!(
        edited[0]["cause"]["operator"]["command"],
        "vm snapshot create"
    );
    assert_eq!(
        edited[2]["cause"]["operator"]["command"],
        "vm snapshot revert"
    );

    // Stopped: the disk-only snapshot goes back with qemu-img.
    daemon
        .crv(&["vm", "snapshot", "delete", "snap", "one"])
        .ok();
    assert_eq!(held(&data), ["two"]);
    daemon.crv(&["vm", "reset", "snap"]).ok();
    daemon
        .crv(&["vm", "snapshot", "revert", "snap", "two"])
        .ok();
    daemon.crv(&["vm", "start", "snap"]).ok();
    daemon.wait_for_serial(id, "GUEST READY", harness::guest::BOOT_TIMEOUT);
    assert_eq!(
        in_guest(&daemon, id, "snap", "DISKAFTER", READ_DISK),
        "DISK-TWO"
    );
}
