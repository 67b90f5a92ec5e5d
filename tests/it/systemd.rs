//! corvus under systemd (issue 8): the unit files verify, readiness is
//! notified only once clients can connect, and socket activation serves the
//! passed socket.

use harness::prereq::{binary, require, which};
use harness::{Daemon, DaemonOptions, Db};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace")
        .to_path_buf()
}

/// `systemd-analyze verify`, which prints problems (even ones it then
/// ignores) on stderr: any output is a failure.
fn verify(user: bool, units: &[PathBuf], dir: &Path) {
    let mut command = Command::new("systemd-analyze");
    if user {
        // The user manager needs a runtime directory to resolve %t.
        let runtime = dir.join("xdg-runtime");
        std::fs::create_dir_all(&runtime).unwrap();
        command.arg("--user").env("XDG_RUNTIME_DIR", &runtime);
    }
    command.arg("verify");
    // Documentation=man:crv(1) is checked against the generated pages.
    let man = dir.join("man");
    if which("man").is_some() {
        let status = Command::new(binary("crv"))
            .args(["man", "--dir"])
            .arg(man.join("man1"))
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        command.env("MANPATH", &man);
    } else {
        eprintln!("man is not installed: Documentation= is not checked");
        command.arg("--man=no");
    }
    let output = command.args(units).output().expect("run systemd-analyze");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stderr.trim().is_empty() && stdout.trim().is_empty(),
        "systemd-analyze verify {units:?}: {}\n{stdout}{stderr}",
        output.status
    );
}

/// A copy of `unit` whose ExecStart runs the built daemon: verify checks
/// that the binary exists.
fn render(unit: &str, installed_path: &str, dir: &Path, name: &str) -> PathBuf {
    let text = std::fs::read_to_string(repository().join(unit)).unwrap();
    let exec = format!("ExecStart={installed_path} ");
    assert!(
        text.lines().any(|line| line.starts_with(&exec)),
        "{unit} has no `{exec}…` line"
    );
    let rendered = text.replace(&exec, &format!("ExecStart={} ", binary("corvus").display()));
    let path = dir.join(name);
    std::fs::write(&path, rendered).unwrap();
    path
}

#[track_caller]
fn has_line(unit: &Path, line: &str) {
    let text = std::fs::read_to_string(unit).unwrap();
    assert!(
        text.lines().any(|l| l.trim() == line),
        "{} lacks `{line}`",
        unit.display()
    );
}

