//! The orders of events that used to be races in the VmActor, on real
//! daemons and QEMUs: an exit that overtakes QEMU's SHUTDOWN event, a reset
//! while a QMP command hangs, a daemon that stops in the middle of a start,
//! a VM recorded `starting` at re-adoption, a delete while a restart is due.

use harness::access::hmp;
use harness::daemon::processes_mentioning;
use harness::postgres::wait_until;
use harness::prereq::{binary, which};
use harness::{Daemon, DaemonOptions, Db};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// This daemon's QEMUs (their command lines name its runtime dir).
fn qemus(daemon: &Daemon) -> Vec<u32> {
    processes_mentioning(&daemon.runtime.display().to_string())
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("process=corvus-vm-"))
        })
        .collect()
}

/// Busy loops on every core until dropped, so that the daemon's tasks and
/// QEMU's threads are scheduled late and in unlucky orders.
struct CpuLoad(Vec<Child>);

impl CpuLoad {
    fn start() -> CpuLoad {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        CpuLoad(
            (0..cores)
                .map(|_| {
                    Command::new("sh")
                        .args(["-c", "while :; do :; done"])
                        .spawn()
                        .expect("start a busy loop")
                })
                .collect(),
        )
    }
}

impl Drop for CpuLoad {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn a_monitor_quit_always_ends_stopped_even_under_load() {
    let daemon = Daemon::start(Db::Sqlite).expect("daemon");
    daemon.create_firmware_vm("web", &[]);
    let _load = CpuLoad::start();
    for round in 0..100 {
        daemon.crv(&["vm", "start", "web"]).ok();
        hmp(&daemon, "web", "quit");
        let vm = daemon.wait_for_state("web", "stopped", Duration::from_secs(20));
        assert!(vm["last_error"].is_null(), "round {round}: {vm}");
    }
    let errors: Vec<_> = daemon
        .transitions("web")
        .into_iter()
        .filter(|(_, to)| to == "error")
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        daemon.transitions("web").len(),
        300,
        "stopped → starting → running → stopped, 100 times"
    );
}

/// `crv` in the background, for a command that will hang.
fn background(daemon: &Daemon, args: &[&str]) -> Child {
    Command::new(binary("crv"))
        .arg("--socket")
        .arg(&daemon.socket)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run crv")
}

#[test]
fn a_reset_is_not_kept_waiting_by_a_qmp_command_qemu_does_not_answer() {
    let daemon = Daemon::start(Db::Sqlite).expect("daemon");
    for (vm, hanging) in [("p", "pause"), ("s", "stop")] {
        daemon.create_firmware_vm(vm, &["--stop-timeout", "60"]);
        daemon.crv(&["vm", "start", vm]).ok();
        let pid = daemon.pid_of(vm).expect("a pid") as i32;
        kill(Pid::from_raw(pid), Signal::SIGSTOP).expect("SIGSTOP QEMU");
        let mut waiting = background(&daemon, &["vm", hanging, vm]);
        // Let the command reach QEMU, where it now hangs (QMP gives up on a
        // command after 10 s).
        std::thread::sleep(Duration::from_millis(500));
        if hanging == "pause" {
            assert!(
                waiting.try_wait().expect("poll crv").is_none(),
                "the pause waits for QEMU"
            );
        }
        let asked = Instant::now();
        let reset = daemon.crv(&["--json", "vm", "reset", vm]);
        let took = asked.elapsed();
        assert_eq!(reset.json()["status"], "stopped", "{vm}");
        assert!(
            took < Duration::from_secs(5),
            "the reset took {took:?} behind a hanging {hanging}"
        );
        let status = waiting.wait().expect("crv ends");
        // The pause loses its QEMU; the stop was answered at once.
        if hanging == "pause" {
            assert!(!status.success(), "a pause of a killed QEMU fails");
        }
        assert!(qemus(&daemon).is_empty());
    }
}

