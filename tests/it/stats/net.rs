//! Traffic on a tap NIC reaches its counters. The tap has no address on
//! the host and the guest only speaks IPv6 link-local (neighbour discovery
//! as its link comes up, then a ping of all nodes on the link, which is the
//! host's tap): nothing leaves the tap.

use super::{daemon_with_metrics, stats, wait_for_stats};
use harness::DaemonOptions;
use harness::guest::{BOOT_TIMEOUT, Guest};
use harness::metrics::{scrape, value};
use harness::prereq::{is_root, require, which};
use serde_json::Value;
use std::process::Command;

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .status()
        .is_ok_and(|status| status.success())
}

/// A tap on the host, up and without an address; deleted when dropped.
struct Tap(String);

impl Tap {
    fn create(name: &str) -> Tap {
        assert!(
            ip(&["tuntap", "add", "dev", name, "mode", "tap"]),
            "create tap {name}"
        );
        let tap = Tap(name.to_owned());
        assert!(ip(&["link", "set", "dev", name, "up"]), "bring {name} up");
        tap
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        ip(&["link", "del", &self.0]);
    }
}

fn sent_packets(stats: &Value) -> u64 {
    stats["net"][0]["counters"]["tx_packets"]
        .as_u64()
        .unwrap_or(0)
}

#[test]
fn traffic_on_a_tap_nic_shows_in_its_counters() {
    if !require(
        is_root() && which("ip").is_some(),
        "root and iproute2 for a tap device",
    ) {
        return;
    }
    let Some(guest) = Guest::get() else {
        return;
    };
    let (daemon, port) = daemon_with_metrics(DaemonOptions::tcg());
    let tap = Tap::create(&format!("crvs{}", std::process::id() % 100_000));
    let id = daemon.create_guest_vm(guest, "talker", "", &[]);
    let added = daemon
        .crv(&[
            "--json",
            "vm",
            "net",
            "add",
            "talker",
            "--type",
            "tap",
            "--host-device",
            &tap.0,
        ])
        .json();
    let nic = added["network_interfaces"][0]["id"]
        .as_i64()
        .expect("the NIC's id");
    daemon.crv(&["vm", "start", "talker"]).ok();
    daemon.wait_for_serial(id, "GUEST READY", BOOT_TIMEOUT);

    let before = stats(&daemon, "talker");
    assert_eq!(before["net"][0]["ifname"], tap.0.as_str(), "{before:#}");
    assert!(before["net"][0]["counters"].is_object(), "{before:#}");
    daemon.crv_with_input(
        &["vm", "console", "talker"],
        "ip link set eth0 up; sleep 2; ping -c 3 ff02::1%eth0\n",
    );
    let after = wait_for_stats(&daemon, "talker", "the guest's packets are counted", |s| {
        sent_packets(s) >= sent_packets(&before) + 2
    });
    assert!(
        after["net"][0]["counters"]["tx_bytes"].as_u64()
            > before["net"][0]["counters"]["tx_bytes"].as_u64(),
        "{after:#}"
    );
    let series = format!(
        "corvus_vm_net_transmitted_packets_total{{vm=\"talker\",id=\"{id}\",nic=\"{nic}\"}}"
    );
    let counted =
        harness::postgres::wait_until(super::SLOW, || value(&scrape(port), &series) >= Some(2.0));
    assert!(counted, "{}", scrape(port));
    daemon.crv(&["vm", "reset", "talker"]).ok();
}
