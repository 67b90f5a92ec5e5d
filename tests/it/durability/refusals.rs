//! A database that refuses writes and takes them again: SQLite on a full
//! disk, PostgreSQL made read-only.

use super::*;
use harness::DaemonOptions;
use harness::postgres::Cluster;
use harness::tmpfs::Tmpfs;

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

pub(super) fn read_only(cluster: &Cluster, on: bool) {
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
