//! A daemon that exits or dies while the database refuses its writes:
//! the journal carries every change to the next daemon.

use super::refusals::read_only;
use super::*;
use harness::DaemonOptions;
use harness::postgres::Cluster;
use harness::tmpfs::Tmpfs;

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
    // Every change is on disk before the daemon dies, not only in its
    // memory. On PostgreSQL the database numbers events as it stores them
    // (one numbering for every node, issue 19): journaled ones have none
    // yet, and subscribers get them once they are stored.
    let journaled = wait_until(Duration::from_secs(10), || match db {
        Db::Sqlite => (7..=12).all(|seq| journaled_seqs(&daemon).contains(&seq)),
        Db::Postgres => {
            journaled_seqs(&daemon)
                .iter()
                .filter(|&&seq| seq == 0)
                .count()
                == 6
        }
    });
    assert!(journaled, "journaled: {:?}", journaled_seqs(&daemon));
    let streamed = match db {
        Db::Sqlite => 12,
        Db::Postgres => 6,
    };
    // bad defined, its drive added, fw defined (1-3), then state changes.
    let seen = live.wait_for_stdout("the streamed events", Duration::from_secs(10), |out| {
        out.lines().count() >= streamed
    });
    let seen: Vec<Value> = seen
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(seqs(&seen), (1..=streamed as u64).collect::<Vec<_>>());

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
        (4..=13).collect::<Vec<_>>(),
        "no gap, no repeat"
    );
    assert_eq!(
        &history[..streamed - 3],
        &seen[3..],
        "what subscribers saw is what is stored"
    );
    assert_eq!(daemon.transitions("bad"), expected_cycles(2));

    // `--since` skips nothing across the exit.
    let since = daemon.crv_background(Via::Unix, &["--json", "events", "--since", "7"]);
    let replayed = since.wait_for_stdout("6 events", Duration::from_secs(10), |out| {
        out.lines().count() >= 6
    });
    let replayed: Vec<Value> = replayed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(seqs(&replayed), (8..=13).collect::<Vec<_>>());
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

on_both_databases!(
    a_daemon_stopped_during_an_outage_loses_nothing,
    a_daemon_killed_during_an_outage_loses_nothing,
);
