//! Managed networks with guests on them (issue 17): each network's dnsmasq
//! hands out leases (static ones too) and answers VM names; VMs on a NAT
//! network reach each other and, masqueraded, an "outside" namespace; an
//! isolated network's VM does not. dnsmasq is restarted when killed, kept
//! (adopted) across a daemon restart, and everything goes with the network.
//! The daemon runs in a namespace of its own; the outside is another one
//! joined to it by a veth pair, its only route being the daemon's side.

use harness::access::{Background, Via};
use harness::guest::BOOT_TIMEOUT;
use harness::netns::Netns;
use harness::postgres::wait_until;
use harness::{Daemon, DaemonOptions, Db, Guest};
use serde_json::Value;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

const QUICK: Duration = Duration::from_secs(20);
/// The outside's address, behind the daemon namespace's default route.
const OUTSIDE: &str = "198.51.100.2";

/// A guest's serial shell, driven line by line.
struct Shell {
    console: Background,
}

/// Numbers every line run in any guest: a console's replay shows the
/// markers of earlier sessions, which must never match a new line's.
static LINES: AtomicU32 = AtomicU32::new(0);

impl Shell {
    fn open(daemon: &Daemon, vm: &str) -> Shell {
        let console = daemon.crv_background(Via::Unix, &["vm", "console", vm]);
        console.wait_for_stdout("the guest's replay", BOOT_TIMEOUT, |out| {
            out.contains("GUEST READY")
        });
        Shell { console }
    }

    /// Runs `line` in the guest; what it printed. The markers are computed
    /// by the guest's shell, so the echo of the typed line never matches.
    fn run(&mut self, line: &str, timeout: Duration) -> String {
        let n = LINES.fetch_add(1, Ordering::Relaxed);
        let (begin, end) = (format!("B{n}B"), format!("E{n}E"));
        self.console
            .write(&format!("echo B$(({n}+0))B; {line}; echo E$(({n}+0))E\n"));
        let out = self
            .console
            .wait_for_stdout(&format!("the end of `{line}`"), timeout, |out| {
                out.contains(&end)
            });
        let start = out.rfind(&begin).map_or(0, |at| at + begin.len());
        let stop = out.rfind(&end).unwrap_or(out.len());
        out.get(start..stop).unwrap_or_default().to_owned()
    }

    /// Brings eth0 up through DHCP; the address it got.
    #[track_caller]
    fn dhcp(&mut self, daemon: &Daemon, network_id: u32) -> String {
        self.dhcp_on(daemon, network_id, "eth0")
    }

