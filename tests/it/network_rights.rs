//! A daemon without CAP_NET_ADMIN (not run as root) cannot own networks:
//! `network create` fails saying so and pointing to user-mode NICs with
//! port forwards, and leaves nothing behind.

use harness::netns::Netns;
use harness::{Daemon, DaemonOptions, Db};
use std::sync::Arc;

fn without_net_admin_networks_are_refused_pointing_to_user_nics(db: Db) {
    let Some(netns) = Netns::create() else { return };
    let options = DaemonOptions {
        netns: Some(Arc::new(netns)),
        without_net_admin: true,
        ..DaemonOptions::default()
    };
    let Some(daemon) = Daemon::start_with(db, options) else {
        return;
    };
    let stderr = daemon
        .crv(&["network", "create", "lab", "--subnet", "10.77.0.0/24"])
        .fails(1, "needs root (CAP_NET_ADMIN)");
    assert!(
        stderr.contains("crv vm net add VM --type user --forward tcp:2222:22"),
        "{stderr}"
    );
    let listed = daemon.crv(&["--json", "network", "list"]).json();
    assert_eq!(listed, serde_json::json!([]), "nothing is left recorded");
}

on_both_databases!(without_net_admin_networks_are_refused_pointing_to_user_nics);
