//! Figure 7: the daemon's resident memory. Idle (empty database) against
//! a bare tokio process (the echo server), and with many VMs defined
//! against idle, come from the other figures; the growth per running VM,
//! against the RSS of a bare QEMU, is measured here on a fresh daemon (a
//! daemon that started VMs before reuses the memory they freed).

use super::parallel::start_bare;
use super::{Bench, concurrently, progress, settle};
use crate::bare::BareVm;
use crate::daemon::Daemon;
use crate::procfs;
use crate::report::{Row, Target, Unit};
use crate::seed;
use crate::stats::mib;
use anyhow::bail;
use corvus_protocol::{Request, Response, VmRef};
use corvus_qemu::Accel;

pub async fn per_running_vm(bench: &mut Bench) -> anyhow::Result<()> {
    let n = bench.plan.parallel;
    progress(&format!("figure 7: memory of {n} running VMs"));
    let dir = bench.dir("memory");
    let url = format!("sqlite://{}", dir.join("corvus.db").display());
    let (mut daemon, _) = Daemon::start(&bench.bins, &dir, url, &bench.accel).await?;
    let mut client = daemon.client().await?;
    let mut vms = Vec::new();
    for i in 0..n {
        let spec = seed::spec(&format!("mem-{i:02}"));
        vms.push(
            client
                .vm(Request::CreateVm {
                    spec: Box::new(spec),
                })
                .await?,
        );
    }
    let ids: Vec<i64> = vms.iter().map(|vm| vm.id).collect();
    settle().await;
    let stopped = daemon.rss_kib()?;
    concurrently(&daemon, ids.clone(), |id| Request::StartVm {
        vm: VmRef::Id(id),
    })
    .await?;
    settle().await;
    let running = daemon.rss_kib()?;
    concurrently(&daemon, ids, |id| Request::ResetVm { vm: VmRef::Id(id) }).await?;
    let accel = match client.request(Request::Status).await? {
        Response::Status(status) if status.accel == "tcg" => Accel::Tcg,
        Response::Status(_) => Accel::Kvm,
        other => bail!("unexpected status: {other:?}"),
    };
    drop(client);
    daemon.stop().await?;
    bench
        .memory
        .per_running_vm
        .push(mib(running.saturating_sub(stopped)) / n as f64);

    let bare_root = bench.dir("bare-memory");
    let bare: Vec<BareVm> = vms
        .iter()
        .map(|vm| BareVm::new(&bench.bins.qemu, vm, &bare_root, accel))
        .collect();
    let (qemus, _) = start_bare(&bare)?;
    settle().await;
    for qemu in &qemus {
        bench
            .memory
            .bare_qemu
            .push(mib(procfs::rss_kib(qemu.pid())?));
    }
    Ok(())
}

pub fn rows(bench: &mut Bench) {
    let idle = bench.memory.idle.clone();
    let echo = bench.memory.echo.clone();
    bench.row(Row::new(
        7,
        "daemon RSS idle, empty database",
        Unit::Mib,
        &idle,
        Some(("echo server: a bare multi-threaded tokio process", &echo)),
        Target::Median { max: 15.0 },
    ));
    let [small, _] = bench.plan.list_counts;
    let defined = bench.memory.defined.clone();
    for (db, count, rss) in defined {
        let max = if count == small { 20.0 } else { 150.0 };
        bench.row(Row::new(
            7,
            format!("daemon RSS with {count} VMs defined ({db})"),
            Unit::Mib,
            &[rss],
            Some(("daemon RSS idle", &idle)),
            Target::Median { max },
        ));
    }
    let per_vm = bench.memory.per_running_vm.clone();
    let bare = bench.memory.bare_qemu.clone();
    bench.row(
        Row::new(
            7,
            "daemon RSS added per running VM",
            Unit::Mib,
            &per_vm,
            Some(("RSS of one bare QEMU", &bare)),
            Target::None,
        )
        .with_note("a fresh daemon's RSS with N VMs running minus with them stopped, divided by N"),
    );
}
