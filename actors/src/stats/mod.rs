//! The StatsCollector (DESIGN §10): the one owner of sampling what VMs
//! consume. It sits beside the VmActors under the supervisor. One task
//! reads every running VM each `--stats-interval` and hands the readings
//! here; this actor keeps the latest reading of each QEMU, turns counters
//! into rates, and answers `vm stats` (a fresh reading, in a task), `top`
//! and `/metrics` (the latest readings). It never waits for a VmActor:
//! QMP figures come from a task the actor spawns, within a deadline, and
//! /proc and /sys are read on the blocking pool.

mod figures;
mod nics;
mod procfs;
mod round;
mod sample;

pub use sample::Target;

use crate::context::SharedContext;
use crate::supervisor::SupervisorRef;
use corvus_protocol::{Response, VmStats, WireError};
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort};
use sample::RawSample;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tracing::Instrument;

pub type StatsRef = ActorRef<StatsMsg>;
pub type StatsReply = RpcReplyPort<Result<Response, WireError>>;

pub enum StatsMsg {
    /// `crv vm stats`: one VM read now, with rates since its last reading.
    Vm { target: Target, reply: StatsReply },
    /// `crv top` and `/metrics`: every VM given, from the latest readings.
    All {
        targets: Vec<Target>,
        reply: StatsReply,
    },
    /// A round of the collecting task is in.
    Sampled { samples: Vec<RawSample> },
    /// The restart policy restarted a VM.
    Restarted { vm_id: i64 },
}

pub struct StatsArgs {
    pub ctx: SharedContext,
    pub supervisor: SupervisorRef,
    pub interval: Duration,
}

/// The latest reading of one QEMU: its counters (for the next rates), the
/// reading before (for rates of a `vm stats` that comes right after), and
/// the figures made from them.
struct Reading {
    raw: Arc<RawSample>,
    before: Option<Arc<RawSample>>,
    stats: VmStats,
}

/// Rates over less than this say little (CPU time is counted in 10 ms
/// ticks): a `vm stats` just after a round compares with the round before.
const MIN_RATE_INTERVAL: Duration = Duration::from_secs(1);

pub struct StatsState {
    latest: HashMap<i64, Reading>,
    restarts: HashMap<i64, u64>,
    tasks: Vec<JoinHandle<()>>,
}

pub struct StatsCollector;

pub async fn spawn(args: StatsArgs, supervisor: ActorCell) -> Result<StatsRef, ractor::SpawnErr> {
    let (actor, _) = Actor::spawn_linked(None, StatsCollector, args, supervisor).await?;
    Ok(actor)
}

impl Actor for StatsCollector {
    type Msg = StatsMsg;
    type State = StatsState;
    type Arguments = StatsArgs;

    async fn pre_start(
        &self,
        myself: StatsRef,
        args: StatsArgs,
    ) -> Result<StatsState, ActorProcessingErr> {
        let span = tracing::info_span!("stats");
        let _guard = span.enter();
        let tasks = vec![
            round::collect(myself.clone(), args.supervisor, args.interval),
            round::count_restarts(&args.ctx.bus, myself),
        ];
        Ok(StatsState {
            latest: HashMap::new(),
            restarts: HashMap::new(),
            tasks,
        })
    }

    async fn post_stop(
        &self,
        _: StatsRef,
        state: &mut StatsState,
    ) -> Result<(), ActorProcessingErr> {
        for task in &state.tasks {
            task.abort();
        }
        Ok(())
    }

    async fn handle(
        &self,
        _: StatsRef,
        message: StatsMsg,
        state: &mut StatsState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            StatsMsg::Vm { target, reply } => state.read_now(target, reply),
            StatsMsg::All { targets, reply } => {
                let all = targets
                    .iter()
                    .map(|target| state.latest_of(target))
                    .collect();
                let _ = reply.send(Ok(Response::AllStats(all)));
            }
            StatsMsg::Sampled { samples } => state.sampled(samples),
            StatsMsg::Restarted { vm_id } => *state.restarts.entry(vm_id).or_default() += 1,
        }
        Ok(())
    }
}

impl StatsState {
    fn restarts_of(&self, vm_id: i64) -> u64 {
        self.restarts.get(&vm_id).copied().unwrap_or(0)
    }

    /// Keeps this round's readings, with rates against the last round's;
    /// VMs without a QEMU this round lose theirs.
    fn sampled(&mut self, samples: Vec<RawSample>) {
        let mut latest = HashMap::with_capacity(samples.len());
        for raw in samples {
            let before = self.latest.get(&raw.vm_id).map(|r| r.raw.clone());
            let stats = figures::compute(&raw, before.as_deref(), self.restarts_of(raw.vm_id));
            latest.insert(
                raw.vm_id,
                Reading {
                    raw: Arc::new(raw),
                    before,
                    stats,
                },
            );
        }
        self.latest = latest;
    }

    /// A VM's latest figures, if they are of the QEMU it has now: a QEMU
    /// that exited since leaves only the VM's state.
    fn latest_of(&self, target: &Target) -> VmStats {
        let info = target.info();
        let restarts = self.restarts_of(target.id);
        match self.latest.get(&target.id) {
            Some(reading) if info.status.has_process() && info.pid == Some(reading.raw.pid) => {
                figures::current(reading.stats.clone(), &info.name, info.status, restarts)
            }
            _ => VmStats::idle(target.id, info.name.clone(), info.status, restarts),
        }
    }

    /// Reads the VM now, in a task; rates compare with its latest reading.
    fn read_now(&self, target: Target, reply: StatsReply) {
        let restarts = self.restarts_of(target.id);
        let earlier = self
            .latest
            .get(&target.id)
            .map(|r| (r.raw.clone(), r.before.clone()));
        tokio::spawn(
            async move {
                let stats = match sample::read(target.clone(), sample::QMP_DEADLINE).await {
                    Some(raw) => {
                        let base = earlier.and_then(|(latest, before)| {
                            let recent =
                                raw.at.saturating_duration_since(latest.at) < MIN_RATE_INTERVAL;
                            if recent {
                                before.or(Some(latest))
                            } else {
                                Some(latest)
                            }
                        });
                        figures::compute(&raw, base.as_deref(), restarts)
                    }
                    None => {
                        let info = target.info();
                        VmStats::idle(target.id, info.name.clone(), info.status, restarts)
                    }
                };
                let _ = reply.send(Ok(Response::VmStats(Box::new(stats))));
            }
            .in_current_span(),
        );
    }
}
