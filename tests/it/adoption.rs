//! Re-adoption that trusts the processes over what was recorded (issue 12,
//! defects 3 and 4): a daemon started with another socket and runtime
//! directory still finds its QEMUs; a database that lags behind a crash
//! never makes a QEMU run twice; and two daemons on different databases,
//! whose VM ids overlap, never take each other's QEMUs.

use harness::daemon::{kill_processes_mentioning, processes_mentioning};
use harness::{Daemon, Db};
use std::time::Duration;

/// QEMU processes whose command line mentions `needle` (a runtime dir).
fn qemus_in(needle: &std::path::Path) -> Vec<u32> {
    processes_mentioning(&needle.display().to_string())
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("process=corvus-vm-"))
        })
        .collect()
}

fn moved_socket_and_runtime_dir_still_find_the_qemus(db: Db) {
    let Some(mut daemon) = Daemon::start(db) else {
        return;
    };
    daemon.create_firmware_vm("web", &[]);
    daemon.crv(&["vm", "start", "web"]).ok();
    let pid = daemon.pid_of("web").expect("a pid");
    let old_runtime = daemon.runtime.clone();
    daemon.stop();
    daemon.runtime = daemon.dir.path().join("elsewhere/run");
    daemon.socket = daemon.dir.path().join("elsewhere/sock/corvus.sock");
    daemon.restart();
    let vm = daemon.show("web");
    assert_eq!(
        (vm["status"].as_str(), vm["pid"].as_u64()),
        (Some("running"), Some(pid)),
        "adopted where it runs: {vm}"
    );
    assert!(
        vm["runtime"]["qmp"]
            .as_str()
            .is_some_and(|qmp| qmp.starts_with(&old_runtime.display().to_string())),
        "its sockets are where QEMU made them: {vm}"
    );
    let status = harness::access::hmp(&daemon, "web", "info status");
    assert!(status.contains("running"), "{status}");
    daemon.crv(&["vm", "pause", "web"]).ok();
    daemon.crv(&["vm", "reset", "web"]).ok();
    assert!(qemus_in(&old_runtime).is_empty(), "reset ended it");
    // The next boot uses the new runtime directory.
    daemon.crv(&["vm", "start", "web"]).ok();
    assert_eq!(qemus_in(&daemon.runtime).len(), 1);
    kill_processes_mentioning(&old_runtime);
}

fn a_lagging_database_never_doubles_a_qemu(db: Db) {
    let Some(mut daemon) = Daemon::start(db) else {
        return;
    };
    daemon.create_firmware_vm("web", &[]);
    daemon.crv(&["vm", "start", "web"]).ok();
    let pid = daemon.pid_of("web").expect("a pid");
    daemon.kill9();
    // The crash lost the record of the start.
    daemon.execute_sql("UPDATE vm SET status = 'stopped', pid = NULL".into());
    daemon.restart();
    let vm = daemon.wait_for_state("web", "running", Duration::from_secs(30));
    assert_eq!(vm["pid"].as_u64(), Some(pid), "{vm}");
    let found = daemon.history("web").into_iter().find(|event| {
        event["reason"]
            .as_str()
            .is_some_and(|r| r.contains("although the database recorded the VM as stopped"))
    });
    assert!(found.is_some(), "the event says why it is running again");
    daemon
        .crv(&["vm", "start", "web"])
        .fails(1, "already running");
    assert_eq!(qemus_in(&daemon.runtime), vec![pid as u32], "one QEMU");
}

on_both_databases!(
    moved_socket_and_runtime_dir_still_find_the_qemus,
    a_lagging_database_never_doubles_a_qemu
);

#[test]
fn daemons_on_different_databases_never_take_each_others_qemus() {
    let first = Daemon::start(Db::Sqlite).expect("daemon");
    let mut second = Daemon::start(Db::Sqlite).expect("daemon");
    // Both VMs have id 1, and so the same corvus-vm-1 on their command line.
    first.create_firmware_vm("a", &[]);
    second.create_firmware_vm("b", &[]);
    first.crv(&["vm", "start", "a"]).ok();
    let theirs = first.pid_of("a").expect("a pid");
    second.kill9();
    second.restart();
    assert_eq!(second.show("b")["status"], "stopped", "not adopted");
    second.crv(&["vm", "start", "b"]).ok();
    assert_ne!(second.pid_of("b"), Some(theirs));
    assert_eq!(first.show("a")["pid"].as_u64(), Some(theirs));
    assert_eq!(qemus_in(&first.runtime), vec![theirs as u32]);
}
