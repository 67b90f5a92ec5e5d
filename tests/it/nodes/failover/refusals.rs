//! `--ha` and `--fence-timeout` refusals.

use super::*;

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

/// Failover needs the fence below the node timeout: refused at start.
#[test]
fn a_fence_timeout_not_below_the_node_timeout_is_refused() {
    let Some(cluster) = Cluster::shared() else {
        return;
    };
    let a = Daemon::start_on(
        temp_dir(),
        cluster.create_database(),
        failover_options("a", None),
    );
    let dir = temp_dir();
    let (code, stderr) = a.run_another(
        dir.path(),
        &["--node", "x", "--node-timeout", "6", "--fence-timeout", "6"],
    );
    assert_ne!(code, Some(0), "{stderr}");
    assert!(code.is_some(), "it must exit: {stderr}");
    assert!(
        stderr.contains("--fence-timeout 6 must be below --node-timeout 6"),
        "{stderr}"
    );
}
