//! Firmware VMs (cheap under KVM): every VM in `top`, no stale figures of
//! a QEMU that exited, and a QMP that does not answer.

use super::{QUICK, SLOW, add_disk, daemon_with_metrics, drive, stats, top, wait_for_stats};
use harness::DaemonOptions;
use harness::metrics::{scrape, value};
use harness::postgres::wait_until;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::time::Duration;

#[test]
fn top_lists_every_vm_and_a_qemu_that_exited_leaves_no_stale_figures() {
    let (daemon, port) = daemon_with_metrics(DaemonOptions::default());
    for name in ["gone", "idle"] {
        daemon.create_firmware_vm(name, &[]);
    }
    daemon.crv(&["vm", "start", "gone"]).ok();
    let listed = top(&daemon);
    let names: Vec<&str> = listed
        .iter()
        .filter_map(|vm| vm["vm_name"].as_str())
        .collect();
    assert_eq!(names, ["gone", "idle"], "every VM, by id");
    assert!(
        listed[1]["cpu"].is_null() && listed[1]["pid"].is_null(),
        "{listed:#?}"
    );
    assert_eq!(listed[1]["status"], "stopped");

    let seen = wait_until(SLOW, || top(&daemon)[0]["cpu"].is_object());
    assert!(
        seen,
        "the collector read the running VM: {:#?}",
        top(&daemon)
    );
    let pid = daemon.pid_of("gone").expect("a running QEMU");
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).expect("kill QEMU");
    // Once the daemon has seen QEMU exit (its state says so, its pid is gone).
    let crashed = wait_until(QUICK, || {
        let vm = daemon.show("gone");
        vm["status"] == "error" && vm["pid"].is_null()
    });
    assert!(crashed, "{}", daemon.log());

    // At once, before the collector's next round: no figure of the dead QEMU.
    let listed = top(&daemon);
    assert_eq!(listed[0]["status"], "error");
    assert!(
        listed[0]["cpu"].is_null() && listed[0]["pid"].is_null(),
        "{listed:#?}"
    );
    let text = scrape(port);
    assert!(
        !text.contains("corvus_vm_cpu_seconds_total{vm=\"gone\""),
        "{text}"
    );
    assert!(!text.contains("corvus_vm_rss_bytes{vm=\"gone\""), "{text}");
    assert_eq!(
        value(
            &text,
            "corvus_vm_state{vm=\"gone\",id=\"1\",state=\"error\"}"
        ),
        Some(1.0)
    );
    let now = stats(&daemon, "gone");
    assert!(now["cpu"].is_null() && now["memory"].is_null(), "{now:#}");
    daemon
        .crv(&["vm", "stats", "nosuch"])
        .fails(1, "no VM named");
}

#[test]
fn a_qmp_that_does_not_answer_leaves_proc_figures_and_marks_block_unavailable() {
    let (daemon, port) = daemon_with_metrics(DaemonOptions::default());
    daemon.create_firmware_vm("frozen", &[]);
    let disk = add_disk(&daemon, "frozen", 1);
    daemon.crv(&["vm", "start", "frozen"]).ok();
    wait_for_stats(&daemon, "frozen", "the drive's counters", |s| {
        drive(s, disk).is_some()
    });

    // A stopped process cannot answer QMP; /proc still describes it.
    let pid = Pid::from_raw(daemon.pid_of("frozen").expect("QEMU") as i32);
    kill(pid, Signal::SIGSTOP).expect("stop QEMU");
    let started = std::time::Instant::now();
    let frozen = stats(&daemon, "frozen");
    let took = started.elapsed();
    kill(pid, Signal::SIGCONT).ok();
    assert!(
        took < Duration::from_secs(5),
        "answered within the QMP deadline: {took:?}"
    );
    let reason = frozen["block"]["unavailable"].as_str().unwrap_or_default();
    assert!(reason.contains("did not answer"), "{frozen:#}");
    assert!(
        frozen["block"]["drives"]
            .as_array()
            .is_some_and(Vec::is_empty),
        "{frozen:#}"
    );
    assert!(frozen["cpu"]["seconds"].as_f64().is_some(), "{frozen:#}");
    assert!(frozen["cpu"]["vcpus_unavailable"].is_string(), "{frozen:#}");
    assert!(
        frozen["memory"]["rss_bytes"].as_u64() > Some(0),
        "{frozen:#}"
    );

    wait_for_stats(&daemon, "frozen", "QMP answers again", |s| {
        drive(s, disk).is_some()
    });
    let up = value(&scrape(port), "corvus_vm_qmp_up{vm=\"frozen\",id=\"1\"}");
    assert_eq!(up, Some(1.0));
    daemon.crv(&["vm", "reset", "frozen"]).ok();
}
