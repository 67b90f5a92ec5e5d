//! `crv network` and `crv vm net add --network` (issue 17): what is
//! recorded and shown, each network's bridge (made, found again after a
//! restart, removed), every refusal of the "Bad input" list that
//! the definitions can meet, and a network in use that cannot be deleted.
//! Each daemon runs in a network namespace of the test's own.

use harness::netns::Netns;
use harness::{Daemon, DaemonOptions, Db};
use std::sync::Arc;

fn start(db: Db) -> Option<(Daemon, Arc<Netns>)> {
    let netns = Arc::new(Netns::create()?);
    let options = DaemonOptions {
        netns: Some(netns.clone()),
        ..DaemonOptions::default()
    };
    Some((Daemon::start_with(db, options)?, netns))
}

/// The rules of the Corvus nftables table in the namespace, as nft prints
/// them, or `None` when there is no such table. One `list ruleset` reads
/// every table at once: listing the tables and then ours raced with the
/// daemon removing it in between.
fn corvus_table(netns: &Netns) -> Option<String> {
    let ruleset = netns
        .exec(&["nft", "list", "ruleset"])
        .expect("nft list ruleset");
    let start = ruleset.find("table ip corvus {")?;
    let table = &ruleset[start..];
    let end = table.find("\n}").map_or(table.len(), |end| end + 2);
    Some(table[..end].to_owned())
}

fn forwarding(netns: &Netns) -> String {
    netns
        .exec(&["cat", "/proc/sys/net/ipv4/ip_forward"])
        .unwrap()
        .trim()
        .to_owned()
}

fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let done = harness::postgres::wait_until(std::time::Duration::from_secs(10), &mut check);
    assert!(done, "timed out waiting for {what}");
}

/// The bridge's alias and IPv4 addresses (`ADDR/PREFIX`), and whether it is up.
fn bridge(netns: &Netns, name: &str) -> Option<(String, Vec<String>, bool)> {
    let link = netns.link(name)?;
    let detail = netns.ip_json(&["-d", "link", "show", name]);
    let alias = detail[0]["ifalias"].as_str().unwrap_or_default().to_owned();
    let addresses = link["addr_info"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["family"] == "inet")
        .map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]))
        .collect();
    let up = link["flags"]
        .as_array()
        .is_some_and(|flags| flags.iter().any(|f| f == "UP"));
    Some((alias, addresses, up))
}

