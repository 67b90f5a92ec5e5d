//! The eight figures of issue 9, the disk import of issue 14 (9), the
//! /metrics scrape of issue 20 (10), remote access over TLS (issue 18,
//! 11), a cloud image to a shell (issue 15, 12), save and restore (issue
//! 16, 13), hot attach (issue 16, 14), a request forwarded between
//! nodes (issue 19, 15) and failover time (issue 19, 16). Each module measures Corvus and its baseline interleaved in one
//! loop (the order alternates between iterations), so that the machine's
//! noise falls on both alike.

mod cloud;
mod disks;
mod events;
mod failover;
mod hotplug;
mod hotplug_seen;
mod lifecycle;
mod lists;
mod memory;
mod metrics;
mod nodes;
mod parallel;
mod readopt;
mod rpc;
mod save;
mod stages;
mod tls;

use crate::client::Client;
use crate::crv::Crv;
use crate::daemon::{Bins, Daemon};
use crate::report::{Report, Row};
use crate::seed;
use anyhow::bail;
use corvus_protocol::{Request, Response, VmInfo, VmRef, VmState};
use corvus_qemu::Accel;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How much of everything: the full run or `--quick`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Plan {
    /// Start/stop cycles of figures 1 and 2.
    pub lifecycle_iterations: usize,
    /// VMs started at once (figure 3) and running during re-adoption (8).
    pub parallel: usize,
    pub parallel_repetitions: usize,
    /// `crv ping` processes (figure 4).
    pub process_pings: usize,
    /// In-process round trips: rounds of a batch of pings and a batch of echoes.
    pub rtt_rounds: usize,
    pub rtt_batch: usize,
    /// Defined VMs for `vm list` and memory (figures 5 and 7).
    pub list_counts: [usize; 2],
    pub list_iterations: usize,
    pub event_iterations: usize,
    pub subscribers: [usize; 2],
    pub readopt_repetitions: usize,
    /// Figure 9: the size of the imported image and the rounds.
    pub import_mib: usize,
    pub import_iterations: usize,
    /// Scrapes of `/metrics` with 1,000 VMs defined (figure 10).
    pub metrics_iterations: usize,
    /// Figure 12: whole cloud-guest boots per side (~30 s each under TCG);
    /// none in `--quick`, which must stay CI-sized.
    pub cloud_boot_rounds: usize,
    /// Figure 13: save and restore cycles per side.
    pub save_rounds: usize,
    /// Figure 14: (boots, hot attaches per boot) per side.
    pub hotplug: (usize, usize),
    /// Figure 14 as a Linux guest sees it: (boots, attaches per boot).
    pub hotplug_seen: (usize, usize),
    /// Figure 16: host losses, each ~node-timeout + a start.
    pub failover_rounds: usize,
}

impl Plan {
    pub fn full() -> Plan {
        Plan {
            lifecycle_iterations: 30,
            parallel: 20,
            parallel_repetitions: 5,
            process_pings: 100,
            rtt_rounds: 20,
            rtt_batch: 500,
            list_counts: [200, 10_000],
            list_iterations: 20,
            event_iterations: 200,
            subscribers: [1, 100],
            readopt_repetitions: 5,
            import_mib: 1024,
            import_iterations: 10,
            metrics_iterations: 50,
            cloud_boot_rounds: 3,
            save_rounds: 10,
            hotplug: (5, 8),
            hotplug_seen: (3, 4),
            failover_rounds: 5,
        }
    }

    /// Small enough for CI: well under two minutes on two cores.
    pub fn quick() -> Plan {
        Plan {
            lifecycle_iterations: 5,
            parallel: 5,
            parallel_repetitions: 2,
            process_pings: 20,
            rtt_rounds: 4,
            rtt_batch: 200,
            list_counts: [200, 1_000],
            list_iterations: 5,
            event_iterations: 20,
            subscribers: [1, 100],
            readopt_repetitions: 2,
            import_mib: 32,
            import_iterations: 2,
            metrics_iterations: 10,
            cloud_boot_rounds: 0,
            save_rounds: 3,
            hotplug: (2, 4),
            hotplug_seen: (1, 2),
            failover_rounds: 1,
        }
    }
}