    /// Brings `interface` up through DHCP; the address it got.
    #[track_caller]
    fn dhcp_on(&mut self, daemon: &Daemon, network_id: u32, interface: &str) -> String {
        // busybox udhcpc leaves configuring the interface to its script.
        self.run(
            &(r#"printf '#!/bin/sh\ncase $1 in bound|renew) ip addr flush dev $interface; ip addr add $ip/$mask dev $interface; [ -n "$router" ] && ip route add default via $router; echo nameserver $dns >/etc/resolv.conf;; esac\nexit 0\n' >/tmp/dhcp.sh; chmod +x /tmp/dhcp.sh; ip link set "#.to_owned() + interface + " up"),
            QUICK,
        );
        self.run(
            &format!(
                "udhcpc -i {interface} -n -q -t 20 -T 1 -s /tmp/dhcp.sh >/dev/null 2>&1; echo RC=$?"
            ),
            Duration::from_secs(60),
        );
        let out = self.run(&format!("ip -4 -o addr show {interface}"), QUICK);
        out.split_whitespace()
            .skip_while(|word| *word != "inet")
            .nth(1)
            .and_then(|cidr| cidr.split('/').next())
            .unwrap_or_else(|| {
                let log = daemon
                    .data_dir()
                    .join(format!("networks/{network_id}/dnsmasq.log"));
                panic!(
                    "{interface} has no IPv4 address: {}\n--- dnsmasq: {}\n--- daemon: {}",
                    self.console.stdout(),
                    std::fs::read_to_string(&log).unwrap_or_default(),
                    daemon.log()
                )
            })
            .to_owned()
    }

    fn pings(&mut self, address: &str) -> bool {
        self.run(
            &format!("ping -c 1 -W 3 {address} >/dev/null; echo PING=$?"),
            QUICK,
        )
        .contains("PING=0")
    }

    /// The address the network's DNS gives `name`.
    fn resolve(&mut self, name: &str, server: &str) -> Option<String> {
        let out = self.run(&format!("nslookup {name} {server}"), QUICK);
        // The server's own address comes first; the answer's follows it.
        out.lines()
            .filter(|line| line.starts_with("Address"))
            .filter_map(|line| line.split_whitespace().last())
            .map(|address| {
                address
                    .split(['#', ':'])
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
            .find(|address| address != server && address.parse::<std::net::Ipv4Addr>().is_ok())
    }
}

/// Joins `inside` to a new namespace by a veth pair and routes everything
/// there: the outside has no route back to the VMs' subnets.
fn outside_world(inside: &Netns) -> Netns {
    let outside = Netns::create().expect("a second namespace");
    let run = |args: &[&str]| {
        let status = Command::new("ip").args(args).status().expect("run ip");
        assert!(status.success(), "ip {args:?}");
    };
    let uplink = format!("up{}", std::process::id() % 100_000);
    run(&[
        "link", "add", &uplink, "type", "veth", "peer", "name", "out0",
    ]);
    run(&[
        "link",
        "set",
        &uplink,
        "netns",
        &inside.name,
        "name",
        "uplink0",
    ]);
    run(&["link", "set", "out0", "netns", &outside.name]);
    inside.ip(&["addr", "add", "198.51.100.1/24", "dev", "uplink0"]);
    inside.ip(&["link", "set", "uplink0", "up"]);
    inside.ip(&["route", "add", "default", "via", OUTSIDE]);
    outside.ip(&["addr", "add", &format!("{OUTSIDE}/24"), "dev", "out0"]);
    outside.ip(&["link", "set", "out0", "up"]);
    outside.ip(&["link", "set", "lo", "up"]);
    outside
}

fn network(daemon: &Daemon, name: &str) -> Value {
    daemon.crv(&["--json", "network", "show", name]).json()
}

fn dnsmasq_pid(daemon: &Daemon, name: &str) -> Option<u64> {
    network(daemon, name)["dnsmasq_pid"].as_u64()
}

/// Alive, not merely unreaped: an adopted dnsmasq's parent is whatever
/// took the first daemon's orphans, which may reap late.
fn process_running(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat.rsplit_once(") ")?.1.chars().next()?;
            Some(state != 'Z' && state != 'X')
        })
        .unwrap_or(false)
}

#[track_caller]
fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    assert!(
        wait_until(QUICK, &mut check),
        "timed out waiting for {what}"
    );
}

fn nic_lease(daemon: &Daemon, vm: &str) -> Option<String> {
    daemon.crv(&["--json", "vm", "show", vm]).json()["network_interfaces"][0]["lease_address"]
        .as_str()
        .map(str::to_owned)
}

