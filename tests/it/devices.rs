//! Every drive interface and NIC type on a real QEMU, checked through the
//! VM's own monitor (`info block`, `info network`, `info pci`).

use harness::access::hmp;
use harness::prereq::{is_root, require, which};
use harness::{Daemon, Db};
use std::path::Path;
use std::process::Command;

fn raw_image(path: &Path, mib: u64) {
    let file = std::fs::File::create(path).unwrap();
    file.set_len(mib * 1024 * 1024).unwrap();
}

/// A minimal qcow2 header for an empty 1 MiB image, so that no qemu-img is needed.
fn qcow2_image(path: &Path) {
    let status = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(path)
        .arg("1M")
        .status();
    assert!(
        status.is_ok_and(|s| s.success()) || !harness::prereq::in_ci(),
        "qemu-img create (package qemu-utils)"
    );
    if !path.exists() {
        raw_image(path, 1);
    }
}

#[test]
fn every_drive_interface_is_attached_as_configured() {
    if !require(which("qemu-img").is_some(), "qemu-img (package qemu-utils)") {
        return;
    }
    let daemon = Daemon::start(Db::Sqlite).unwrap();
    let dir = tempfile::Builder::new()
        .prefix("crv disks,")
        .tempdir()
        .unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    qcow2_image(Path::new(&path("virtio, one.qcow2")));
    for name in [
        "ide.img",
        "sata.img",
        "scsi.img",
        "nvme.img",
        "cd.iso",
        "flash0.fd",
        "flash1.fd",
    ] {
        raw_image(
            Path::new(&path(name)),
            if name.starts_with("flash") { 4 } else { 1 },
        );
    }
    daemon.create_firmware_vm("disks", &[]);
    let add = |extra: &[&str]| {
        let mut args = vec!["vm", "drive", "add", "disks"];
        args.extend_from_slice(extra);
        daemon.crv(&args).ok();
    };
    add(&[
        "--file",
        &path("virtio, one.qcow2"),
        "--interface",
        "virtio",
        "--format",
        "qcow2",
        "--cache",
        "writeback",
        "--discard",
    ]);
    add(&[
        "--file",
        &path("ide.img"),
        "--interface",
        "ide",
        "--cache",
        "unsafe",
    ]);
    add(&[
        "--file",
        &path("sata.img"),
        "--interface",
        "sata",
        "--cache",
        "none",
    ]);
    add(&[
        "--file",
        &path("cd.iso"),
        "--interface",
        "sata",
        "--media",
        "cdrom",
    ]);
    add(&[
        "--file",
        &path("scsi.img"),
        "--interface",
        "scsi",
        "--read-only",
        "--cache",
        "writethrough",
    ]);
    add(&[
        "--file",
        &path("nvme.img"),
        "--interface",
        "nvme",
        "--cache",
        "directsync",
    ]);
    add(&[
        "--file",
        &path("flash0.fd"),
        "--interface",
        "pflash",
        "--read-only",
    ]);
    add(&["--file", &path("flash1.fd"), "--interface", "pflash"]);
    let vm = daemon.crv(&["--json", "vm", "start", "disks"]).json();
    assert_eq!(vm["status"], "running", "{vm}");
    // pflash units are QEMU's pflash0 and pflash1; every other drive's
    // node is named after its database id.
    let drive_ids: Vec<i64> = vm["drives"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["interface"] != "pflash")
        .map(|d| d["id"].as_i64().unwrap())
        .collect();

    let block = hmp(&daemon, "disks", "info block");
    // A path with a comma and a space reaches QEMU whole.
    assert!(block.contains(&path("virtio, one.qcow2")), "{block}");
    assert!(block.contains("qcow2"), "{block}");
    assert!(
        block.contains(&path("cd.iso")) && block.contains("Removable device"),
        "the CD-ROM is removable: {block}"
    );
    for name in [
        "ide.img",
        "sata.img",
        "scsi.img",
        "nvme.img",
        "flash0.fd",
        "flash1.fd",
    ] {
        assert!(block.contains(&path(name)), "{name} missing from:\n{block}");
    }
    let block_lines = |name: &str| {
        let start = block.find(&path(name)).unwrap();
        block[start..]
            .lines()
            .take(4)
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        block_lines("scsi.img").contains("read-only"),
        "{}",
        block_lines("scsi.img")
    );
    assert!(
        block_lines("flash0.fd").contains("read-only"),
        "{}",
        block_lines("flash0.fd")
    );
    assert!(
        block_lines("sata.img").contains("writeback, direct")
            || block_lines("sata.img").contains("direct"),
        "cache=none is O_DIRECT: {}",
        block_lines("sata.img")
    );

    let qtree = hmp(&daemon, "disks", "info qtree");
    for device in [
        "virtio-blk-pci",
        "ide-hd",
        "ide-cd",
        "virtio-scsi-pci",
        "scsi-hd",
        "nvme",
    ] {
        assert!(
            qtree.contains(&format!("dev: {device}")),
            "{device} missing from info qtree"
        );
    }
    assert_eq!(drive_ids.len(), 6);
    for id in drive_ids {
        // `-blockdev` nodes show as `drive<id>: FILE (FORMAT)`.
        assert!(
            block.contains(&format!("drive{id}: ")),
            "drive{id} missing from:\n{block}"
        );
    }
    assert!(
        block.contains("pflash0 (") && block.contains("pflash1 ("),
        "{block}"
    );
    daemon.crv(&["vm", "reset", "disks"]).ok();
}

