//! Cordon, move and drain (issue 19): three TLS nodes on one database,
//! sharing one directory declared `--shared-storage` on each, with
//! firmware-only VMs whose drives lie in it or outside it.

use super::forwarding::tls_cluster;
use super::*;

/// Three nodes a, b, c sharing `shared` (a directory every node sees).
fn three_nodes(shared: &std::path::Path) -> Option<(Daemon, Daemon, Daemon)> {
    let nodes = tls_cluster(
        &["a", "b", "c"],
        &["--shared-storage", shared.to_str().unwrap()],
    )?;
    let mut nodes = nodes.into_iter();
    Some((nodes.next()?, nodes.next()?, nodes.next()?))
}

/// A firmware-only VM on `node` (through `via`) with a raw drive at
/// `file`, which a firmware VM never reads; stopped in 1 s.
fn vm_with_drive(via: &Daemon, name: &str, node: &str, file: &std::path::Path) {
    std::fs::write(file, vec![0u8; 1 << 20]).unwrap();
    via.create_firmware_vm(name, &["--node", node, "--stop-timeout", "1"]);
    via.crv(&[
        "vm",
        "drive",
        "add",
        name,
        "--file",
        file.to_str().unwrap(),
        "--interface",
        "virtio",
        "--format",
        "raw",
    ])
    .ok();
}

/// The event of `vm`'s move, as `crv events --since 0` on `daemon` replays it.
fn move_event(daemon: &Daemon, vm: &str) -> Value {
    let events = daemon.crv_background(
        harness::access::Via::Unix,
        &["--json", "events", "--since", "0", "--vm", vm],
    );
    let out = events.wait_for_stdout("the move", Duration::from_secs(15), |out| {
        out.contains("moved from node")
    });
    out.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|event| {
            event["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("moved from node"))
        })
        .expect("the move's event")
}

fn node_row(daemon: &Daemon, name: &str) -> Value {
    nodes(daemon)
        .into_iter()
        .find(|node| node["name"] == name)
        .expect("the node")
}

/// A cordoned node gets no new VM: placement skips it, `--node` to it is
/// refused saying so, every node lists it cordoned; uncordoned, it takes
/// VMs again. Only admins cordon.
#[test]
fn a_cordoned_node_gets_no_new_vms() {
    let shared = temp_dir();
    let Some((a, b, c)) = three_nodes(shared.path()) else {
        return;
    };
    let shown = c.crv(&["--json", "node", "cordon", "a"]).json();
    assert_eq!(shown["cordoned"], true, "{shown}");
    assert!(c.crv(&["node", "cordon", "a"]).ok().contains("cordoned"));
    for daemon in [&a, &b, &c] {
        assert_eq!(node_row(daemon, "a")["cordoned"], true);
        assert_eq!(node_row(daemon, "b")["cordoned"], false);
    }
    let table = b.crv(&["node", "list"]).ok();
    let row = table
        .lines()
        .find(|l| l.starts_with("a "))
        .expect("a's row");
    assert!(row.contains("live,cordoned"), "{table}");
    // With a tie, a (first by name) would get them all.
    for name in ["x1", "x2", "x3"] {
        a.create_firmware_vm(name, &[]);
        assert_ne!(a.show(name)["node"], "a", "{name} placed on cordoned a");
    }
    b.crv(&[
        "vm", "create", "y", "--cpus", "1", "--ram", "64", "--node", "a",
    ])
    .fails(1, "node 'a' is cordoned");
    b.crv(&["node", "cordon", "nowhere"])
        .fails(1, "there is no node 'nowhere'");
    let operator = b.remote("olivia", "operator");
    b.crv_via(operator, &["node", "uncordon", "a"])
        .fails(1, "`node uncordon` needs the admin role");
    assert_eq!(
        node_row(&c, "a")["cordoned"],
        true,
        "the refusal changed nothing"
    );

    let shown = b.crv(&["--json", "node", "uncordon", "a"]).json();
    assert_eq!(shown["cordoned"], false, "{shown}");
    assert_eq!(node_row(&a, "a")["state"], "live");
    b.create_firmware_vm("z", &["--node", "a"]);
    assert_eq!(c.show("z")["node"], "a");
}

