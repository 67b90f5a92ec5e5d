//! Supervision and fault tolerance (DESIGN §4): restart policies, actor
//! failures, daemon restarts that re-adopt running VMs, database outages,
//! autostart, and stopping VMs on exit.

use harness::daemon::processes_mentioning;
use harness::postgres::{Cluster, wait_until};
use harness::{Daemon, DaemonOptions, Db, Guest};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use std::time::Duration;

/// Firmware-only VMs ignore ACPI; a short stop timeout keeps escalations quick.
fn firmware_vm(daemon: &Daemon, name: &str, extra: &[&str]) {
    daemon.create_firmware_vm(name, &[&["--stop-timeout", "2"], extra].concat());
}

fn kill9(pid: u64) {
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).expect("kill -9 QEMU");
}

/// QEMU processes of this daemon (their command lines name its runtime dir).
fn qemus(daemon: &Daemon) -> Vec<u32> {
    processes_mentioning(&daemon.runtime.display().to_string())
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("process=corvus-vm-"))
        })
        .collect()
}

fn millis(at: &Value) -> i64 {
    let at = at.as_str().unwrap();
    // 2026-11-26T12:00:00.123Z: compare within a day is enough for these tests.
    let time = &at[11..23];
    let (h, rest) = time.split_at(2);
    let (m, rest) = rest[1..].split_at(2);
    let (s, ms) = rest[1..].split_at(2);
    ((h.parse::<i64>().unwrap() * 60 + m.parse::<i64>().unwrap()) * 60 + s.parse::<i64>().unwrap())
        * 1000
        + ms[1..].parse::<i64>().unwrap()
}

