//! Interactive access (issue 5): the HMP monitor and the serial console
//! relayed through the daemon over the Unix socket and TCP, the SPICE
//! socket behind `crv vm view`, and virtiofs shares end to end.

use harness::access::{Background, Via, free_port, hmp, hmp_via};
use harness::daemon::processes_mentioning;
use harness::guest::BOOT_TIMEOUT;
use harness::postgres::wait_until;
use harness::{Daemon, DaemonOptions, Db, Guest};
use nix::sys::termios::LocalFlags;
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

const QUICK: Duration = Duration::from_secs(10);

/// The connection id an operator event names.
fn connection_of(event: &Value) -> u64 {
    event["cause"]["operator"]["connection"]
        .as_u64()
        .unwrap_or_else(|| panic!("not an operator event: {event}"))
}

/// Waits until no process but the daemon mentions its runtime directory:
/// no QEMU, no virtiofsd.
#[track_caller]
fn assert_nothing_left(daemon: &Daemon) {
    let needle = daemon.runtime.to_string_lossy().into_owned();
    let others = || {
        processes_mentioning(&needle)
            .into_iter()
            .filter(|pid| Some(*pid) != daemon.pid())
            .collect::<Vec<_>>()
    };
    let gone = wait_until(Duration::from_secs(5), || others().is_empty());
    let left: Vec<String> = others()
        .iter()
        .map(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
                .unwrap_or_default()
        })
        .collect();
    assert!(gone, "processes left behind: {left:?}");
}

/// A relay held by a background `crv` ends on its own when the VM goes away.
#[track_caller]
fn ends_with_the_vm(holder: &mut Background, channel: &str) {
    holder.expect_exit(0, Duration::from_secs(30));
    let stderr = holder.stderr();
    assert!(
        stderr.contains(&format!("the {channel} closed: the VM stopped")),
        "{stderr}"
    );
}

