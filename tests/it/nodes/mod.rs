//! Several daemons on one PostgreSQL database, each a node (issue 19):
//! one daemon per node name, liveness by lock and heartbeat, VMs owned by
//! one node and run only there, placement by free RAM. SQLite stays one
//! node.

mod disks;
mod drain;
mod events;
mod failover;
mod forwarding;
mod heartbeat;
mod seqs;
mod streams;
mod top;

use harness::postgres::{Cluster, wait_until};
use harness::{Daemon, DaemonOptions, Db};
use serde_json::Value;
use std::time::{Duration, Instant};

/// Short, so that a dead node shows as dead within the test.
const NODE_TIMEOUT: &str = "4";
/// Below the node timeout, as it must be.
const FENCE_TIMEOUT: &str = "2";

fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("crv").tempdir().unwrap()
}

fn node_options(name: &str) -> DaemonOptions {
    DaemonOptions {
        extra_args: vec![
            "--node".into(),
            name.into(),
            "--node-timeout".into(),
            NODE_TIMEOUT.into(),
            "--advertise".into(),
            format!("{name}.example:9877"),
            "--fence-timeout".into(),
            FENCE_TIMEOUT.into(),
        ],
        ..DaemonOptions::default()
    }
}

/// Two daemons, `a` and `b`, on one fresh PostgreSQL database.
fn two_nodes() -> Option<(Daemon, Daemon)> {
    let url = Cluster::shared()?.create_database();
    let a = Daemon::start_on(temp_dir(), url.clone(), node_options("a"));
    let b = Daemon::start_on(temp_dir(), url, node_options("b"));
    Some((a, b))
}

/// `crv node list --json` on `daemon`, by name.
fn nodes(daemon: &Daemon) -> Vec<Value> {
    daemon
        .crv(&["--json", "node", "list"])
        .json()
        .as_array()
        .expect("a list of nodes")
        .clone()
}

fn node_state(daemon: &Daemon, name: &str) -> Option<String> {
    nodes(daemon)
        .iter()
        .find(|node| node["name"] == name)
        .and_then(|node| node["state"].as_str().map(str::to_owned))
}

/// The parent of process `pid`, from /proc.
fn parent_of(pid: u64) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.split(' ').nth(1)?.parse().ok()
}

/// QEMU processes whose command line mentions `dir` (a runtime dir).
fn qemus_in(dir: &std::path::Path) -> Vec<u32> {
    harness::daemon::processes_mentioning(&dir.display().to_string())
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("process=corvus-vm-"))
        })
        .collect()
}

/// Runs a third corvus named `node` on `daemon`'s database; returns its
/// exit code and stderr.
fn another_daemon(daemon: &Daemon, node: &str) -> (Option<i32>, String) {
    let dir = temp_dir();
    daemon.run_another(dir.path(), &["--node", node])
}

