//! Answers longer than a frame (issue 12, defect 6): a list of thousands of
//! VMs and a history of hundreds of thousands of events arrive whole, in
//! parts; `vm history` shows the last 100 unless asked for more; retention
//! keeps each VM's newest events; an answer that cannot fit is an error the
//! client reads and the daemon logs.

use harness::access::Via;
use harness::postgres::wait_until;
use harness::{Daemon, DaemonOptions, Db};
use serde_json::Value;
use std::time::Duration;

fn with_args(args: &[&str]) -> DaemonOptions {
    DaemonOptions {
        extra_args: args.iter().map(|a| a.to_string()).collect(),
        ..DaemonOptions::default()
    }
}

fn create(daemon: &Daemon, name: &str) -> i64 {
    let vm = daemon
        .crv(&["--json", "vm", "create", name, "--cpus", "1", "--ram", "64"])
        .json();
    vm["id"].as_i64().unwrap()
}

fn seqs(events: &Value) -> Vec<u64> {
    events
        .as_array()
        .expect("an array")
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect()
}

fn history(daemon: &Daemon, args: &[&str]) -> Vec<u64> {
    let mut all = vec!["--json", "vm", "history"];
    all.extend_from_slice(args);
    seqs(&daemon.crv(&all).json())
}

/// 4,000 VMs with 4 KiB descriptions: about 17 MB of answer.
fn thousands_of_long_descriptions_list_whole(db: Db) {
    let Some(mut daemon) = Daemon::start(db) else {
        return;
    };
    daemon.stop();
    let description = "a long description ".repeat(215) + "end";
    assert!(description.len() <= 4096);
    daemon.seed_vms("vm", 4000, &description);
    daemon.restart();

    let list = daemon.crv(&["--json", "vm", "list"]).json();
    let vms = list.as_array().expect("one JSON array");
    assert_eq!(vms.len(), 4000);
    assert!(
        vms.iter()
            .all(|vm| vm["description"].as_str() == Some(description.as_str()))
    );
    let mut names: Vec<&str> = vms.iter().map(|vm| vm["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), 4000, "every VM once");
    let table = daemon.crv(&["vm", "list"]).ok();
    assert_eq!(table.lines().count(), 4001, "a header and a line per VM");
}

on_both_databases!(thousands_of_long_descriptions_list_whole);

/// 200,000 events of one VM: the last 100 by default, `--limit` and `--all`
/// page through the database, and a `--since` replay reads it in pages.
fn a_huge_history_pages(db: Db) {
    let Some(mut daemon) = Daemon::start_with(db, with_args(&["--event-retention", "0"])) else {
        return;
    };
    let id = create(&daemon, "busy");
    daemon.stop();
    daemon.seed_events(id, 1, 200_000);
    daemon.restart();

    assert_eq!(
        history(&daemon, &["busy"]),
        (199_901..=200_000).collect::<Vec<_>>()
    );
    let table = daemon.crv(&["vm", "history", "busy"]).ok();
    assert_eq!(table.lines().count(), 101, "a header and 100 events");
    assert!(table.lines().last().unwrap().contains("seeded 200000"));
    for limit in [1000u64, 1001, 7777] {
        assert_eq!(
            history(&daemon, &["busy", "--limit", &limit.to_string()]),
            (200_001 - limit..=200_000).collect::<Vec<_>>(),
            "--limit {limit}"
        );
    }
    let all = history(&daemon, &["busy", "--all"]);
    assert_eq!(all.len(), 200_000);
    assert!(all.iter().copied().eq(1..=200_000), "every event, in order");

    let replay = daemon.crv_background(
        Via::Unix,
        &["--json", "events", "--vm", "busy", "--since", "188000"],
    );
    let out = replay.wait_for_stdout("12,000 replayed events", Duration::from_secs(60), |out| {
        out.lines().count() >= 12_000
    });
    let replayed: Vec<u64> = out
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert!(
        replayed.iter().copied().eq(188_001..=200_000),
        "no gap, no duplicate"
    );
}

on_both_databases!(a_huge_history_pages);

/// `--event-retention N` keeps the newest N events of each VM: at start, and
/// again as events accumulate.
fn retention_keeps_the_newest_events(db: Db) {
    let Some(mut daemon) = Daemon::start(db) else {
        return;
    };
    let (a, b) = (create(&daemon, "a"), create(&daemon, "b"));
    daemon.stop();
    daemon.seed_events(a, 1, 5000);
    daemon.seed_events(b, 5001, 10);
    daemon.options.extra_args = ["--event-retention", "1000", "--event-prune-interval", "1"]
        .map(String::from)
        .to_vec();
    daemon.restart();

    let mut kept = Vec::new();
    let pruned = wait_until(Duration::from_secs(20), || {
        kept = history(&daemon, &["a", "--all"]);
        kept.len() == 1000
    });
    assert!(pruned, "a kept {} events:\n{}", kept.len(), daemon.log());
    assert!(kept.iter().copied().eq(4001..=5000), "the newest are kept");
    assert!(
        history(&daemon, &["b", "--all"])
            .iter()
            .copied()
            .eq(5001..=5010)
    );
    assert!(
        daemon.log().contains("pruned old events"),
        "{}",
        daemon.log()
    );

    // Events written while the daemon runs (numbered above anything it
    // hands out) are pruned by a later sweep.
    daemon.seed_events(b, 10_000_001, 1500);
    let pruned = wait_until(Duration::from_secs(20), || {
        kept = history(&daemon, &["b", "--all"]);
        kept.len() == 1000
    });
    assert!(pruned, "b kept {} events", kept.len());
    assert!(kept.iter().copied().eq(10_000_501..=10_001_500));
}

on_both_databases!(retention_keeps_the_newest_events);

/// A VM whose definition alone is over the frame limit (5,000 drives with
/// 4 KiB paths): `vm show` and `vm list` get a typed error naming the
/// limit, the daemon logs it, and the connection stays usable.
#[test]
fn an_answer_that_cannot_fit_a_frame_is_a_logged_error() {
    let mut daemon = Daemon::start(Db::Sqlite).unwrap();
    let id = create(&daemon, "huge");
    daemon.stop();
    daemon.seed_drives(id, 5000, 4000);
    daemon.restart();
    for command in [["vm", "show", "huge"].as_slice(), &["vm", "list"]] {
        daemon
            .crv(command)
            .fails(1, "over the protocol's limit of 16777216");
    }
    let log = daemon.log();
    assert!(
        log.contains("an answer does not fit in a frame") && log.contains("verb=\"vm show\""),
        "{log}"
    );
    daemon.crv(&["ping"]).ok();
}