/// One guest boot, reached over the Unix socket, plain TCP and mutual TLS:
/// piped monitor commands, monitor `stop`/`cont` seen by Corvus, the
/// console's replay and input, one client per channel, and relays that end
/// with the VM.
#[test]
fn monitor_and_console_over_the_socket_tcp_and_tls() {
    let Some(guest) = Guest::get() else { return };
    let port = free_port();
    let options = DaemonOptions {
        tcp_port: Some(port),
        listen: Some(format!("127.0.0.1:{}", free_port())),
        ..DaemonOptions::tcg()
    };
    let Some(daemon) = Daemon::start_with(Db::Sqlite, options) else {
        return;
    };
    let tcp = Via::Tcp {
        host: "127.0.0.1",
        port,
    };
    let tls = daemon.remote("admin", "admin");
    let id = daemon.create_guest_vm(guest, "web", "", &[]);
    daemon
        .crv(&["vm", "monitor", "web"])
        .fails(1, "cannot attach to the monitor: VM 'web' is stopped");
    daemon.crv(&["vm", "start", "web"]).ok();
    daemon.wait_for_serial(id, "GUEST READY", BOOT_TIMEOUT);

    // Piped monitor commands print QEMU's answer, without readline redraws.
    for via in [Via::Unix, tcp, tls] {
        let answer = hmp_via(&daemon, via, "web", "info status");
        assert!(
            answer.contains("(qemu) info status\nVM status: running\n"),
            "{answer}"
        );
    }
    // `stop` and `cont` typed in the monitor reach Corvus as QMP events.
    hmp(&daemon, "web", "stop");
    daemon.wait_for_state("web", "paused", Duration::from_secs(1));
    hmp_via(&daemon, tcp, "web", "cont");
    daemon.wait_for_state("web", "running", Duration::from_secs(1));
    let events = daemon.history("web");
    let causes: Vec<&Value> = events[events.len() - 2..]
        .iter()
        .map(|e| &e["cause"])
        .collect();
    assert_eq!(
        causes,
        [
            &serde_json::json!({"qemu_event": {"event": "STOP"}}),
            &serde_json::json!({"qemu_event": {"event": "RESUME"}})
        ],
        "{events:?}"
    );

    // The console replays what the guest printed before, then relays input:
    // the shell's arithmetic proves the line ran (the echo of the typed text
    // does not contain the result).
    for (via, n) in [(Via::Unix, 40), (tcp, 41), (tls, 42)] {
        let line = format!("echo MARK$(({n}+2))\n");
        let out = daemon
            .crv_via_with_input(via, &["vm", "console", "web"], &line)
            .ok();
        assert!(out.contains("GUEST READY"), "the replay: {out}");
        assert!(out.contains(&format!("MARK{}", n + 2)), "{via:?}: {out}");
    }

    // At a terminal: raw mode while attached, keys go to the guest as typed,
    // Ctrl+] detaches and gives the terminal back as it was.
    let mut terminal = daemon.crv_on_terminal(tcp, &["vm", "console", "web"]);
    terminal.wait_for(
        "Connected to the serial console of VM 'web'. Detach with Ctrl+].",
        QUICK,
    );
    assert!(
        !terminal.line_settings().contains(LocalFlags::ICANON),
        "raw while attached"
    );
    terminal.type_bytes(b"echo MARK$((60+6))\r");
    terminal.wait_for("MARK66", QUICK);
    terminal.type_bytes(&[0x1d]);
    assert_eq!(terminal.exit_code(QUICK), Some(0), "{}", terminal.output());
    terminal.wait_for("detached", QUICK);
    let restored = terminal.line_settings();
    assert!(
        restored.contains(LocalFlags::ICANON | LocalFlags::ECHO),
        "{restored:?}"
    );
    drop(terminal);

    // One client per channel: a second attach is refused naming the holder's
    // connection. Connection ids are handed out in order, and nothing else
    // connects in between, so the holder is the connection after this pause's.
    daemon.crv(&["vm", "pause", "web"]).ok();
    let mut monitor = daemon.crv_background(Via::Unix, &["vm", "monitor", "web"]);
    monitor.wait_for_stdout("monitor banner", QUICK, |out| out.contains("QEMU"));
    let paused_by = connection_of(daemon.history("web").last().unwrap());
    let holder = paused_by + 1;
    for via in [Via::Unix, tcp, tls] {
        let stderr = daemon
            .crv_via_with_input(via, &["vm", "monitor", "web"], "info status\n")
            .fails(1, "is in use by connection");
        assert!(
            stderr.contains(&format!(
                "the monitor of VM 'web' is in use by connection {holder} "
            )),
            "{stderr}"
        );
    }
    // The console is a separate channel, with its own single holder.
    let mut console = daemon.crv_background(tls, &["vm", "console", "web"]);
    console.wait_for_stdout("the replay", QUICK, |out| out.contains("GUEST READY"));
    daemon
        .crv(&["vm", "console", "web"])
        .fails(1, "the serial console of VM 'web' is in use by connection");
    // The holders can still use their channels.
    monitor.write("cont\ninfo status\n");
    monitor.wait_for_stdout("the status", QUICK, |out| {
        out.contains("VM status: running")
    });
    daemon.wait_for_state("web", "running", Duration::from_secs(1));
    console.write("echo MARK$((50+5))\n");
    console.wait_for_stdout("the shell's answer", QUICK, |out| out.contains("MARK55"));

    // Both sessions end by themselves, cleanly, when the VM stops.
    daemon.crv(&["vm", "stop", "web"]).ok();
    ends_with_the_vm(&mut monitor, "monitor");
    ends_with_the_vm(&mut console, "serial console");
    daemon.wait_for_state("web", "stopped", QUICK);
    daemon.crv_via(tcp, &["vm", "console", "web"]).fails(
        1,
        "cannot attach to the serial console: VM 'web' is stopped",
    );
}

/// The machine's own address on its default route, if it has one that is
/// not loopback: a client using it is, as far as crv can tell, elsewhere.
fn routed_address() -> Option<String> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    // Connecting a UDP socket sends nothing; it only picks the route.
    socket.connect("198.51.100.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then(|| ip.to_string())
}

/// A documentation address (RFC 5737) added to the loopback link, for a
/// machine with no routed address; removed when dropped.
struct ExtraAddress(&'static str);

impl Drop for ExtraAddress {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["addr", "del", self.0, "dev", "lo"])
            .status();
    }
}

/// An address of this host that is not 127.x, so that a client using it
/// counts as remote: the routed one, or one added to `lo` for the test.
fn non_loopback_address() -> Option<(String, Option<ExtraAddress>)> {
    if let Some(address) = routed_address() {
        return Some((address, None));
    }
    let added = std::process::Command::new("ip")
        .args(["addr", "replace", "192.0.2.77/32", "dev", "lo"])
        .status()
        .is_ok_and(|s| s.success());
    added.then(|| ("192.0.2.77".to_owned(), Some(ExtraAddress("192.0.2.77/32"))))
}

