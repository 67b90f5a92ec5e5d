//! Disks on several nodes (issue 19): a disk's file is on one node's host,
//! so the disk is that node's; any node answers for it by passing the
//! request there, and `disk list` through any node lists every node's.

use super::forwarding::tls_cluster;
use super::*;

fn listed(daemon: &Daemon) -> Vec<Value> {
    daemon
        .crv(&["--json", "disk", "list"])
        .json()
        .as_array()
        .expect("a list of disks")
        .clone()
}

fn name_and_node(disks: &[Value]) -> Vec<(String, String)> {
    disks
        .iter()
        .map(|disk| {
            (
                disk["name"].as_str().unwrap_or_default().to_owned(),
                disk["node"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Disks made through a and b are theirs; show, resize and delete through
/// the other node reach the owner (which sees the other node's VMs as
/// users); both list every disk with its node and its file's size; a clone
/// is refused naming the owner; a VM made from another node's image is
/// made there; a dead owner's disks are listed as stored and requests for
/// them name it.
#[test]
fn a_disk_is_its_nodes_and_any_node_reaches_it() {
    let Some(nodes) = tls_cluster(&["a", "b"], &[]) else {
        return;
    };
    let [mut a, b]: [Daemon; 2] = nodes.try_into().ok().expect("two nodes");
    a.crv(&["disk", "create", "da", "--size", "1M"]).ok();
    b.crv(&["disk", "create", "db", "--size", "2M"]).ok();

    // Made through b for a: on a's host, a's.
    b.crv(&["disk", "create", "made", "--size", "1M", "--node", "a"])
        .ok();
    let made = a.crv(&["--json", "disk", "show", "made"]).json();
    assert_eq!(made["node"], "a", "{made}");
    assert!(
        made["path"]
            .as_str()
            .is_some_and(|path| path.starts_with(a.data_dir().to_str().unwrap())),
        "{made}"
    );
    b.crv(&["disk", "create", "x", "--size", "1M", "--node", "nowhere"])
        .fails(1, "there is no node 'nowhere'");
    b.crv(&["disk", "delete", "made"]).ok();

    let shown = b.crv(&["--json", "disk", "show", "da"]).json();
    assert_eq!(shown["node"], "a", "{shown}");
    let path = shown["path"].as_str().expect("a path").to_owned();
    assert!(path.starts_with(a.data_dir().to_str().unwrap()), "{path}");
    for daemon in [&a, &b] {
        let disks = listed(daemon);
        assert_eq!(
            name_and_node(&disks),
            [("da".into(), "a".into()), ("db".into(), "b".into())]
        );
        assert!(
            disks
                .iter()
                .all(|disk| disk["actual_size"].as_u64().is_some()),
            "each owner measured its file: {disks:?}"
        );
    }
    let table = b.crv(&["disk", "list"]).ok();
    assert!(
        table.lines().next().unwrap_or("").contains("NODE"),
        "{table}"
    );

    // A VM of b using a's file by its path (storage both hosts see).
    b.create_firmware_vm("v", &["--node", "b"]);
    b.crv(&[
        "vm",
        "drive",
        "add",
        "v",
        "--file",
        &path,
        "--format",
        "qcow2",
        "--interface",
        "virtio",
    ])
    .ok();
    b.crv(&[
        "vm",
        "drive",
        "add",
        "v",
        "--disk",
        "da",
        "--interface",
        "virtio",
    ])
    .fails(1, "disk 'da' is on node 'a', and this VM runs on node 'b'");
    b.crv(&["disk", "delete", "da"])
        .fails(1, "disk 'da' is in use by VM 'v'");
    b.crv(&["disk", "resize", "da", "4M"]).ok();
    assert_eq!(
        a.crv(&["--json", "disk", "show", "da"]).json()["virtual_size"],
        4 << 20
    );
    b.crv(&["disk", "create", "da", "--size", "1M"])
        .fails(1, "da");
    b.crv(&["disk", "clone", "copy", "da"])
        .fails(1, "disk 'da' is on node 'a'");
    // A VM made from a's image through b is a's, with its overlay there;
    // deleted with its disks through b, both go.
    b.crv(&[
        "vm", "create", "img", "--cpus", "1", "--ram", "64", "--image", "da",
    ])
    .ok();
    assert_eq!(b.show("img")["node"], "a");
    let root = b.crv(&["--json", "disk", "show", "img-root"]).json();
    assert_eq!(root["node"], "a", "{root}");
    b.crv(&["vm", "delete", "img", "--with-disks"]).ok();
    assert_eq!(
        name_and_node(&listed(&b)),
        [("da".into(), "a".into()), ("db".into(), "b".into())]
    );

    a.kill9();
    assert!(wait_until(Duration::from_secs(30), || {
        node_state(&b, "a").as_deref() == Some("dead")
    }));
    let disks = listed(&b);
    let da = disks.iter().find(|disk| disk["name"] == "da").expect("da");
    assert!(
        da["problem"]
            .as_str()
            .is_some_and(|problem| problem.starts_with("node 'a' did not list it")),
        "{da}"
    );
    assert_eq!(da["virtual_size"], 4 << 20, "as stored: {da}");
    b.crv(&["disk", "show", "da"])
        .fails(1, "disk 'da' is on node 'a', which is dead");
    b.crv(&["disk", "create", "late", "--size", "1M", "--node", "a"])
        .fails(1, "node 'a' is dead");
    harness::daemon::kill_processes_mentioning(&a.runtime);
}
