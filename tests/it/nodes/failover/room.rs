//! Failover by free RAM: survivors offering little RAM share a lost
//! node's HA VMs instead of one of them taking them all.

use super::*;

/// b and c offer 128 MiB each (`--node-ram`), a runs five HA VMs of
/// 64 MiB. After a's loss each VM runs once; neither survivor took more
/// than its room while the other had some, so one runs two VMs and the
/// other three (the fifth fits nowhere and goes to the freest, by name).
#[test]
fn survivors_share_a_lost_node_s_vms_by_free_ram() {
    let Some(cluster) = Cluster::shared() else {
        return;
    };
    let url = cluster.create_database();
    let mut trio = three_nodes_with(&url, &url, &["--node-ram", "128"]);
    let offered = |node: &str| {
        super::super::nodes(&trio.a)
            .into_iter()
            .find(|row| row["name"] == node)
            .and_then(|row| row["ram_mib"].as_u64())
    };
    assert_eq!(offered("b"), Some(128), "--node-ram is what b offers");
    assert!(offered("a") > Some(128), "a offers the host's RAM");

    let names = ["m1", "m2", "m3", "m4", "m5"];
    let ids: Vec<i64> = names.iter().map(|name| trio.ha_vm(name)).collect();
    let poller = Poller::start(trio.runtimes());
    trio.lose_a();
    all_run_on_survivors(&trio, &names);
    std::thread::sleep(Duration::from_secs(3));
    let mut per_node = std::collections::BTreeMap::<&str, usize>::new();
    for id in &ids {
        let copies = copies_of(&trio, *id);
        assert_eq!(copies.len(), 1, "VM {id}: {copies:?}");
        *per_node.entry(copies[0]).or_default() += 1;
    }
    let mut counts: Vec<usize> = per_node.values().copied().collect();
    counts.sort_unstable();
    assert_eq!(counts, vec![2, 3], "by node: {per_node:?}");
    poller.finish();
}