/// A QEMU that takes `seconds` to come up: QMP is silent until then.
fn slow_qemu(dir: &Path, seconds: u32) -> PathBuf {
    let qemu = which("qemu-system-x86_64").expect("qemu-system-x86_64 on PATH");
    let path = dir.join("slow-qemu");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nsleep {seconds}\nexec {} \"$@\"\n",
            qemu.display()
        ),
    )
    .expect("write the wrapper");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

fn daemon_with_slow_qemu(seconds: u32) -> (tempfile::TempDir, Daemon) {
    let bin = tempfile::tempdir().expect("tempdir");
    let wrapper = slow_qemu(bin.path(), seconds);
    let options = DaemonOptions {
        extra_args: vec!["--qemu".into(), wrapper.display().to_string()],
        ..DaemonOptions::default()
    };
    (
        bin,
        Daemon::start_with(Db::Sqlite, options).expect("daemon"),
    )
}

fn wait_for_pid(daemon: &Daemon, vm: &str) -> u64 {
    let mut pid = None;
    assert!(
        wait_until(Duration::from_secs(10), || {
            pid = daemon.pid_of(vm);
            pid.is_some()
        }),
        "the start recorded no PID"
    );
    pid.unwrap_or_default()
}

#[test]
fn a_daemon_stopped_in_the_middle_of_a_start_leaves_no_qemu_unrecorded() {
    let (_bin, mut daemon) = daemon_with_slow_qemu(4);
    daemon.create_firmware_vm("web", &[]);
    let mut start = background(&daemon, &["vm", "start", "web"]);
    let pid = wait_for_pid(&daemon, "web");
    assert_eq!(daemon.show("web")["status"], "starting");
    daemon.stop();
    let _ = start.wait();
    let stored = daemon.stored_vms();
    let recorded: Vec<u32> = stored
        .iter()
        .filter_map(|vm| vm.vm.pid)
        .map(|p| p as u32)
        .collect();
    assert_eq!(
        qemus(&daemon),
        recorded,
        "every QEMU is the one its row records"
    );
    assert_eq!(recorded, vec![pid as u32]);

    // The next daemon takes the start over and sees it through.
    daemon.restart();
    daemon.wait_for_state("web", "running", Duration::from_secs(30));
    assert_eq!(qemus(&daemon), vec![pid as u32], "adopted, not doubled");
}

#[test]
fn a_vm_recorded_starting_at_readoption_is_not_left_starting() {
    let (_bin, mut daemon) = daemon_with_slow_qemu(6);
    daemon.create_firmware_vm("web", &[]);
    let mut start = background(&daemon, &["vm", "start", "web"]);
    let pid = wait_for_pid(&daemon, "web");
    daemon.kill9();
    let _ = start.wait();
    daemon.restart();
    // QMP answers only after the wrapper's sleep, well past the 3 s a
    // running QEMU gets at re-adoption.
    let vm = daemon.wait_for_state("web", "running", Duration::from_secs(30));
    assert_eq!(vm["pid"], pid);
    let last = daemon.history("web").last().cloned().expect("events");
    assert_eq!(last["reason"], "re-adopted after a daemon restart");
}

#[test]
fn a_vm_deleted_while_its_restart_is_due_never_boots_again() {
    let daemon = Daemon::start(Db::Sqlite).expect("daemon");
    daemon.create_firmware_vm("web", &["--restart", "always"]);
    daemon.crv(&["vm", "start", "web"]).ok();
    hmp(&daemon, "web", "quit");
    daemon.wait_for_state("web", "stopped", Duration::from_secs(10));
    // The restart is due in 1 s.
    daemon.crv(&["vm", "delete", "web"]).ok();
    std::thread::sleep(Duration::from_secs(3));
    assert!(qemus(&daemon).is_empty(), "a deleted VM was booted");
    daemon
        .crv(&["vm", "show", "web"])
        .fails(1, "no VM named or numbered 'web'");
}
