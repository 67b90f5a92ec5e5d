//! One numbering of events across nodes (issue 19): the database numbers
//! every node's events, so each event has one seq, the same on every node,
//! and `crv events --since N` through any node resumes exactly after N.

use super::*;
use harness::access::{Background, Via};
use std::collections::BTreeSet;

/// Events of the churn below: `defined`, two rounds of `edited`,
/// stopped→starting→running and running→stopped, and one deletion.
const PER_VM: usize = 1 + 2 * 4;
const ALL: usize = 3 * PER_VM + 1;
const NAMES: [&str; 3] = ["a", "b", "c"];
const WAIT: Duration = Duration::from_secs(90);

/// Three nodes on one fresh PostgreSQL database.
fn three_nodes() -> Option<Vec<Daemon>> {
    let url = Cluster::shared()?.create_database();
    Some(
        NAMES
            .iter()
            .map(|name| Daemon::start_on(temp_dir(), url.clone(), node_options(name)))
            .collect(),
    )
}

/// What identifies an event, as one line per event.
fn printed(subscriber: &Background) -> Vec<String> {
    subscriber
        .stdout()
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let e: Value =
                serde_json::from_str(l).unwrap_or_else(|err| panic!("not JSON ({err}): {l}"));
            format!(
                "{} {} {} {} {}->{} {}",
                e["seq"], e["vm_id"], e["vm_name"], e["kind"], e["from"], e["to"], e["reason"]
            )
        })
        .collect()
}

fn seq_of(line: &str) -> u64 {
    line.split(' ')
        .next()
        .and_then(|s| s.parse().ok())
        .expect("a seq")
}

/// Waits until `subscriber` printed `n` events; returns them.
#[track_caller]
fn wait_for(subscriber: &Background, n: usize) -> Vec<String> {
    subscriber.wait_for_stdout(&format!("{n} events"), WAIT, |out| {
        out.lines().filter(|l| !l.is_empty()).count() >= n
    });
    printed(subscriber)
}

fn events_since(node: &Daemon, since: u64) -> Background {
    node.crv_background(
        Via::Unix,
        &["--json", "events", "--since", &since.to_string()],
    )
}

/// A VM of node `name` defined, edited, started and reset twice, and
/// deleted when `delete`, through that node's socket.
fn churn(node: &Daemon, name: &str, delete: bool) {
    let vm = format!("vm-{name}");
    let vm = vm.as_str();
    node.create_firmware_vm(vm, &["--node", name]);
    for round in 0..2 {
        let description = format!("round {round}");
        node.crv(&["vm", "edit", vm, "--description", &description])
            .ok();
        node.crv(&["vm", "start", vm]).ok();
        node.crv(&["vm", "reset", vm]).ok();
    }
    if delete {
        node.crv(&["vm", "delete", vm]).ok();
    }
}

fn assert_increasing(events: &[String], whose: &str) {
    let seqs: Vec<u64> = events.iter().map(|e| seq_of(e)).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "{whose}: seqs repeat or go back: {seqs:?}"
    );
}

/// VMs on three nodes change state, definition and one is deleted, all at
/// once: every node's subscribers see the same events under the same
/// seqs, in seq order, as the rows hold them; `--since N` through any
/// node gives exactly the stored events after N; a subscriber that moves
/// to another node mid-run (its stream killed, resumed with `--since`)
/// loses and repeats nothing.
#[test]
fn every_node_sees_one_numbering() {
    let Some(nodes) = three_nodes() else {
        return;
    };
    let subscribers: Vec<Background> = nodes.iter().map(|node| events_since(node, 0)).collect();
    let mut moving = events_since(&nodes[0], 0);

    let moved = std::thread::scope(|scope| {
        for (node, name) in nodes.iter().zip(NAMES) {
            scope.spawn(move || churn(node, name, name == "a"));
        }
        // Mid-run, the moving subscriber leaves a and resumes on c.
        wait_for(&moving, ALL / 3);
        moving.kill();
        let before_move = printed(&moving);
        let resumed_at = before_move.last().map_or(0, |e| seq_of(e));
        let resumed = events_since(&nodes[2], resumed_at);
        let after_move = wait_for(&resumed, ALL - before_move.len());
        before_move
            .into_iter()
            .chain(after_move)
            .collect::<Vec<_>>()
    });

    // The rows, read through b by a subscription that came after.
    let stored = wait_for(&events_since(&nodes[1], 0), ALL);
    assert_eq!(stored.len(), ALL, "{stored:#?}");
    assert_increasing(&stored, "the stored events");
    let distinct: BTreeSet<u64> = stored.iter().map(|e| seq_of(e)).collect();
    assert_eq!(distinct.len(), ALL, "one seq per event: {stored:#?}");

    assert_eq!(moved, stored, "the subscriber that moved from a to c");
    for (subscriber, node) in subscribers.iter().zip(NAMES) {
        let seen = wait_for(subscriber, ALL);
        assert_eq!(seen, stored, "node {node}'s subscriber against the rows");
    }
    // `--since` in the middle, through each node.
    let middle = seq_of(&stored[ALL / 2]);
    let after_middle: Vec<String> = stored[ALL / 2 + 1..].to_vec();
    for node in &nodes {
        let replayed = wait_for(&events_since(node, middle), after_middle.len());
        assert_eq!(
            replayed,
            after_middle,
            "--since {middle} on {}",
            node.socket.display()
        );
    }
    // Nothing more comes late: no event twice.
    std::thread::sleep(Duration::from_millis(500));
    for subscriber in &subscribers {
        assert_eq!(printed(subscriber), stored);
    }
}

/// The database name in a test database URL.
fn database_name(url: &str) -> &str {
    let path = url.split('?').next().unwrap_or(url);
    path.rsplit('/').next().expect("a database name")
}

/// A node whose listening connection is cut, and cannot come back for a
/// while, streams the events stored meanwhile from the rows once it is
/// back: their notices are gone, the events are not.
#[test]
fn events_stored_while_a_listener_is_away_still_stream() {
    let Some(cluster) = Cluster::shared() else {
        return;
    };
    let url = cluster.create_database();
    let a = Daemon::start_on(temp_dir(), url.clone(), node_options("a"));
    let b = Daemon::start_on(temp_dir(), url.clone(), node_options("b"));
    let on_b = events_since(&b, 0);
    a.create_firmware_vm("fw", &["--node", "a"]);
    wait_for(&on_b, 1);

    let name = database_name(&url);
    cluster.admin(&[
        &format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"),
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{name}' AND query LIKE 'LISTEN%'"
        ),
    ]);
    // a's open connections store these; no listener hears of them.
    a.crv(&["vm", "start", "fw"]).ok();
    a.crv(&["vm", "reset", "fw"]).ok();
    std::thread::sleep(Duration::from_secs(2));
    cluster.admin(&[&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true")]);

    let stored = wait_for(&events_since(&a, 0), 4);
    assert_eq!(
        wait_for(&on_b, 4),
        stored,
        "b's subscriber against the rows"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(printed(&on_b), stored, "nothing twice");
}