#[test]
fn unit_files_pass_systemd_analyze_verify() {
    if !require(
        which("systemd-analyze").is_some(),
        "systemd-analyze (package systemd)",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();

    let user = dir.path().join("user");
    std::fs::create_dir(&user).unwrap();
    let service = render(
        "corvus.service",
        "%h/.local/bin/corvus",
        &user,
        "corvus.service",
    );
    for line in [
        "Type=notify",
        "KillMode=process",
        "Restart=on-failure",
        &format!(
            "ExecStart={} --socket %t/corvus/corvus.sock",
            binary("corvus").display()
        ),
    ] {
        has_line(&service, line);
    }
    let socket = user.join("corvus.socket");
    std::fs::copy(repository().join("corvus.socket"), &socket).unwrap();
    has_line(&socket, "ListenStream=%t/corvus/corvus.sock");
    verify(true, &[service, socket], dir.path());

    let system = dir.path().join("system");
    std::fs::create_dir(&system).unwrap();
    let service = render(
        "contrib/corvus-system.service",
        "/usr/local/bin/corvus",
        &system,
        "corvus.service",
    );
    for line in [
        "Type=notify",
        "KillMode=process",
        "Restart=on-failure",
        "RuntimeDirectoryPreserve=yes",
    ] {
        has_line(&service, line);
    }
    verify(false, &[service], dir.path());
}

/// A daemon the test started itself; killed if the test fails.
struct Spawned(Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Spawned {
    fn terminate(&mut self) -> std::process::ExitStatus {
        kill(Pid::from_raw(self.0.id() as i32), Signal::SIGTERM).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "corvus ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn log_file(dir: &Path, name: &str) -> (PathBuf, std::fs::File) {
    let path = dir.join(name);
    let file = std::fs::File::create(&path).unwrap();
    (path, file)
}

fn spawn_logged(command: &mut Command, log: std::fs::File) -> Spawned {
    Spawned(
        command
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn corvus"),
    )
}

/// The next notification datagram, as lines; `None` after the socket's
/// read timeout.
fn try_receive(socket: &UnixDatagram) -> Option<Vec<String>> {
    let mut buffer = [0u8; 4096];
    let n = socket.recv(&mut buffer).ok()?;
    Some(
        String::from_utf8_lossy(&buffer[..n])
            .lines()
            .map(str::to_owned)
            .collect(),
    )
}

fn receive(socket: &UnixDatagram, log: &Path) -> Vec<String> {
    try_receive(socket).unwrap_or_else(|| {
        panic!(
            "no notification from corvus:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        )
    })
}

fn environment_of(pid: u64) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/environ"))
        .unwrap()
        .split(|b| *b == 0)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect()
}

#[test]
fn ready_is_notified_once_the_socket_accepts_clients() {
    let qemu = require(
        which("qemu-system-x86_64").is_some(),
        "qemu-system-x86_64 (package qemu-system-x86)",
    );
    let mut daemon = Daemon::start_with(Db::Sqlite, DaemonOptions::tcg()).unwrap();
    daemon.create_firmware_vm("notified", &["--stop-timeout", "2"]);
    assert!(daemon.stop().success());

    let notify_path = daemon.dir.path().join("notify");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let (log, file) = log_file(daemon.dir.path(), "notified.log");
    let mut corvus = spawn_logged(daemon.command().env("NOTIFY_SOCKET", &notify_path), file);

    let mut statuses = Vec::new();
    loop {
        let lines = receive(&notify, &log);
        statuses.extend(
            lines
                .iter()
                .filter_map(|l| l.strip_prefix("STATUS=").map(str::to_owned)),
        );
        if lines.iter().any(|l| l == "READY=1") {
            // At the moment READY=1 arrives, clients can connect.
            UnixStream::connect(&daemon.socket)
                .unwrap_or_else(|err| panic!("READY=1 before the socket accepts: {err}"));
            break;
        }
    }
    for step in [
        "Connecting to the database",
        "Applying database migrations",
        "Re-adopting",
    ] {
        assert!(
            statuses.iter().any(|s| s.starts_with(step)),
            "no STATUS={step}… before READY=1: {statuses:?}"
        );
    }
    assert!(
        statuses.last().unwrap().starts_with("Serving clients on"),
        "{statuses:?}"
    );
    daemon.crv(&["ping"]).ok();

    // The daemon's children never see NOTIFY_SOCKET.
    if qemu {
        daemon.crv(&["vm", "start", "notified", "--wait"]).ok();
        let pid = daemon.crv(&["--json", "vm", "show", "notified"]).json()["pid"]
            .as_u64()
            .expect("a running VM has a pid");
        let environment = environment_of(pid);
        assert!(
            !environment
                .iter()
                .any(|v| v.starts_with("NOTIFY_SOCKET=") || v.starts_with("LISTEN_")),
            "QEMU inherited systemd's variables: {environment:?}"
        );
    }

    assert!(corvus.terminate().success());
    let mut stopping = false;
    let mut last = String::new();
    while let Some(lines) = try_receive(&notify) {
        stopping |= lines.iter().any(|l| l == "STOPPING=1");
        if let Some(status) = lines.iter().find_map(|l| l.strip_prefix("STATUS=")) {
            last = status.to_owned();
        }
        if last == "Stopped" {
            break;
        }
    }
    assert!(stopping, "no STOPPING=1 at shutdown");
    assert_eq!(last, "Stopped");
}

#[test]
fn a_failed_start_is_reported_and_never_ready() {
    let daemon = Daemon::start(Db::Sqlite).unwrap();
    let notify_path = daemon.dir.path().join("notify");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    // A second daemon on the same socket is refused.
    let (log, file) = log_file(daemon.dir.path(), "second.log");
    let mut second = spawn_logged(daemon.command().env("NOTIFY_SOCKET", &notify_path), file);
    let status = second.0.wait().unwrap();
    assert!(!status.success());
    notify
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let messages: Vec<Vec<String>> = std::iter::from_fn(|| try_receive(&notify)).collect();
    assert!(
        !messages.iter().flatten().any(|l| l == "READY=1"),
        "{messages:?}"
    );
    let failed = messages
        .iter()
        .flatten()
        .find_map(|l| l.strip_prefix("STATUS=Failed: "))
        .unwrap_or_else(|| {
            panic!(
                "no STATUS=Failed: {messages:?}\n{}",
                std::fs::read_to_string(&log).unwrap()
            )
        });
    assert!(failed.contains("already listening"), "{failed}");
}

#[test]
fn socket_activation_serves_the_passed_socket() {
    let mut daemon = Daemon::start(Db::Sqlite).unwrap();
    daemon
        .crv(&["vm", "create", "activated", "--cpus", "1", "--ram", "64"])
        .ok();
    assert!(daemon.stop().success());

    // What systemd does for corvus.socket: bind, listen, pass as fd 3 with
    // LISTEN_FDS=1 and LISTEN_PID set to the daemon's pid (the shell's pid,
    // which `exec` keeps).
    let listener = UnixListener::bind(&daemon.socket).unwrap();
    let corvus = daemon.command();
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(r#"LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=corvus.socket exec "$0" "$@""#)
        .arg(corvus.get_program())
        .args(corvus.get_args());
    for (key, value) in corvus.get_envs() {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    let fd = listener.as_raw_fd();
    // SAFETY: between fork and exec only dup2 and fcntl run, both
    // async-signal-safe; they make the listener fd 3 without FD_CLOEXEC.
    unsafe {
        command.pre_exec(move || {
            let result = if fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, 3)
            };
            if result == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let (log, file) = log_file(daemon.dir.path(), "activated.log");
    let mut activated = spawn_logged(&mut command, file);

    let deadline = Instant::now() + Duration::from_secs(30);
    while !daemon.crv(&["ping"]).output.status.success() {
        if let Some(status) = activated.0.try_wait().unwrap() {
            panic!(
                "activated corvus exited ({status}):\n{}",
                std::fs::read_to_string(&log).unwrap()
            );
        }
        assert!(Instant::now() < deadline, "activated corvus never answered");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(daemon.crv(&["ping"]).ok().starts_with("pong"));
    assert!(daemon.crv(&["vm", "list"]).ok().contains("activated"));
    let status = daemon.crv(&["--json", "status"]).json();
    assert_eq!(status["socket"], daemon.socket.display().to_string());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("using the socket passed by systemd"),
        "{text}"
    );

    // The socket file is systemd's: it stays when the daemon exits, and
    // the next activation is served from the same socket.
    assert!(activated.terminate().success());
    assert!(
        daemon.socket.exists(),
        "the activated daemon removed systemd's socket file"
    );
    drop(listener);
}
