//! Self-fencing: a node without its database session kills its HA VMs
//! before any survivor starts them.

use super::*;
use std::sync::atomic::Ordering;

/// a loses its database session (its sessions killed, and it may not log
/// in again) while its QEMUs run: it kills its HA VM before any survivor
/// starts it, no VM ever runs twice, and once a is back it leaves the VM
/// to its new node.
#[test]
fn a_node_without_its_session_fences_its_ha_vms_before_any_takeover() {
    let Some(cluster) = Cluster::shared() else {
        return;
    };
    let url = cluster.create_database();
    let role = format!("fence_a_{}_{}", std::process::id(), fastrand_suffix());
    cluster.admin(&[&format!("CREATE ROLE {role} LOGIN SUPERUSER")]);
    let url_a = url.replacen("postgres@", &format!("{role}@"), 1);
    assert_ne!(url_a, url, "the cluster URL names its user: {url}");
    let trio = three_nodes(&url, &url_a);
    let ha = trio.ha_vm("ha1");
    trio.b.create_firmware_vm("plain", &["--node", "a"]);
    let plain = trio.running_on_a("plain");
    let poller = Poller::start(trio.runtimes());

    let terminate =
        format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'");
    cluster.admin(&[&format!("ALTER ROLE {role} NOLOGIN"), &terminate]);
    let cut = Instant::now();
    assert!(
        wait_until(Duration::from_secs(FAILOVER_NODE_TIMEOUT), || !copies_of(
            &trio, ha
        )
        .contains(&"a")),
        "a never fenced its HA VM"
    );
    let fenced = cut.elapsed();
    assert!(
        fenced < Duration::from_secs(FAILOVER_NODE_TIMEOUT),
        "fenced after {fenced:?}"
    );
    // The QEMU is gone a moment before a's VM actor has recorded why.
    assert!(
        wait_until(Duration::from_secs(5), || trio.a.show("ha1")["status"]
            == "error"),
        "{}",
        trio.a.show("ha1")
    );
    // Fenced, a starts no HA VM: a survivor may be starting it.
    trio.a
        .crv(&["vm", "start", "ha1"])
        .fails(1, "this node has lost its database session");
    assert_eq!(
        copies_of(&trio, ha),
        Vec::<&str>::new(),
        "a started ha1 again while fenced"
    );
    let node = runs_on_a_survivor(
        &trio,
        "ha1",
        Duration::from_secs(FAILOVER_NODE_TIMEOUT + 30),
    );
    let taken = poller.first_seen(ha, if node == "b" { "b" } else { "c" });
    assert!(
        taken.is_some_and(|at| at.duration_since(cut) > fenced),
        "taken over before the fence"
    );
    assert!(
        trio.a
            .log()
            .contains("fenced: this node lost its database session"),
        "{}",
        trio.a.log()
    );
    assert_eq!(copies_of(&trio, plain), vec!["a"], "only HA VMs are fenced");

    cluster.admin(&[&format!("ALTER ROLE {role} LOGIN")]);
    assert!(
        wait_until(Duration::from_secs(20), || trio
            .a
            .log()
            .contains("it leaves this node")),
        "{}",
        trio.a.log()
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(copies_of(&trio, ha), vec![node.as_str()]);
    trio.a
        .crv(&["vm", "start", "ha1"])
        .fails(1, &format!("belongs to node '{node}'"));
    poller.finish();
}

fn fastrand_suffix() -> u32 {
    use std::sync::atomic::AtomicU32;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