/// The SPICE link handshake for the main channel: a SpiceLinkHeader (magic
/// "REDQ", protocol 2.2, the size of what follows) and a SpiceLinkMess
/// (connection id 0, channel type 1 = main, channel id 0, no capabilities,
/// capabilities offset 18 = the size of the message). All little-endian.
fn spice_link_reply(socket: &Path) -> Vec<u8> {
    let mut message = Vec::new();
    message.extend_from_slice(&0u32.to_le_bytes()); // connection_id
    message.push(1); // channel_type: main
    message.push(0); // channel_id
    message.extend_from_slice(&0u32.to_le_bytes()); // num_common_caps
    message.extend_from_slice(&0u32.to_le_bytes()); // num_channel_caps
    message.extend_from_slice(&18u32.to_le_bytes()); // caps_offset
    let mut link = b"REDQ".to_vec();
    link.extend_from_slice(&2u32.to_le_bytes());
    link.extend_from_slice(&2u32.to_le_bytes());
    link.extend_from_slice(&(message.len() as u32).to_le_bytes());
    link.extend_from_slice(&message);

    let mut stream = UnixStream::connect(socket).expect("the SPICE socket accepts a connection");
    stream.set_read_timeout(Some(QUICK)).unwrap();
    stream.write_all(&link).unwrap();
    let mut reply = vec![0u8; 16];
    stream
        .read_exact(&mut reply)
        .expect("a SpiceLinkHeader in reply");
    reply
}

