//! Defects found by fault injection (issue 12) that live in the VM's own
//! handling: autostart after a host reboot, children left as zombies,
//! runtime directories planted by someone else.

use harness::daemon::processes_mentioning;
use harness::{Daemon, Db};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::time::Duration;

fn kill9(pid: u64) {
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).expect("kill -9");
}

/// Children of `parent` that have exited and were never reaped.
fn zombie_children(parent: u32) -> Vec<String> {
    let mut zombies = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return zombies;
    };
    for entry in entries.flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...; comm may hold spaces and parentheses.
        let Some((head, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let mut fields = rest.split(' ');
        let (state, ppid) = (fields.next(), fields.next());
        if state == Some("Z") && ppid == Some(&parent.to_string()) {
            zombies.push(head.to_owned());
        }
    }
    zombies
}

fn no_zombies_of(daemon: &Daemon) {
    let pid = daemon.pid().expect("daemon running");
    let mut left = Vec::new();
    // Reaping follows the exit by a moment.
    let clean = harness::postgres::wait_until(Duration::from_secs(10), || {
        left = zombie_children(pid);
        left.is_empty()
    });
    assert!(clean, "unreaped children of the daemon: {left:?}");
}

/// A host reboot: the daemon and every QEMU die at once. The next daemon
/// starts the autostart VMs again, as libvirt and Incus do, and says why.
fn autostart_vms_come_back_after_a_host_reboot(db: Db) {
    let Some(mut daemon) = Daemon::start(db) else {
        return;
    };
    daemon.create_firmware_vm("auto", &["--autostart"]);
    daemon.create_firmware_vm("manual", &[]);
    for vm in ["auto", "manual"] {
        daemon.crv(&["vm", "start", vm]).ok();
    }
    let pids = [daemon.pid_of("auto"), daemon.pid_of("manual")];
    daemon.kill9();
    for pid in pids.into_iter().flatten() {
        kill9(pid);
    }
    daemon.restart();
    daemon.wait_for_state("auto", "running", Duration::from_secs(20));
    let events = daemon.history("auto");
    let started = events
        .iter()
        .rev()
        .find(|e| e["to"] == "starting")
        .expect("a start after the reboot");
    assert_eq!(started["cause"], "autostart", "{started}");
    let reason = started["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("QEMU exited while the daemon was down"),
        "{reason}"
    );
    // Without autostart (or a restart policy) a VM waits for its operator.
    let manual = daemon.show("manual");
    assert_eq!(manual["status"], "error", "{manual}");
}

on_both_databases!(autostart_vms_come_back_after_a_host_reboot);

/// Every child is reaped exactly once: a start that fails after its
/// virtiofsd came up, and a reset, leave no `<defunct>` process.
#[test]
fn no_child_of_the_daemon_is_left_a_zombie() {
    let daemon = Daemon::start(Db::Sqlite).expect("daemon");
    let share = daemon.dir.path().join("share");
    std::fs::create_dir(&share).expect("mkdir");
    let share = share.to_str().expect("utf-8 path");
    daemon.create_firmware_vm("broken", &[]);
    daemon.create_firmware_vm("fine", &[]);
    for vm in ["broken", "fine"] {
        daemon
            .crv(&["vm", "share", "add", vm, "--path", share, "--tag", "data"])
            .ok();
    }
    daemon
        .crv(&[
            "vm",
            "drive",
            "add",
            "broken",
            "--file",
            "/nonexistent.img",
            "--interface",
            "virtio",
        ])
        .ok();
    for _ in 0..3 {
        daemon
            .crv(&["vm", "start", "broken"])
            .fails(1, "nonexistent.img");
        daemon.crv(&["vm", "reset", "broken"]).ok();
    }
    for _ in 0..3 {
        daemon.crv(&["vm", "start", "fine"]).ok();
        daemon.crv(&["vm", "reset", "fine"]).ok();
    }
    no_zombies_of(&daemon);
    let runtime = daemon.runtime.display().to_string();
    let mut left = Vec::new();
    let gone = harness::postgres::wait_until(Duration::from_secs(10), || {
        left = processes_mentioning(&runtime)
            .into_iter()
            .filter(|pid| Some(*pid) != daemon.pid())
            .map(|pid| {
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                String::from_utf8_lossy(&cmdline).replace('\0', " ")
            })
            .collect();
        left.is_empty()
    });
    assert!(gone, "a QEMU or virtiofsd outlived its VM: {left:?}");
}

/// With the runtime directory in a shared place, another user can plant a
/// VM's directory (a link to a file of theirs, or a directory of their
/// own): the VM does not start, and nothing is written through it.
#[test]
fn a_planted_vm_directory_is_refused() {
    let daemon = Daemon::start(Db::Sqlite).expect("daemon");
    daemon.create_firmware_vm("web", &[]);
    let id = daemon.show("web")["id"].as_i64().expect("an id");
    let planted = daemon.runtime.join(id.to_string());

    let elsewhere = daemon.dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).expect("mkdir");
    let precious = elsewhere.join("qemu.log");
    std::fs::write(&precious, "keep me").expect("write");
    std::os::unix::fs::symlink(&elsewhere, &planted).expect("plant a link");
    daemon
        .crv(&["vm", "start", "web"])
        .fails(1, "is a symbolic link");
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "keep me");

    daemon.crv(&["vm", "reset", "web"]).ok();
    std::fs::remove_file(&planted).expect("remove the link");
    std::fs::create_dir(&planted).expect("mkdir");
    nix::unistd::chown(&planted, Some(nix::unistd::Uid::from_raw(65534)), None)
        .expect("chown to nobody");
    daemon
        .crv(&["vm", "start", "web"])
        .fails(1, "belongs to user 65534");
    assert_eq!(daemon.show("web")["status"], "error");
}
