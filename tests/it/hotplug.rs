//! Hot attach and detach of drives and NICs on a running guest (issue 16):
//! the guest sees NVMe and virtio drives and a NIC come and go, an image
//! detached can be attached again, every refusal says why, and a device
//! added live stays detachable after a daemon restart.

use harness::guest::BOOT_TIMEOUT;
use harness::postgres::wait_until;
use harness::{Daemon, DaemonOptions, Db, Guest};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// TCG guests probe a new PCI device in well under a second when the host
/// is idle; leave room for a loaded one.
const GUEST_SEES: Duration = Duration::from_secs(60);

/// A shell loop in the guest that prints its block devices and network
/// interfaces twice a second; the typed line's echo never matches the
/// printed one, since `$(...)` is expanded only in the latter.
pub(crate) const WATCHER: &str = "(while :; do echo \"BLK:$(ls /sys/block | tr '\\n' ' ')NET:$(ls /sys/class/net | tr '\\n' ' ')END\"; sleep 0.5; done) &\n";

/// The guest's last report: (block devices, network interfaces).
fn last_report(daemon: &Daemon, id: i64) -> Option<(Vec<String>, Vec<String>)> {
    let log = daemon.serial_log(id);
    let line = log
        .lines()
        .rev()
        .find(|line| line.starts_with("BLK:") && line.ends_with("END") && !line.contains("$("))?;
    let body = line.strip_prefix("BLK:")?.strip_suffix("END")?;
    let (blocks, nets) = body.split_once("NET:")?;
    let words = |text: &str| text.split_whitespace().map(str::to_owned).collect();
    Some((words(blocks), words(nets)))
}

#[track_caller]
pub(crate) fn wait_for_guest(
    daemon: &Daemon,
    id: i64,
    what: &str,
    check: impl Fn(&[String], &[String]) -> bool,
) {
    let mut last = None;
    let seen = wait_until(GUEST_SEES, || {
        last = last_report(daemon, id);
        last.as_ref()
            .is_some_and(|(blocks, nets)| check(blocks, nets))
    });
    assert!(
        seen,
        "the guest never saw {what}; its last report: {last:?}\n--- serial:\n{}\n--- daemon log:\n{}",
        daemon.serial_log(id),
        daemon.log()
    );
}

pub(crate) fn has(list: &[String], name: &str) -> bool {
    list.iter().any(|item| item == name)
}

fn image(dir: &Path, name: &str) -> String {
    let path = dir.join(name);
    let file = std::fs::File::create(&path).expect("create image");
    file.set_len(8 << 20).expect("size image");
    path.display().to_string()
}

pub(crate) fn drive_ids(vm: &Value) -> Vec<i64> {
    vm["drives"]
        .as_array()
        .expect("drives")
        .iter()
        .filter_map(|d| d["id"].as_i64())
        .collect()
}

/// The id of the drive (or NIC) a successful add just created.
pub(crate) fn added(before: &[i64], after: &[i64]) -> i64 {
    let new: Vec<_> = after.iter().filter(|id| !before.contains(id)).collect();
    assert_eq!(new.len(), 1, "one new device: {before:?} -> {after:?}");
    *new[0]
}

