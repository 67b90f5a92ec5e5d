//! A network namespace of the test's own, so that a daemon's bridges and
//! addresses never touch the host's network: the daemon runs inside it
//! (`DaemonOptions::netns`), the test reads it with `ip -n`, and it is
//! deleted, with everything in it, when dropped.

use crate::prereq::require;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

#[derive(Debug)]
pub struct Netns {
    pub name: String,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

impl Netns {
    /// A new, empty namespace; `None` without root or `ip` outside CI.
    pub fn create() -> Option<Netns> {
        let root = nix::unistd::geteuid().is_root();
        let ip = Command::new("ip").arg("-V").output().is_ok();
        if !require(
            root && ip,
            "root and iproute2 (`ip netns`) for network namespaces",
        ) {
            return None;
        }
        let name = format!(
            "crv-it-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let status = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("run ip netns add");
        assert!(status.success(), "ip netns add {name} failed");
        Some(Netns { name })
    }

    pub fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }

    /// `ip -n NS -j ARGS`, parsed; an empty answer is an empty array.
    pub fn ip_json(&self, args: &[&str]) -> serde_json::Value {
        let output = Command::new("ip")
            .args(["-n", &self.name, "-j"])
            .args(args)
            .output()
            .expect("run ip");
        let stdout = String::from_utf8_lossy(&output.stdout);
        if stdout.trim().is_empty() {
            return serde_json::json!([]);
        }
        serde_json::from_str(&stdout).unwrap_or_else(|err| panic!("ip {args:?}: {err}: {stdout}"))
    }

    /// The namespace's link named `name`, if any.
    pub fn link(&self, name: &str) -> Option<serde_json::Value> {
        self.ip_json(&["addr", "show"])
            .as_array()
            .into_iter()
            .flatten()
            .find(|link| link["ifname"] == name)
            .cloned()
    }

    /// Runs a command inside the namespace; its stdout, or `None` when it fails.
    pub fn exec(&self, command: &[&str]) -> Option<String> {
        let output = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(command)
            .output()
            .expect("run ip netns exec");
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Runs `ip -n NS ARGS`, asserting success.
    pub fn ip(&self, args: &[&str]) {
        let status = Command::new("ip")
            .args(["-n", &self.name])
            .args(args)
            .status()
            .expect("run ip");
        assert!(status.success(), "ip -n {} {args:?} failed", self.name);
    }
}

impl Drop for Netns {
    /// Processes left inside (a dnsmasq outlives its daemon by design)
    /// would keep the namespace alive: they go first.
    fn drop(&mut self) {
        if let Ok(output) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&output.stdout).split_whitespace() {
                if let Ok(pid) = pid.parse::<i32>() {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}