/// `vm move`: only a stopped VM, only to a live uncordoned other node,
/// only with every path shared (the refusal lists the local ones), each
/// refusal changing nothing; a move through a third node gives the VM to
/// its new owner with an event naming who moved it, from and to; the old
/// owner forgets it and the new one runs it. A dead owner's stopped VM
/// moves through any node.
#[test]
fn a_stopped_vm_with_shared_paths_moves_to_another_node() {
    let shared = temp_dir();
    let Some((a, mut b, c)) = three_nodes(shared.path()) else {
        return;
    };
    let outside = temp_dir();
    vm_with_drive(&c, "fw", "a", &shared.path().join("fw.img"));
    vm_with_drive(&c, "local", "a", &outside.path().join("local.img"));

    c.crv(&["vm", "start", "fw"]).ok();
    c.crv(&["vm", "move", "fw", "--node", "b"])
        .fails(1, "cannot move it");
    c.crv(&["vm", "stop", "fw", "--wait"]).ok();
    c.crv(&["vm", "move", "fw", "--node", "a"])
        .fails(1, "is on node 'a' already");
    c.crv(&["vm", "move", "fw", "--node", "nowhere"])
        .fails(1, "there is no node 'nowhere'");
    c.crv(&["node", "cordon", "c"]).ok();
    b.crv(&["vm", "move", "fw", "--node", "c"])
        .fails(1, "node 'c' is cordoned");
    c.crv(&["node", "uncordon", "c"]).ok();
    let refused = b
        .crv(&["vm", "move", "local", "--node", "c"])
        .fails(1, "not on shared storage");
    let local_file = outside.path().join("local.img");
    assert!(refused.contains(local_file.to_str().unwrap()), "{refused}");
    let operator = b.remote("olivia", "operator");
    b.crv_via(operator, &["vm", "move", "fw", "--node", "b"])
        .fails(1, "`vm move` needs the admin role");
    for name in ["fw", "local"] {
        assert_eq!(b.show(name)["node"], "a", "a refusal moved {name}");
    }

    let moved = c.crv(&["--json", "vm", "move", "fw", "--node", "b"]).json();
    assert_eq!(moved["node"], "b", "{moved}");
    for daemon in [&a, &b, &c] {
        assert_eq!(daemon.show("fw")["node"], "b");
    }
    let moved = move_event(&a, "fw");
    assert_eq!(
        moved["reason"], "moved from node 'a' to node 'b'",
        "{moved}"
    );
    assert_eq!(moved["kind"], "edited", "{moved}");
    assert!(moved["cause"].to_string().contains("vm move"), "{moved}");
    assert!(moved["cause"].to_string().contains("via c"), "{moved}");
    // a forgets it: a start through a goes to b, whose child it is.
    let started = a.crv(&["--json", "vm", "start", "fw"]).json();
    assert_eq!(started["node"], "b", "{started}");
    let pid = started["pid"].as_u64().expect("a pid");
    assert_eq!(parent_of(pid), Some(b.pid().unwrap()), "QEMU is b's child");
    assert!(qemus_in(&a.runtime).is_empty());
    a.crv(&["vm", "stop", "fw", "--wait"]).ok();

    // b dies with fw stopped: any node gives it away.
    b.kill9();
    assert!(wait_until(Duration::from_secs(30), || {
        node_state(&c, "b").as_deref() == Some("dead")
    }));
    let moved = c.crv(&["--json", "vm", "move", "fw", "--node", "a"]).json();
    assert_eq!(moved["node"], "a", "{moved}");
    c.crv(&["vm", "move", "fw", "--node", "b"])
        .fails(1, "node 'b' is dead");
    let started = c.crv(&["--json", "vm", "start", "fw"]).json();
    assert_eq!(started["status"], "running", "{started}");
    let pid = started["pid"].as_u64().expect("a pid");
    assert_eq!(parent_of(pid), Some(a.pid().unwrap()), "QEMU is a's child");
    harness::daemon::kill_processes_mentioning(&b.runtime);
}