fn on_failure_restarts_with_backoff_until_the_limit(db: Db) {
    let Some(daemon) = Daemon::start(db) else {
        return;
    };
    firmware_vm(
        &daemon,
        "crashy",
        &[
            "--restart",
            "on-failure",
            "--max-restarts",
            "3",
            "--restart-window",
            "300",
        ],
    );
    daemon.crv(&["vm", "start", "crashy"]).ok();
    for attempt in 1..=3 {
        let pid = daemon.pid_of("crashy").unwrap();
        kill9(pid);
        let restarted = wait_until(Duration::from_secs(30), || {
            let vm = daemon.crv(&["--json", "vm", "show", "crashy"]).json();
            vm["status"] == "running" && vm["pid"].as_u64().is_some_and(|p| p != pid)
        });
        assert!(restarted, "restart {attempt} happened:\n{}", daemon.log());
    }
    kill9(daemon.pid_of("crashy").unwrap());
    let vm = daemon.wait_for_state("crashy", "error", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(1500));
    let vm_later = daemon.crv(&["--json", "vm", "show", "crashy"]).json();
    assert_eq!(vm_later["status"], "error", "no fourth restart");
    let error = vm_later["last_error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        error.contains("restart limit reached (3 in 300 s)"),
        "{error} / {vm}"
    );

    let events = daemon.history("crashy");
    let restarts: Vec<&Value> = events
        .iter()
        .filter(|e| e["cause"].get("restart_policy").is_some())
        .filter(|e| e["to"] == "starting")
        .collect();
    assert_eq!(
        restarts
            .iter()
            .map(|e| e["cause"]["restart_policy"]["attempt"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    for restart in &restarts {
        assert!(
            restart["reason"].as_str().unwrap().contains("SIGKILL"),
            "the reason names the crash: {restart}"
        );
    }
    // The delay between each crash and its restart grows: 1 s, 2 s, 4 s.
    let mut delays = Vec::new();
    for restart in &restarts {
        let seq = restart["seq"].as_u64().unwrap();
        let crash = events
            .iter()
            .rev()
            .find(|e| e["seq"].as_u64().unwrap() < seq && e["to"] == "error")
            .unwrap();
        delays.push(millis(&restart["at"]) - millis(&crash["at"]));
    }
    for (delay, expected) in delays.iter().zip([1000, 2000, 4000]) {
        assert!(
            *delay >= expected - 50 && *delay < expected + 2000,
            "delays {delays:?}"
        );
    }
    let limit = events.last().unwrap();
    assert_eq!(
        (limit["to"].as_str(), limit["reason"].as_str()),
        (Some("error"), Some("restart limit reached (3 in 300 s)"))
    );
}

fn never_restarts_and_always_restarts_a_guest_poweroff(db: Db) {
    let Some(daemon) = Daemon::start_with(db, DaemonOptions::tcg()) else {
        return;
    };
    firmware_vm(&daemon, "fragile", &["--restart", "never"]);
    daemon.crv(&["vm", "start", "fragile"]).ok();
    kill9(daemon.pid_of("fragile").unwrap());
    daemon.wait_for_state("fragile", "error", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        daemon.crv(&["--json", "vm", "show", "fragile"]).json()["status"],
        "error",
        "never means never"
    );

    let Some(guest) = Guest::get() else { return };
    let id = daemon.create_guest_vm(guest, "phoenix", "", &["--restart", "always"]);
    daemon.crv(&["vm", "start", "phoenix"]).ok();
    daemon.wait_for_serial(id, "GUEST READY", harness::guest::BOOT_TIMEOUT);
    let first = daemon.pid_of("phoenix").unwrap();
    // A poweroff the guest does on its own (here: the ACPI button pressed from its monitor).
    harness::access::hmp(&daemon, "phoenix", "system_powerdown");
    let restarted = wait_until(Duration::from_secs(60), || {
        daemon.pid_of("phoenix").is_some_and(|p| p != first)
    });
    assert!(
        restarted,
        "always restarts after a guest poweroff:\n{}",
        daemon.log()
    );
    let events = daemon.history("phoenix");
    assert!(
        events
            .iter()
            .any(|e| e["to"] == "stopped" && e["cause"] == "guest"),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["cause"]["restart_policy"]["attempt"] == 1),
        "{events:?}"
    );

    daemon.wait_for_serial(id, "GUEST READY", harness::guest::BOOT_TIMEOUT);
    daemon.crv(&["vm", "stop", "phoenix", "--wait"]).ok();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        daemon.crv(&["--json", "vm", "show", "phoenix"]).json()["status"],
        "stopped",
        "an operator stop is never undone"
    );
}

on_both_databases!(
    on_failure_restarts_with_backoff_until_the_limit,
    never_restarts_and_always_restarts_a_guest_poweroff
);

#[test]
fn a_panicking_vm_actor_is_respawned_without_touching_the_vm() {
    let options = DaemonOptions {
        env: vec![("CORVUS_TEST_PANIC".into(), "web:vm history".into())],
        ..DaemonOptions::default()
    };
    let daemon = Daemon::start_with(Db::Sqlite, options).unwrap();
    firmware_vm(&daemon, "web", &[]);
    daemon.crv(&["vm", "start", "web"]).ok();
    let pid = daemon.pid_of("web").unwrap();
    daemon
        .crv(&["vm", "history", "web"])
        .fails(1, "the actor handling it failed");
    let vm = daemon.crv(&["--json", "vm", "show", "web"]).json();
    assert_eq!(
        (vm["status"].as_str(), vm["pid"].as_u64()),
        (Some("running"), Some(pid)),
        "the VM was not touched"
    );
    assert_eq!(
        daemon.crv(&["--json", "vm", "pause", "web"]).json()["status"],
        "paused",
        "the new actor controls QEMU"
    );
    assert_eq!(
        daemon.crv(&["--json", "vm", "start", "web"]).json()["status"],
        "running"
    );
    assert_eq!(qemus(&daemon), vec![pid as u32]);

    // Past the restart intensity the VM is put in error, still attached.
    for _ in 0..3 {
        daemon.crv(&["vm", "history", "web"]).fails(1, "failed");
    }
    let vm = daemon.wait_for_state("web", "error", Duration::from_secs(10));
    assert!(
        vm["last_error"]
            .as_str()
            .unwrap()
            .contains("actor failed more than 3 times"),
        "{vm}"
    );
    assert_eq!(qemus(&daemon), vec![pid as u32], "QEMU was left as it was");
    assert_eq!(
        daemon.crv(&["--json", "vm", "reset", "web"]).json()["status"],
        "stopped"
    );
    assert!(qemus(&daemon).is_empty(), "reset ended it");
}

fn daemon_kill9_then_readopt(db: Db) {
    let Some(mut daemon) = Daemon::start(db) else {
        return;
    };
    for i in 0..5 {
        firmware_vm(&daemon, &format!("vm{i}"), &[]);
        daemon.crv(&["vm", "start", &format!("vm{i}")]).ok();
    }
    daemon.crv(&["vm", "pause", "vm4"]).ok();
    let before: Vec<(Value, Value)> = (0..5)
        .map(|i| {
            let vm = daemon
                .crv(&["--json", "vm", "show", &format!("vm{i}")])
                .json();
            (vm["status"].clone(), vm["pid"].clone())
        })
        .collect();
    daemon.kill9();
    assert_eq!(
        qemus(&daemon).len(),
        5,
        "QEMUs outlive a daemon killed with SIGKILL"
    );
    daemon.restart();
    for (i, (status, pid)) in before.iter().enumerate() {
        let vm = daemon
            .crv(&["--json", "vm", "show", &format!("vm{i}")])
            .json();
        assert_eq!(
            (&vm["status"], &vm["pid"]),
            (status, pid),
            "vm{i} re-adopted as it was"
        );
    }
    assert_eq!(qemus(&daemon).len(), 5, "no extra QEMU");
    // Re-adopted VMs are fully controlled: pause, resume, stop (firmware ignores ACPI: escalation).
    daemon.crv(&["vm", "start", "vm4"]).ok();
    daemon.crv(&["vm", "pause", "vm0"]).ok();
    for i in 0..5 {
        daemon.crv(&["vm", "stop", &format!("vm{i}")]).ok();
    }
    for i in 0..5 {
        daemon.wait_for_state(&format!("vm{i}"), "stopped", Duration::from_secs(30));
    }
    assert!(qemus(&daemon).is_empty());

    // A QEMU that dies while the daemon is down: error, then its policy.
    daemon
        .crv(&["vm", "edit", "vm1", "--restart", "on-failure"])
        .ok();
    daemon.crv(&["vm", "start", "vm0"]).ok();
    daemon.crv(&["vm", "start", "vm1"]).ok();
    daemon.kill9();
    kill9(pid_of_running(&daemon, 0));
    kill9(pid_of_running(&daemon, 1));
    daemon.restart();
    let vm0 = daemon.wait_for_state("vm0", "error", Duration::from_secs(10));
    assert!(
        vm0["last_error"]
            .as_str()
            .unwrap()
            .contains("QEMU exited while the daemon was down"),
        "{vm0}"
    );
    let events = daemon.history("vm0");
    assert_eq!(events.last().unwrap()["cause"], "readoption");
    daemon.wait_for_state("vm1", "running", Duration::from_secs(30));
    assert_eq!(qemus(&daemon).len(), 1);
}

/// The pid of `vm<i>` as the processes show it (the daemon is down).
fn pid_of_running(daemon: &Daemon, i: usize) -> u64 {
    let marker = format!("process=corvus-vm-{}", i + 1);
    let pids: Vec<u32> = qemus(daemon)
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                String::from_utf8_lossy(&c)
                    .split('\0')
                    .any(|a| a.ends_with(&marker))
            })
        })
        .collect();
    assert_eq!(pids.len(), 1, "one QEMU for vm{i}");
    pids[0] as u64
}

