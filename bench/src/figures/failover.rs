//! Figure 16 (issue 19): failover time. Two nodes, `a` and `b`, on one
//! PostgreSQL database (--node-timeout 6, --fence-timeout 3); an HA VM runs
//! on `a`; a host loss (kill -9 of a's daemon and of its QEMU) until `b`
//! reports the VM `running` on itself. Beside it, the node timeout: the
//! part of the figure that is waiting by design; the rest is one takeover
//! round (a heartbeat interval at most) and a VM start.

use super::{Bench, progress};
use crate::cleanup::kill_mentioning;
use crate::client::Client;
use crate::daemon::Daemon;
use crate::report::{Row, Target, Unit};
use crate::seed;
use anyhow::bail;
use corvus_protocol::{Request, RestartPolicy, VmRef, VmState};
use harness::postgres::Cluster;
use std::time::{Duration, Instant};

const NODE_TIMEOUT_SECS: u64 = 6;
const FENCE_TIMEOUT_SECS: u64 = 3;
/// Node timeout + a takeover round + a start, with room for a busy machine.
const DEADLINE: Duration = Duration::from_secs(NODE_TIMEOUT_SECS + 60);

fn node_args(name: &str, shared: &std::path::Path) -> Vec<String> {
    vec![
        "--node".into(),
        name.into(),
        "--node-timeout".into(),
        NODE_TIMEOUT_SECS.to_string(),
        "--fence-timeout".into(),
        FENCE_TIMEOUT_SECS.to_string(),
        "--shared-storage".into(),
        shared.display().to_string(),
    ]
}

pub async fn run(bench: &mut Bench) -> anyhow::Result<()> {
    let rounds = bench.plan.failover_rounds;
    let cluster = if bench.postgres {
        Cluster::start()
    } else {
        None
    };
    let Some(cluster) = cluster else {
        progress("figure 16 skipped: PostgreSQL not installed, or --no-postgres");
        return Ok(());
    };
    progress(&format!(
        "figure 16: {rounds} × host loss of node a until its HA VM runs on node b"
    ));
    let url = cluster.create_database();
    let shared = bench.dir("failover-shared");
    std::fs::create_dir_all(&shared)?;
    let (dir_a, dir_b) = (bench.dir("failover-a"), bench.dir("failover-b"));
    let (mut a, _) = Daemon::start_with(
        &bench.bins,
        &dir_a,
        url.clone(),
        &bench.accel,
        node_args("a", &shared),
    )
    .await?;
    let (mut b, _) = Daemon::start_with(
        &bench.bins,
        &dir_b,
        url,
        &bench.accel,
        node_args("b", &shared),
    )
    .await?;
    let mut client_b = b.client().await?;
    let mut samples = Vec::new();
    for round in 0..rounds {
        let mut client_a = a.client().await?;
        let mut spec = seed::spec(&format!("ha-{round}"));
        spec.node = Some("a".into());
        spec.ha = true;
        spec.restart_policy = RestartPolicy::OnFailure;
        let vm = client_a
            .vm(Request::CreateVm {
                spec: Box::new(spec),
            })
            .await?;
        client_a
            .vm(Request::StartVm {
                vm: VmRef::Id(vm.id),
            })
            .await?;
        drop(client_a);
        a.kill9();
        kill_mentioning(&a.runtime);
        let lost = Instant::now();
        wait_running_on_b(&mut client_b, vm.id).await?;
        samples.push(lost.elapsed().as_secs_f64() * 1e3);
        client_b
            .vm(Request::ResetVm {
                vm: VmRef::Id(vm.id),
            })
            .await?;
        a.spawn().await?;
    }
    a.stop().await?;
    b.stop().await?;
    let timeout_ms = (NODE_TIMEOUT_SECS * 1000) as f64;
    bench.row(Row::new(
        16,
        "failover: host loss (kill -9 of node a's daemon and QEMU) until its HA VM is `running` on node b",
        Unit::Ms,
        &samples,
        Some((
            "--node-timeout (6 s): how long a lost node must stay silent before any survivor may take its VMs",
            &[timeout_ms],
        )),
        Target::None,
    ));
    Ok(())
}

async fn wait_running_on_b(client: &mut Client, id: i64) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let vm = client.vm(Request::ShowVm { vm: VmRef::Id(id) }).await?;
        if vm.status == VmState::Running && vm.node == "b" {
            return Ok(());
        }
        if started.elapsed() > DEADLINE {
            bail!(
                "figure 16: VM {id} is {} on node '{}' {} s after the host loss",
                vm.status,
                vm.node,
                DEADLINE.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