fn networks_are_defined_listed_shown_and_deleted(db: Db) {
    let Some((daemon, netns)) = start(db) else {
        return;
    };
    let empty = daemon.crv(&["network", "list"]).ok();
    assert!(empty.contains("No networks"), "{empty}");
    assert_eq!(
        forwarding(&netns),
        "0",
        "a fresh namespace does not forward"
    );
    assert_eq!(corvus_table(&netns), None);
    let lab = daemon
        .crv(&[
            "--json",
            "network",
            "create",
            "lab",
            "--subnet",
            "10.77.0.0/24",
            "--dns-domain",
            "lab.internal",
        ])
        .json();
    assert_eq!(lab["mode"], "nat");
    assert_eq!(lab["gateway"], "10.77.0.1");
    assert_eq!(
        (lab["dhcp_start"].as_str(), lab["dhcp_end"].as_str()),
        (Some("10.77.0.2"), Some("10.77.0.254"))
    );
    assert_eq!(lab["dns_domain"], "lab.internal");
    assert_eq!(lab["status"], "up");
    let lab_bridge = lab["bridge"].as_str().unwrap().to_owned();
    assert_eq!(
        bridge(&netns, &lab_bridge),
        Some((
            format!("corvus-network:{}", lab["id"]),
            vec!["10.77.0.1/24".to_owned()],
            true
        ))
    );
    let quiet = daemon
        .crv(&[
            "--json",
            "network",
            "create",
            "quiet",
            "--subnet",
            "192.168.200.0/28",
            "--mode",
            "isolated",
            "--dhcp-range",
            "192.168.200.5-192.168.200.9",
        ])
        .json();
    assert_eq!(quiet["mode"], "isolated");
    // One table: lab masquerades, quiet forwards nothing; forwarding is on.
    wait_for("the nftables table of both networks", || {
        corvus_table(&netns).is_some_and(|t| t.contains("iifname \"crvbr1\" drop"))
    });
    let table = corvus_table(&netns).unwrap();
    assert!(
        table.contains("ip saddr 10.77.0.0/24 ip daddr != 10.77.0.0/24 masquerade"),
        "{table}"
    );
    assert!(!table.contains("192.168.200.0/28 masquerade"), "{table}");
    assert_eq!(forwarding(&netns), "1");
    assert_eq!(quiet["dhcp_start"], "192.168.200.5");
    assert_ne!(quiet["bridge"], lab["bridge"]);

    let list = daemon.crv(&["--json", "network", "list"]).json();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["lab", "quiet"]);
    let table = daemon.crv(&["network", "list"]).ok();
    assert!(
        table.contains("10.77.0.0/24") && table.contains("isolated"),
        "{table}"
    );

    // NICs: a dynamic one, a static lease, and one by network id.
    daemon
        .crv(&["vm", "create", "web", "--cpus", "1", "--ram", "64"])
        .ok();
    daemon
        .crv(&["vm", "create", "db", "--cpus", "1", "--ram", "64"])
        .ok();
    daemon
        .crv(&["vm", "net", "add", "web", "--network", "lab"])
        .ok();
    daemon
        .crv(&[
            "vm",
            "net",
            "add",
            "db",
            "--network",
            "lab",
            "--ip",
            "10.77.0.50",
            "--mac",
            "52:54:00:aa:bb:cc",
        ])
        .ok();
    let quiet_id = quiet["id"].to_string();
    daemon
        .crv(&["vm", "net", "add", "db", "--network", &quiet_id])
        .ok();
    let db_vm = daemon.crv(&["--json", "vm", "show", "db"]).json();
    let nics = db_vm["network_interfaces"].as_array().unwrap();
    assert_eq!(nics[0]["type"], "network");
    assert_eq!(nics[0]["network_id"], lab["id"]);
    assert_eq!(nics[0]["ip_address"], "10.77.0.50");
    assert_eq!(nics[1]["network_id"], quiet["id"]);
    let shown = daemon.crv(&["vm", "show", "db"]).ok();
    assert!(shown.contains("10.77.0.50"), "{shown}");

    let shown = daemon.crv(&["--json", "network", "show", "lab"]).json();
    let on_lab: Vec<(&str, &serde_json::Value)> = shown["nics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["vm_name"].as_str().unwrap(), &n["ip_address"]))
        .collect();
    assert_eq!(
        on_lab,
        [
            ("web", &serde_json::Value::Null),
            ("db", &serde_json::json!("10.77.0.50"))
        ]
    );
    let text = daemon.crv(&["network", "show", "lab"]).ok();
    assert!(
        text.contains("52:54:00:aa:bb:cc") && text.contains("lab.internal"),
        "{text}"
    );

    // In use: refused, naming the VMs; free again once their NICs go.
    daemon
        .crv(&["network", "delete", "lab"])
        .fails(1, "network 'lab' is in use by VM 'web', VM 'db'");
    let web_nic =
        daemon.crv(&["--json", "vm", "show", "web"]).json()["network_interfaces"][0]["id"]
            .to_string();
    daemon.crv(&["vm", "net", "remove", "web", &web_nic]).ok();
    daemon.crv(&["vm", "delete", "db"]).ok();
    let deleted = daemon.crv(&["network", "delete", "lab"]).ok();
    assert!(deleted.contains("deleted network 'lab'"), "{deleted}");
    assert_eq!(
        bridge(&netns, &lab_bridge),
        None,
        "delete removes the bridge"
    );
    daemon
        .crv(&["network", "show", "lab"])
        .fails(1, "no network named or numbered 'lab'");
    // Its subnet is free again, and what was recorded survives a restart.
    daemon
        .crv(&["network", "create", "lab2", "--subnet", "10.77.0.0/16"])
        .ok();
    let quiet_bridge = quiet["bridge"].as_str().unwrap();
    let index_before = netns.link(quiet_bridge).unwrap()["ifindex"].clone();
    let mut daemon = daemon;
    daemon.restart();
    let list = daemon.crv(&["--json", "network", "list"]).json();
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    // The bridges are found again, not made anew.
    let mut status = serde_json::Value::Null;
    harness::postgres::wait_until(std::time::Duration::from_secs(10), || {
        status = daemon.crv(&["--json", "network", "show", "quiet"]).json()["status"].clone();
        status == "up"
    });
    assert_eq!(status, "up");
    assert_eq!(netns.link(quiet_bridge).unwrap()["ifindex"], index_before);
    wait_for("the table of the networks left", || {
        corvus_table(&netns).is_some_and(|t| t.contains("10.77.0.0/16"))
    });

    daemon
        .crv(&["network", "create", "again", "--subnet", "10.77.5.0/24"])
        .fails(1, "overlaps network 'lab2' (10.77.0.0/16)");
    // The last network takes the table with it.
    daemon.crv(&["network", "delete", "quiet"]).ok();
    daemon.crv(&["network", "delete", "lab2"]).ok();
    wait_for("the table to go", || corvus_table(&netns).is_none());
    assert_eq!(netns.link(quiet_bridge), None);
}