#[test]
fn guests_on_managed_networks_get_leases_names_and_nat() {
    let Some(guest) = Guest::get() else { return };
    let Some(netns) = Netns::create() else { return };
    let netns = Arc::new(netns);
    netns.ip(&["link", "set", "lo", "up"]);
    let outside = outside_world(&netns);
    let options = DaemonOptions {
        netns: Some(netns.clone()),
        ..DaemonOptions::tcg()
    };
    let Some(mut daemon) = Daemon::start_with(Db::Sqlite, options) else {
        return;
    };
    daemon
        .crv(&[
            "network",
            "create",
            "lab",
            "--subnet",
            "10.77.0.0/24",
            "--dns-domain",
            "lab",
        ])
        .ok();
    daemon
        .crv(&[
            "network",
            "create",
            "iso",
            "--subnet",
            "10.78.0.0/24",
            "--mode",
            "isolated",
        ])
        .ok();
    for (vm, net) in [("web", "lab"), ("lone", "iso")] {
        daemon.create_guest_vm(guest, vm, "", &[]);
        daemon.crv(&["vm", "net", "add", vm, "--network", net]).ok();
        daemon.crv(&["vm", "start", vm]).ok();
    }
    let mut web = Shell::open(&daemon, "web");
    let web_ip = web.dhcp(&daemon, 1);
    assert!(web_ip.starts_with("10.77.0."), "{web_ip}");
    wait_for("web's lease in vm show", || {
        nic_lease(&daemon, "web").as_deref() == Some(web_ip.as_str())
    });
    assert!(web.pings(OUTSIDE), "a NAT network reaches the outside");
    let mut lone = Shell::open(&daemon, "lone");
    assert!(lone.dhcp(&daemon, 2).starts_with("10.78.0."));
    assert!(
        !lone.pings(OUTSIDE),
        "an isolated network reaches nothing outside"
    );

    // dnsmasq killed: restarted, in the history; a VM started afterwards,
    // with a static lease, gets exactly its address.
    let first = dnsmasq_pid(&daemon, "lab").expect("lab's dnsmasq runs");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_for("a new dnsmasq", || {
        dnsmasq_pid(&daemon, "lab").is_some_and(|pid| pid != first)
    });
    let kinds: Vec<Value> = network(&daemon, "lab")["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["kind"].clone())
        .collect();
    assert!(kinds.contains(&"dnsmasq-exited".into()), "{kinds:?}");
    assert!(kinds.contains(&"dnsmasq-restarted".into()), "{kinds:?}");
    daemon.create_guest_vm(guest, "db", "", &[]);
    daemon
        .crv(&[
            "vm",
            "net",
            "add",
            "db",
            "--network",
            "lab",
            "--ip",
            &web_ip,
        ])
        .fails(1, &format!("{web_ip} is leased to"));
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
        ])
        .ok();
    daemon.crv(&["vm", "start", "db"]).ok();
    let mut db = Shell::open(&daemon, "db");
    assert_eq!(
        db.dhcp(&daemon, 1),
        "10.77.0.50",
        "the static lease is honoured"
    );

    // Names resolve in the network's domain and bare; the VMs reach each other.
    assert_eq!(
        web.resolve("db.lab", "10.77.0.1").as_deref(),
        Some("10.77.0.50")
    );
    assert_eq!(
        db.resolve("web", "10.77.0.1").as_deref(),
        Some(web_ip.as_str())
    );
    assert!(web.pings("10.77.0.50"));
    assert!(db.pings(&web_ip));

    // A daemon restart keeps dnsmasq (adopted) and the VMs' connectivity.
    let before = dnsmasq_pid(&daemon, "lab").unwrap();
    drop((web, db, lone));
    daemon.restart();
    daemon.wait_for_state("web", "running", QUICK);
    wait_for("lab up again", || network(&daemon, "lab")["status"] == "up");
    assert_eq!(dnsmasq_pid(&daemon, "lab"), Some(before), "dnsmasq adopted");
    let mut web = Shell::open(&daemon, "web");
    assert!(web.pings("10.77.0.50"));
    assert!(web.pings(OUTSIDE));
    assert_eq!(
        web.resolve("db", "10.77.0.1").as_deref(),
        Some("10.77.0.50")
    );

    // A NIC on the isolated network plugged into the running VM: its tap
    // is made as at a start, and the guest gets a lease on it.
    let vm = daemon
        .crv(&["--json", "vm", "net", "add", "web", "--network", "iso"])
        .json();
    let plugged = vm["network_interfaces"][1]["mac_address"].clone();
    let second = web.dhcp_on(&daemon, 2, "eth1");
    assert!(second.starts_with("10.78.0."), "{second}");
    wait_for("the plugged NIC's lease in vm show", || {
        let shown = daemon.crv(&["--json", "vm", "show", "web"]).json();
        shown["network_interfaces"][1]["mac_address"] == plugged
            && shown["network_interfaces"][1]["lease_address"] == second.as_str()
    });
    drop(web);

    // Deleting the networks takes the bridges, taps, dnsmasqs and table.
    let bridges: Vec<String> = ["lab", "iso"]
        .iter()
        .map(|net| network(&daemon, net)["bridge"].as_str().unwrap().to_owned())
        .collect();
    let pids = [before, dnsmasq_pid(&daemon, "iso").unwrap()];
    for vm in ["web", "db", "lone"] {
        daemon.crv(&["vm", "stop", vm]).ok();
        daemon.wait_for_state(vm, "stopped", Duration::from_secs(60));
        daemon.crv(&["vm", "delete", vm]).ok();
    }
    daemon.crv(&["network", "delete", "lab"]).ok();
    daemon.crv(&["network", "delete", "iso"]).ok();
    let links = netns.ip_json(&["link"]).to_string();
    for name in bridges.iter().map(String::as_str).chain(["crvtap"]) {
        assert!(!links.contains(name), "{name} is gone: {links}");
    }
    for pid in pids {
        assert!(!process_running(pid), "dnsmasq {pid} is gone");
    }
    let tables = netns.exec(&["nft", "-j", "list", "tables"]).unwrap();
    assert!(!tables.contains("corvus"), "{tables}");
    drop(outside);
}