/// A directory holding a fake `remote-viewer` that records its arguments.
fn fake_viewer(dir: &Path) -> (PathBuf, PathBuf) {
    let bin = dir.join("viewer-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let record = dir.join("viewer-args");
    let script = bin.join("remote-viewer");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$@\" > '{}'\n", record.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (bin, record)
}

/// `crv vm view` and its errors, on firmware-only VMs; and a monitor
/// session that ends when its VM is reset.
#[test]
fn view_prints_a_working_spice_uri_and_explains_what_it_cannot_do() {
    let port = free_port();
    let remote = non_loopback_address();
    harness::prereq::require(
        remote.is_some(),
        "a non-loopback address, or root and iproute2 to add one on a dummy link",
    );
    let remote_host = remote.as_ref().map(|(address, _)| address.clone());
    // Remote clients come over mutual TLS, on an address that is not loopback.
    let host = remote_host
        .clone()
        .unwrap_or_else(|| "127.0.0.1".to_owned());
    let options = DaemonOptions {
        listen: Some(format!("{host}:{port}")),
        tls_sans: vec![host.clone()],
        ..DaemonOptions::default()
    };
    let Some(mut daemon) = Daemon::start_with(Db::Sqlite, options) else {
        return;
    };
    let remote = daemon.remote("far", "operator");
    daemon.create_firmware_vm("spicy", &["--display", "spice"]);
    daemon.create_firmware_vm("headless", &["--display", "none"]);
    daemon.crv(&["vm", "view", "spicy"]).fails(
        1,
        "VM 'spicy' is stopped; start it with `crv vm start spicy`",
    );
    daemon.crv(&["vm", "start", "spicy"]).ok();
    daemon.crv(&["vm", "start", "headless"]).ok();
    daemon
        .crv(&["vm", "view", "headless", "--print-uri"])
        .fails(1, "VM 'headless' has no display (--display none)");

    let uri = daemon.crv(&["vm", "view", "spicy", "--print-uri"]).ok();
    let uri = uri.trim();
    let socket = uri
        .strip_prefix("spice+unix://")
        .unwrap_or_else(|| panic!("not a spice+unix URI: {uri}"));
    let socket = Path::new(socket);
    assert_eq!(
        socket,
        daemon
            .runtime
            .join(format!("{}/spice.sock", daemon.show("spicy")["id"]))
    );
    assert!(std::fs::metadata(socket).unwrap().file_type().is_socket());
    let reply = spice_link_reply(socket);
    assert_eq!(&reply[..4], b"REDQ", "the SPICE server's reply: {reply:?}");
    assert_eq!(&reply[4..8], &2u32.to_le_bytes(), "protocol major version");
    let json = daemon
        .crv(&["--json", "vm", "view", "spicy", "--print-uri"])
        .json();
    assert_eq!(
        (json["uri"].as_str(), json["socket"].as_str()),
        (Some(uri), socket.to_str())
    );

    // Without --print-uri crv execs remote-viewer with the URI...
    let (bin, record) = fake_viewer(daemon.dir.path());
    let run = daemon
        .crv_command(Via::Unix)
        .env("PATH", &bin)
        .args(["vm", "view", "spicy"])
        .output()
        .unwrap();
    assert!(run.status.success(), "{run:?}");
    assert_eq!(std::fs::read_to_string(&record).unwrap().trim(), uri);
    // ...and says which package to install when there is none.
    let empty = daemon.dir.path().join("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    let run = daemon
        .crv_command(Via::Unix)
        .env("PATH", &empty)
        .args(["vm", "view", "spicy"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("remote-viewer is not installed") && stderr.contains("virt-viewer"),
        "{stderr}"
    );

    // A client that reaches the daemon over the network cannot open its
    // Unix socket: the URI is still printed, the viewer is refused.
    assert_eq!(
        daemon
            .crv_via(remote, &["vm", "view", "spicy", "--print-uri"])
            .ok()
            .trim(),
        uri
    );
    if remote_host.is_some() {
        let run = daemon
            .crv_command(remote)
            .env("PATH", &bin)
            .args(["vm", "view", "spicy"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("a Unix socket on the daemon's host") && stderr.contains("ssh -L"),
            "{stderr}"
        );
    } else {
        eprintln!(
            "NOTE: no non-loopback address here; the remote-client refusal of `crv vm view` was not exercised"
        );
    }

    // A monitor session ends cleanly when its VM is reset (QEMU killed).
    let mut monitor = daemon.crv_background(Via::Unix, &["vm", "monitor", "spicy"]);
    monitor.wait_for_stdout("monitor banner", QUICK, |out| out.contains("QEMU"));
    daemon.crv(&["vm", "reset", "spicy"]).ok();
    ends_with_the_vm(&mut monitor, "monitor");
    // A daemon that vanishes mid-session is a failure, not a clean end.
    let mut console = daemon.crv_background(Via::Unix, &["vm", "console", "headless"]);
    let relaying = wait_until(QUICK, || {
        daemon.log().contains("relay open") && daemon.log().contains("channel=serial")
    });
    assert!(relaying, "no serial relay:\n{}", daemon.log());
    daemon.kill9();
    console.expect_exit(1, QUICK);
    assert!(
        console
            .stderr()
            .contains("the daemon closed the connection"),
        "{}",
        console.stderr()
    );
}

/// A share with a host file, read and written by the guest; a read-only
/// share that refuses the guest's write; virtiofsd PIDs while the VM runs
/// and no virtiofsd after it stops.
#[test]
fn virtiofs_shares_work_in_the_guest_and_end_with_the_vm() {
    let Some(guest) = Guest::get() else { return };
    let Some(daemon) = Daemon::start_with(Db::Sqlite, DaemonOptions::tcg()) else {
        return;
    };
    let rw = daemon.dir.path().join("rw");
    let ro = daemon.dir.path().join("ro");
    std::fs::create_dir_all(&rw).unwrap();
    std::fs::create_dir_all(&ro).unwrap();
    let greeting = format!("greetings from the host {}", std::process::id());
    std::fs::write(rw.join("hello.txt"), format!("{greeting}\n")).unwrap();
    std::fs::write(
        rw.join("run.sh"),
        "cat hello.txt\necho \"written by the guest $((6*7))\" > from-guest.txt\n",
    )
    .unwrap();
    std::fs::write(ro.join("notice.txt"), "read-only notice\n").unwrap();
    std::fs::write(
        ro.join("run.sh"),
        "cat notice.txt\nif echo x > refused.txt; then echo RO WRITE ALLOWED; else echo RO WRITE REFUSED; fi\n",
    )
    .unwrap();

    let id = daemon.create_guest_vm(guest, "fs", "corvus.share=rw,ro", &[]);
    let rw_path = rw.to_str().unwrap();
    let ro_path = ro.to_str().unwrap();
    daemon
        .crv(&["vm", "share", "add", "fs", "--path", rw_path, "--tag", "rw"])
        .ok();
    daemon
        .crv(&[
            "vm",
            "share",
            "add",
            "fs",
            "--path",
            ro_path,
            "--tag",
            "ro",
            "--read-only",
        ])
        .ok();
    daemon.crv(&["vm", "start", "fs"]).ok();
    daemon.wait_for_serial(id, "GUEST READY", BOOT_TIMEOUT);

    let serial = daemon.serial_log(id);
    for needle in [
        "SHARE rw MOUNTED",
        "SHARE ro MOUNTED",
        greeting.as_str(),
        "RUN rw EXIT 0",
        "read-only notice",
        "Read-only file system",
        "RO WRITE REFUSED",
    ] {
        assert!(
            serial.contains(needle),
            "{needle:?} not on serial:\n{serial}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(rw.join("from-guest.txt")).unwrap(),
        "written by the guest 42\n"
    );
    assert!(!ro.join("refused.txt").exists());

    // `vm show` has each share's virtiofsd, serving that share's socket.
    let vm = daemon.show("fs");
    let runtime = daemon.runtime.join(id.to_string());
    for share in vm["shared_dirs"].as_array().unwrap() {
        let pid = share["pid"]
            .as_u64()
            .unwrap_or_else(|| panic!("no virtiofsd pid: {share}"));
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let socket = runtime.join(format!("virtiofsd-{}.sock", share["tag"].as_str().unwrap()));
        assert!(
            cmdline.contains("virtiofsd") && cmdline.contains(socket.to_str().unwrap()),
            "pid {pid} of share {share}: {cmdline}"
        );
    }
    let table = daemon.crv(&["vm", "show", "fs"]).ok();
    let rw_pid = vm["shared_dirs"][0]["pid"].to_string();
    assert!(
        table.contains("VIRTIOFSD") && table.contains(&rw_pid),
        "{table}"
    );

    let stopped = daemon.crv(&["--json", "vm", "stop", "fs", "--wait"]).json();
    assert_eq!(stopped["status"], "stopped");
    assert_eq!(stopped["last_error"], Value::Null, "a clean guest poweroff");
    for share in stopped["shared_dirs"].as_array().unwrap() {
        assert_eq!(share["pid"], Value::Null, "{share}");
    }
    assert_nothing_left(&daemon);
}

/// A virtiofsd that dies while its VM runs is reported in `vm show` and in
/// the event history; the VM keeps running, and a reset leaves nothing.
fn a_dead_virtiofsd_is_reported(db: Db) {
    let Some(daemon) = Daemon::start(db) else {
        return;
    };
    let data = daemon.dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    daemon.create_firmware_vm("fw", &["--display", "none"]);
    daemon
        .crv(&[
            "vm",
            "share",
            "add",
            "fw",
            "--path",
            data.to_str().unwrap(),
            "--tag",
            "data",
        ])
        .ok();
    let started = daemon.crv(&["--json", "vm", "start", "fw"]).json();
    let qemu = started["pid"].as_u64().unwrap();
    let virtiofsd = started["shared_dirs"][0]["pid"]
        .as_u64()
        .unwrap_or_else(|| panic!("no virtiofsd pid: {started}"));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(virtiofsd as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();

    let mut vm = Value::Null;
    let reported = wait_until(QUICK, || {
        vm = daemon.show("fw");
        vm["last_error"].is_string()
    });
    assert!(reported, "no last_error after the virtiofsd died: {vm}");
    let error = vm["last_error"].as_str().unwrap();
    assert!(
        error.contains("virtiofsd of share 'data'") && error.contains("SIGKILL"),
        "{error}"
    );
    assert_eq!(
        (vm["status"].as_str(), vm["pid"].as_u64()),
        (Some("running"), Some(qemu))
    );
    assert_eq!(vm["shared_dirs"][0]["pid"], Value::Null);
    assert!(
        daemon
            .crv(&["vm", "show", "fw"])
            .ok()
            .contains("virtiofsd of share 'data'")
    );

    let last = daemon.history("fw").last().cloned().unwrap();
    assert_eq!(
        (last["from"].as_str(), last["to"].as_str()),
        (Some("running"), Some("running")),
        "{last}"
    );
    assert_eq!(last["reason"].as_str(), Some(error), "{last}");
    assert_eq!(
        last["cause"],
        serde_json::json!({"qemu_event": {"event": "virtiofsd exit"}})
    );

    let reset = daemon.crv(&["--json", "vm", "reset", "fw"]).json();
    assert_eq!(
        (reset["status"].as_str(), &reset["last_error"]),
        (Some("stopped"), &Value::Null)
    );
    assert_nothing_left(&daemon);
}

on_both_databases!(a_dead_virtiofsd_is_reported);