#[test]
fn drives_and_nics_come_and_go_while_the_guest_runs() {
    let Some(guest) = Guest::get() else { return };
    let Some(mut daemon) = Daemon::start_with(Db::Sqlite, DaemonOptions::tcg()) else {
        return;
    };
    let images = tempfile::tempdir().expect("tempdir");
    let dir = images.path();
    let (boot, old_ide, nvme, data) = (
        image(dir, "boot.raw"),
        image(dir, "ide.raw"),
        image(dir, "nvme.raw"),
        image(dir, "data.raw"),
    );
    let id = daemon.create_guest_vm(guest, "hp", "", &["--hotplug-slots", "2"]);
    for (file, interface) in [(&boot, "virtio"), (&old_ide, "sata")] {
        let args = [
            "vm", "drive", "add", "hp", "--file", file, "--format", "raw",
        ];
        daemon
            .crv(&[&args[..], &["--interface", interface]].concat())
            .ok();
    }
    let shown = daemon.crv(&["--json", "vm", "show", "hp"]).json();
    assert_eq!(shown["hotplug_slots"], 2);
    let at_boot = drive_ids(&shown);
    let (boot_id, ide_id) = (at_boot[0], at_boot[1]);
    daemon.crv(&["vm", "start", "hp"]).ok();
    daemon.wait_for_serial(id, "GUEST READY", BOOT_TIMEOUT);
    daemon
        .crv_with_input(&["vm", "console", "hp"], WATCHER)
        .ok();
    wait_for_guest(&daemon, id, "its boot disk", |blocks, _| has(blocks, "vda"));

    // What cannot change live says why, and what to do instead.
    let add = |daemon: &Daemon, file: &str, interface: &str| {
        daemon.crv(&[
            "--json",
            "vm",
            "drive",
            "add",
            "hp",
            "--file",
            file,
            "--format",
            "raw",
            "--interface",
            interface,
        ])
    };
    let boot_text = boot_id.to_string();
    daemon
        .crv(&["vm", "drive", "remove", "hp", &boot_text])
        .fails(
            1,
            &format!("drive {boot_id} is the boot disk; stop it first"),
        );
    daemon
        .crv(&["vm", "drive", "remove", "hp", &ide_id.to_string()])
        .fails(1, "ports cannot be hot-plugged");
    add(&daemon, &nvme, "sata").fails(1, "IDE and SATA drives sit on the AHCI controller");
    daemon
        .crv(&["vm", "drive", "remove", "hp", "9999"])
        .fails(1, "VM 'hp' has no drive 9999");
    daemon
        .crv(&["vm", "net", "remove", "hp", "9999"])
        .fails(1, "VM 'hp' has no network interface 9999");
    add(&daemon, &boot, "virtio").fails(
        1,
        &format!("VM 'hp' already has {boot} attached as drive {boot_id}"),
    );

    // An NVMe and a virtio drive appear in the guest.
    let vm = add(&daemon, &nvme, "nvme").json();
    let nvme_id = added(&at_boot, &drive_ids(&vm));
    wait_for_guest(&daemon, id, "the NVMe drive", |blocks, _| {
        has(blocks, "nvme0n1")
    });
    let before = drive_ids(&vm);
    let vm = add(&daemon, &data, "virtio").json();
    let data_id = added(&before, &drive_ids(&vm));
    wait_for_guest(&daemon, id, "the virtio drive", |blocks, _| {
        has(blocks, "vdb")
    });

    // Both hotplug slots are taken now.
    daemon
        .crv(&["vm", "net", "add", "hp", "--type", "user"])
        .fails(1, "has no free hotplug slot (it has 2)");
    assert!(
        daemon
            .crv(&["vm", "net", "add", "hp", "--type", "user"])
            .stderr()
            .contains("--hotplug-slots N")
    );

    // Detached, gone from the guest and the definition; the image is free
    // again and can be attached once more.
    daemon
        .crv(&["vm", "drive", "remove", "hp", &nvme_id.to_string()])
        .ok();
    wait_for_guest(&daemon, id, "the NVMe drive go", |blocks, _| {
        !has(blocks, "nvme0n1")
    });
    let vm = daemon.crv(&["--json", "vm", "show", "hp"]).json();
    assert!(!drive_ids(&vm).contains(&nvme_id));
    // A restore places devices as a fresh start would, not where they were
    // plugged: a VM whose devices changed live is not saved.
    daemon
        .crv(&["vm", "save", "hp"])
        .fails(1, "drives or NICs were attached or detached while it ran");
    let before = drive_ids(&vm);
    let vm = add(&daemon, &nvme, "nvme").json();
    let again = added(&before, &drive_ids(&vm));
    wait_for_guest(&daemon, id, "the NVMe drive again", |blocks, _| {
        has(blocks, "nvme0n1")
    });

    // A NIC on the user network: the guest gets it, and a DHCP lease.
    daemon
        .crv(&["vm", "drive", "remove", "hp", &data_id.to_string()])
        .ok();
    wait_for_guest(&daemon, id, "the virtio drive go", |blocks, _| {
        !has(blocks, "vdb")
    });
    let vm = daemon
        .crv(&["--json", "vm", "net", "add", "hp", "--type", "user"])
        .json();
    let nic_id = vm["network_interfaces"][0]["id"].as_i64().expect("a NIC");
    wait_for_guest(&daemon, id, "the NIC", |_, nets| has(nets, "eth0"));
    daemon
        .crv_with_input(
            &["vm", "console", "hp"],
            "ip link set eth0 up; udhcpc -i eth0 -n -q -t 10 -s /bin/true 2>&1 | grep -o 'lease of [0-9.]*' | sed 's/^/GOT /'\n",
        )
        .ok();
    daemon.wait_for_serial(id, "GOT lease of 10.0.2.15", GUEST_SEES);
    daemon
        .crv(&["vm", "net", "remove", "hp", &nic_id.to_string()])
        .ok();
    wait_for_guest(&daemon, id, "the NIC go", |_, nets| !has(nets, "eth0"));

    // Every live change is in the history, with who asked for it.
    let history = daemon.history("hp");
    let live: Vec<&Value> = history
        .iter()
        .filter(|e| {
            e["reason"]
                .as_str()
                .unwrap_or("")
                .contains("the running VM")
        })
        .collect();
    assert_eq!(live.len(), 7, "{history:#?}");
    assert_eq!(live[0]["cause"]["operator"]["command"], "vm drive add");
    assert_eq!(live[2]["cause"]["operator"]["command"], "vm drive remove");

    // After a daemon restart the re-adopted QEMU's drive added live is
    // still detachable, and nothing is reported as mismatched.
    daemon.restart();
    daemon.wait_for_state("hp", "running", Duration::from_secs(30));
    daemon
        .crv(&["vm", "drive", "remove", "hp", &again.to_string()])
        .ok();
    wait_for_guest(
        &daemon,
        id,
        "the NVMe drive go after a restart",
        |blocks, _| !has(blocks, "nvme0n1"),
    );
    let history = daemon.history("hp");
    assert!(
        !history
            .iter()
            .any(|e| e["reason"].as_str().unwrap_or("").contains("differ")),
        "{history:#?}"
    );

    // A guest that cannot answer (paused) keeps the drive: the detach
    // times out with an error and the definition still has it.
    let before = drive_ids(&daemon.crv(&["--json", "vm", "show", "hp"]).json());
    let vm = add(&daemon, &data, "virtio").json();
    let late = added(&before, &drive_ids(&vm));
    wait_for_guest(&daemon, id, "the virtio drive again", |blocks, _| {
        has(blocks, "vdb")
    });
    daemon.crv(&["vm", "pause", "hp"]).ok();
    daemon
        .crv(&[
            "vm",
            "drive",
            "remove",
            "hp",
            &late.to_string(),
            "--timeout",
            "2",
        ])
        .fails(1, "the guest did not release disk");
    let vm = daemon.crv(&["--json", "vm", "show", "hp"]).json();
    assert!(drive_ids(&vm).contains(&late), "{vm:#}");
    // Resumed, the guest lets go after all; a second detach finishes the
    // job rather than failing on a device QEMU no longer has.
    daemon.crv(&["vm", "start", "hp"]).ok();
    wait_for_guest(&daemon, id, "the late unplug", |blocks, _| {
        !has(blocks, "vdb")
    });
    daemon
        .crv(&["vm", "drive", "remove", "hp", &late.to_string()])
        .ok();
    let vm = daemon.crv(&["--json", "vm", "show", "hp"]).json();
    assert!(!drive_ids(&vm).contains(&late), "{vm:#}");
    daemon.crv(&["vm", "reset", "hp"]).ok();
}