fn host_command(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .status()
        .is_ok_and(|s| s.success())
}

/// Host-side network devices a test made, removed when it ends.
struct HostNet(Vec<String>);

impl Drop for HostNet {
    fn drop(&mut self) {
        for link in &self.0 {
            host_command(&["ip", "link", "del", link]);
        }
    }
}

fn allow_bridge(bridge: &str) {
    let conf = Path::new("/etc/qemu/bridge.conf");
    let current = std::fs::read_to_string(conf).unwrap_or_default();
    let line = format!("allow {bridge}");
    if !current.lines().any(|l| l.trim() == line) {
        std::fs::create_dir_all("/etc/qemu").unwrap();
        std::fs::write(conf, format!("{current}{line}\n")).unwrap();
    }
}

#[test]
fn every_nic_type_gets_its_mac_and_backend() {
    if !require(
        is_root() && which("ip").is_some() && which("vde_switch").is_some(),
        "root, iproute2 and vde2 (vde_switch) for tap, bridge and vde networks",
    ) {
        return;
    }
    let daemon = Daemon::start(Db::Sqlite).unwrap();
    let tag = std::process::id() % 100_000;
    let (tap, bridge) = (format!("crvt{tag}"), format!("crvb{tag}"));
    let _cleanup = HostNet(vec![tap.clone(), bridge.clone()]);
    assert!(
        host_command(&["ip", "tuntap", "add", "dev", &tap, "mode", "tap"]),
        "create tap {tap}"
    );
    assert!(
        host_command(&["ip", "link", "add", &bridge, "type", "bridge"]),
        "create bridge {bridge}"
    );
    allow_bridge(&bridge);
    let vde_dir = tempfile::tempdir().unwrap();
    let vde = vde_dir.path().join("switch");
    let mut switch = Command::new("vde_switch")
        .arg("-s")
        .arg(&vde)
        .arg("-M")
        .arg(vde_dir.path().join("mgmt"))
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        harness::postgres::wait_until(std::time::Duration::from_secs(5), || vde
            .join("ctl")
            .exists()),
        "vde_switch is up"
    );

    daemon.create_firmware_vm("nets", &[]);
    let macs = [
        "52:54:00:00:10:01",
        "52:54:00:00:10:02",
        "52:54:00:00:10:03",
        "52:54:00:00:10:04",
    ];
    daemon
        .crv(&[
            "vm", "net", "add", "nets", "--type", "user", "--mac", macs[0],
        ])
        .ok();
    daemon
        .crv(&[
            "vm",
            "net",
            "add",
            "nets",
            "--type",
            "tap",
            "--host-device",
            &tap,
            "--mac",
            macs[1],
        ])
        .ok();
    daemon
        .crv(&[
            "vm",
            "net",
            "add",
            "nets",
            "--type",
            "bridge",
            "--host-device",
            &bridge,
            "--mac",
            macs[2],
        ])
        .ok();
    daemon
        .crv(&[
            "vm",
            "net",
            "add",
            "nets",
            "--type",
            "vde",
            "--host-device",
            vde.to_str().unwrap(),
            "--mac",
            macs[3],
        ])
        .ok();
    let vm = daemon.crv(&["--json", "vm", "start", "nets"]).json();
    assert_eq!(vm["status"], "running", "{vm}");

    let network = hmp(&daemon, "nets", "info network");
    for mac in macs {
        assert!(
            network.contains(&format!("macaddr={mac}")),
            "{mac} missing from:\n{network}"
        );
    }
    assert!(
        network.contains("user.0") || network.contains("type=user"),
        "user backend:\n{network}"
    );
    assert!(
        network.contains(&format!("ifname={tap}")),
        "tap backend on {tap}:\n{network}"
    );
    assert!(
        network.contains("type=tap") && network.contains("helper="),
        "bridge goes through qemu-bridge-helper:\n{network}"
    );
    assert!(
        network.contains("type=vde") || network.contains("vde"),
        "vde backend:\n{network}"
    );
    // Each NIC sits behind a root port of its own, so count the devices.
    let qtree = hmp(&daemon, "nets", "info qtree");
    assert!(
        qtree.matches("dev: virtio-net-pci").count() >= 4,
        "four virtio-net devices:\n{qtree}"
    );
    // The bridge helper plugged a tap into our bridge.
    let links = Command::new("ip")
        .args(["-o", "link", "show", "master", &bridge])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&links.stdout).trim().is_empty(),
        "a tap is enslaved to {bridge}"
    );
    daemon.crv(&["vm", "reset", "nets"]).ok();
    let _ = switch.kill();
    let _ = switch.wait();
}
