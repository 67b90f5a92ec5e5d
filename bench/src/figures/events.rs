//! Figure 6: event latency. From the moment the `pause` request is sent to
//! the moment each subscriber has decoded the `paused` event, with 1 and
//! with 100 subscribers on connections of their own; against QMP `stop`
//! sent to a bare QEMU until its `STOP` event arrives. The daemon publishes
//! `paused` after QEMU's reply to `stop`, so the baseline is the part that
//! is QEMU's.

use super::{Bench, Main, progress, qemu_pids, rotated, wait_idle};
use crate::bare::BareVm;
use crate::report::{Row, Target, Unit};
use crate::stats::{Stats, ms};
use anyhow::{Context as _, bail};
use corvus_protocol::{Request, VmRef, VmState};
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const EVENT_DEADLINE: Duration = Duration::from_secs(10);

#[derive(Clone, Copy)]
enum Step {
    Bare,
    Corvus,
}

type Arrival = (i64, VmState, Instant);

pub async fn run(bench: &mut Bench, main: &mut Main) -> anyhow::Result<()> {
    let iterations = bench.plan.event_iterations;
    let solo = main.solo.id;
    main.client
        .vm(Request::StartVm {
            vm: VmRef::Id(solo),
        })
        .await?;
    let bare_vm = BareVm::new(
        &bench.bins.qemu,
        &main.solo,
        &bench.dir("bare-events"),
        main.accel,
    );
    let (mut bare, _) = bare_vm.start()?;
    let mut pids = qemu_pids(&mut main.client, &[solo]).await?;
    pids.push(bare.pid());
    let waited = wait_idle(&pids).await;
    bench.diagnose(
        "events_idle_wait_secs",
        json!(waited.as_secs_f64()),
        format!(
            "figure 6 waited {:.1} s for the two firmware guests to go idle",
            waited.as_secs_f64()
        ),
    );

    for subscribers in bench.plan.subscribers {
        progress(&format!(
            "figure 6: {iterations} pauses with {subscribers} subscriber(s)"
        ));
        let (sender, mut arrivals) = mpsc::unbounded_channel::<Arrival>();
        let mut tasks = Vec::new();
        for _ in 0..subscribers {
            let mut subscription = main.daemon.client().await?.subscribe().await?;
            let sender = sender.clone();
            tasks.push(tokio::spawn(async move {
                while let Ok(event) = subscription.next().await {
                    if sender
                        .send((event.vm_id, event.to, Instant::now()))
                        .is_err()
                    {
                        return;
                    }
                }
            }));
        }
        drop(sender);

        let mut corvus = Vec::new();
        let mut baseline = Vec::new();
        let mut replies = Vec::new();
        let mut spreads = Vec::new();
        for i in 0..=iterations {
            let record = i > 0;
            for step in rotated(&[Step::Bare, Step::Corvus], i) {
                match step {
                    Step::Bare => {
                        let latency = bare.pause_event_latency()?;
                        if record {
                            baseline.push(ms(latency));
                        }
                    }
                    Step::Corvus => {
                        let sent = Instant::now();
                        main.client
                            .vm(Request::PauseVm {
                                vm: VmRef::Id(solo),
                            })
                            .await?;
                        let replied = sent.elapsed();
                        let delivered =
                            collect(&mut arrivals, subscribers, solo, VmState::Paused).await?;
                        main.client
                            .vm(Request::StartVm {
                                vm: VmRef::Id(solo),
                            })
                            .await?;
                        collect(&mut arrivals, subscribers, solo, VmState::Running).await?;
                        if record {
                            replies.push(ms(replied));
                            corvus.extend(delivered.iter().map(|at| ms(*at - sent)));
                            if let (Some(first), Some(last)) =
                                (delivered.iter().min(), delivered.iter().max())
                            {
                                spreads.push(ms(*last - *first));
                            }
                        }
                    }
                }
            }
        }
        for task in tasks {
            task.abort();
        }

        let (name, target) = if subscribers == 1 {
            ("1 subscriber".to_owned(), Target::None)
        } else {
            (
                format!("{subscribers} subscribers"),
                Target::P99 { max: 5.0 },
            )
        };
        bench.row(
            Row::new(
                6,
                format!("event latency, `pause` request → `paused` delivered, {name}"),
                Unit::Ms,
                &corvus,
                Some(("bare QMP `stop` → `STOP` event", &baseline)),
                target,
            )
            .with_note(format!(
                "{} deliveries over {iterations} pauses",
                corvus.len()
            )),
        );
        let reply = Stats::of(&replies);
        let spread = Stats::of(&spreads);
        let p = |stats: Option<Stats>, f: fn(&Stats) -> f64| stats.as_ref().map_or(f64::NAN, f);
        bench.diagnose(
            &format!("events_{subscribers}_subscribers"),
            json!({ "pause_reply_ms": reply, "delivery_spread_ms": spread }),
            format!(
                "{subscribers} subscriber(s): the `pause` reply (QMP `stop` inside) took {:.3} ms median, {:.3} ms p99; first to last delivery of one event took {:.3} ms median, {:.3} ms p99",
                p(reply, |s| s.median),
                p(reply, |s| s.p99),
                p(spread, |s| s.median),
                p(spread, |s| s.p99),
            ),
        );
    }
    drop(bare);
    main.client
        .vm(Request::ResetVm {
            vm: VmRef::Id(solo),
        })
        .await?;
    Ok(())
}

/// The arrival times of `count` events taking `vm` to `state`.
async fn collect(
    arrivals: &mut mpsc::UnboundedReceiver<Arrival>,
    count: usize,
    vm: i64,
    state: VmState,
) -> anyhow::Result<Vec<Instant>> {
    let mut times = Vec::with_capacity(count);
    let deadline = tokio::time::Instant::now() + EVENT_DEADLINE;
    while times.len() < count {
        let arrival = tokio::time::timeout_at(deadline, arrivals.recv())
            .await
            .with_context(|| {
                format!(
                    "only {} of {count} subscribers saw the VM become {state}",
                    times.len()
                )
            })?;
        match arrival {
            Some((id, to, at)) if id == vm && to == state => times.push(at),
            Some(_) => {}
            None => bail!("every subscriber stream ended"),
        }
    }
    Ok(times)
}