/// Two nodes on one database: both start, a third `a` is refused naming
/// the holder, each lists both live; a VM created on `a` through `b` runs
/// as `a`'s child only, `b` refuses to start it naming `a`; `a` killed
/// shows dead on `b` once its node timeout has passed.
#[test]
fn two_nodes_share_one_database() {
    let Some((mut a, b)) = two_nodes() else {
        return;
    };
    let a_pid = a.pid().expect("a runs");
    let (code, refusal) = another_daemon(&a, "a");
    assert_eq!(code, Some(1), "a second node 'a' must not start: {refusal}");
    for part in [
        "Node 'a'".to_owned(),
        format!("is in use by corvus pid {a_pid} on host"),
        format!("(socket {})", a.socket.display()),
        "--node".to_owned(),
    ] {
        assert!(refusal.contains(&part), "{part:?} not in: {refusal}");
    }

    for (daemon, this) in [(&a, "a"), (&b, "b")] {
        let listed = nodes(daemon);
        assert_eq!(listed.len(), 2, "{listed:?}");
        for node in &listed {
            let name = node["name"].as_str().unwrap();
            assert_eq!(node["state"], "live", "{node}");
            assert_eq!(node["this_node"], name == this, "{node}");
            assert_eq!(node["address"], format!("{name}.example:9877"), "{node}");
            assert!(node["ram_mib"].as_u64().unwrap() > 0, "{node}");
        }
    }
    let table = b.crv(&["node", "list"]).ok();
    assert!(
        table.contains("b (this)") && table.contains("live"),
        "{table}"
    );
    assert_eq!(b.crv(&["--json", "status"]).json()["node"], "b");
    assert!(b.crv(&["status"]).ok().contains("node:"));

    // Defined on a through b's socket.
    b.create_firmware_vm("fw", &["--node", "a"]);
    let listed = b.crv(&["--json", "vm", "list"]).json();
    assert_eq!(listed[0]["name"], "fw");
    assert_eq!(listed[0]["node"], "a", "{listed}");
    let table = b.crv(&["vm", "list"]).ok();
    let row = table.lines().find(|l| l.contains("fw")).expect("a row");
    assert!(table.contains("NODE") && row.contains(" a "), "{table}");

    // Run by a, as a's child; b only reports it.
    let started = a.crv(&["--json", "vm", "start", "fw"]).json();
    assert_eq!(started["status"], "running", "{started}");
    let pid = started["pid"].as_u64().expect("a pid");
    assert_eq!(parent_of(pid), Some(a_pid), "QEMU is a's child");
    let refused = b
        .crv(&["vm", "start", "fw"])
        .fails(1, "belongs to node 'a'");
    assert!(refused.contains("its own socket"), "{refused}");
    b.crv(&["vm", "stop", "fw"]).fails(1, "belongs to node 'a'");
    let seen = b.show("fw");
    assert_eq!(
        (seen["status"].as_str(), seen["node"].as_str()),
        (Some("running"), Some("a")),
        "{seen}"
    );
    assert!(b.crv(&["vm", "show", "fw"]).ok().contains("node:"));
    // b numbered fw's definition, a its start, each from its own counter:
    // the clash loses no event.
    let started_on_a = harness::transitions(&[("stopped", "starting"), ("starting", "running")]);
    assert!(
        wait_until(Duration::from_secs(10), || b.transitions("fw")
            == started_on_a),
        "{:?}",
        b.history("fw")
    );
    assert!(qemus_in(&b.runtime).is_empty(), "b started no QEMU");
    assert_eq!(qemus_in(&a.runtime), vec![pid as u32]);
    assert!(!b.log().contains("QEMU started"), "{}", b.log());

    // Past the node timeout both are still live: their heartbeats go on.
    std::thread::sleep(Duration::from_secs(5));
    for node in nodes(&b) {
        assert_eq!(node["state"], "live", "{node}");
        assert!(node["heartbeat_age_secs"].as_u64().unwrap() < 4, "{node}");
    }

    // A host loss: a's lock goes with its session.
    a.kill9();
    let killed = Instant::now();
    let dead = wait_until(Duration::from_secs(30), || {
        node_state(&b, "a").as_deref() == Some("dead")
    });
    assert!(dead, "a never showed dead: {:?}", nodes(&b));
    assert!(killed.elapsed() < Duration::from_secs(15));
    assert_eq!(node_state(&b, "b").as_deref(), Some("live"));
    b.crv(&["vm", "start", "fw"]).fails(1, "which is dead");
    harness::daemon::kill_processes_mentioning(&a.runtime);
}

