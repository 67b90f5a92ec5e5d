//! Printing networks: a table for `list`, key-value lines for `show`.

use crate::columns::{Cell, Columns};
use crate::output;
use corvus_protocol::NetworkInfo;

pub fn list(networks: &[NetworkInfo]) {
    if networks.is_empty() {
        println!("No networks. Create one with `crv network create NAME --subnet 10.77.0.0/24`.");
        return;
    }
    let mut columns = Columns::new(vec![
        "ID", "NAME", "STATUS", "MODE", "SUBNET", "GATEWAY", "DHCP", "DOMAIN",
    ]);
    for network in networks {
        columns.row(vec![
            Cell::plain(network.id.to_string()),
            Cell::plain(network.name.as_str()),
            Cell::plain(network.status.as_str()),
            Cell::plain(network.mode.as_str()),
            Cell::plain(network.subnet.as_str()),
            Cell::plain(network.gateway.as_str()),
            Cell::plain(format!("{}-{}", network.dhcp_start, network.dhcp_end)),
            Cell::plain(network.dns_domain.clone().unwrap_or_else(|| "-".into())),
        ]);
    }
    columns.print(output::output_width(), 7);
}

pub fn show(network: &NetworkInfo) {
    let rows = [
        ("id", network.id.to_string()),
        ("name", network.name.clone()),
        ("status", network.status.to_string()),
        (
            "last error",
            output::safe(network.last_error.as_deref().unwrap_or("-")).into_owned(),
        ),
        ("mode", network.mode.to_string()),
        ("subnet", network.subnet.clone()),
        ("gateway", network.gateway.clone()),
        (
            "dhcp range",
            format!("{}-{}", network.dhcp_start, network.dhcp_end),
        ),
        (
            "dns domain",
            network.dns_domain.clone().unwrap_or_else(|| "-".into()),
        ),
        ("bridge", network.bridge.clone()),
        (
            "dnsmasq",
            network
                .dnsmasq_pid
                .map_or("not running".into(), |pid| format!("pid {pid}")),
        ),
        ("created", network.created_at.clone()),
    ];
    for (key, value) in rows {
        println!("{:<13}{value}", format!("{key}:"));
    }
    println!();
    if network.nics.is_empty() {
        println!(
            "No VM NICs on network '{}' (add one with `crv vm net add VM --network {}`).",
            network.name, network.name
        );
    } else {
        let mut columns = Columns::new(vec!["VM", "NIC", "MAC", "STATIC IP", "LEASED IP"]);
        for nic in &network.nics {
            let or_dash = |ip: &Option<String>| ip.clone().unwrap_or_else(|| "-".into());
            columns.row(vec![
                Cell::plain(output::safe(&nic.vm_name)),
                Cell::plain(nic.nic_id.to_string()),
                Cell::plain(nic.mac_address.as_str()),
                Cell::plain(or_dash(&nic.ip_address)),
                Cell::plain(or_dash(&nic.lease_address)),
            ]);
        }
        columns.print(output::output_width(), 0);
    }
    if !network.events.is_empty() {
        println!("\nHistory:");
        let mut columns = Columns::new(vec!["AT", "EVENT", "REASON"]);
        for event in &network.events {
            columns.row(vec![
                Cell::plain(event.at.as_str()),
                Cell::plain(event.kind.as_str()),
                Cell::plain(output::safe(&event.reason)),
            ]);
        }
        columns.print(output::output_width(), 2);
    }
}
