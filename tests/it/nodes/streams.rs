//! Consoles and monitors of another node's VM, relayed through the node
//! the client reached, and what a client on that node sees when the VM's
//! node dies under a stream or a forwarded request.

use super::forwarding::tls_cluster;
use super::*;
use harness::access::Via;
use std::io::Write;

const QUICK: Duration = Duration::from_secs(15);

/// Through b, fw's monitor and console on a work as on a: HMP answers both
/// ways (a `stop` typed through b pauses fw on a), the console replays a's
/// serial log, one holder per channel across nodes (Busy), detach frees it,
/// the monitor needs admin; a killed under a relay ends it naming a.
#[test]
fn a_console_and_monitor_reach_another_nodes_vm() {
    let Some(nodes) = tls_cluster(&["a", "b"], &[]) else {
        return;
    };
    let (mut a, b) = {
        let mut nodes = nodes.into_iter();
        (nodes.next().unwrap(), nodes.next().unwrap())
    };
    b.create_firmware_vm("fw", &["--node", "a"]);
    let started = b.crv(&["--json", "vm", "start", "fw"]).json();
    assert_eq!(started["node"], "a", "{started}");

    // Bytes both ways on the monitor.
    let answer = b
        .crv_with_input(&["vm", "monitor", "fw"], "info status\n")
        .ok();
    assert!(
        answer.contains("(qemu) info status\nVM status: running\n"),
        "{answer}"
    );
    b.crv_with_input(&["vm", "monitor", "fw"], "stop\n").ok();
    a.wait_for_state("fw", "paused", QUICK);
    b.crv_with_input(&["vm", "monitor", "fw"], "cont\n").ok();
    a.wait_for_state("fw", "running", QUICK);

    // The console replays what a's QEMU logged (firmware prints nothing
    // on serial, so the test writes the log line itself).
    let log = a.show("fw")["runtime"]["serial_log"]
        .as_str()
        .expect("a serial log")
        .to_owned();
    let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    file.write_all(b"REPLAY-MARK 42\n").unwrap();
    let out = b.crv_with_input(&["vm", "console", "fw"], "").ok();
    assert!(out.contains("REPLAY-MARK 42"), "the replay: {out}");

    // One holder per channel, whichever node it came through.
    let mut held = b.crv_background(Via::Unix, &["vm", "console", "fw"]);
    held.wait_for_stdout("the replay", QUICK, |out| out.contains("REPLAY-MARK"));
    for node in [&a, &b] {
        node.crv(&["vm", "console", "fw"])
            .fails(1, "the serial console of VM 'fw' is in use by connection");
    }
    held.close_stdin();
    held.expect_exit(0, QUICK);
    let mut held_on_a = a.crv_background(Via::Unix, &["vm", "console", "fw"]);
    held_on_a.wait_for_stdout("the replay", QUICK, |out| out.contains("REPLAY-MARK"));
    b.crv(&["vm", "console", "fw"])
        .fails(1, "the serial console of VM 'fw' is in use by connection");
    held_on_a.close_stdin();
    held_on_a.expect_exit(0, QUICK);
    b.crv_with_input(&["vm", "console", "fw"], "").ok();

    // The monitor is the host: an operator certificate on b gets the
    // console of a's VM but not its monitor.
    let operator = b.remote("olivia", "operator");
    b.crv_via_with_input(operator, &["vm", "console", "fw"], "")
        .ok();
    b.crv_via_with_input(operator, &["vm", "monitor", "fw"], "info status\n")
        .fails(1, "`attach` needs the admin role");

    // The VM's node dies under a relay through b: the stream ends with an
    // error naming it, at once.
    let mut monitor = b.crv_background(Via::Unix, &["vm", "monitor", "fw"]);
    monitor.wait_for_stdout("the monitor banner", QUICK, |out| out.contains("QEMU"));
    a.kill9();
    monitor.expect_exit(1, QUICK);
    let stderr = monitor.stderr();
    assert!(
        stderr.contains("node 'a', which runs the VM, was lost"),
        "{stderr}"
    );
    harness::daemon::kill_processes_mentioning(&a.runtime);
}

/// A start forwarded from b to a whose QEMU hangs (its kernel is a FIFO
/// nobody writes): a killed mid-request gives b's client a typed error
/// naming a and saying the start may or may not have run, within seconds;
/// b never sends it again, so a started fw exactly once.
#[test]
fn a_node_lost_mid_request_is_named_and_nothing_runs_twice() {
    let Some(nodes) = tls_cluster(&["a", "b"], &[]) else {
        return;
    };
    let (mut a, b) = {
        let mut nodes = nodes.into_iter();
        (nodes.next().unwrap(), nodes.next().unwrap())
    };
    let kernel = a.dir.path().join("vmlinuz");
    std::fs::write(&kernel, b"").unwrap();
    let kernel_arg = kernel.to_str().unwrap();
    b.create_firmware_vm("fw", &["--node", "a", "--kernel", kernel_arg]);
    std::fs::remove_file(&kernel).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&kernel)
        .status()
        .unwrap();
    assert!(made.success());

    let mut start = b.crv_background(Via::Unix, &["vm", "start", "fw"]);
    // Stored too, so that the history below can count it after a's death.
    let starting = wait_until(QUICK, || {
        a.show("fw")["status"] == "starting"
            && !qemus_in(&a.runtime).is_empty()
            && b.history("fw")
                .iter()
                .any(|event| event["to"] == "starting")
    });
    assert!(starting, "fw never started on a: {}", a.show("fw"));
    let qemus = qemus_in(&a.runtime);
    assert_eq!(qemus.len(), 1, "{qemus:?}");
    a.kill9();
    let killed = Instant::now();
    start.expect_exit(1, QUICK);
    assert!(killed.elapsed() < Duration::from_secs(10));
    let stderr = start.stderr();
    for part in [
        "node 'a' was lost in the middle of the request",
        "it may or may not have run on node 'a'",
        "check `crv vm show`",
    ] {
        assert!(stderr.contains(part), "{part:?} not in: {stderr}");
    }
    // Nothing tried again: a's one QEMU is the only one, and b started none.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(qemus_in(&a.runtime), qemus);
    assert!(qemus_in(&b.runtime).is_empty());
    let starts = b
        .history("fw")
        .iter()
        .filter(|event| event["to"] == "starting")
        .count();
    assert_eq!(starts, 1, "{:?}", b.history("fw"));
    assert_eq!(
        b.log().matches("QEMU started").count(),
        0,
        "b started nothing"
    );
    harness::daemon::kill_processes_mentioning(&a.runtime);
}
