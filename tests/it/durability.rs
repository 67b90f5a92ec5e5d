//! Nothing acknowledged is ever lost (issue 12): a database that fills up
//! or turns read-only and comes back, a daemon that exits or is killed
//! while it refuses writes, a second daemon on the same database, and
//! `events --since` past the end.

use harness::access::Via;
use harness::postgres::{Cluster, wait_until};
use harness::tmpfs::Tmpfs;
use harness::{Daemon, DaemonOptions, Db};
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::Duration;

const DRAIN: Duration = Duration::from_secs(60);

fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("crv").tempdir().unwrap()
}

/// A VM whose start fails at once (its disk does not exist): three state
/// changes per `cycle`, and no QEMU left behind.
fn failing_vm(daemon: &Daemon, name: &str) {
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
fn cycle(daemon: &Daemon, vm: &str) {
    daemon.crv(&["vm", "start", vm]).fails(1, "QEMU");
    daemon.wait_for_state(vm, "error", Duration::from_secs(10));
    daemon.crv(&["vm", "reset", vm]).ok();
}

const CYCLE: [(&str, &str); 3] = [
    ("stopped", "starting"),
    ("starting", "error"),
    ("error", "stopped"),
];

fn status(daemon: &Daemon) -> Value {
    daemon.crv(&["--json", "status"]).json()
}

/// Waits until `crv status` says the database refuses writes for `reason`,
/// with a backlog; returns the status.
#[track_caller]
fn wait_for_refusal(daemon: &Daemon, reason: &str) -> Value {
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
fn wait_for_drain(daemon: &Daemon) {
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

fn seqs(events: &[Value]) -> Vec<u64> {
    events.iter().map(|e| e["seq"].as_u64().unwrap()).collect()
}

#[track_caller]
fn assert_strictly_increasing(seqs: &[u64]) {
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "seqs repeat or go back: {seqs:?}"
    );
}

fn expected_cycles(n: usize) -> Vec<(String, String)> {
    harness::transitions(&CYCLE.repeat(n))
}

/// Another process writes the database file (SQLite), as a backup tool
/// or a second reader would: it must not find it write-locked.
fn write_from_another_process(url: &str) {
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

/// SQLite on a filesystem that fills up and gets space back: every
/// acknowledged create, edit and state change survives a restart, every
/// refused one is refused out loud, and the file is never left locked.
#[test]
fn sqlite_acknowledged_writes_survive_a_full_disk() {
    let Some(tmpfs) = Tmpfs::mount("2m") else {
        return;
    };
    let url = format!("sqlite://{}/corvus.db", tmpfs.path().display());
    let mut daemon = Daemon::start_on(temp_dir(), url.clone(), DaemonOptions::default());
    failing_vm(&daemon, "bad");
    daemon
        .crv(&["vm", "create", "e1", "--cpus", "1", "--ram", "64"])
        .ok();
    cycle(&daemon, "bad");

    tmpfs.fill();
    cycle(&daemon, "bad");
    daemon
        .crv(&["vm", "create", "full1", "--cpus", "1", "--ram", "64"])
        .fails(1, "refuses writes (database or disk is full)");
    daemon
        .crv(&["vm", "edit", "e1", "--cpus", "3"])
        .fails(1, "database or disk is full");
    wait_for_refusal(&daemon, "database or disk is full");
    assert_eq!(
        daemon.history("bad").len(),
        6,
        "history shows what is queued"
    );

    tmpfs.free();
    wait_for_drain(&daemon);
    let log = daemon.log();
    assert_eq!(
        log.matches("database refuses writes: database or disk is full;")
            .count(),
        1,
        "said once per outage:\n{log}"
    );
    assert!(log.contains("the database accepts writes again"), "{log}");
    cycle(&daemon, "bad");
    daemon
        .crv(&["vm", "create", "after1", "--cpus", "1", "--ram", "64"])
        .ok();
    daemon.crv(&["vm", "edit", "e1", "--cpus", "4"]).ok();
    write_from_another_process(&url);

    daemon.restart();
    let list = daemon.crv(&["--json", "vm", "list"]).json();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|vm| vm["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["bad", "e1", "after1"],
        "full1 was refused, not lost"
    );
    assert_eq!(daemon.show("e1")["cpu_count"], 4);
    assert_eq!(daemon.transitions("bad"), expected_cycles(3));
    assert_strictly_increasing(&seqs(&daemon.history("bad")));
    write_from_another_process(&url);
}

/// PostgreSQL turned read-only (as a hot standby is) and back: nothing is
/// dropped, `crv status` says why the backlog grows, and every event is in
/// the history once the database takes writes again.
#[test]
fn postgres_read_only_and_back() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let mut daemon = Daemon::start_on(
        temp_dir(),
        cluster.create_database(),
        DaemonOptions::default(),
    );
    failing_vm(&daemon, "bad");
    cycle(&daemon, "bad");

    read_only(&cluster, true);
    cycle(&daemon, "bad");
    wait_for_refusal(&daemon, "read-only transaction");
    daemon
        .crv(&["vm", "create", "ro", "--cpus", "1", "--ram", "64"])
        .fails(1, "refuses writes");
    // Still refusing after a while: retried, never dropped.
    std::thread::sleep(Duration::from_secs(3));
    cycle(&daemon, "bad");
    let during = wait_for_refusal(&daemon, "read-only transaction");
    assert!(
        during["persistence_backlog"].as_u64() >= Some(6),
        "{during}"
    );

    read_only(&cluster, false);
    wait_for_drain(&daemon);
    assert!(daemon.log().contains("the database accepts writes again"));
    assert_eq!(daemon.transitions("bad"), expected_cycles(3));
    daemon.restart();
    assert_eq!(daemon.transitions("bad"), expected_cycles(3), "stored");
    assert_strictly_increasing(&seqs(&daemon.history("bad")));
}

fn read_only(cluster: &Cluster, on: bool) {
    if on {
        cluster.admin(&[
            "ALTER SYSTEM SET default_transaction_read_only = on",
            "SELECT pg_reload_conf()",
        ]);
    } else {
        cluster.admin(&[
            "SET default_transaction_read_only = off",
            "ALTER SYSTEM RESET default_transaction_read_only",
            "SELECT pg_reload_conf()",
        ]);
    }
}

/// A database the test can make refuse writes and take them again.
enum Refusing {
    Full(Tmpfs),
    ReadOnly(Cluster),
}

impl Refusing {
    fn new(db: Db) -> Option<(Refusing, String)> {
        match db {
            Db::Sqlite => {
                let tmpfs = Tmpfs::mount("2m")?;
                let url = format!("sqlite://{}/corvus.db", tmpfs.path().display());
                Some((Refusing::Full(tmpfs), url))
            }
            Db::Postgres => {
                let cluster = Cluster::start()?;
                let url = cluster.create_database();
                Some((Refusing::ReadOnly(cluster), url))
            }
        }
    }

    fn refuse(&self) {
        match self {
            Refusing::Full(tmpfs) => tmpfs.fill(),
            Refusing::ReadOnly(cluster) => read_only(cluster, true),
        }
    }

    fn accept(&self) {
        match self {
            Refusing::Full(tmpfs) => tmpfs.free(),
            Refusing::ReadOnly(cluster) => read_only(cluster, false),
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            Refusing::Full(_) => "database or disk is full",
            Refusing::ReadOnly(_) => "read-only transaction",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exit {
    Term,
    Kill,
}

/// A daemon that exits (or dies) while the database refuses its writes
/// loses nothing: the next one writes the journal before it adopts, its
/// history has every event, and seqs never repeat.
fn exit_during_an_outage(db: Db, exit: Exit) {
    let Some((refusing, url)) = Refusing::new(db) else {
        return;
    };
    let mut daemon = Daemon::start_on(temp_dir(), url, DaemonOptions::default());
    failing_vm(&daemon, "bad");
    daemon.create_firmware_vm("fw", &[]);
    cycle(&daemon, "bad");
    let live = daemon.crv_background(Via::Unix, &["--json", "events", "--since", "0"]);

    refusing.refuse();
    daemon.crv(&["vm", "start", "fw"]).ok();
    let qemu = daemon.pid_of("fw").expect("fw runs");
    cycle(&daemon, "bad");
    daemon.crv(&["vm", "pause", "fw"]).ok();
    wait_for_refusal(&daemon, refusing.reason());
    // Every change is on disk before the daemon dies, not only in its memory.
    let journaled = wait_until(Duration::from_secs(10), || {
        (4..=9).all(|seq| journaled_seqs(&daemon).contains(&seq))
    });
    assert!(journaled, "journaled: {:?}", journaled_seqs(&daemon));
    let seen = live.wait_for_stdout("9 events", Duration::from_secs(10), |out| {
        out.lines().count() >= 9
    });
    let seen: Vec<Value> = seen
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(seqs(&seen), (1..=9).collect::<Vec<_>>());

    match exit {
        Exit::Term => {
            assert!(daemon.stop().success());
            assert!(
                daemon.log().contains("they are in the journal"),
                "{}",
                daemon.log()
            );
        }
        Exit::Kill => daemon.kill9(),
    }
    let journal = journal_file(&daemon);
    assert!(
        std::fs::metadata(&journal).unwrap().len() > 0,
        "{} holds the backlog",
        journal.display()
    );

    refusing.accept();
    daemon.restart();
    assert_eq!(
        std::fs::metadata(&journal).unwrap().len(),
        0,
        "the journal is written and emptied at start"
    );
    // The database knew it runs before anything was adopted: the same QEMU, adopted.
    let fw = daemon.show("fw");
    assert_eq!(fw["status"], "paused", "{fw}\n{}", daemon.log());
    assert_eq!(fw["pid"].as_u64(), Some(qemu));
    daemon.crv(&["vm", "start", "fw"]).ok();

    let mut history: Vec<Value> = ["bad", "fw"]
        .iter()
        .flat_map(|vm| daemon.history(vm))
        .collect();
    history.sort_by_key(|e| e["seq"].as_u64());
    assert_eq!(
        seqs(&history),
        (1..=10).collect::<Vec<_>>(),
        "no gap, no repeat"
    );
    assert_eq!(
        &history[..9],
        &seen[..],
        "what subscribers saw is what is stored"
    );
    assert_eq!(daemon.transitions("bad"), expected_cycles(2));

    // `--since` skips nothing across the exit.
    let since = daemon.crv_background(Via::Unix, &["--json", "events", "--since", "4"]);
    let replayed = since.wait_for_stdout("6 events", Duration::from_secs(10), |out| {
        out.lines().count() >= 6
    });
    let replayed: Vec<Value> = replayed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(seqs(&replayed), (5..=10).collect::<Vec<_>>());
    daemon.crv(&["vm", "reset", "fw"]).ok();
}

/// The event seqs in the daemon's journal.
fn journaled_seqs(daemon: &Daemon) -> Vec<u64> {
    let dir = daemon.data_dir().join("journal");
    let files = std::fs::read_dir(dir).into_iter().flatten().flatten();
    let text: String = files
        .map(|file| std::fs::read_to_string(file.path()).unwrap_or_default())
        .collect();
    text.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|record| record["event"]["seq"].as_u64())
        .collect()
}

fn journal_file(daemon: &Daemon) -> std::path::PathBuf {
    let dir = daemon.data_dir().join("journal");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "one journal: {files:?}");
    files.remove(0)
}

fn a_daemon_stopped_during_an_outage_loses_nothing(db: Db) {
    exit_during_an_outage(db, Exit::Term);
}

fn a_daemon_killed_during_an_outage_loses_nothing(db: Db) {
    exit_during_an_outage(db, Exit::Kill);
}

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
    let mut child = Command::new(harness::prereq::binary("corvus"))
        .arg("--socket")
        .arg(dir.path().join("sock/corvus.sock"))
        .arg("--runtime-dir")
        .arg(dir.path().join("run"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--database")
        .arg(&daemon.database_url)
        .env_remove("CORVUS_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run a second corvus");
    let mut status = None;
    wait_until(Duration::from_secs(20), || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    if status.is_none() {
        let _ = child.kill();
    }
    let output = child.wait_with_output().expect("second corvus output");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(1),
        "the second daemon must refuse to start: {stderr}"
    );
    assert!(
        !dir.path().join("sock/corvus.sock").exists(),
        "nothing served"
    );
    stderr
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

on_both_databases!(
    a_daemon_stopped_during_an_outage_loses_nothing,
    a_daemon_killed_during_an_outage_loses_nothing,
    a_second_daemon_on_the_same_database_is_refused,
    events_since_past_the_end_print_nothing,
);