fn autostart_and_leaving_vms_running(db: Db) {
    let Some(mut daemon) = Daemon::start(db) else {
        return;
    };
    firmware_vm(&daemon, "auto", &["--autostart"]);
    firmware_vm(&daemon, "manual", &[]);
    daemon.crv(&["vm", "start", "auto"]).ok();
    let pid = daemon.pid_of("auto").unwrap();
    // crv shutdown leaves VMs running; the next daemon re-adopts instead of starting a second one.
    daemon.crv(&["shutdown"]).ok();
    assert!(daemon.wait_exit().success());
    assert_eq!(qemus(&daemon).len(), 1);
    daemon.restart();
    assert_eq!(
        daemon.pid_of("auto"),
        Some(pid),
        "autostart leaves a running VM alone"
    );
    assert_eq!(
        daemon.crv(&["--json", "vm", "show", "manual"]).json()["status"],
        "stopped"
    );

    daemon.crv(&["vm", "reset", "auto"]).ok();
    daemon.restart();
    daemon.wait_for_state("auto", "running", Duration::from_secs(20));
    let events = daemon.history("auto");
    assert!(
        events
            .iter()
            .any(|e| e["cause"] == "autostart" && e["to"] == "starting"),
        "{events:?}"
    );
    assert_eq!(
        daemon.crv(&["--json", "vm", "show", "manual"]).json()["status"],
        "stopped"
    );
}

on_both_databases!(daemon_kill9_then_readopt, autostart_and_leaving_vms_running);

#[test]
fn stop_vms_on_exit_stops_them_gracefully() {
    let options = DaemonOptions {
        extra_args: vec!["--stop-vms-on-exit".into()],
        ..DaemonOptions::default()
    };
    let mut daemon = Daemon::start_with(Db::Sqlite, options).unwrap();
    firmware_vm(&daemon, "a", &[]);
    firmware_vm(&daemon, "b", &[]);
    daemon.crv(&["vm", "start", "a"]).ok();
    daemon.crv(&["vm", "start", "b"]).ok();
    daemon.crv(&["vm", "pause", "b"]).ok();
    assert!(daemon.stop().success());
    assert!(
        qemus(&daemon).is_empty(),
        "every QEMU stopped before the daemon exited"
    );
    daemon.options.extra_args.clear();
    daemon.restart();
    for vm in ["a", "b"] {
        assert_eq!(
            daemon.crv(&["--json", "vm", "show", vm]).json()["status"],
            "stopped"
        );
    }
    let events = daemon.history("b");
    assert_eq!(
        events.last().unwrap()["cause"],
        "timeout_escalation",
        "firmware ignores ACPI, so its stop escalated"
    );
}

