//! A host loss: a node's daemon and QEMUs killed, its VMs handled by the
//! survivors.

use super::*;

/// A host loss: a's daemon and QEMUs killed. The HA VM runs on b or c
/// within node-timeout plus start time, exactly once; a's non-HA VM shows
/// `error` "node 'a' lost"; a started again sees the VM moved and does not
/// start it.
#[test]
fn a_lost_node_s_ha_vm_runs_on_a_survivor_exactly_once() {
    let Some(cluster) = Cluster::shared() else {
        return;
    };
    let url = cluster.create_database();
    let mut trio = three_nodes(&url, &url);
    let ha = trio.ha_vm("ha1");
    trio.b.create_firmware_vm("plain", &["--node", "a"]);
    trio.running_on_a("plain");
    let poller = Poller::start(trio.runtimes());

    trio.lose_a();
    let lost = Instant::now();
    let node = runs_on_a_survivor(
        &trio,
        "ha1",
        Duration::from_secs(FAILOVER_NODE_TIMEOUT + 30),
    );
    assert!(
        lost.elapsed() < Duration::from_secs(FAILOVER_NODE_TIMEOUT + 20),
        "failover took {:?}",
        lost.elapsed()
    );
    assert_eq!(copies_of(&trio, ha), vec![node.as_str()]);
    let history = trio.b.history("ha1");
    assert!(
        history
            .iter()
            .any(|e| e["reason"] == "taken over from node 'a' (lost)"),
        "{history:?}"
    );

    let plain = trio.b.show("plain");
    assert_eq!(
        (
            plain["status"].as_str(),
            plain["last_error"].as_str(),
            plain["node"].as_str()
        ),
        (Some("error"), Some("node 'a' lost"), Some("a")),
        "{plain}"
    );
    assert!(
        trio.c
            .history("plain")
            .iter()
            .any(|e| e["to"] == "error" && e["reason"] == "node 'a' lost")
    );

    trio.a.restart();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        copies_of(&trio, ha),
        vec![node.as_str()],
        "a started it again"
    );
    assert_eq!(trio.a.show("ha1")["node"], node);
    assert_eq!(trio.a.show("plain")["status"], "error");
    poller.finish();
}

/// Several HA VMs, two survivors racing: each VM has exactly one QEMU, on
/// b or c, and no VM ever had two.
#[test]
fn two_survivors_racing_start_each_vm_once() {
    let Some(cluster) = Cluster::shared() else {
        return;
    };
    let url = cluster.create_database();
    let mut trio = three_nodes(&url, &url);
    let names = ["r1", "r2", "r3", "r4"];
    let ids: Vec<i64> = names.iter().map(|name| trio.ha_vm(name)).collect();
    let poller = Poller::start(trio.runtimes());
    trio.lose_a();
    all_run_on_survivors(&trio, &names);
    // Later rounds must not start any of them again.
    std::thread::sleep(Duration::from_secs(3));
    for (name, id) in names.iter().zip(&ids) {
        let owner = trio.b.show(name)["node"].as_str().unwrap().to_owned();
        assert_eq!(copies_of(&trio, *id), vec![owner.as_str()], "{name}");
    }
    poller.finish();
}
