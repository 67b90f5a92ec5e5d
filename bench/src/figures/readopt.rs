//! Figure 8: re-adoption. With the fleet running, the daemon is killed with
//! SIGKILL and started again on the same database and runtime directory;
//! the time from spawn to READY is measured, and every VM must be found
//! running. Baseline, interleaved: a daemon started on an empty database.
//! Those empty daemons also give the idle memory of figure 7.

use super::{Bench, Main, expect_states, progress, qemu_pids, rotated, settle, wait_idle};
use crate::daemon::Daemon;
use crate::report::{Row, Target, Unit};
use crate::stats::{mib, ms};
use corvus_protocol::VmState;
use serde_json::json;

#[derive(Clone, Copy)]
enum Step {
    Readopt,
    Empty,
}

pub async fn run(bench: &mut Bench, main: &mut Main) -> anyhow::Result<()> {
    let repetitions = bench.plan.readopt_repetitions;
    let n = main.fleet.len();
    let ids: Vec<i64> = main.fleet.iter().map(|vm| vm.id).collect();
    let readopt = bench.wants(8);
    if readopt {
        progress(&format!(
            "figure 8: {repetitions} × kill -9 and restart with {n} running VMs"
        ));
        expect_states(&mut main.client, &ids, VmState::Running).await?;
        let pids = qemu_pids(&mut main.client, &ids).await?;
        let waited = wait_idle(&pids).await;
        bench.diagnose(
            "readopt_idle_wait_secs",
            json!(waited.as_secs_f64()),
            format!(
                "figure 8 waited {:.1} s for the {n} firmware guests to go idle before killing the daemon",
                waited.as_secs_f64()
            ),
        );
    } else {
        progress("figure 7: idle daemons");
    }
    let mut readopted = Vec::new();
    let mut adoption = Vec::new();
    let mut empty = Vec::new();
    for rep in 0..repetitions {
        for step in rotated(&[Step::Readopt, Step::Empty], rep) {
            match step {
                Step::Readopt if readopt => {
                    main.daemon.kill9();
                    let ready = main.daemon.spawn().await?;
                    readopted.push(ms(ready.after));
                    adoption.extend(main.daemon.adoption_phase_ms());
                    main.reconnect().await?;
                    expect_states(&mut main.client, &ids, VmState::Running).await?;
                }
                Step::Readopt => {}
                Step::Empty => {
                    let dir = bench.dir(&format!("empty-{rep}"));
                    let url = format!("sqlite://{}", dir.join("corvus.db").display());
                    let (mut daemon, ready) =
                        Daemon::start(&bench.bins, &dir, url, &bench.accel).await?;
                    empty.push(ms(ready.after));
                    settle().await;
                    bench.memory.idle.push(mib(daemon.rss_kib()?));
                    daemon.stop().await?;
                }
            }
        }
    }
    if readopt {
        let phase = crate::stats::Stats::of(&adoption);
        bench.diagnose(
            "readopt_adoption_phase_ms",
            json!(phase),
            format!(
                "of the restart, the adoption of the {n} VMs (daemon log: `database ready` → `corvus ready`) took {} ms (median)",
                phase.map_or_else(|| "?".to_owned(), |s| crate::report::num(s.median))
            ),
        );
        bench.row(
            Row::new(
                8,
                format!("re-adoption: daemon start → READY with {n} running VMs after kill -9"),
                Unit::Ms,
                &readopted,
                Some(("daemon start → READY on an empty database", &empty)),
                Target::Median { max: 1000.0 },
            )
            .with_note(format!(
                "every one of the {n} VMs was found running after each restart"
            )),
        );
    }
    Ok(())
}
