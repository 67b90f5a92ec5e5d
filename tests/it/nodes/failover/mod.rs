//! Failover (issue 19): highly available VMs, what the survivors do with
//! a lost node's VMs, and a node that fences its own VMs when it loses its
//! database session, so that no VM ever runs on two nodes. This file holds
//! the three-node fixture and the process poller the scenarios share.

mod clock;
mod fence;
mod loss;
mod outage;
mod refusals;
mod room;

use super::*;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

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

const FAILOVER_NODE_TIMEOUT: u64 = 6;

/// A node of a failover test: node timeout 6 s, fence timeout 3 s, the
/// shared directory as its shared storage.
fn failover_options(name: &str, shared: Option<&std::path::Path>) -> DaemonOptions {
    let mut args: Vec<String> = vec![
        "--node".into(),
        name.into(),
        "--node-timeout".into(),
        FAILOVER_NODE_TIMEOUT.to_string(),
        "--fence-timeout".into(),
        "3".into(),
    ];
    if let Some(shared) = shared {
        args.extend(["--shared-storage".into(), shared.display().to_string()]);
    }
    DaemonOptions {
        extra_args: args,
        ..DaemonOptions::default()
    }
}

/// Three nodes on one database, `a` possibly as its own role (`url_a`).
struct Trio {
    a: Daemon,
    b: Daemon,
    c: Daemon,
    shared: tempfile::TempDir,
}

fn three_nodes(url: &str, url_a: &str) -> Trio {
    three_nodes_with(url, url_a, &[])
}

/// Three nodes, `survivor_args` given to b and c.
fn three_nodes_with(url: &str, url_a: &str, survivor_args: &[&str]) -> Trio {
    let shared = shared_dir();
    let node = |name: &str, url: &str, extra: &[&str]| {
        let mut options = failover_options(name, Some(shared.path()));
        options
            .extra_args
            .extend(extra.iter().map(|arg| arg.to_string()));
        Daemon::start_on(temp_dir(), url.to_owned(), options)
    };
    let a = node("a", url_a, &[]);
    let b = node("b", url, survivor_args);
    let c = node("c", url, survivor_args);
    Trio { a, b, c, shared }
}

impl Trio {
    /// An HA firmware VM on `a` with a drive on shared storage, running.
    fn ha_vm(&self, name: &str) -> i64 {
        self.ha_vm_on(&self.a, "a", name)
    }

    /// An HA firmware VM owned by `node` (whose daemon is `owner`), made
    /// through another node, with a drive on shared storage, running
    /// there; its id.
    fn ha_vm_on(&self, owner: &Daemon, node: &str, name: &str) -> i64 {
        let disk = image(&self.shared.path().join(format!("{name}.img")));
        let through = if node == "b" { &self.c } else { &self.b };
        through.create_firmware_vm(name, &["--node", node, "--ha", "--restart", "on-failure"]);
        owner
            .crv(&[
                "vm",
                "drive",
                "add",
                name,
                "--file",
                &disk,
                "--interface",
                "virtio",
                "--format",
                "raw",
            ])
            .ok();
        let started = owner.crv(&["--json", "vm", "start", name]).json();
        assert_eq!(started["status"], "running", "{started}");
        started["id"].as_i64().expect("an id")
    }

    fn running_on_a(&self, name: &str) -> i64 {
        let started = self.a.crv(&["--json", "vm", "start", name]).json();
        assert_eq!(started["status"], "running", "{started}");
        started["id"].as_i64().expect("an id")
    }

    /// A host loss: a's daemon and its QEMUs killed.
    fn lose_a(&mut self) {
        self.a.kill9();
        harness::daemon::kill_processes_mentioning(&self.a.runtime);
    }

    fn runtimes(&self) -> [(&'static str, PathBuf); 3] {
        [
            ("a", self.a.runtime.clone()),
            ("b", self.b.runtime.clone()),
            ("c", self.c.runtime.clone()),
        ]
    }
}

/// Every corvus-vm QEMU of the three nodes now: (vm id, node, pid).
fn qemus(runtimes: &[(&'static str, PathBuf)]) -> Vec<(i64, &'static str, u32)> {
    let mut found = Vec::new();
    for (node, runtime) in runtimes {
        for pid in qemus_in(runtime) {
            let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                continue;
            };
            let text = String::from_utf8_lossy(&cmdline);
            let id = text.split("process=corvus-vm-").nth(1).and_then(|rest| {
                rest.split(|c: char| !c.is_ascii_digit())
                    .next()
                    .and_then(|digits| digits.parse().ok())
            });
            if let Some(id) = id {
                found.push((id, *node, pid));
            }
        }
    }
    found
}

/// When a VM's QEMU was first seen on a node.
type Sightings = Arc<Mutex<Vec<(i64, &'static str, Instant)>>>;

/// Lists every node's QEMUs every 100 ms until dropped; remembers any
/// moment a VM had two, and when each VM's QEMU was first seen per node.
struct Poller {
    stop: Arc<AtomicBool>,
    overlaps: Arc<Mutex<Vec<String>>>,
    first_seen: Sightings,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Poller {
    fn start(runtimes: [(&'static str, PathBuf); 3]) -> Poller {
        let stop = Arc::new(AtomicBool::new(false));
        let overlaps = Arc::new(Mutex::new(Vec::new()));
        let first_seen = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, overlaps, first_seen) = (stop.clone(), overlaps.clone(), first_seen.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let now = qemus(&runtimes);
                    let mut seen = first_seen.lock().unwrap();
                    for &(id, node, _) in &now {
                        if !seen.iter().any(|&(i, n, _)| i == id && n == node) {
                            seen.push((id, node, Instant::now()));
                        }
                        let copies: Vec<_> = now.iter().filter(|(i, _, _)| *i == id).collect();
                        if copies.len() > 1 {
                            overlaps
                                .lock()
                                .unwrap()
                                .push(format!("VM {id}: {copies:?}"));
                        }
                    }
                    drop(seen);
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        };
        Poller {
            stop,
            overlaps,
            first_seen,
            thread: Some(thread),
        }
    }

    fn first_seen(&self, id: i64, node: &str) -> Option<Instant> {
        self.first_seen
            .lock()
            .unwrap()
            .iter()
            .find(|(i, n, _)| *i == id && *n == node)
            .map(|(_, _, at)| *at)
    }

    /// Stops polling; fails the test on any overlap.
    fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
        let overlaps = self.overlaps.lock().unwrap();
        assert!(overlaps.is_empty(), "a VM ran twice: {overlaps:?}");
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Waits until `vm` runs on b or c by `b`'s answer; returns the node.
fn runs_on_a_survivor(trio: &Trio, vm: &str, within: Duration) -> String {
    let mut node = String::new();
    let moved = wait_until(within, || {
        let shown = trio.b.show(vm);
        node = shown["node"].as_str().unwrap_or_default().to_owned();
        shown["status"] == "running" && (node == "b" || node == "c")
    });
    assert!(moved, "{vm} never ran on a survivor: {}", trio.b.show(vm));
    node
}

/// Waits until each of `vms` runs on b or c.
fn all_run_on_survivors(trio: &Trio, vms: &[&str]) {
    for vm in vms {
        runs_on_a_survivor(trio, vm, Duration::from_secs(FAILOVER_NODE_TIMEOUT + 40));
    }
}

/// The QEMUs of VM `id` now, by node.
fn copies_of(trio: &Trio, id: i64) -> Vec<&'static str> {
    qemus(&trio.runtimes())
        .into_iter()
        .filter(|(i, _, _)| *i == id)
        .map(|(_, node, _)| node)
        .collect()
}
