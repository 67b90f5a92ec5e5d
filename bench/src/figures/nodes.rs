//! Figure 15 (issue 19): what forwarding between nodes costs. Two daemons,
//! nodes a and b, on one throwaway PostgreSQL database, each with a TLS
//! listener and a node certificate of one CA; one VM of a's. The same
//! per-VM request (`vm snapshot list`, which only the VM's owner answers:
//! its actor reads the VM's snapshot rows) sent on an open connection to
//! a, its owner, and on an open connection to b, which passes it to a
//! over mutual TLS, in alternating batches of one run. Beside it, `top`
//! through b (which gathers a's figures) against `top` on a.

use super::{Bench, progress, rotated};
use crate::client::Client;
use crate::crv::Crv;
use crate::daemon::Daemon;
use crate::report::{Row, Target, Unit};
use crate::stats::us;
use anyhow::{Context as _, bail};
use corvus_protocol::{Request, Response, SnapshotAction, VmRef, VmSnapshotSpec};
use harness::postgres::Cluster;
use std::path::Path;
use std::time::Instant;

const HOST: &str = "127.0.0.1";

#[derive(Clone, Copy)]
enum Via {
    Owner,
    Forwarded,
}

pub async fn run(bench: &mut Bench) -> anyhow::Result<()> {
    progress("figure 15: a request forwarded between nodes");
    let Some(cluster) = bench.postgres.then(Cluster::start).flatten() else {
        progress("figure 15 skipped: it needs PostgreSQL (not installed, or --no-postgres)");
        return Ok(());
    };
    let url = cluster.create_database();
    let dir = bench.dir("nodes");
    std::fs::create_dir_all(&dir).with_context(|| format!("Cannot create {}", dir.display()))?;
    let config = dir.join("config");
    let corvus = |args: &[&str]| super::tls::corvus_with_config(&bench.bins.corvus, &config, args);
    corvus(&["tls", "init"])?;
    let mut daemons = Vec::new();
    for node in ["a", "b"] {
        let certs = dir.join(format!("node-{node}"));
        corvus(&[
            "tls",
            "issue",
            node,
            "--role",
            "node",
            "--out",
            &path(&certs),
        ])?;
        let port = free_port()?;
        let address = format!("{HOST}:{port}");
        let extra = [
            "--node",
            node,
            "--listen",
            &address,
            "--advertise",
            &address,
            "--config-dir",
            &path(&config),
            "--node-cert-dir",
            &path(&certs),
        ]
        .map(String::from)
        .to_vec();
        let home = dir.join(node);
        let (daemon, _) =
            Daemon::start_with(&bench.bins, &home, url.clone(), &bench.accel, extra).await?;
        daemons.push(daemon);
    }
    let (a, b) = (&daemons[0], &daemons[1]);
    let (_, created) = Crv::new(&bench.bins.crv, &a.socket).run(&[
        "vm",
        "create",
        "fw",
        "--cpus",
        "1",
        "--ram",
        "64",
        "--node",
        "a",
        "--display",
        "none",
    ])?;
    if !created.status.success() {
        bail!(
            "crv vm create failed: {}",
            String::from_utf8_lossy(&created.stderr).trim()
        );
    }
    let request = || {
        Request::VmSnapshot(VmSnapshotSpec {
            vm: VmRef::Name("fw".into()),
            action: SnapshotAction::List,
            name: None,
            with_ram: false,
        })
    };
    let mut owner = a.client().await?;
    let mut through = b.client().await?;
    // Warm both paths (the owner's actor, b's lookup of the owner).
    for _ in 0..20 {
        expect_list(owner.request(request()).await?)?;
        expect_list(through.request(request()).await?)?;
    }
    let batch = (bench.plan.rtt_batch / 10).max(10);
    let rounds = bench.plan.rtt_rounds;
    let (direct, forwarded) = alternate(
        rounds,
        batch,
        &mut owner,
        &mut through,
        request,
        expect_list,
    )
    .await?;
    // `top` through b gathers a's figures over the same kept connection.
    let (local_top, gathered_top) = alternate(
        rounds,
        batch,
        &mut owner,
        &mut through,
        || Request::AllStats,
        expect_stats,
    )
    .await?;
    drop((owner, through, daemons));
    bench.row(
        Row::new(
            15,
            "`top` (AllStats) through node b, which asks a for its VMs' figures over mutual TLS",
            Unit::Us,
            &gathered_top,
            Some(("`top` on a, its own VMs only", &local_top)),
            Target::None,
        )
        .with_note(format!(
            "{} requests each, in batches of {batch} alternating",
            local_top.len()
        )),
    );
    bench.row(
        Row::new(
            15,
            "`vm snapshot list` of a's VM sent to node b, forwarded to a over mutual TLS (open client connection)",
            Unit::Us,
            &forwarded,
            Some(("the same request sent to a, its owner", &direct)),
            Target::None,
        )
        .with_note(format!(
            "{} requests each, in batches of {batch} alternating; forwards reuse a kept TLS connection to a",
            direct.len()
        )),
    );
    Ok(())
}

/// Times `request` on `owner` and on `through` in alternating batches;
/// the microseconds of each side.
async fn alternate(
    rounds: usize,
    batch: usize,
    owner: &mut Client,
    through: &mut Client,
    request: impl Fn() -> Request,
    expect: fn(Response) -> anyhow::Result<()>,
) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let (mut direct, mut forwarded) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        for via in rotated(&[Via::Owner, Via::Forwarded], round) {
            let (client, times) = match via {
                Via::Owner => (&mut *owner, &mut direct),
                Via::Forwarded => (&mut *through, &mut forwarded),
            };
            for _ in 0..batch {
                let started = Instant::now();
                expect(client.request(request()).await?)?;
                times.push(us(started.elapsed()));
            }
        }
    }
    Ok((direct, forwarded))
}

fn expect_list(response: Response) -> anyhow::Result<()> {
    match response {
        Response::VmSnapshots { .. } => Ok(()),
        other => bail!("unexpected answer to vm snapshot list: {other:?}"),
    }
}

fn expect_stats(response: Response) -> anyhow::Result<()> {
    match response {
        Response::AllStats(all) if all.len() == 1 => Ok(()),
        other => bail!("unexpected answer to top: {other:?}"),
    }
}

fn path(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind((HOST, 0)).context("Cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}
