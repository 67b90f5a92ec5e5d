//! The daemon's skeleton: ping, status, shutdown, sockets, startup errors.

use harness::prereq::binary;
use harness::{Daemon, DaemonOptions, Db};
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

fn ping_status_shutdown(db: Db) {
    let Some(mut daemon) = Daemon::start(db) else {
        return;
    };
    let pong = daemon.crv(&["ping"]).ok();
    assert!(pong.starts_with("pong ("), "{pong}");

    let status = daemon.crv(&["--json", "status"]).json();
    assert_eq!(
        status["database"],
        if db == Db::Sqlite {
            "sqlite"
        } else {
            "postgresql"
        }
    );
    assert_eq!(
        status["protocol_version"],
        corvus_protocol::PROTOCOL_VERSION
    );
    assert_eq!(status["vm_count"], 0);
    assert_eq!(status["persistence_backlog"], 0);
    assert!(status["uptime_secs"].is_u64());
    assert!(status["connections"].as_u64().unwrap() >= 1, "{status}");
    assert!(
        ["kvm", "tcg"].contains(&status["accel"].as_str().unwrap()),
        "{status}"
    );
    assert_eq!(
        status["vms_by_state"].as_array().unwrap().len(),
        9,
        "every state is counted"
    );
    assert_eq!(status["daemon_version"], env!("CARGO_PKG_VERSION"));

    let table = daemon.crv(&["status"]).ok();
    for field in ["daemon:", "uptime:", "connections:", "vms:", "database:"] {
        assert!(table.contains(field), "{field} missing from:\n{table}");
    }

    assert!(daemon.crv(&["shutdown"]).ok().contains("shutting down"));
    assert!(daemon.wait_exit().success(), "{}", daemon.log());
    assert!(!daemon.socket.exists(), "the socket is removed on shutdown");
    daemon
        .crv(&["ping"])
        .fails(3, "cannot reach the corvus daemon");
}

on_both_databases!(ping_status_shutdown);

#[test]
fn the_socket_is_private() {
    let daemon = Daemon::start(Db::Sqlite).expect("sqlite needs nothing");
    let socket_mode = std::fs::metadata(&daemon.socket)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    let dir_mode = std::fs::metadata(daemon.socket.parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(socket_mode, 0o600);
    assert_eq!(dir_mode, 0o700);
}

#[test]
fn sigterm_stops_cleanly_and_removes_the_socket() {
    let mut daemon = Daemon::start(Db::Sqlite).unwrap();
    assert!(daemon.stop().success(), "{}", daemon.log());
    assert!(!daemon.socket.exists());
    assert!(daemon.log().contains("SIGTERM received"));
}

#[test]
fn a_second_daemon_on_the_same_socket_is_refused() {
    let daemon = Daemon::start(Db::Sqlite).unwrap();
    let output = daemon.command().output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let expected = format!(
        "another corvus is already listening on {}",
        daemon.socket.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
    daemon.crv(&["ping"]).ok();
}

#[test]
fn a_stale_socket_file_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("sock/corvus.sock");
    std::fs::create_dir_all(socket.parent().unwrap()).unwrap();
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    assert!(
        socket.exists(),
        "a listener that is gone leaves its file behind"
    );
    let database = format!("sqlite://{}", dir.path().join("c.db").display());
    let daemon = Daemon::start_on(dir, database, DaemonOptions::default());
    daemon.crv(&["ping"]).ok();
}

#[test]
fn crv_without_a_daemon_exits_3_and_says_how_to_start_one() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("nobody.sock");
    let output = Command::new(binary("crv"))
        .arg("--socket")
        .arg(&socket)
        .arg("status")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&socket.display().to_string()),
        "names the socket: {stderr}"
    );
    assert!(
        stderr.contains("corvus"),
        "says how to start the daemon: {stderr}"
    );
}

#[test]
fn crv_usage_errors_exit_2() {
    let output = Command::new(binary("crv"))
        .args(["vm", "frobnicate"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

fn corvus_fails_with(args: &[&str], needle: &str) {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(binary("corvus"))
        .arg("--socket")
        .arg(dir.path().join("c.sock"))
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(needle), "{needle:?} not in {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
}

#[test]
fn an_unsupported_database_url_is_a_one_line_error() {
    corvus_fails_with(
        &["--database", "mysql://localhost/x"],
        "Unsupported database URL",
    );
}

#[test]
fn an_unreachable_postgresql_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "postgresql://postgres@localhost/none?host={}",
        dir.path().display()
    );
    corvus_fails_with(&["--database", &url], "Cannot open the database");
}

#[test]
fn an_unwritable_sqlite_path_is_a_one_line_error() {
    corvus_fails_with(
        &["--database", "sqlite:///proc/corvus/x.db"],
        "Cannot create the database directory",
    );
}

#[test]
fn without_database_the_default_is_sqlite_under_xdg_data_home() {
    let data = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("c.sock");
    let mut child = Command::new(binary("corvus"))
        .arg("--socket")
        .arg(&socket)
        .env("XDG_DATA_HOME", data.path())
        .env_remove("CORVUS_DATABASE")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let db = data.path().join("corvus/corvus.db");
    let ready = harness::postgres::wait_until(std::time::Duration::from_secs(20), || {
        Command::new(binary("crv"))
            .arg("--socket")
            .arg(&socket)
            .arg("ping")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(ready, "daemon answered");
    assert!(db.exists(), "{} created", db.display());
}