/// Facts for figure 7 gathered along the way, turned into rows at the end.
#[derive(Debug, Default)]
pub struct MemoryFacts {
    /// RSS of daemons started on an empty database (MiB).
    pub idle: Vec<f64>,
    /// RSS of the echo server, a bare tokio process (MiB).
    pub echo: Vec<f64>,
    /// (database, defined VMs, RSS in MiB) after start.
    pub defined: Vec<(&'static str, usize, f64)>,
    /// Daemon RSS growth per running VM (MiB).
    pub per_running_vm: Vec<f64>,
    /// RSS of each bare QEMU of the parallel runs (MiB).
    pub bare_qemu: Vec<f64>,
}

pub struct Bench {
    pub bins: Bins,
    pub root: PathBuf,
    pub plan: Plan,
    pub accel: String,
    pub only: Vec<u8>,
    pub postgres: bool,
    pub report: Report,
    pub memory: MemoryFacts,
}

impl Bench {
    pub fn wants(&self, figure: u8) -> bool {
        self.only.is_empty() || self.only.contains(&figure)
    }

    pub fn wants_any(&self, figures: &[u8]) -> bool {
        figures.iter().any(|f| self.wants(*f))
    }

    pub fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    pub fn row(&mut self, row: Row) {
        if self.wants(row.figure) {
            self.report.rows.push(row);
        }
    }

    pub fn diagnose(&mut self, key: &str, value: serde_json::Value, text: impl Into<String>) {
        self.report.diagnose(key, value, text);
    }
}

pub fn progress(message: &str) {
    eprintln!("corvus-bench: {message}");
}

/// Runs every wanted figure.
pub async fn run(bench: &mut Bench) -> anyhow::Result<()> {
    let started = Instant::now();
    if bench.wants_any(&[1, 2, 3, 4, 6, 7, 8]) {
        let mut main = Main::start(bench).await?;
        if bench.wants_any(&[4, 7]) {
            rpc::run(bench, &mut main).await?;
        }
        if bench.wants_any(&[1, 2]) {
            lifecycle::run(bench, &mut main).await?;
        }
        if bench.wants(6) {
            events::run(bench, &mut main).await?;
        }
        if bench.wants_any(&[3, 8]) {
            parallel::run(bench, &mut main).await?;
        }
        if bench.wants_any(&[7, 8]) {
            readopt::run(bench, &mut main).await?;
        }
        main.reset_all().await?;
        main.daemon.stop().await?;
    }
    if bench.wants_any(&[5, 7]) {
        lists::run(bench).await?;
    }
    if bench.wants(7) {
        memory::per_running_vm(bench).await?;
        memory::rows(bench);
    }
    if bench.wants(9) {
        disks::run(bench).await?;
    }
    if bench.wants(10) {
        metrics::run(bench).await?;
    }
    if bench.wants(11) {
        tls::run(bench).await?;
    }
    if bench.wants(15) {
        nodes::run(bench).await?;
    }
    if bench.wants(12) && bench.plan.cloud_boot_rounds > 0 {
        cloud::run(bench).await?;
    }
    if bench.wants(13) {
        save::run(bench).await?;
    }
    if bench.wants(14) {
        hotplug::run(bench).await?;
        hotplug_seen::run(bench).await?;
    }
    if bench.wants(16) {
        failover::run(bench).await?;
    }
    bench.report.rows.sort_by_key(|r| r.figure);
    progress(&format!("done in {:.0} s", started.elapsed().as_secs_f64()));
    Ok(())
}

/// The daemon most figures share: SQLite, one VM `solo` for the single
/// start/stop figures and a fleet for the parallel ones.
pub struct Main {
    pub daemon: Daemon,
    pub client: Client,
    pub crv: Crv,
    pub solo: VmInfo,
    pub fleet: Vec<VmInfo>,
    pub accel: Accel,
}

impl Main {
    async fn start(bench: &mut Bench) -> anyhow::Result<Main> {
        let dir = bench.dir("main");
        let url = format!("sqlite://{}", dir.join("corvus.db").display());
        let (daemon, ready) = Daemon::start(&bench.bins, &dir, url, &bench.accel).await?;
        progress(&format!(
            "daemon ready in {:.1} ms ({:?})",
            ready.after.as_secs_f64() * 1e3,
            ready.via
        ));
        bench.diagnose(
            "readiness",
            serde_json::json!(ready.via),
            format!(
                "the daemon's readiness was taken from {}",
                match ready.via {
                    crate::daemon::ReadyVia::Notify => "`READY=1` on NOTIFY_SOCKET",
                    crate::daemon::ReadyVia::Ping => {
                        "its first answered ping (it sent no `READY=1`)"
                    }
                }
            ),
        );
        let mut client = daemon.client().await?;
        let accel = match client.request(Request::Status).await? {
            Response::Status(status) if status.accel == "kvm" => Accel::Kvm,
            Response::Status(status) if status.accel == "tcg" => Accel::Tcg,
            other => bail!("unexpected status: {other:?}"),
        };
        let solo = client
            .vm(Request::CreateVm {
                spec: Box::new(seed::spec("solo")),
            })
            .await?;
        let mut fleet = Vec::new();
        for n in 0..bench.plan.parallel {
            let spec = seed::spec(&format!("fleet-{n:02}"));
            fleet.push(
                client
                    .vm(Request::CreateVm {
                        spec: Box::new(spec),
                    })
                    .await?,
            );
        }
        Ok(Main {
            crv: Crv::new(&bench.bins.crv, &daemon.socket),
            daemon,
            client,
            solo,
            fleet,
            accel,
        })
    }

