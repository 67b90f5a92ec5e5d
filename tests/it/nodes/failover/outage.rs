//! PostgreSQL outages (issue 19): the server itself goes away under every
//! node. Longer than --fence-timeout, every node fences its HA VMs and,
//! once it holds its lock again, starts those still its own: each runs
//! again exactly once. Shorter, nothing is fenced at all.

use super::*;

/// Three nodes on a cluster of the test's own, with the given timeouts.
fn trio_on(cluster: &Cluster, node_timeout: u64, fence_timeout: u64) -> Trio {
    let url = cluster.create_database();
    let shared = shared_dir();
    let node = |name: &str| {
        let mut options = failover_options(name, Some(shared.path()));
        for (flag, value) in [
            ("--node-timeout", node_timeout),
            ("--fence-timeout", fence_timeout),
        ] {
            let at = options
                .extra_args
                .iter()
                .position(|arg| arg == flag)
                .expect("the flag is there");
            options.extra_args[at + 1] = value.to_string();
        }
        Daemon::start_on(temp_dir(), url.clone(), options)
    };
    let (a, b, c) = (node("a"), node("b"), node("c"));
    Trio { a, b, c, shared }
}

/// The pids of every node's QEMUs, by VM id.
fn pids(trio: &Trio) -> Vec<(i64, &'static str, u32)> {
    let mut found = qemus(&trio.runtimes());
    found.sort();
    found
}

/// Down longer than the fence timeout, shorter than the node timeout: the
/// HA VMs are fenced everywhere and each runs again exactly once, never
/// twice at any moment; the non-HA VM keeps its QEMU; every node is live.
#[test]
fn a_database_outage_fences_ha_vms_and_each_runs_again_once() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let trio = trio_on(&cluster, FAILOVER_NODE_TIMEOUT, 3);
    let on_a = trio.ha_vm_on(&trio.a, "a", "ha-a");
    let on_b = trio.ha_vm_on(&trio.b, "b", "ha-b");
    trio.c.create_firmware_vm("plain", &["--node", "a"]);
    let plain = trio.running_on_a("plain");
    let plain_pid = qemus(&trio.runtimes())
        .into_iter()
        .find(|(id, _, _)| *id == plain)
        .map(|(_, _, pid)| pid)
        .expect("plain's QEMU");
    let poller = Poller::start(trio.runtimes());

    cluster.stop_server();
    let fenced = wait_until(Duration::from_secs(5), || {
        copies_of(&trio, on_a).is_empty() && copies_of(&trio, on_b).is_empty()
    });
    assert!(fenced, "the HA VMs were not fenced: {:?}", pids(&trio));
    std::thread::sleep(Duration::from_millis(500));
    cluster.start_server();

    for (id, name) in [(on_a, "ha-a"), (on_b, "ha-b")] {
        assert!(
            wait_until(Duration::from_secs(40), || copies_of(&trio, id).len() == 1
                && trio.c.show(name)["status"] == "running"),
            "{name} never ran again: {} {:?}\n{}",
            trio.c.show(name),
            pids(&trio),
            trio.a.log()
        );
    }
    assert!(
        wait_until(Duration::from_secs(20), || ["a", "b", "c"].iter().all(
            |node| super::node_state(&trio.c, node).as_deref() == Some("live")
        )),
        "{}",
        trio.c.crv(&["node", "list"]).ok()
    );
    // Settled: still exactly one of each.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(copies_of(&trio, on_a).len(), 1, "{:?}", pids(&trio));
    assert_eq!(copies_of(&trio, on_b).len(), 1, "{:?}", pids(&trio));
    let plain_now: Vec<u32> = qemus(&trio.runtimes())
        .into_iter()
        .filter(|(id, _, _)| *id == plain)
        .map(|(_, _, pid)| pid)
        .collect();
    assert_eq!(plain_now, vec![plain_pid], "the non-HA VM lost its QEMU");
    assert_eq!(trio.c.show("plain")["status"], "running");
    poller.finish();
}

/// Down for less than the fence timeout: nothing is fenced, every QEMU
/// keeps its pid, and every node is live again.
#[test]
fn a_short_database_outage_fences_nothing() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    // A heartbeat of 5 s and a retake within a few seconds stay well
    // inside a fence timeout of 15 s.
    let trio = trio_on(&cluster, 30, 15);
    trio.ha_vm_on(&trio.a, "a", "ha-a");
    trio.ha_vm_on(&trio.b, "b", "ha-b");
    trio.c.create_firmware_vm("plain", &["--node", "a"]);
    trio.running_on_a("plain");
    let before = pids(&trio);
    assert_eq!(before.len(), 3, "{before:?}");
    let poller = Poller::start(trio.runtimes());

    cluster.stop_server();
    std::thread::sleep(Duration::from_secs(1));
    cluster.start_server();

    let daemons = [&trio.a, &trio.b, &trio.c];
    assert!(
        wait_until(Duration::from_secs(30), || daemons
            .iter()
            .all(|daemon| daemon.log().contains("node lock taken again"))),
        "not every node took its lock again"
    );
    assert!(
        wait_until(Duration::from_secs(10), || ["a", "b", "c"].iter().all(
            |node| super::node_state(&trio.c, node).as_deref() == Some("live")
        )),
        "{}",
        trio.c.crv(&["node", "list"]).ok()
    );
    // Longer than the fence timeout since the outage began.
    std::thread::sleep(Duration::from_secs(16));
    assert_eq!(pids(&trio), before, "a QEMU was fenced or restarted");
    for daemon in daemons {
        assert!(!daemon.log().contains("fenced:"), "{}", daemon.log());
    }
    poller.finish();
}