/// Without --node a VM goes to the live node with the most free RAM: a
/// tie goes by name (a), a VM running on a leaves b the freer one, and a
/// dead node gets nothing.
#[test]
fn a_new_vm_goes_to_the_node_with_the_most_free_ram() {
    let Some((mut a, b)) = two_nodes() else {
        return;
    };
    b.create_firmware_vm("first", &[]);
    assert_eq!(b.show("first")["node"], "a", "a tie goes to the first name");
    a.crv(&["vm", "start", "first"]).ok();
    let free = |name: &str| {
        nodes(&b)
            .into_iter()
            .find(|node| node["name"] == name)
            .and_then(|node| node["free_ram_mib"].as_i64())
            .expect("a node")
    };
    assert_eq!(free("b") - free("a"), 64, "a's running VM takes its 64 MiB");
    a.create_firmware_vm("second", &[]);
    assert_eq!(a.show("second")["node"], "b", "b has more free RAM now");
    // A VM made from an image stays with the image's file, on a.
    a.crv(&["disk", "create", "base", "--size", "1M"]).ok();
    let from_image = [
        "vm", "create", "img", "--cpus", "1", "--ram", "64", "--image", "base",
    ];
    a.crv(&[&from_image[..], &["--node", "b"]].concat())
        .fails(1, "runs on the node that holds the image");
    a.crv(&from_image).ok();
    assert_eq!(a.show("img")["node"], "a");
    assert_eq!(a.show("img")["drives"].as_array().map(Vec::len), Some(1));
    b.crv(&[
        "vm", "create", "x", "--cpus", "1", "--ram", "64", "--node", "nowhere",
    ])
    .fails(1, "there is no node 'nowhere'");

    a.kill9();
    assert!(wait_until(Duration::from_secs(30), || {
        node_state(&b, "a").as_deref() == Some("dead")
    }));
    b.crv(&[
        "vm", "create", "y", "--cpus", "1", "--ram", "64", "--node", "a",
    ])
    .fails(1, "node 'a' is dead");
    b.crv(&["vm", "stop", "first"]).fails(1, "which is dead");
    harness::daemon::kill_processes_mentioning(&a.runtime);
}

/// A lone daemon is one node, named by --node: on SQLite the only one.
fn a_lone_daemon_is_one_node(db: Db) {
    let Some(daemon) = Daemon::start_with(db, node_options("solo")) else {
        return;
    };
    let listed = nodes(&daemon);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        (listed[0]["name"].as_str(), listed[0]["state"].as_str()),
        (Some("solo"), Some("live"))
    );
    assert_eq!(listed[0]["this_node"], true);
    daemon.create_firmware_vm("fw", &[]);
    assert_eq!(daemon.show("fw")["node"], "solo");
    let shown = daemon.crv(&["--json", "node", "show", "solo"]).json();
    assert_eq!(shown["vm_count"], 1, "{shown}");
    daemon
        .crv(&["node", "show", "other"])
        .fails(1, "there is no node 'other'");
    daemon
        .crv(&[
            "vm", "create", "x", "--cpus", "1", "--ram", "64", "--node", "other",
        ])
        .fails(1, "no node 'other'");
    daemon
        .crv(&["disk", "create", "d", "--size", "1M", "--node", "other"])
        .fails(1, "there is no node 'other'");
    daemon
        .crv(&["disk", "create", "d", "--size", "1M", "--node", "solo"])
        .ok();
    // Cordoning the only node: SQLite has nowhere else for VMs and says
    // so; on PostgreSQL placement then finds no node at all.
    match db {
        Db::Sqlite => {
            daemon
                .crv(&["node", "cordon", "solo"])
                .fails(1, "cannot cordon on SQLite");
            daemon
                .crv(&["vm", "move", "fw", "--node", "solo"])
                .fails(1, "on SQLite this daemon");
        }
        Db::Postgres => {
            daemon.crv(&["node", "cordon", "solo"]).ok();
            daemon
                .crv(&["vm", "create", "x", "--cpus", "1", "--ram", "64"])
                .fails(1, "every live node is cordoned");
            daemon.crv(&["node", "uncordon", "solo"]).ok();
            daemon.create_firmware_vm("x", &[]);
        }
    }
}

on_both_databases!(a_lone_daemon_is_one_node);
