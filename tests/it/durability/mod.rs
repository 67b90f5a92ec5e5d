//! Nothing acknowledged is ever lost (issue 12): a database that fills up
//! or turns read-only and comes back, a daemon that exits or is killed
//! while it refuses writes, a second daemon on the same database, and
//! `events --since` past the end. Here: what the scenarios share.

mod acks;
mod exits;
mod refusals;
mod single_daemon;

use harness::access::Via;
use harness::postgres::wait_until;
use harness::{Daemon, Db};
use serde_json::Value;
use std::time::Duration;

pub(super) const DRAIN: Duration = Duration::from_secs(60);

pub(super) fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("crv").tempdir().unwrap()
}

/// A VM whose start fails at once (its disk does not exist): three state
/// changes per `cycle`, and no QEMU left behind.
pub(super) fn failing_vm(daemon: &Daemon, name: &str) {
    daemon
        .crv(&[
            "vm",
            "create",
            name,
            "--cpus",
            "1",
            "--ram",
            "64",
            "--display",
            "none",
        ])
        .ok();
    daemon
        .crv(&[
            "vm",
            "drive",
            "add",
            name,
            "--file",
            "/nonexistent/corvus-disk.qcow2",
            "--interface",
            "virtio",
            "--format",
            "qcow2",
        ])
        .ok();
}

/// stopped → starting → error → stopped.
pub(super) fn cycle(daemon: &Daemon, vm: &str) {
    daemon.crv(&["vm", "start", vm]).fails(1, "QEMU");
    daemon.wait_for_state(vm, "error", Duration::from_secs(10));
    daemon.crv(&["vm", "reset", vm]).ok();
}

pub(super) const CYCLE: [(&str, &str); 3] = [
    ("stopped", "starting"),
    ("starting", "error"),
    ("error", "stopped"),
];

pub(super) fn status(daemon: &Daemon) -> Value {
    daemon.crv(&["--json", "status"]).json()
}

/// Waits until `crv status` says the database refuses writes for `reason`,
/// with a backlog; returns the status.
#[track_caller]
pub(super) fn wait_for_refusal(daemon: &Daemon, reason: &str) -> Value {
    let mut last = Value::Null;
    let refused = wait_until(Duration::from_secs(20), || {
        last = status(daemon);
        last["persistence_backlog"].as_u64() > Some(0)
            && last["database_error"]
                .as_str()
                .is_some_and(|e| e.starts_with("database refuses writes:") && e.contains(reason))
    });
    assert!(
        refused,
        "status never showed the refusal: {last}\n{}",
        daemon.log()
    );
    let table = daemon.crv(&["status"]).ok();
    assert!(table.contains("database refuses writes:"), "{table}");
    last
}

#[track_caller]
pub(super) fn wait_for_drain(daemon: &Daemon) {
    let mut last = Value::Null;
    let drained = wait_until(DRAIN, || {
        last = status(daemon);
        last["persistence_backlog"] == 0 && last["database_error"].is_null()
    });
    assert!(
        drained,
        "the backlog never drained: {last}\n{}",
        daemon.log()
    );
}

pub(super) fn seqs(events: &[Value]) -> Vec<u64> {
    events.iter().map(|e| e["seq"].as_u64().unwrap()).collect()
}

#[track_caller]
pub(super) fn assert_strictly_increasing(seqs: &[u64]) {
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "seqs repeat or go back: {seqs:?}"
    );
}

pub(super) fn expected_cycles(n: usize) -> Vec<(String, String)> {
    harness::transitions(&CYCLE.repeat(n))
}

/// Another process writes the database file (SQLite), as a backup tool
/// or a second reader would: it must not find it write-locked.
pub(super) fn write_from_another_process(url: &str) {
    use sea_orm::sqlx::sqlite::SqliteConnectOptions;
    use sea_orm::sqlx::{ConnectOptions, Connection, raw_sql};
    let url = url.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let options = <SqliteConnectOptions as std::str::FromStr>::from_str(&url)
                .unwrap()
                .busy_timeout(Duration::from_secs(3));
            let mut conn = options.connect().await.expect("open the database file");
            raw_sql("BEGIN IMMEDIATE; UPDATE vm SET updated_at = updated_at WHERE id < 0; COMMIT;")
                .execute(&mut conn)
                .await
                .expect("another process can write the database");
            conn.close().await.ok();
        });
    })
    .join()
    .expect("writer thread");
}

/// `events --since` the largest u64: nothing is stored after it, so
/// nothing is printed, then or later, and the stream stays open.
fn events_since_past_the_end_print_nothing(db: Db) {
    let Some(daemon) = Daemon::start(db) else {
        return;
    };
    failing_vm(&daemon, "bad");
    cycle(&daemon, "bad");
    let mut past = daemon.crv_background(
        Via::Unix,
        &["--json", "events", "--since", &u64::MAX.to_string()],
    );
    let mut next = daemon.crv_background(Via::Unix, &["--json", "events", "--since", "3"]);
    cycle(&daemon, "bad");
    next.wait_for_stdout("3 events", Duration::from_secs(10), |out| {
        out.lines().count() >= 3
    });
    assert_eq!(
        past.wait_exit(Duration::from_secs(1)),
        None,
        "{}",
        past.stderr()
    );
    assert_eq!(past.stdout(), "");
    assert_eq!(past.stderr(), "");
    past.kill();
    next.kill();
}

on_both_databases!(events_since_past_the_end_print_nothing);
