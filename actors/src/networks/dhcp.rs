//! The supervision of each network's dnsmasq, as the NetworkService runs
//! it: started when the network comes up (or adopted from an earlier
//! daemon), restarted with backoff when it dies, restarted on purpose when
//! the NICs on the network change, and given up on (network `error`) when
//! it keeps dying. Every exit and restart goes into the network's history.

use super::dnsmasq::{self, Files, Host};
use super::{NetworkMsg, NetworkServiceRef, NetworkServiceState, Ready};
use corvus_protocol::NetworkState;
use corvus_qemu::process::{ExitInfo, ProcessHandle, Signal};
use ractor::RpcReplyPort;
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// This many exits within [`CRASH_WINDOW`] put the network in error.
const CRASH_LIMIT: usize = 5;
const CRASH_WINDOW: Duration = Duration::from_secs(60);
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

pub type BridgeReply = RpcReplyPort<Result<String, String>>;

/// One network's dnsmasq as the service knows it.
#[derive(Default)]
pub struct Dhcp {
    process: Option<ProcessHandle>,
    /// Bumped at every start, so a stale exit or retry is recognised.
    generation: u64,
    hosts: Vec<Host>,
    /// Stopped on purpose to start again with new hosts.
    restarting: bool,
    /// Held stopped (a delete in progress): exits are not restarted.
    held: bool,
    /// Launches waiting for dnsmasq to run with their NIC.
    waiting: Vec<BridgeReply>,
    /// Callers waiting for it to be gone.
    stopping: Vec<RpcReplyPort<()>>,
    exits: VecDeque<Instant>,
}

impl Dhcp {
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(ProcessHandle::pid)
    }
}

impl NetworkServiceState {
    /// A network's bridge is up at daemon start (or could not be).
    pub(super) fn bridge_up(
        &mut self,
        myself: &NetworkServiceRef,
        id: i64,
        result: Result<Ready, String>,
    ) {
        let Some(network) = self.networks.get_mut(&id) else {
            return;
        };
        match result {
            Ok(ready) => {
                tracing::info!(network = %network.name, bridge = %network.bridge, adopted = ready.adopted_bridge, "network up");
                network.status = NetworkState::Up;
                network.last_error = None;
                self.dhcp_begin(myself, id, ready.hosts, ready.dnsmasq);
            }
            Err(reason) => {
                tracing::error!(network = %network.name, %reason, "network cannot come up");
                network.status = NetworkState::Error;
                network.last_error = Some(reason.clone());
                self.history(id, "error", reason);
            }
        }
    }

    /// The network came up: take the dnsmasq found running, or start one.
    pub(super) fn dhcp_begin(
        &mut self,
        myself: &NetworkServiceRef,
        id: i64,
        hosts: Vec<Host>,
        adopted: Option<ProcessHandle>,
    ) {
        let dhcp = self.dhcp.entry(id).or_default();
        dhcp.hosts = hosts;
        if dhcp.process.is_some() {
            // Still running (a delete that did not stop it): keep it.
            if let Some(stray) = adopted {
                stray.reap_in_background();
            }
            return;
        }
        match adopted {
            Some(handle) => {
                let reason = format!("dnsmasq (pid {}) adopted", handle.pid());
                self.dhcp_watch(myself, id, handle);
                self.history(id, "up", reason);
            }
            None => {
                if let Some(pid) = self.dhcp_spawn(myself, id) {
                    self.history(id, "up", format!("dnsmasq started (pid {pid})"));
                }
            }
        }
    }

    /// Starts dnsmasq with the current hosts; its pid, or `None` when it
    /// could not start (then the network is in error or a retry is set).
    fn dhcp_spawn(&mut self, myself: &NetworkServiceRef, id: i64) -> Option<u32> {
        let network = self.networks.get(&id)?;
        let files = Files::new(&self.dir, id);
        let hosts = self
            .dhcp
            .get(&id)
            .map(|d| d.hosts.clone())
            .unwrap_or_default();
        let args = dnsmasq::args(network, &files, &hosts);
        match dnsmasq::spawn(&self.dnsmasq, &args, &files) {
            Ok(handle) => {
                let pid = handle.pid();
                tracing::info!(network = %network.name, pid, "dnsmasq started");
                self.dhcp_watch(myself, id, handle);
                Some(pid)
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let reason = format!(
                    "cannot start dnsmasq ({}): {err}; install it (Debian: apt-get install dnsmasq-base) or name it with `corvus --dnsmasq PATH`",
                    self.dnsmasq.display()
                );
                self.dhcp_fail(id, reason);
                None
            }
            Err(err) => {
                let generation = self.dhcp.get(&id).map_or(0, |d| d.generation);
                self.dhcp_exited(myself, id, generation, format!("cannot start: {err}"));
                None
            }
        }
    }

