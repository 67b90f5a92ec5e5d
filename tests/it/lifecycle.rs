//! VM lifecycle on a real QEMU: the test guest under TCG, and firmware-only
//! VMs (no boot device) under KVM with `-cpu qemu64` or TCG.

use harness::{Daemon, DaemonOptions, Db, Guest};
use serde_json::Value;
use std::time::Duration;

fn boot_pause_resume_stop(db: Db) {
    let Some(guest) = Guest::get() else { return };
    let Some(daemon) = Daemon::start_with(db, DaemonOptions::tcg()) else {
        return;
    };
    let id = daemon.create_guest_vm(guest, "web", "", &[]);
    let started = daemon.crv(&["--json", "vm", "start", "web"]).json();
    assert_eq!(started["status"], "running");
    let pid = started["pid"].as_u64().expect("a running VM has a pid");
    daemon.wait_for_serial(id, "GUEST READY", harness::guest::BOOT_TIMEOUT);

    let paused = daemon.crv(&["--json", "vm", "pause", "web"]).json();
    assert_eq!(paused["status"], "paused");
    let monitor = harness::access::hmp(&daemon, "web", "info status");
    assert!(monitor.contains("VM status: paused"), "{monitor}");
    assert_eq!(
        daemon.crv(&["--json", "vm", "start", "web"]).json()["status"],
        "running"
    );
    let monitor = harness::access::hmp(&daemon, "web", "info status");
    assert!(monitor.contains("VM status: running"), "{monitor}");

    let stopping = daemon.crv(&["--json", "vm", "stop", "web"]).json();
    assert_eq!(stopping["status"], "stopping");
    let stopped = daemon.wait_for_state("web", "stopped", Duration::from_secs(30));
    assert_eq!(stopped["pid"], Value::Null);
    assert_eq!(stopped["last_error"], Value::Null);
    assert!(
        !harness::daemon::processes_mentioning(&format!("process=corvus-vm-{id}"))
            .contains(&(pid as u32))
    );
    assert!(
        daemon.serial_log(id).contains("POWER BUTTON"),
        "the guest saw the ACPI button:\n{}",
        daemon.serial_log(id)
    );
    assert_eq!(
        daemon.transitions("web"),
        harness::transitions(&[
            ("stopped", "starting"),
            ("starting", "running"),
            ("running", "paused"),
            ("paused", "running"),
            ("running", "stopping"),
            ("stopping", "stopped")
        ])
    );
    let history = daemon.crv(&["--json", "vm", "history", "web"]).json();
    let last = &history.as_array().unwrap()[5];
    assert_eq!(last["reason"], "guest powered off", "{last}");
    assert!(
        daemon.log().contains("exit=exited with status 0"),
        "QEMU exited 0 after the guest's poweroff:\n{}",
        daemon.log()
    );
}

on_both_databases!(boot_pause_resume_stop);

fn a_vm_that_ignores_acpi_is_stopped_after_the_timeout(db: Db) {
    let Some(daemon) = Daemon::start(db) else {
        return;
    };
    daemon.create_firmware_vm("fw", &[]);
    daemon.crv(&["vm", "start", "fw"]).ok();
    let started = std::time::Instant::now();
    let stopped = daemon
        .crv(&["--json", "vm", "stop", "fw", "--timeout", "2", "--wait"])
        .json();
    assert_eq!(stopped["status"], "stopped");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(15),
        "{took:?}"
    );
    let history = daemon.crv(&["--json", "vm", "history", "fw"]).json();
    let last = history.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["cause"], "timeout_escalation", "{last}");
}

fn reset_refusals_and_crashes(db: Db) {
    let Some(daemon) = Daemon::start(db) else {
        return;
    };
    daemon.create_firmware_vm("fw", &[]);
    // Refusals from `stopped`.
    daemon
        .crv(&["vm", "stop", "fw"])
        .fails(1, "is already stopped");
    daemon.crv(&["vm", "pause", "fw"]).fails(1, "is stopped");
    assert_eq!(
        daemon.crv(&["--json", "vm", "reset", "fw"]).json()["status"],
        "stopped",
        "reset of a stopped VM is a no-op"
    );

    // Refusals from `running`, and definition changes refused while it runs.
    daemon.crv(&["vm", "start", "fw"]).ok();
    daemon
        .crv(&["vm", "start", "fw"])
        .fails(1, "is already running");
    daemon
        .crv(&["vm", "edit", "fw", "--cpus", "2"])
        .fails(1, "is running; stop it first");
    daemon.crv(&["vm", "delete", "fw"]).fails(1, "is running");
    daemon
        .crv(&[
            "vm",
            "drive",
            "add",
            "fw",
            "--file",
            "/x.img",
            "--interface",
            "ide",
        ])
        .fails(1, "is running: IDE and SATA drives");
    daemon
        .crv(&["vm", "share", "add", "fw", "--path", "/tmp", "--tag", "t"])
        .fails(1, "is running");
    let reset = daemon.crv(&["--json", "vm", "reset", "fw"]).json();
    assert_eq!(
        (reset["status"].as_str(), reset["pid"].as_u64()),
        (Some("stopped"), None),
        "reset from running"
    );

    // From `paused`.
    daemon.crv(&["vm", "start", "fw"]).ok();
    daemon.crv(&["vm", "pause", "fw"]).ok();
    daemon
        .crv(&["vm", "pause", "fw"])
        .fails(1, "is already paused; use `crv vm start fw` to resume");
    assert_eq!(
        daemon.crv(&["--json", "vm", "reset", "fw"]).json()["status"],
        "stopped",
        "reset from paused"
    );

    // From `stopping`: a second stop is refused, reset kills.
    daemon.crv(&["vm", "start", "fw"]).ok();
    daemon.crv(&["vm", "stop", "fw", "--timeout", "60"]).ok();
    daemon
        .crv(&["vm", "stop", "fw"])
        .fails(1, "is already stopping; use `crv vm reset fw`");
    daemon.crv(&["vm", "start", "fw"]).fails(1, "is stopping");
    daemon.crv(&["vm", "pause", "fw"]).fails(1, "is stopping");
    assert_eq!(
        daemon.crv(&["--json", "vm", "reset", "fw"]).json()["status"],
        "stopped",
        "reset from stopping"
    );

    // A QEMU killed behind Corvus's back is an error that names the signal.
    let pid = daemon.crv(&["--json", "vm", "start", "fw"]).json()["pid"]
        .as_u64()
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let crashed = daemon.wait_for_state("fw", "error", Duration::from_secs(10));
    let error = crashed["last_error"].as_str().unwrap();
    assert!(
        error.contains("signal 9") && error.contains("SIGKILL"),
        "{error}"
    );
    assert_eq!(crashed["pid"], Value::Null);
    let shown = daemon.crv(&["vm", "show", "fw"]).ok();
    assert!(
        shown.contains("SIGKILL"),
        "vm show prints the reason:\n{shown}"
    );
    // From `error` only reset helps.
    daemon.crv(&["vm", "start", "fw"]).fails(1, "is in error");
    daemon.crv(&["vm", "stop", "fw"]).fails(1, "is in error");
    daemon.crv(&["vm", "pause", "fw"]).fails(1, "is error");
    daemon
        .crv(&["vm", "edit", "fw", "--cpus", "2"])
        .fails(1, "use `crv vm reset fw` first");
    let reset = daemon.crv(&["--json", "vm", "reset", "fw"]).json();
    assert_eq!(
        (reset["status"].as_str(), &reset["last_error"]),
        (Some("stopped"), &Value::Null)
    );
    daemon.crv(&["vm", "edit", "fw", "--cpus", "2"]).ok();
}

