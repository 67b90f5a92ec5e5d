//! Figures 1 and 2: one VM started until `running` and reset until
//! `stopped`, against a bare QEMU with the same arguments started until QMP
//! says `running` and SIGKILLed and reaped. Corvus is measured twice: `crv`
//! as a process (what the target is about) and the same requests
//! on an open connection (the daemon's own share), with the daemon's CPU
//! time per operation.

use super::{Bench, Main, progress, rotated};
use crate::bare::BareVm;
use crate::procfs;
use crate::report::{Row, Target, Unit};
use crate::stats::{Stats, ms};
use anyhow::{Context as _, bail};
use corvus_protocol::{Request, VmRef, VmState};
use serde_json::json;
use std::time::{Duration, Instant};

#[derive(Clone, Copy)]
enum Step {
    Bare,
    Crv,
    InProcess,
}

#[derive(Default)]
struct Samples {
    bare_start: Vec<f64>,
    bare_kill: Vec<f64>,
    crv_start: Vec<f64>,
    crv_reset: Vec<f64>,
    rpc_start: Vec<f64>,
    rpc_reset: Vec<f64>,
    /// Daemon CPU per operation, ms.
    cpu_crv_start: Vec<f64>,
    cpu_crv_reset: Vec<f64>,
    cpu_rpc_start: Vec<f64>,
    cpu_rpc_reset: Vec<f64>,
}

pub async fn run(bench: &mut Bench, main: &mut Main) -> anyhow::Result<()> {
    let iterations = bench.plan.lifecycle_iterations;
    progress(&format!(
        "figures 1 and 2: {iterations} start/stop cycles each of bare QEMU, crv and an open connection"
    ));
    let bare = BareVm::new(
        &bench.bins.qemu,
        &main.solo,
        &bench.dir("bare-solo"),
        main.accel,
    );
    compare_arguments(bench, main, &bare).await?;

    let name = main.solo.name.clone();
    let pid = main.daemon.pid()?;
    let mut s = Samples::default();
    let ticks_before = procfs::cpu_time_ticks(pid)?;
    // Iteration 0 warms every path up and is not recorded.
    for i in 0..=iterations {
        let record = i > 0;
        for step in rotated(&[Step::Bare, Step::Crv, Step::InProcess], i) {
            match step {
                Step::Bare => {
                    let (qemu, start) = bare.start()?;
                    let kill = qemu.kill();
                    if record {
                        s.bare_start.push(ms(start));
                        s.bare_kill.push(ms(kill));
                    }
                }
                Step::Crv => {
                    let (start, cpu_start) =
                        with_cpu(pid, || main.crv.time(&["vm", "start", &name, "--wait"]))?;
                    let (reset, cpu_reset) =
                        with_cpu(pid, || main.crv.time(&["vm", "reset", &name]))?;
                    if record {
                        s.crv_start.push(ms(start));
                        s.crv_reset.push(ms(reset));
                        s.cpu_crv_start.push(ms(cpu_start));
                        s.cpu_crv_reset.push(ms(cpu_reset));
                    }
                }
                Step::InProcess => {
                    let vm = || VmRef::Id(main.solo.id);
                    let cpu = procfs::cpu_time(pid)?;
                    let started = Instant::now();
                    let running = main.client.vm(Request::StartVm { vm: vm() }).await?;
                    let start = started.elapsed();
                    let cpu_start = procfs::cpu_time(pid)?.saturating_sub(cpu);
                    if running.status != VmState::Running {
                        bail!("StartVm answered with the VM {}", running.status);
                    }
                    let cpu = procfs::cpu_time(pid)?;
                    let started = Instant::now();
                    let stopped = main.client.vm(Request::ResetVm { vm: vm() }).await?;
                    let reset = started.elapsed();
                    let cpu_reset = procfs::cpu_time(pid)?.saturating_sub(cpu);
                    if stopped.status != VmState::Stopped {
                        bail!("ResetVm answered with the VM {}", stopped.status);
                    }
                    if record {
                        s.rpc_start.push(ms(start));
                        s.rpc_reset.push(ms(reset));
                        s.cpu_rpc_start.push(ms(cpu_start));
                        s.cpu_rpc_reset.push(ms(cpu_reset));
                    }
                }
            }
        }
    }

    // Every thread, exited ones too, over the whole loop: crv and in-process
    // start/reset cycles, warm-up included.
    let cycles = 2 * (iterations + 1);
    let ticks = procfs::cpu_time_ticks(pid)?.saturating_sub(ticks_before);
    let per_cycle = ms(ticks) / cycles as f64;
    bench.diagnose(
        "daemon_cpu_ms_per_start_reset_cycle",
        json!(per_cycle),
        format!(
            "daemon CPU (/proc/PID/stat, user+system) over the loop: {:.0} ms for {cycles} start+reset cycles, {per_cycle:.2} ms per cycle",
            ms(ticks)
        ),
    );

    let bare_start = (
        "bare QEMU spawned until QMP `running`",
        s.bare_start.as_slice(),
    );
    let bare_kill = ("SIGKILL + reap of the bare QEMU", s.bare_kill.as_slice());
    bench.row(Row::new(
        1,
        "VM start: `crv vm start --wait` until `running`",
        Unit::Ms,
        &s.crv_start,
        Some(bare_start),
        Target::Ratio { max: 1.2 },
    ));
    bench.row(
        Row::new(
            1,
            "VM start: `StartVm` on an open connection (the daemon's share)",
            Unit::Ms,
            &s.rpc_start,
            Some(bare_start),
            Target::None,
        )
        .with_note("answered once QMP `query-status` says running"),
    );
    bench.row(Row::new(
        2,
        "Stop: `crv vm reset` until `stopped`",
        Unit::Ms,
        &s.crv_reset,
        Some(bare_kill),
        Target::Overhead { max: 25.0 },
    ));
    bench.row(
        Row::new(
            2,
            "Stop: `ResetVm` on an open connection",
            Unit::Ms,
            &s.rpc_reset,
            Some(bare_kill),
            Target::Overhead { max: 25.0 },
        )
        .with_note("answered once QEMU is reaped"),
    );
    let cpu = |samples: &[f64]| Stats::of(samples).map(|s| s.median).unwrap_or(f64::NAN);
    bench.diagnose(
        "daemon_cpu_ms_per_operation",
        json!({
            "crv_start_wait": Stats::of(&s.cpu_crv_start),
            "crv_reset": Stats::of(&s.cpu_crv_reset),
            "start_rpc": Stats::of(&s.cpu_rpc_start),
            "reset_rpc": Stats::of(&s.cpu_rpc_reset),
        }),
        format!(
            "daemon CPU time (all threads, schedstat), median per operation: `crv vm start --wait` {:.2} ms, `crv vm reset` {:.2} ms, StartVm {:.2} ms, ResetVm {:.2} ms",
            cpu(&s.cpu_crv_start),
            cpu(&s.cpu_crv_reset),
            cpu(&s.cpu_rpc_start),
            cpu(&s.cpu_rpc_reset)
        ),
    );
    Ok(())
}