/// `node drain a` cordons a and moves its stopped VMs with shared paths,
/// leaving the others with the reason; `--stop` also stops, moves and
/// starts its running HA VMs whose paths are all shared, and leaves the
/// rest running.
#[test]
fn a_drain_moves_what_can_move_and_says_why_the_rest_stays() {
    let shared = temp_dir();
    let Some((a, b, c)) = three_nodes(shared.path()) else {
        return;
    };
    let outside = temp_dir();
    vm_with_drive(&b, "parked", "a", &shared.path().join("parked.img"));
    vm_with_drive(&b, "pinned", "a", &outside.path().join("pinned.img"));
    vm_with_drive(&b, "busy", "a", &shared.path().join("busy.img"));
    vm_with_drive(&b, "rooted", "a", &outside.path().join("rooted.img"));
    vm_with_drive(&b, "plain", "a", &shared.path().join("plain.img"));
    // Only HA VMs are stopped and moved by `--stop`.
    b.crv(&[
        "vm",
        "edit",
        "busy",
        "--restart",
        "on-failure",
        "--ha",
        "true",
    ])
    .ok();
    for name in ["busy", "rooted", "plain"] {
        a.crv(&["vm", "start", name]).ok();
    }
    let operator = b.remote("olivia", "operator");
    b.crv_via(operator, &["node", "drain", "a"])
        .fails(1, "`node drain` needs the admin role");
    assert_eq!(node_row(&b, "a")["cordoned"], false);

    let report = c.crv(&["--json", "node", "drain", "a"]).json();
    let outcome = |report: &Value, vm: &str| {
        report
            .as_array()
            .expect("a report")
            .iter()
            .find(|entry| entry["vm"] == vm)
            .cloned()
            .unwrap_or_else(|| panic!("{vm} not in {report}"))
    };
    assert_eq!(node_row(&b, "a")["cordoned"], true);
    let parked = outcome(&report, "parked");
    let to = parked["moved_to"].as_str().expect("moved").to_owned();
    assert!(to == "b" || to == "c", "{parked}");
    assert_eq!(a.show("parked")["node"], to.as_str());
    let pinned = outcome(&report, "pinned");
    assert!(pinned["moved_to"].is_null(), "{pinned}");
    assert!(
        pinned["note"]
            .as_str()
            .unwrap()
            .contains("not on shared storage"),
        "{pinned}"
    );
    for running in ["busy", "rooted", "plain"] {
        let entry = outcome(&report, running);
        assert!(entry["moved_to"].is_null(), "{entry}");
        assert!(
            entry["note"].as_str().unwrap().contains("--stop"),
            "{entry}"
        );
        assert_eq!(a.show(running)["status"], "running");
    }

    let run = c.crv(&["node", "drain", "a", "--stop"]);
    let text = run.ok();
    assert!(text.contains("node 'a' cordoned"), "{text}");
    // The drain streams a progress frame per VM as it reaches it.
    let progress: Vec<String> = run
        .stderr()
        .lines()
        .filter(|line| line.starts_with("draining: "))
        .map(str::to_owned)
        .collect();
    let left = progress.len();
    assert!(left >= 1, "no progress: {}", run.stderr());
    for (index, line) in progress.iter().enumerate() {
        assert!(
            line.ends_with(&format!("({}/{left})", index + 1)),
            "{progress:?}"
        );
    }
    let report = c.crv(&["--json", "node", "drain", "a", "--stop"]).json();
    // Neither can be HA: rooted's drive is local, plain was never marked.
    for stays in ["rooted", "plain"] {
        assert!(
            outcome(&report, stays)["note"]
                .as_str()
                .unwrap()
                .contains("not an HA VM"),
            "{report}"
        );
    }
    assert_eq!(a.show("plain")["status"], "running");
    assert!(
        report.as_array().unwrap().iter().all(|e| e["vm"] != "busy"),
        "busy left a at the first --stop: {report}"
    );
    let busy = b.show("busy");
    assert_eq!(busy["status"], "running", "{busy}");
    let new_home = busy["node"].as_str().expect("a node").to_owned();
    assert_ne!(new_home, "a", "{busy}");
    let pid = busy["pid"].as_u64().expect("a pid");
    let owner = if new_home == "b" { &b } else { &c };
    assert_eq!(
        parent_of(pid),
        owner.pid(),
        "busy runs as {new_home}'s child"
    );
    assert_eq!(a.show("rooted")["status"], "running");
    assert_eq!(a.show("rooted")["node"], "a");
    assert_eq!(
        move_event(&b, "busy")["reason"],
        format!("moved from node 'a' to node '{new_home}'")
    );
    assert_eq!(
        qemus_in(&a.runtime).len(),
        2,
        "only rooted and plain run on a"
    );
}

/// Ctrl+C during a `--stop` drain: the VM under way (its guest ignores the
/// ACPI stop for 5 s) finishes its move and runs on its new node; the next
/// one is left running where it was, reported as cancelled.
#[test]
fn an_interrupted_drain_finishes_the_vm_under_way_and_leaves_the_rest() {
    let shared = temp_dir();
    let Some((a, b, c)) = three_nodes(shared.path()) else {
        return;
    };
    for name in ["first", "second"] {
        vm_with_drive(&b, name, "a", &shared.path().join(format!("{name}.img")));
        b.crv(&[
            "vm",
            "edit",
            name,
            "--restart",
            "on-failure",
            "--ha",
            "true",
            "--stop-timeout",
            "5",
        ])
        .ok();
        a.crv(&["vm", "start", name]).ok();
    }
    let mut drain = c.crv_background(
        harness::access::Via::Unix,
        &["node", "drain", "a", "--stop"],
    );
    drain.wait_for_stderr("the first VM", Duration::from_secs(20), |err| {
        err.contains("draining: first (1/2)")
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(drain.pid() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    drain.expect_exit(0, Duration::from_secs(60));
    let report = drain.stdout();
    assert!(
        report.contains("second: left: the drain was cancelled"),
        "{report}\n{}",
        drain.stderr()
    );
    assert!(drain.stderr().contains("cancelling"), "{}", drain.stderr());
    let first = a.show("first");
    assert!(
        first["node"] != "a" && first["status"] == "running",
        "{first}"
    );
    let second = a.show("second");
    assert_eq!(
        (second["node"].as_str(), second["status"].as_str()),
        (Some("a"), Some("running")),
        "{second}"
    );
}