#[test]
fn postgresql_outage_queues_state_changes_and_loses_none() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let url = cluster.create_database();
    let daemon = Daemon::start_on(
        tempfile::Builder::new().prefix("crv").tempdir().unwrap(),
        url,
        DaemonOptions::default(),
    );
    for name in ["p1", "p2", "p3"] {
        firmware_vm(&daemon, name, &[]);
        daemon.crv(&["vm", "start", name]).ok();
    }
    let seen_before = daemon.history("p1").len();
    assert_eq!(seen_before, 2);

    cluster.stop_server();
    let outage = std::time::Instant::now();
    // VMs are paused, resumed and stopped while the database is gone.
    daemon.crv(&["vm", "pause", "p1"]).ok();
    daemon.crv(&["vm", "pause", "p2"]).ok();
    daemon.crv(&["vm", "start", "p1"]).ok();
    daemon.crv(&["vm", "reset", "p3"]).ok();
    std::thread::sleep(Duration::from_secs(3));
    let status = daemon.crv(&["--json", "status"]).json();
    assert!(
        status["persistence_backlog"].as_u64().unwrap() >= 4,
        "the backlog is shown: {status}"
    );
    let list = daemon.crv(&["--json", "vm", "list"]).json();
    let states: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|vm| vm["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        ["running", "paused", "stopped"],
        "reads come from the actors"
    );
    daemon.crv(&["vm", "stop", "p1", "--timeout", "1"]).ok();
    daemon
        .crv(&["vm", "edit", "p3", "--cpus", "2"])
        .fails(1, "database");
    while outage.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(500));
        daemon.crv(&["ping"]).ok();
    }
    daemon.wait_for_state("p1", "stopped", Duration::from_secs(10));
    cluster.start_server();
    let drained = wait_until(Duration::from_secs(60), || {
        daemon.crv(&["--json", "status"]).json()["persistence_backlog"] == 0
    });
    assert!(
        drained,
        "the backlog drains once PostgreSQL is back:\n{}",
        daemon.log()
    );

    assert_eq!(
        daemon.transitions("p1"),
        harness::transitions(&[
            ("stopped", "starting"),
            ("starting", "running"),
            ("running", "paused"),
            ("paused", "running"),
            ("running", "stopping"),
            ("stopping", "stopped")
        ])
    );
    assert_eq!(
        daemon.transitions("p2"),
        harness::transitions(&[
            ("stopped", "starting"),
            ("starting", "running"),
            ("running", "paused")
        ])
    );
    assert_eq!(
        daemon.transitions("p3"),
        harness::transitions(&[
            ("stopped", "starting"),
            ("starting", "running"),
            ("running", "stopped")
        ])
    );
    // The vm rows too, read straight from the database.
    let stored = daemon.stored_vms();
    let rows: Vec<(&str, &str, Option<i32>)> = stored
        .iter()
        .map(|s| (s.vm.name.as_str(), s.vm.status.as_str(), s.vm.pid))
        .collect();
    let p2_pid = daemon.pid_of("p2").map(|p| p as i32);
    assert_eq!(
        rows,
        [
            ("p1", "stopped", None),
            ("p2", "paused", p2_pid),
            ("p3", "stopped", None)
        ]
    );
    daemon.crv(&["vm", "edit", "p3", "--cpus", "2"]).ok();
    daemon.crv(&["vm", "reset", "p2"]).ok();
}

#[test]
fn a_guest_panic_is_a_failure_that_on_failure_restarts() {
    let Some(guest) = Guest::get() else { return };
    let daemon = Daemon::start_with(Db::Sqlite, DaemonOptions::tcg()).unwrap();
    let id = daemon.create_guest_vm(guest, "panicky", "", &["--restart", "on-failure"]);
    daemon.crv(&["vm", "start", "panicky"]).ok();
    daemon.wait_for_serial(id, "GUEST READY", harness::guest::BOOT_TIMEOUT);
    let first = daemon.pid_of("panicky").unwrap();
    // The guest's pvpanic driver reports the crash to QEMU (GUEST_PANICKED).
    daemon.crv_with_input(
        &["vm", "console", "panicky"],
        "echo c > /proc/sysrq-trigger\n",
    );
    let restarted = wait_until(Duration::from_secs(60), || {
        daemon.pid_of("panicky").is_some_and(|p| p != first)
    });
    assert!(
        restarted,
        "on-failure restarts a panicked guest:\n{}",
        daemon.log()
    );
    let events = daemon.history("panicky");
    let panic = events
        .iter()
        .find(|e| e["to"] == "error")
        .expect("an error event");
    assert_eq!(
        (panic["reason"].as_str(), &panic["cause"]),
        (Some("the guest panicked"), &Value::String("guest".into())),
        "{panic}"
    );
    daemon.crv(&["vm", "reset", "panicky"]).ok();
}
