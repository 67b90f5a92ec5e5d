//! Failover (issue 19): highly available VMs, what the survivors do with
//! a lost node's VMs, and a node that fences its own VMs when it loses its
//! database session, so that no VM ever runs on two nodes.

use super::*;

/// A directory every node of the test sees: the shared storage.
fn shared_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("crv-shared")
        .tempdir()
        .unwrap()
}

/// A raw file of 1 MiB at `path`, as a drive.
fn image(path: &std::path::Path) -> String {
    std::fs::write(path, vec![0u8; 1 << 20]).unwrap();
    path.display().to_string()
}

/// The `ha:` line of `crv vm show`, its padding squeezed.
fn ha_line(daemon: &Daemon, vm: &str) -> String {
    let shown = daemon.crv(&["vm", "show", vm]).ok();
    let line = shown
        .lines()
        .find(|line| line.trim_start().starts_with("ha:"))
        .unwrap_or_else(|| panic!("no ha line in: {shown}"));
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `--ha` needs a restarting policy and every file on shared storage:
/// each refusal is an InvalidArgument (exit 1) that names what to do and
/// writes nothing; an HA VM's policy cannot go back to `never`.
#[test]
fn ha_is_refused_without_a_restart_policy_or_shared_storage() {
    let Some(cluster) = Cluster::shared() else {
        return;
    };
    let shared = shared_dir();
    let local = temp_dir();
    let mut options = node_options("a");
    options.extra_args.extend([
        "--shared-storage".into(),
        shared.path().display().to_string(),
    ]);
    let a = Daemon::start_on(temp_dir(), cluster.create_database(), options);

    let refused = a
        .crv(&["vm", "create", "web", "--cpus", "1", "--ram", "64", "--ha"])
        .fails(1, "restart policy on-failure or always");
    assert!(refused.contains("--restart on-failure"), "{refused}");
    assert_eq!(
        a.crv(&["--json", "vm", "list"]).json(),
        serde_json::json!([])
    );

    a.create_firmware_vm("web", &["--ha", "--restart", "on-failure"]);
    assert_eq!(a.show("web")["ha"], true);
    assert_eq!(ha_line(&a, "web"), "ha: yes");

    let outside = image(&local.path().join("local disk.img"));
    let refused = a
        .crv(&[
            "vm",
            "drive",
            "add",
            "web",
            "--file",
            &outside,
            "--interface",
            "virtio",
            "--format",
            "raw",
        ])
        .fails(1, "cannot be highly available");
    let prefix = shared.path().display().to_string();
    for part in [outside.as_str(), prefix.as_str(), "--ha"] {
        assert!(refused.contains(part), "{part:?} not in: {refused}");
    }
    assert_eq!(a.show("web")["drives"], serde_json::json!([]));
    let inside = image(&shared.path().join("disk.img"));
    a.crv(&[
        "vm",
        "drive",
        "add",
        "web",
        "--file",
        &inside,
        "--interface",
        "virtio",
        "--format",
        "raw",
    ])
    .ok();
    a.crv(&[
        "vm",
        "share",
        "add",
        "web",
        "--path",
        &local.path().display().to_string(),
        "--tag",
        "t",
    ])
    .fails(1, "cannot be highly available");

    a.crv(&["vm", "edit", "web", "--restart", "never"])
        .fails(1, "restart policy on-failure or always");
    assert_eq!(a.show("web")["restart_policy"], "on-failure");
    a.crv(&["vm", "edit", "web", "--ha", "false"]).ok();
    assert_eq!(a.show("web")["ha"], false);
    a.crv(&[
        "vm",
        "drive",
        "add",
        "web",
        "--file",
        &outside,
        "--interface",
        "virtio",
        "--format",
        "raw",
    ])
    .ok();
    a.crv(&["vm", "edit", "web", "--ha", "true"])
        .fails(1, "local disk.img");
    assert_eq!(a.show("web")["ha"], false);
    assert_eq!(ha_line(&a, "web"), "ha: no");
}
