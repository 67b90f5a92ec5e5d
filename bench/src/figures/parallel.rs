//! Figure 3: N VMs started at once until all run, against N bare QEMUs
//! started at once until each QMP says `running`. Corvus twice: N `crv vm
//! start --wait` processes, and N `StartVm` requests on open connections.
//!
//! The fleet is left running for the re-adoption figure.

use super::{Bench, Main, concurrently, expect_states, progress, rotated};
use crate::bare::{BareQemu, BareVm};
use crate::crv::Crv;
use crate::report::{Row, Target, Unit};
use crate::stats::ms;
use anyhow::Context as _;
use corvus_protocol::{Request, VmRef, VmState};
use std::time::{Duration, Instant};

#[derive(Clone, Copy)]
enum Step {
    Bare,
    Crv,
    InProcess,
}

pub async fn run(bench: &mut Bench, main: &mut Main) -> anyhow::Result<()> {
    let n = main.fleet.len();
    let repetitions = bench.plan.parallel_repetitions;
    progress(&format!(
        "figure 3: {repetitions} × {n} VMs started at once, bare, crv and open connections"
    ));
    let bare_root = bench.dir("bare-fleet");
    let bare: Vec<BareVm> = main
        .fleet
        .iter()
        .map(|vm| BareVm::new(&bench.bins.qemu, vm, &bare_root, main.accel))
        .collect();
    let ids: Vec<i64> = main.fleet.iter().map(|vm| vm.id).collect();
    let names: Vec<String> = main.fleet.iter().map(|vm| vm.name.clone()).collect();

    let mut bare_times = Vec::new();
    let mut crv_times = Vec::new();
    let mut rpc_times = Vec::new();
    for rep in 0..repetitions {
        for step in rotated(&[Step::Bare, Step::Crv, Step::InProcess], rep) {
            match step {
                Step::Bare => {
                    let (running, elapsed) = start_bare(&bare)?;
                    bare_times.push(ms(elapsed));
                    for qemu in running {
                        qemu.kill();
                    }
                }
                Step::Crv => {
                    let elapsed = start_crv(&main.crv, &names)?;
                    crv_times.push(ms(elapsed));
                    expect_states(&mut main.client, &ids, VmState::Running).await?;
                    main.reset_all().await?;
                }
                Step::InProcess => {
                    let elapsed = concurrently(&main.daemon, ids.clone(), |id| Request::StartVm {
                        vm: VmRef::Id(id),
                    })
                    .await?;
                    rpc_times.push(ms(elapsed));
                    expect_states(&mut main.client, &ids, VmState::Running).await?;
                    main.reset_all().await?;
                }
            }
        }
    }

    // Left running for the re-adoption figure.
    concurrently(&main.daemon, ids.clone(), |id| Request::StartVm {
        vm: VmRef::Id(id),
    })
    .await?;

    let bare_label = format!("{n} bare QEMUs at once until each QMP says `running`");
    bench.row(Row::new(
        3,
        format!("{n} VMs started at once: {n} × `crv vm start --wait`"),
        Unit::Ms,
        &crv_times,
        Some((&bare_label, &bare_times)),
        Target::Ratio { max: 1.3 },
    ));
    bench.row(Row::new(
        3,
        format!("{n} VMs started at once: {n} × `StartVm` on open connections"),
        Unit::Ms,
        &rpc_times,
        Some((&bare_label, &bare_times)),
        Target::None,
    ));
    Ok(())
}

/// Every bare QEMU spawned from a thread of its own; the time until the last runs.
pub(super) fn start_bare(vms: &[BareVm]) -> anyhow::Result<(Vec<BareQemu>, Duration)> {
    let started = Instant::now();
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = vms.iter().map(|vm| scope.spawn(|| vm.start())).collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow::anyhow!("a starter thread panicked"))
            })
            .collect()
    });
    let elapsed = started.elapsed();
    let mut running = Vec::new();
    for result in results {
        let (qemu, _) = result??;
        running.push(qemu);
    }
    Ok((running, elapsed))
}

/// One `crv vm start --wait` process per VM, each from a thread of its own.
fn start_crv(crv: &Crv, names: &[String]) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = names
            .iter()
            .map(|name| scope.spawn(|| crv.time(&["vm", "start", name, "--wait"])))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow::anyhow!("a crv thread panicked"))
            })
            .collect()
    });
    let elapsed = started.elapsed();
    for result in results {
        result?.context("a parallel `crv vm start --wait` failed")?;
    }
    Ok(elapsed)
}
