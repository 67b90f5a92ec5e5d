//! Figure 5: `crv vm list` and `crv --json vm list` with many defined VMs,
//! on SQLite and on PostgreSQL; baseline: `crv ping` against the same
//! daemon, the floor of any `crv` command. The daemons' memory with that
//! many VMs defined goes to figure 7.

use super::{Bench, progress, rotated, settle};
use crate::client::Client;
use crate::crv::Crv;
use crate::daemon::Daemon;
use crate::procfs;
use crate::report::{Row, Target, Unit, num};
use crate::seed;
use crate::stats::{Stats, mib, ms};
use harness::postgres::Cluster;
use serde_json::json;
use std::time::Instant;

#[derive(Clone, Copy)]
enum Step {
    Ping,
    List,
    Json,
    InProcess,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Db {
    Sqlite,
    Postgres,
}

impl Db {
    fn label(self) -> &'static str {
        match self {
            Db::Sqlite => "SQLite",
            Db::Postgres => "PostgreSQL",
        }
    }
}

pub async fn run(bench: &mut Bench) -> anyhow::Result<()> {
    let cluster = if bench.postgres {
        progress("starting a throwaway PostgreSQL cluster");
        Cluster::start()
    } else {
        None
    };
    for db in [Db::Sqlite, Db::Postgres] {
        if db == Db::Postgres && cluster.is_none() {
            progress("PostgreSQL skipped (not installed, or --no-postgres)");
            continue;
        }
        for (i, count) in bench.plan.list_counts.into_iter().enumerate() {
            measure(bench, db, count, cluster.as_ref(), i == 0).await?;
        }
    }
    Ok(())
}

async fn measure(
    bench: &mut Bench,
    db: Db,
    count: usize,
    cluster: Option<&Cluster>,
    small: bool,
) -> anyhow::Result<()> {
    let iterations = bench.plan.list_iterations;
    progress(&format!("figure 5: {count} VMs on {}: seeding", db.label()));
    let dir = bench.dir(&format!("list-{}-{count}", db.label().to_lowercase()));
    std::fs::create_dir_all(&dir)?;
    let url = match cluster {
        Some(cluster) if db == Db::Postgres => cluster.create_database(),
        _ => format!("sqlite://{}", dir.join("corvus.db").display()),
    };
    let seeding = Instant::now();
    seed::seed(&url, "vm-", count).await?;
    let seeded = seeding.elapsed();
    let (mut daemon, ready) = Daemon::start(&bench.bins, &dir, url, &bench.accel).await?;
    settle().await;
    let rss_start = mib(daemon.rss_kib()?);
    bench.memory.defined.push((db.label(), count, rss_start));
    progress(&format!(
        "figure 5: {count} VMs on {}: daemon ready in {:.0} ms; {iterations} lists",
        db.label(),
        ready.after.as_secs_f64() * 1e3
    ));

    let crv = Crv::new(&bench.bins.crv, &daemon.socket);
    let mut client = Client::connect(&daemon.socket).await?;
    let (_, table) = crv.run(&["vm", "list"])?;
    let (_, json_out) = crv.run(&["--json", "vm", "list"])?;
    let vms = client.list().await?;
    let listed = vms.len();
    let payload = postcard::to_stdvec(&corvus_protocol::Response::Vms(vms))?.len();
    let pid = daemon.pid()?;
    let mut daemon_cpu = Vec::new();
    anyhow::ensure!(
        listed == count,
        "the daemon lists {listed} VMs, {count} were seeded"
    );
    let mut ping = Vec::new();
    let mut list = Vec::new();
    let mut json_list = Vec::new();
    let mut in_process = Vec::new();
    for i in 0..iterations {
        for step in rotated(&[Step::Ping, Step::List, Step::Json, Step::InProcess], i) {
            match step {
                Step::Ping => ping.push(ms(crv.time(&["ping"])?)),
                Step::List => list.push(ms(crv.time(&["vm", "list"])?)),
                Step::Json => json_list.push(ms(crv.time(&["--json", "vm", "list"])?)),
                Step::InProcess => {
                    let cpu = procfs::cpu_time(pid)?;
                    let started = Instant::now();
                    client.list().await?;
                    in_process.push(ms(started.elapsed()));
                    daemon_cpu.push(ms(procfs::cpu_time(pid)?.saturating_sub(cpu)));
                }
            }
        }
    }
    settle().await;
    let rss_after = mib(daemon.rss_kib()?);
    drop(client);
    daemon.stop().await?;

    let target = Target::Median {
        max: if small { 10.0 } else { 100.0 },
    };
    let label = db.label();
    let baseline = ("`crv ping` (process)", ping.as_slice());
    bench.row(Row::new(
        5,
        format!("`crv vm list`, {count} VMs, {label}"),
        Unit::Ms,
        &list,
        Some(baseline),
        target,
    ));
    bench.row(Row::new(
        5,
        format!("`crv --json vm list`, {count} VMs, {label}"),
        Unit::Ms,
        &json_list,
        Some(baseline),
        target,
    ));
    let rpc = Stats::of(&in_process);
    let cpu = Stats::of(&daemon_cpu);
    let key = format!("list_{}_{count}", label.to_lowercase());
    bench.diagnose(
        &key,
        json!({
            "seed_secs": seeded.as_secs_f64(),
            "daemon_ready_ms": ms(ready.after),
            "ready_via": ready.via,
            "list_rpc_ms": rpc,
            "daemon_cpu_ms_per_list": cpu,
            "reply_frame_bytes": payload,
            "table_bytes": table.stdout.len(),
            "json_bytes": json_out.stdout.len(),
            "rss_mib_after_start": rss_start,
            "rss_mib_after_lists": rss_after,
        }),
        format!(
            "{count} VMs on {label}: daemon ready in {} ms; ListVms on an open connection {} ms (median), of which daemon CPU {} ms, reply frame {} KiB; output {} KiB as a table, {} KiB as JSON; daemon RSS {} MiB after start, {} MiB after the lists",
            num(ms(ready.after)),
            num(rpc.map_or(f64::NAN, |s| s.median)),
            num(cpu.map_or(f64::NAN, |s| s.median)),
            payload / 1024,
            table.stdout.len() / 1024,
            json_out.stdout.len() / 1024,
            num(rss_start),
            num(rss_after)
        ),
    );
    Ok(())
}