/// A dnsmasq that cannot run puts its network in error, and VMs on it
/// refuse to start naming the network: missing, or dying at every start.
fn a_network_whose_dnsmasq_cannot_run_is_in_error(db: Db) {
    let Some(netns) = Netns::create() else { return };
    let dir = tempfile::tempdir().unwrap();
    let dying = dir.path().join("dnsmasq");
    std::fs::write(
        &dying,
        "#!/bin/sh\necho 'dnsmasq: failed to create listening socket' >&2\nexit 2\n",
    )
    .unwrap();
    let executable = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(&dying, executable).unwrap();
    let netns = Arc::new(netns);
    for (binary, reason) in [
        (
            "/nonexistent/dnsmasq",
            "install it (Debian: apt-get install dnsmasq-base)",
        ),
        (
            dying.to_str().unwrap(),
            "exited 5 times within 60 s, last: exited with status 2: dnsmasq: failed to create listening socket",
        ),
    ] {
        let options = DaemonOptions {
            netns: Some(netns.clone()),
            extra_args: vec!["--dnsmasq".into(), binary.into()],
            ..DaemonOptions::default()
        };
        let Some(daemon) = Daemon::start_with(db, options) else {
            return;
        };
        daemon
            .crv(&["network", "create", "lab", "--subnet", "10.77.0.0/24"])
            .ok();
        assert!(
            wait_until(QUICK, || network(&daemon, "lab")["status"] == "error"),
            "{}",
            network(&daemon, "lab")
        );
        let shown = network(&daemon, "lab");
        let error = shown["last_error"].as_str().unwrap();
        assert!(error.contains(reason), "{error}");
        daemon
            .crv(&[
                "vm",
                "create",
                "web",
                "--cpus",
                "1",
                "--ram",
                "64",
                "--display",
                "none",
            ])
            .ok();
        daemon
            .crv(&["vm", "net", "add", "web", "--network", "lab"])
            .ok();
        daemon
            .crv(&["vm", "start", "web"])
            .fails(1, "network 'lab' is in error");
        daemon.crv(&["vm", "reset", "web"]).ok();
        daemon.crv(&["vm", "delete", "web"]).ok();
        daemon.crv(&["network", "delete", "lab"]).ok();
    }
}

on_both_databases!(a_network_whose_dnsmasq_cannot_run_is_in_error);
