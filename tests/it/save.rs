//! Save and restore (issue 16): `crv vm save` writes the guest's RAM and
//! devices to `DATA_DIR/saves/<id>.state` and ends QEMU; `crv vm start`
//! brings the same boot back (same `boot_id`, same files in the guest's
//! RAM-backed /tmp); `reset` discards the save; refusals up front; a full
//! disk and a daemon killed mid-save leave no save file and a live guest.

use harness::postgres::wait_until;
use harness::{Daemon, DaemonOptions, Db, Guest};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const QUICK: Duration = Duration::from_secs(20);

fn save_file(daemon: &Daemon, id: i64) -> PathBuf {
    daemon.data_dir().join("saves").join(format!("{id}.state"))
}

/// The names in the save directory (none when it does not exist).
fn saves(daemon: &Daemon) -> Vec<String> {
    std::fs::read_dir(daemon.data_dir().join("saves"))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Runs `command` in the guest through the serial console and returns
/// what it printed after `tag=` (the echoed command line has `$(` there).
pub(crate) fn in_guest(daemon: &Daemon, id: i64, vm: &str, tag: &str, command: &str) -> String {
    let line = format!("echo {tag}=$({command})\n");
    daemon.crv_with_input(&["vm", "console", vm], &line).ok();
    let mut value = None;
    let found = wait_until(QUICK, || {
        value = daemon.serial_log(id).lines().find_map(|line| {
            let at = line.find(&format!("{tag}="))?;
            let rest = &line[at + tag.len() + 1..];
            (!rest.starts_with("$(")).then(|| rest.trim().to_owned())
        });
        value.is_some()
    });
    assert!(
        found,
        "the guest did not answer {command:?}:\n{}",
        daemon.serial_log(id)
    );
    value.unwrap_or_default()
}

/// The QEMUs of this daemon's VM `id` (their sockets are in its runtime
/// directory; VM ids repeat across the tests that run at the same time).
fn qemus(daemon: &Daemon, id: i64) -> Vec<u32> {
    harness::daemon::processes_mentioning(&format!("{}/{id}/", daemon.runtime.display()))
}

/// A booted guest with a marker in its RAM-backed /tmp; returns its id and boot_id.
pub(crate) fn booted_with_marker(
    daemon: &Daemon,
    guest: &Guest,
    name: &str,
    extra: &[&str],
) -> (i64, String) {
    let id = daemon.create_guest_vm(guest, name, "", extra);
    daemon.crv(&["vm", "start", name]).ok();
    daemon.wait_for_serial(id, "GUEST READY", harness::guest::BOOT_TIMEOUT);
    in_guest(
        daemon,
        id,
        name,
        "MARKED",
        "echo kept-in-ram > /tmp/marker && echo yes",
    );
    let boot_id = in_guest(
        daemon,
        id,
        name,
        "BOOTID",
        "cat /proc/sys/kernel/random/boot_id",
    );
    assert_eq!(boot_id.len(), 36, "{boot_id}");
    (id, boot_id)
}

fn saved_restored_and_discarded(db: Db) {
    let Some(guest) = Guest::get() else { return };
    let Some(daemon) = Daemon::start_with(db, DaemonOptions::tcg()) else {
        return;
    };
    let (id, boot_id) = booted_with_marker(&daemon, guest, "web", &[]);

    assert_eq!(qemus(&daemon, id).len(), 1);
    let saved = daemon.crv(&["--json", "vm", "save", "web"]).json();
    assert_eq!(saved["status"], "saved", "{saved}");
    assert_eq!(saved["pid"], Value::Null);
    assert!(qemus(&daemon, id).is_empty(), "QEMU is gone after a save");
    let size = std::fs::metadata(save_file(&daemon, id)).map(|m| m.len());
    assert!(matches!(size, Ok(n) if n > 0), "{size:?}");
    assert_eq!(saves(&daemon), [format!("{id}.state")], "no partial file");

    // A saved VM has no QEMU to stop and a definition frozen with the save.
    daemon.crv(&["vm", "stop", "web"]).fails(1, "it is saved");
    daemon
        .crv(&["vm", "edit", "web", "--ram", "512"])
        .fails(1, "is saved");
    daemon
        .crv(&["vm", "net", "add", "web", "--type", "user"])
        .fails(1, "is saved");
    daemon.crv(&["vm", "pause", "web"]).fails(1, "is saved");
    daemon.crv(&["vm", "save", "web"]).fails(1, "already saved");

    let restored = daemon.crv(&["--json", "vm", "start", "web"]).json();
    assert_eq!(restored["status"], "running", "{restored}");
    assert!(
        !save_file(&daemon, id).exists(),
        "the file goes once running"
    );
    assert_eq!(
        in_guest(
            &daemon,
            id,
            "web",
            "BOOTID",
            "cat /proc/sys/kernel/random/boot_id"
        ),
        boot_id,
        "the same boot came back"
    );
    assert_eq!(
        in_guest(&daemon, id, "web", "MARKER", "cat /tmp/marker"),
        "kept-in-ram"
    );

    // A paused guest saves too; reset discards the save.
    daemon.crv(&["vm", "pause", "web"]).ok();
    assert_eq!(
        daemon.crv(&["--json", "vm", "save", "web"]).json()["status"],
        "saved"
    );
    let reset = daemon.crv(&["--json", "vm", "reset", "web"]).json();
    assert_eq!(reset["status"], "stopped");
    assert!(
        wait_until(QUICK, || saves(&daemon).is_empty()),
        "reset discards the save: {:?}",
        saves(&daemon)
    );
    daemon
        .crv(&["vm", "save", "web"])
        .fails(1, "only a running or paused VM");

    assert_eq!(
        daemon.transitions("web"),
        harness::transitions(&[
            ("stopped", "starting"),
            ("starting", "running"),
            ("running", "saving"),
            ("saving", "saved"),
            ("saved", "restoring"),
            ("restoring", "running"),
            ("running", "paused"),
            ("paused", "saving"),
            ("saving", "saved"),
            ("saved", "stopped"),
        ])
    );
    let history = daemon.history("web");
    let causes: Vec<&Value> = history
        .iter()
        .map(|e| &e["cause"]["operator"]["command"])
        .collect();
    assert_eq!(causes[3], "vm save", "{history:?}");
    assert_eq!(causes[5], "vm start", "{history:?}");
    assert_eq!(history[5]["reason"], "restored from its save file");
    assert_eq!(history[9]["reason"], "reset: saved state discarded");
}

on_both_databases!(saved_restored_and_discarded);

/// Devices QEMU cannot migrate are named before anything happens (for a
/// snapshot with RAM too).
#[test]
fn a_save_is_refused_up_front_for_virtiofs_and_nvme() {
    let Some(daemon) = Daemon::start(Db::Sqlite) else {
        return;
    };
    let share = daemon.dir.path().join("share");
    std::fs::create_dir_all(&share).unwrap();
    daemon.create_firmware_vm("fs", &[]);
    daemon
        .crv(&[
            "vm",
            "share",
            "add",
            "fs",
            "--path",
            share.to_str().unwrap(),
            "--tag",
            "home",
        ])
        .ok();
    daemon.crv(&["vm", "start", "fs"]).ok();
    daemon.crv(&["vm", "save", "fs"]).fails(
        1,
        "its virtiofs share 'home' (vhost-user-fs) cannot be migrated",
    );
    // A snapshot with RAM is a migration too; one of the disks alone is not.
    daemon
        .crv(&["vm", "snapshot", "create", "fs", "s", "--with-ram"])
        .fails(1, "cannot snapshot VM 'fs': its virtiofs share 'home'");
    assert_eq!(daemon.show("fs")["status"], "running");

    let image = daemon.dir.path().join("nvme.img");
    std::fs::write(&image, vec![0u8; 1 << 20]).unwrap();
    daemon.create_firmware_vm("nv", &[]);
    daemon
        .crv(&[
            "vm",
            "drive",
            "add",
            "nv",
            "--file",
            image.to_str().unwrap(),
            "--interface",
            "nvme",
            "--format",
            "raw",
        ])
        .ok();
    daemon.crv(&["vm", "start", "nv"]).ok();
    let refused = daemon.crv(&["vm", "save", "nv"]).fails(1, "NVMe drive");
    assert!(refused.contains("nvme.img"), "{refused}");
    assert_eq!(daemon.show("nv")["status"], "running");
    assert!(saves(&daemon).is_empty(), "{:?}", saves(&daemon));
}

/// A tmpfs mounted on the save directory, unmounted when dropped.
struct SmallSaves(PathBuf);

impl SmallSaves {
    fn mount(dir: &Path, size: &str) -> Option<SmallSaves> {
        if !harness::prereq::require(
            harness::prereq::is_root(),
            "root, to mount a small tmpfs as the save directory",
        ) {
            return None;
        }
        std::fs::create_dir_all(dir).unwrap();
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .status()
            .expect("run mount");
        assert!(status.success(), "mount a tmpfs on {}", dir.display());
        Some(SmallSaves(dir.to_path_buf()))
    }
}

impl Drop for SmallSaves {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The save does not fit: QEMU's migration fails, the guest runs on, and
/// neither a partial nor a truncated file is left.
#[test]
fn a_full_disk_fails_the_save_and_the_guest_runs_on() {
    let Some(guest) = Guest::get() else { return };
    let Some(daemon) = Daemon::start_with(Db::Sqlite, DaemonOptions::tcg()) else {
        return;
    };
    let Some(_small) = SmallSaves::mount(&daemon.data_dir().join("saves"), "4m") else {
        return;
    };
    let (id, boot_id) = booted_with_marker(&daemon, guest, "web", &[]);
    let failed = daemon
        .crv(&["vm", "save", "web"])
        .fails(1, "cannot save VM 'web'");
    assert!(failed.contains("is it full?"), "{failed}");
    assert!(failed.contains("running again"), "{failed}");
    assert_eq!(daemon.show("web")["status"], "running");
    assert!(saves(&daemon).is_empty(), "{:?}", saves(&daemon));
    assert_eq!(
        in_guest(
            &daemon,
            id,
            "web",
            "AFTER",
            "cat /proc/sys/kernel/random/boot_id"
        ),
        boot_id,
        "the guest runs on"
    );
    let last = daemon.history("web").last().cloned().unwrap_or_default();
    assert_eq!(
        (last["from"].as_str(), last["to"].as_str()),
        (Some("saving"), Some("running"))
    );
}

/// The daemon dies while QEMU writes the save: the next daemon re-adopts
/// the VM as QEMU left it (paused by the save), cancels the migration and
/// removes the file; nothing claims a save that was never confirmed.
#[test]
fn a_save_cut_short_by_a_daemon_kill_leaves_no_saved_state() {
    let Some(guest) = Guest::get() else { return };
    let Some(mut daemon) = Daemon::start_with(Db::Sqlite, DaemonOptions::tcg()) else {
        return;
    };
    let (id, boot_id) = booted_with_marker(&daemon, guest, "web", &[]);
    // Slow enough that the migration is still writing when the daemon dies.
    harness::access::hmp(&daemon, "web", "migrate_set_parameter max-bandwidth 1M");
    let mut save = daemon.crv_background(harness::access::Via::Unix, &["vm", "save", "web"]);
    let partial = format!("{id}.state.partial");
    assert!(
        wait_until(QUICK, || saves(&daemon).contains(&partial)),
        "the save started: {:?}",
        saves(&daemon)
    );
    daemon.kill9();
    let _ = save.wait_exit(QUICK);
    daemon.restart();

    let vm = daemon.wait_for_state("web", "paused", QUICK);
    assert_eq!(vm["last_error"], Value::Null);
    assert!(
        wait_until(QUICK, || saves(&daemon).is_empty()),
        "the partial save is removed: {:?}",
        saves(&daemon)
    );
    // Later, nothing renames a stream into place either.
    std::thread::sleep(Duration::from_secs(2));
    assert!(saves(&daemon).is_empty(), "{:?}", saves(&daemon));
    assert_eq!(
        daemon.crv(&["--json", "vm", "start", "web"]).json()["status"],
        "running"
    );
    assert_eq!(
        in_guest(
            &daemon,
            id,
            "web",
            "STILL",
            "cat /proc/sys/kernel/random/boot_id"
        ),
        boot_id
    );
}

/// An autostart VM that was saved comes back restored, not rebooted.
fn autostart_restores_a_saved_vm(db: Db) {
    let Some(guest) = Guest::get() else { return };
    let Some(mut daemon) = Daemon::start_with(db, DaemonOptions::tcg()) else {
        return;
    };
    let (id, boot_id) = booted_with_marker(&daemon, guest, "auto", &["--autostart"]);
    assert_eq!(
        daemon.crv(&["--json", "vm", "save", "auto"]).json()["status"],
        "saved"
    );
    daemon.restart();
    daemon.wait_for_state("auto", "running", harness::guest::BOOT_TIMEOUT);
    assert_eq!(
        in_guest(
            &daemon,
            id,
            "auto",
            "BOOTID",
            "cat /proc/sys/kernel/random/boot_id"
        ),
        boot_id
    );
    assert_eq!(
        in_guest(&daemon, id, "auto", "MARKER", "cat /tmp/marker"),
        "kept-in-ram"
    );
    assert!(wait_until(QUICK, || saves(&daemon).is_empty()));
    let history = daemon.history("auto");
    let restore = history
        .iter()
        .find(|e| e["to"] == "restoring")
        .cloned()
        .unwrap_or_default();
    assert_eq!(restore["cause"], "autostart", "{history:?}");
}

on_both_databases!(autostart_restores_a_saved_vm);
