//! `crv top` through any node shows every node's VMs (issue 19): each node
//! reads its own QEMUs, and the node asked gathers them.

use super::forwarding::tls_cluster;
use super::*;

fn top(daemon: &Daemon) -> Vec<Value> {
    daemon
        .crv(&["--json", "top", "--once"])
        .json()
        .as_array()
        .expect("a list of VM figures")
        .clone()
}

/// A VM running on a and one on b: top through either lists both with
/// their owners' pids; once a is dead, top through b lists b's only.
#[test]
fn top_through_any_node_shows_every_nodes_vms() {
    let Some(nodes) = tls_cluster(&["a", "b"], &[]) else {
        return;
    };
    let [mut a, b]: [Daemon; 2] = nodes.try_into().ok().expect("two nodes");
    a.create_firmware_vm("on-a", &["--node", "a"]);
    b.create_firmware_vm("on-b", &["--node", "b"]);
    let pid_a = a.crv(&["--json", "vm", "start", "on-a"]).json()["pid"].as_u64();
    let pid_b = b.crv(&["--json", "vm", "start", "on-b"]).json()["pid"].as_u64();
    assert!(pid_a.is_some() && pid_b.is_some());
    for daemon in [&a, &b] {
        // Each owner samples its QEMUs every stats interval.
        let mut figures = Vec::new();
        let sampled = wait_until(Duration::from_secs(20), || {
            figures = top(daemon);
            figures.iter().all(|vm| vm["sampled_at"].is_string())
        });
        assert!(sampled, "each owner read its QEMU: {figures:?}");
        let seen: Vec<(&str, Option<u64>)> = figures
            .iter()
            .map(|vm| {
                (
                    vm["vm_name"].as_str().unwrap_or_default(),
                    vm["pid"].as_u64(),
                )
            })
            .collect();
        assert_eq!(seen, [("on-a", pid_a), ("on-b", pid_b)], "{figures:?}");
    }
    a.kill9();
    harness::daemon::kill_processes_mentioning(&a.runtime);
    assert!(wait_until(Duration::from_secs(30), || {
        node_state(&b, "a").as_deref() == Some("dead")
    }));
    let names: Vec<Value> = top(&b).iter().map(|vm| vm["vm_name"].clone()).collect();
    assert_eq!(names, ["on-b"]);
}

/// A live node that cannot be asked (no node certificate here to forward
/// with): its VMs are still listed, without figures, saying why.
#[test]
fn top_lists_the_vms_of_a_node_it_cannot_ask() {
    let Some((a, b)) = two_nodes() else {
        return;
    };
    a.create_firmware_vm("on-a", &["--node", "a"]);
    a.crv(&["vm", "start", "on-a"]).ok();
    let figures = top(&b);
    assert_eq!(figures.len(), 1, "{figures:?}");
    let on_a = &figures[0];
    assert_eq!(
        (on_a["vm_name"].as_str(), on_a["status"].as_str()),
        (Some("on-a"), Some("running")),
        "{on_a}"
    );
    assert!(
        on_a["sampled_at"].is_null() && on_a["pid"].is_null(),
        "{on_a}"
    );
    let why = on_a["block"]["unavailable"].as_str().unwrap_or_default();
    assert!(
        why.starts_with("node 'a' did not report it") && why.contains("no node certificate"),
        "{on_a}"
    );
}