fn with_cpu<T>(
    pid: u32,
    operation: impl FnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<(T, Duration)> {
    let before = procfs::cpu_time(pid)?;
    let value = operation()?;
    let after = procfs::cpu_time(pid)?;
    Ok((value, after.saturating_sub(before)))
}

/// Checks that the baseline runs what the daemon runs: the daemon's QEMU
/// command line, with its runtime directory replaced by the bare one, must
/// equal the bare arguments.
async fn compare_arguments(
    bench: &mut Bench,
    main: &mut Main,
    bare: &BareVm,
) -> anyhow::Result<()> {
    let vm = main
        .client
        .vm(Request::StartVm {
            vm: VmRef::Id(main.solo.id),
        })
        .await?;
    let pid = vm.pid.context("a running VM without a PID")?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
        .with_context(|| format!("Cannot read the command line of QEMU {pid}"))?;
    main.client
        .vm(Request::ResetVm {
            vm: VmRef::Id(main.solo.id),
        })
        .await?;
    let daemon_args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .skip(1)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let daemon_root = main.daemon.runtime.display().to_string();
    let bare_root = bench.dir("bare-solo").display().to_string();
    let bare_args: Vec<String> = bare
        .args()
        .iter()
        .map(|a| a.to_string_lossy().replace(&bare_root, &daemon_root))
        .collect();
    let same = daemon_args == bare_args;
    bench.diagnose(
        "baseline_arguments",
        json!({ "identical": same, "daemon": daemon_args, "bare": bare_args }),
        if same {
            format!(
                "the bare QEMU runs the daemon's exact arguments (runtime directory aside): `{}`",
                daemon_args.join(" ")
            )
        } else {
            format!(
                "the bare QEMU's arguments DIFFER from the daemon's:\n  daemon: {}\n  bare:   {}",
                daemon_args.join(" "),
                bare_args.join(" ")
            )
        },
    );
    Ok(())
}