    /// Watches a running dnsmasq; answers the launches waiting for it.
    fn dhcp_watch(&mut self, myself: &NetworkServiceRef, id: i64, handle: ProcessHandle) {
        let bridge = self.networks.get(&id).map(|n| n.bridge.clone());
        let dhcp = self.dhcp.entry(id).or_default();
        dhcp.generation += 1;
        let generation = dhcp.generation;
        match handle.exit_watcher() {
            Ok(exited) => {
                let log = Files::new(&self.dir, id).log();
                let myself = myself.clone();
                let task = async move {
                    let exit = exited.await;
                    let reason = exit_reason(&exit, &log).await;
                    let _ = myself.cast(NetworkMsg::DhcpExited {
                        id,
                        generation,
                        reason,
                    });
                };
                tokio::spawn(task.in_current_span());
            }
            Err(err) => tracing::warn!(network_id = id, error = %err, "cannot watch dnsmasq"),
        }
        dhcp.process = Some(handle);
        for reply in dhcp.waiting.drain(..) {
            let _ = reply.send(bridge.clone().ok_or_else(|| "network removed".to_owned()));
        }
    }

    /// dnsmasq is gone: as asked (restart, stop), or it died.
    pub(super) fn dhcp_exited(
        &mut self,
        myself: &NetworkServiceRef,
        id: i64,
        generation: u64,
        reason: String,
    ) {
        let Some(dhcp) = self.dhcp.get_mut(&id) else {
            return;
        };
        if generation != dhcp.generation {
            return;
        }
        let pid = dhcp.process.take().map(|p| p.pid());
        for reply in dhcp.stopping.drain(..) {
            let _ = reply.send(());
        }
        if dhcp.held {
            return;
        }
        if std::mem::take(&mut dhcp.restarting) {
            self.dhcp_spawn(myself, id);
            return;
        }
        let now = Instant::now();
        dhcp.exits.push_back(now);
        while dhcp
            .exits
            .front()
            .is_some_and(|at| now.duration_since(*at) > CRASH_WINDOW)
        {
            dhcp.exits.pop_front();
        }
        let exits = dhcp.exits.len();
        let who = pid.map_or("dnsmasq".to_owned(), |pid| format!("dnsmasq (pid {pid})"));
        if exits >= CRASH_LIMIT {
            self.dhcp_fail(
                id,
                format!(
                    "{who} exited {exits} times within {} s, last: {reason}",
                    CRASH_WINDOW.as_secs()
                ),
            );
            return;
        }
        let backoff = (FIRST_BACKOFF * 2u32.pow(exits.saturating_sub(1) as u32)).min(MAX_BACKOFF);
        tracing::warn!(network_id = id, %reason, ?backoff, "dnsmasq exited; restarting it");
        self.history(id, "dnsmasq-exited", format!("{who} {reason}"));
        let myself = myself.clone();
        tokio::spawn(
            async move {
                tokio::time::sleep(backoff).await;
                let _ = myself.cast(NetworkMsg::DhcpRetry { id, generation });
            }
            .in_current_span(),
        );
    }

    pub(super) fn dhcp_retry(&mut self, myself: &NetworkServiceRef, id: i64, generation: u64) {
        let current = self
            .dhcp
            .get(&id)
            .filter(|d| !d.held && d.process.is_none());
        let up = self
            .networks
            .get(&id)
            .is_some_and(|n| n.status == NetworkState::Up);
        if current.is_some_and(|d| d.generation == generation)
            && up
            && let Some(pid) = self.dhcp_spawn(myself, id)
        {
            self.history(
                id,
                "dnsmasq-restarted",
                format!("dnsmasq restarted (pid {pid})"),
            );
        }
    }

