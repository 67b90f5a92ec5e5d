//! One daemon per database: a second one refuses to start, naming the first.

use super::*;
use harness::DaemonOptions;

/// A second daemon on the same database, with its own socket, runtime and
/// data directories, refuses to start and names the first.
fn a_second_daemon_on_the_same_database_is_refused(db: Db) {
    let Some(mut first) = Daemon::start(db) else {
        return;
    };
    let refusal = second_daemon(&first);
    let pid = first.pid().unwrap();
    for part in [
        "is in use by corvus pid".to_owned(),
        format!("pid {pid} on host"),
        format!("(socket {})", first.socket.display()),
        "stop it first".to_owned(),
    ] {
        assert!(refusal.contains(&part), "{part:?} not in: {refusal}");
    }

    // A daemon that died leaves its row, but its lock went with it.
    first.kill9();
    let dir = temp_dir();
    let mut second = Daemon::start_on(dir, first.database_url.clone(), DaemonOptions::default());
    let refusal = second_daemon(&second);
    let pid = second.pid().unwrap();
    assert!(refusal.contains(&format!("pid {pid} on host")), "{refusal}");
    second.stop();
}

/// Runs another corvus on `daemon`'s database; returns its error.
fn second_daemon(daemon: &Daemon) -> String {
    let dir = temp_dir();
    let (code, stderr) = daemon.run_another(dir.path(), &[]);
    assert_eq!(
        code,
        Some(1),
        "the second daemon must refuse to start: {stderr}"
    );
    assert!(
        !dir.path().join("sock/corvus.sock").exists(),
        "nothing served"
    );
    stderr
}

on_both_databases!(a_second_daemon_on_the_same_database_is_refused);