fn a_missing_drive_fails_the_start_with_qemus_message(db: Db) {
    let Some(daemon) = Daemon::start(db) else {
        return;
    };
    daemon.create_firmware_vm("broken", &[]);
    daemon
        .crv(&[
            "vm",
            "drive",
            "add",
            "broken",
            "--file",
            "/nonexistent/disk.qcow2",
            "--interface",
            "virtio",
            "--format",
            "qcow2",
        ])
        .ok();
    let stderr = daemon
        .crv(&["vm", "start", "broken"])
        .fails(1, "QEMU failed to start");
    assert!(
        stderr.contains("/nonexistent/disk.qcow2") && stderr.contains("No such file"),
        "QEMU's own words: {stderr}"
    );
    let vm = daemon.crv(&["--json", "vm", "show", "broken"]).json();
    assert_eq!(vm["status"], "error");
    assert!(
        vm["last_error"].as_str().unwrap().contains("No such file"),
        "{vm}"
    );
    assert_eq!(vm["pid"], Value::Null);
}

on_both_databases!(
    a_vm_that_ignores_acpi_is_stopped_after_the_timeout,
    reset_refusals_and_crashes,
    a_missing_drive_fails_the_start_with_qemus_message
);

#[test]
fn ten_vms_start_in_parallel() {
    let daemon = Daemon::start(Db::Sqlite).unwrap();
    for i in 0..10 {
        daemon.create_firmware_vm(&format!("p{i}"), &[]);
    }
    std::thread::scope(|scope| {
        for i in 0..10 {
            let daemon = &daemon;
            scope.spawn(move || daemon.crv(&["vm", "start", &format!("p{i}")]).ok());
        }
    });
    let list = daemon.crv(&["--json", "vm", "list"]).json();
    let pids: std::collections::HashSet<u64> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|vm| {
            assert_eq!(vm["status"], "running", "{vm}");
            vm["pid"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(pids.len(), 10, "ten distinct QEMUs");
    for i in 0..10 {
        daemon.crv(&["vm", "reset", &format!("p{i}")]).ok();
    }
}

#[test]
fn racing_starts_and_resets_never_leave_two_qemus_or_a_wrong_state() {
    let daemon = Daemon::start(Db::Sqlite).unwrap();
    daemon.create_firmware_vm("race", &[]);
    let marker = "process=corvus-vm-1";
    for round in 0..3 {
        std::thread::scope(|scope| {
            for i in 0..20 {
                let daemon = &daemon;
                let verb = if (i + round) % 2 == 0 {
                    "start"
                } else {
                    "reset"
                };
                // Each may be refused (already running, …); none may break anything.
                scope.spawn(move || daemon.crv(&["vm", verb, "race"]));
            }
        });
        let vm = daemon.crv(&["--json", "vm", "show", "race"]).json();
        let qemus = harness::daemon::processes_mentioning(marker);
        let qemus: Vec<u32> = qemus
            .into_iter()
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .map(|c| String::from_utf8_lossy(&c).contains(daemon.runtime.to_str().unwrap()))
                    .unwrap_or(false)
            })
            .collect();
        match vm["status"].as_str().unwrap() {
            "running" => assert_eq!(
                qemus,
                vec![vm["pid"].as_u64().unwrap() as u32],
                "round {round}: one QEMU, the recorded one"
            ),
            "stopped" => assert!(
                qemus.is_empty(),
                "round {round}: stopped but QEMU {qemus:?} lives"
            ),
            other => panic!("round {round}: unexpected state {other}: {vm}"),
        }
    }
    daemon.crv(&["vm", "reset", "race"]).ok();
}