    /// dnsmasq cannot run: the network goes into error and VMs on it
    /// refuse to start, naming why.
    fn dhcp_fail(&mut self, id: i64, reason: String) {
        let Some(network) = self.networks.get_mut(&id) else {
            return;
        };
        tracing::error!(network = %network.name, %reason, "network in error: its dnsmasq cannot run");
        network.status = NetworkState::Error;
        network.last_error = Some(reason.clone());
        let refusal = format!(
            "network '{}' is in error ({reason}); see `crv network show {}`",
            network.name, network.name
        );
        if let Some(dhcp) = self.dhcp.get_mut(&id) {
            for reply in dhcp.waiting.drain(..) {
                let _ = reply.send(Err(refusal.clone()));
            }
        }
        self.history(id, "error", reason);
    }

    /// A launch's NICs as loaded now: when dnsmasq does not know them yet,
    /// it restarts with them and the launch goes on once it runs again.
    pub(super) fn dhcp_hosts(&mut self, id: i64, hosts: Vec<Host>, reply: BridgeReply) {
        let bridge = match self.bridge_of(id) {
            Ok(bridge) => bridge,
            Err(reason) => {
                let _ = reply.send(Err(reason));
                return;
            }
        };
        let dhcp = self.dhcp.entry(id).or_default();
        if dhcp.hosts == hosts {
            let _ = reply.send(Ok(bridge));
            return;
        }
        dhcp.hosts = hosts;
        match &dhcp.process {
            Some(process) if !dhcp.held => {
                dhcp.restarting = true;
                dhcp.waiting.push(reply);
                if let Err(err) = process.signal(Signal::SIGTERM) {
                    tracing::warn!(network_id = id, error = %err, "cannot signal dnsmasq");
                }
            }
            // Between restarts (or held): the next start has the hosts, and
            // the guest's DHCP client keeps asking meanwhile.
            _ => {
                let _ = reply.send(Ok(bridge));
            }
        }
    }

    /// Stops dnsmasq and keeps it stopped (a delete); answers once gone.
    pub(super) fn dhcp_hold(&mut self, id: i64, reply: RpcReplyPort<()>) {
        let dhcp = self.dhcp.entry(id).or_default();
        dhcp.held = true;
        match &dhcp.process {
            Some(process) => {
                dhcp.stopping.push(reply);
                if let Err(err) = process.signal(Signal::SIGTERM) {
                    tracing::warn!(network_id = id, error = %err, "cannot signal dnsmasq");
                }
            }
            None => {
                let _ = reply.send(());
            }
        }
    }

    /// A delete that did not happen after all (a NIC joined meanwhile):
    /// the bridge it may have removed and dnsmasq come back, as at start.
    pub(super) fn dhcp_release(&mut self, myself: &NetworkServiceRef, id: i64) {
        if let Some(dhcp) = self.dhcp.get_mut(&id) {
            dhcp.held = false;
        }
        if let Some(network) = self.networks.get(&id) {
            super::ops::bring_up(network, &self.dir, self.store.clone(), myself.clone());
        }
    }

    /// Records one entry of a network's history, in the background.
    pub(super) fn history(&self, id: i64, kind: &'static str, reason: String) {
        let store = self.store.clone();
        let task = async move {
            if let Err(err) = crate::wire::db(store.insert_network_event(id, kind, &reason)).await {
                tracing::warn!(network_id = id, kind, error = %corvus_protocol::WireError::from(err), "cannot record a network event");
            }
        };
        tokio::spawn(task.in_current_span());
    }
}

/// How dnsmasq ended; when it exited by itself, with the last line of
/// its log (dnsmasq says there why it gave up).
async fn exit_reason(exit: &ExitInfo, log: &std::path::Path) -> String {
    if exit.signal.is_some() {
        return exit.to_string();
    }
    let tail = corvus_qemu::process::read_tail_async(log, 2048)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&tail);
    match text.lines().rev().find(|line| !line.trim().is_empty()) {
        Some(line) => format!("{exit}: {}", line.trim()),
        None => exit.to_string(),
    }
}
