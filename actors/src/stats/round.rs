//! The collector's two tasks: the one that reads every running VM each
//! `--stats-interval`, and the one that counts restarts on the event bus.
//! Both report to the collector actor as messages.

use super::sample::{self, QMP_DEADLINE};
use super::{StatsMsg, StatsRef};
use crate::events::EventBus;
use crate::supervisor::{SupervisorMsg, SupervisorRef};
use corvus_protocol::{EventCause, VmState};
use futures::StreamExt;
use ractor::rpc::CallResult;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tracing::{Instrument, debug, warn};

/// VMs read at once: enough that one QEMU whose QMP hangs costs the round
/// one deadline, not one per VM behind it.
const CONCURRENCY: usize = 64;
const TARGETS_TIMEOUT: Duration = Duration::from_secs(5);

/// Every `interval`: asks the supervisor which VMs exist, reads those with
/// a QEMU, and hands the readings to the collector. A round that takes
/// longer than the interval delays the next one instead of piling up.
pub fn collect(
    collector: StatsRef,
    supervisor: SupervisorRef,
    interval: Duration,
) -> JoinHandle<()> {
    tokio::spawn(
        async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let targets = match supervisor
                    .call(
                        |reply| SupervisorMsg::StatsTargets { reply },
                        Some(TARGETS_TIMEOUT),
                    )
                    .await
                {
                    Ok(CallResult::Success(targets)) => targets,
                    Ok(CallResult::Timeout | CallResult::SenderError) => {
                        debug!("the supervisor did not list the VMs in time; skipping a round");
                        continue;
                    }
                    Err(_) => return,
                };
                let samples = futures::stream::iter(targets)
                    .filter(|target| std::future::ready(target.snapshot.borrow().pid.is_some()))
                    .map(|target| sample::read(target, QMP_DEADLINE))
                    .buffer_unordered(CONCURRENCY)
                    .filter_map(std::future::ready)
                    .collect()
                    .await;
                if collector.cast(StatsMsg::Sampled { samples }).is_err() {
                    return;
                }
            }
        }
        .in_current_span(),
    )
}

/// Counts the restarts the restart policy makes: each is an event into
/// `starting` caused by the policy.
pub fn count_restarts(bus: &EventBus, collector: StatsRef) -> JoinHandle<()> {
    let mut live = bus.subscribe(None).live;
    tokio::spawn(
        async move {
            loop {
                match live.recv().await {
                    Ok(event)
                        if event.to == VmState::Starting
                            && matches!(event.cause, EventCause::RestartPolicy { .. }) =>
                    {
                        if collector
                            .cast(StatsMsg::Restarted { vm_id: event.vm_id })
                            .is_err()
                        {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(missed)) => {
                        warn!(
                            missed,
                            "the stats collector missed events; restart counts may be low"
                        );
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        }
        .in_current_span(),
    )
}