    /// A new connection, after the daemon was restarted.
    async fn reconnect(&mut self) -> anyhow::Result<()> {
        self.client = self.daemon.client().await?;
        Ok(())
    }

    /// Every VM that is not stopped is reset, all at once.
    async fn reset_all(&mut self) -> anyhow::Result<()> {
        let busy: Vec<i64> = self
            .client
            .list()
            .await?
            .into_iter()
            .filter(|vm| vm.status != VmState::Stopped)
            .map(|vm| vm.id)
            .collect();
        concurrently(&self.daemon, busy, |id| Request::ResetVm {
            vm: VmRef::Id(id),
        })
        .await?;
        Ok(())
    }
}

/// One request per VM, each on its own connection, all at once; returns
/// the time until the last answer.
pub async fn concurrently(
    daemon: &Daemon,
    ids: Vec<i64>,
    request: impl Fn(i64) -> Request,
) -> anyhow::Result<Duration> {
    let mut clients = Vec::new();
    for _ in &ids {
        clients.push(daemon.client().await?);
    }
    let started = Instant::now();
    let requests = clients
        .iter_mut()
        .zip(ids)
        .map(|(client, id)| client.vm(request(id)));
    futures::future::try_join_all(requests).await?;
    Ok(started.elapsed())
}

/// Rotates `items` by `i`, so that no step always runs first.
pub fn rotated<T: Copy>(items: &[T], i: usize) -> Vec<T> {
    let mut order = items.to_vec();
    if !order.is_empty() {
        let len = order.len();
        order.rotate_left(i % len);
    }
    order
}

/// Fails unless every VM in `ids` is in `state`.
pub async fn expect_states(client: &mut Client, ids: &[i64], state: VmState) -> anyhow::Result<()> {
    let vms = client.list().await?;
    let wrong: Vec<String> = vms
        .iter()
        .filter(|vm| ids.contains(&vm.id) && vm.status != state)
        .map(|vm| format!("{} is {}", vm.name, vm.status))
        .collect();
    if !wrong.is_empty() {
        bail!("expected every VM {state}: {}", wrong.join(", "));
    }
    Ok(())
}

/// Firmware-only guests keep a CPU busy for seconds after they start
/// (SeaBIOS waiting out its boot menu under nested KVM). Figures that keep
/// VMs running wait until those guests are idle, or their measurements
/// would be of a saturated machine. Returns how long it took.
pub async fn wait_idle(pids: &[u32]) -> Duration {
    const SAMPLE: Duration = Duration::from_millis(250);
    const DEADLINE: Duration = Duration::from_secs(120);
    let started = Instant::now();
    let cpu = |pid: &u32| crate::procfs::cpu_time_ticks(*pid).unwrap_or_default();
    let mut before: Vec<Duration> = pids.iter().map(cpu).collect();
    while started.elapsed() < DEADLINE {
        tokio::time::sleep(SAMPLE).await;
        let now: Vec<Duration> = pids.iter().map(cpu).collect();
        // Under 10 % of a CPU each (a process that is gone reads as zero).
        let idle = now
            .iter()
            .zip(&before)
            .all(|(now, before)| now.saturating_sub(*before) < SAMPLE / 10);
        if idle {
            break;
        }
        before = now;
    }
    started.elapsed()
}

/// The QEMU PIDs of the daemon's running VMs among `ids`.
pub async fn qemu_pids(client: &mut Client, ids: &[i64]) -> anyhow::Result<Vec<u32>> {
    Ok(client
        .list()
        .await?
        .into_iter()
        .filter(|vm| ids.contains(&vm.id))
        .filter_map(|vm| vm.pid)
        .collect())
}

/// A short pause for memory figures: lets freed memory and late tasks settle.
pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

#[cfg(test)]
mod tests {
    use super::rotated;

    #[test]
    fn rotation_changes_who_goes_first() {
        assert_eq!(rotated(&[1, 2, 3], 0), vec![1, 2, 3]);
        assert_eq!(rotated(&[1, 2, 3], 1), vec![2, 3, 1]);
        assert_eq!(rotated(&[1, 2, 3], 5), vec![3, 1, 2]);
        assert!(rotated::<u8>(&[], 3).is_empty());
    }
}