fn bad_network_input_is_refused(db: Db) {
    let Some((daemon, netns)) = start(db) else {
        return;
    };
    // A bridge of that name that is not Corvus's is left alone.
    netns.ip(&["link", "add", "crvbr0", "type", "bridge"]);
    daemon
        .crv(&["network", "create", "lab", "--subnet", "10.77.0.0/24"])
        .fails(1, "crvbr0 already exists and is not Corvus's");
    assert_eq!(
        daemon.crv(&["--json", "network", "list"]).json(),
        serde_json::json!([])
    );
    assert_eq!(bridge(&netns, "crvbr0").map(|b| b.1), Some(vec![]));
    netns.ip(&["link", "del", "crvbr0"]);
    daemon
        .crv(&["network", "create", "lab", "--subnet", "10.77.0.0/24"])
        .ok();
    let create = |name: &str, extra: &[&str]| {
        let mut args = vec!["network", "create", name];
        args.extend_from_slice(extra);
        daemon.crv(&args)
    };
    create("other", &["--subnet", "10.77.0.128/25"])
        .fails(1, "overlaps network 'lab' (10.77.0.0/24)");
    create("other", &["--subnet", "10.0.0.0/8"]).fails(1, "overlaps network 'lab'");
    create("lab", &["--subnet", "10.78.0.0/24"]).fails(1, "a network named 'lab' already exists");
    // A subnet the host already routes.
    netns.ip(&[
        "link", "add", "uplink0", "type", "veth", "peer", "name", "uplink1",
    ]);
    netns.ip(&["addr", "add", "10.99.3.1/24", "dev", "uplink0"]);
    netns.ip(&["link", "set", "uplink0", "up"]);
    create("other", &["--subnet", "10.99.0.0/16"])
        .fails(1, "overlaps the host's route to 10.99.3.0/24");
    create("other", &["--subnet", "10.78.0.0"]).fails(1, "not an IPv4 subnet: no /PREFIX");
    create("other", &["--subnet", "10.78.0.300/24"]).fails(1, "not an IPv4 address");
    create("other", &["--subnet", "10.78.0.1/24"]).fails(1, "did you mean 10.78.0.0/24");
    create("other", &["--subnet", "10.78.0.0/31"]).fails(1, "between /8 and /30");
    create(
        "other",
        &[
            "--subnet",
            "10.78.0.0/24",
            "--dhcp-range",
            "10.79.0.2-10.79.0.9",
        ],
    )
    .fails(1, "10.79.0.2 is not a VM address of 10.78.0.0/24");
    create(
        "other",
        &[
            "--subnet",
            "10.78.0.0/24",
            "--dhcp-range",
            "10.78.0.1-10.78.0.9",
        ],
    )
    .fails(1, "gateway 10.78.0.1");
    create(
        "other",
        &[
            "--subnet",
            "10.78.0.0/24",
            "--dhcp-range",
            "10.78.0.9-10.78.0.2",
        ],
    )
    .fails(1, "10.78.0.9 comes after 10.78.0.2");
    create("other", &["--subnet", "10.78.0.0/24", "--mode", "bridged"]).fails(2, "nat");
    create(
        "other",
        &["--subnet", "10.78.0.0/24", "--dns-domain", "no_such"],
    )
    .fails(1, "not a DNS domain");
    create("Bad.Name", &["--subnet", "10.78.0.0/24"]).fails(1, "not a network name");
    create("42", &["--subnet", "10.78.0.0/24"]).fails(1, "not a number");
    let list = daemon.crv(&["--json", "network", "list"]).json();
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "refusals left nothing: {list}"
    );

    daemon
        .crv(&["vm", "create", "web", "--cpus", "1", "--ram", "64"])
        .ok();
    let add = |extra: &[&str]| {
        let mut args = vec!["vm", "net", "add", "web"];
        args.extend_from_slice(extra);
        daemon.crv(&args)
    };
    add(&["--network", "ghost"]).fails(1, "no network named or numbered 'ghost'");
    add(&["--network", "lab", "--ip", "10.9.9.9"]).fails(
        1,
        "--ip 10.9.9.9 is not a VM address of network 'lab' (10.77.0.0/24)",
    );
    add(&["--network", "lab", "--ip", "10.77.0.1"]).fails(1, "gateway (10.77.0.1)");
    add(&["--network", "lab", "--ip", "10.77.0.255"]).fails(1, "broadcast");
    add(&["--network", "lab", "--ip", "ten"]).fails(1, "--ip ten is not an IPv4 address");
    add(&["--ip", "10.77.0.9"]).fails(2, "--network");
    add(&["--type", "user", "--network", "lab"]).fails(1, "not --type user");
    add(&["--type", "network"]).fails(1, "needs --network NAME");
    add(&["--network", "lab", "--host-device", "tap0"]).fails(1, "no host device");
    add(&["--network", "lab", "--ip", "10.77.0.9"]).ok();
    daemon
        .crv(&["vm", "create", "db", "--cpus", "1", "--ram", "64"])
        .ok();
    daemon
        .crv(&[
            "vm",
            "net",
            "add",
            "db",
            "--network",
            "lab",
            "--ip",
            "10.77.0.9",
        ])
        .fails(1, "10.77.0.9 is already leased statically on network 'lab'");
    let db_vm = daemon.crv(&["--json", "vm", "show", "db"]).json();
    assert_eq!(db_vm["network_interfaces"], serde_json::json!([]));
    // The same address on another network is another lease.
    daemon
        .crv(&["network", "create", "lab3", "--subnet", "10.77.1.0/24"])
        .ok();
    daemon
        .crv(&[
            "vm",
            "net",
            "add",
            "db",
            "--network",
            "lab3",
            "--ip",
            "10.77.1.9",
        ])
        .ok();
}

on_both_databases!(
    networks_are_defined_listed_shown_and_deleted,
    bad_network_input_is_refused
);
