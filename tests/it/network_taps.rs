//! A VM on a managed network (issue 17): the daemon gives its NIC a tap on
//! the network's bridge for as long as QEMU runs, keeps it across a daemon
//! restart, and removes it when QEMU is gone (a stop, a kill, a failed
//! start), never touching a link of that name that is not Corvus's. The
//! daemon runs in a namespace of its own.

use harness::netns::Netns;
use harness::{Daemon, DaemonOptions, Db, Guest};
use std::sync::Arc;
use std::time::Duration;

fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let done = harness::postgres::wait_until(Duration::from_secs(20), &mut check);
    assert!(done, "timed out waiting for {what}");
}

/// The tap's bridge and whether it has a carrier (QEMU holds it open).
fn tap(netns: &Netns, name: &str) -> Option<(String, bool)> {
    netns.link(name)?;
    let detail = netns.ip_json(&["-d", "link", "show", name]);
    let master = detail[0]["master"].as_str().unwrap_or_default().to_owned();
    let carrier = detail[0]["flags"]
        .as_array()
        .is_some_and(|flags| flags.iter().any(|f| f == "LOWER_UP"));
    Some((master, carrier))
}

fn a_vm_on_a_network_has_a_tap_on_its_bridge_while_qemu_runs(db: Db) {
    let Some(guest) = Guest::get() else { return };
    let Some(netns) = Netns::create() else { return };
    let netns = Arc::new(netns);
    let options = DaemonOptions {
        netns: Some(netns.clone()),
        ..DaemonOptions::tcg()
    };
    let Some(mut daemon) = Daemon::start_with(db, options) else {
        return;
    };
    let lab = daemon
        .crv(&[
            "--json",
            "network",
            "create",
            "lab",
            "--subnet",
            "10.77.0.0/24",
        ])
        .json();
    let bridge = lab["bridge"].as_str().unwrap().to_owned();
    let id = daemon.create_guest_vm(guest, "web", "", &[]);
    daemon
        .crv(&["vm", "net", "add", "web", "--network", "lab"])
        .ok();
    let nic = daemon.crv(&["--json", "vm", "show", "web"]).json()["network_interfaces"][0]["id"]
        .as_i64()
        .unwrap();
    let name = format!("crvtap{nic}");
    assert_eq!(tap(&netns, &name), None, "no tap before the VM starts");

    let started = daemon.crv(&["--json", "vm", "start", "web"]).json();
    assert_eq!(started["status"], "running", "{started}");
    daemon.wait_for_serial(id, "GUEST READY", harness::guest::BOOT_TIMEOUT);
    assert_eq!(tap(&netns, &name), Some((bridge.clone(), true)));

    daemon.crv(&["vm", "stop", "web"]).ok();
    daemon.wait_for_state("web", "stopped", Duration::from_secs(60));
    wait_for("the tap to go after a stop", || {
        tap(&netns, &name).is_none()
    });

    // QEMU killed behind the daemon's back: the tap goes all the same.
    let started = daemon.crv(&["--json", "vm", "start", "web"]).json();
    let pid = started["pid"].as_u64().expect("a running VM has a pid");
    assert_eq!(tap(&netns, &name), Some((bridge.clone(), true)));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_for("the tap to go after QEMU was killed", || {
        tap(&netns, &name).is_none()
    });
    daemon.wait_for_state("web", "error", Duration::from_secs(30));
    daemon.crv(&["vm", "reset", "web"]).ok();

    // A restarted daemon leaves the running VM's tap alone, and removes it
    // when the QEMU it re-adopted is gone.
    daemon.crv(&["vm", "start", "web"]).ok();
    daemon.restart();
    daemon.wait_for_state("web", "running", Duration::from_secs(30));
    assert_eq!(tap(&netns, &name), Some((bridge.clone(), true)));
    daemon.crv(&["vm", "stop", "web"]).ok();
    daemon.wait_for_state("web", "stopped", Duration::from_secs(60));
    wait_for("the tap to go after a re-adopted QEMU stopped", || {
        tap(&netns, &name).is_none()
    });

    // A link of the tap's name that is not Corvus's fails the start, naming
    // it, and stays; the history says the tap was left alone.
    netns
        .exec(&["ip", "link", "add", &name, "type", "bridge"])
        .expect("add a link of the tap's name");
    daemon
        .crv(&["vm", "start", "web"])
        .fails(1, &format!("{name} already exists and is not Corvus's"));
    wait_for("the event of the tap left alone", || {
        daemon.history("web").iter().any(|event| {
            event["reason"]
                .as_str()
                .is_some_and(|reason| reason.contains("cannot remove taps"))
        })
    });
    assert!(netns.link(&name).is_some(), "the foreign link stays");
}

on_both_databases!(a_vm_on_a_network_has_a_tap_on_its_bridge_while_qemu_runs);
