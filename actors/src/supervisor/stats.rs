//! The supervisor's side of the stats collector: it starts it beside the
//! VmActors (and again if it fails), and routes stats requests to it with
//! the VMs they are about, which only the supervisor's registry knows.

use super::{SupervisorRef, SupervisorState};
use crate::stats::{self, StatsArgs, StatsMsg, StatsReply, Target};
use corvus_protocol::{VmRef, WireError};
use ractor::{ActorCell, ActorProcessingErr};
use tracing::error;

/// What a stats request is about.
pub enum StatsQuery {
    Vm(VmRef),
    All,
}

impl SupervisorState {
    pub(super) async fn start_stats(
        &mut self,
        myself: &SupervisorRef,
    ) -> Result<(), ActorProcessingErr> {
        let args = StatsArgs {
            ctx: self.ctx.clone(),
            supervisor: myself.clone(),
            interval: self.stats_interval,
        };
        self.stats = Some(stats::spawn(args, myself.get_cell()).await?);
        Ok(())
    }

    /// True when `cell` was the collector, which is then started again.
    pub(super) async fn stats_ended(
        &mut self,
        myself: &SupervisorRef,
        cell: &ActorCell,
        why: &str,
    ) -> Result<bool, ActorProcessingErr> {
        if self.stats.as_ref().map(|s| s.get_id()) != Some(cell.get_id()) {
            return Ok(false);
        }
        error!(
            error = why,
            "the stats collector stopped; starting it again"
        );
        self.start_stats(myself).await?;
        Ok(true)
    }

    pub(super) fn targets(&self) -> Vec<Target> {
        self.registry
            .entries()
            .map(|(id, entry)| Target {
                id: *id,
                actor: entry.actor.clone(),
                snapshot: entry.snapshot.clone(),
            })
            .collect()
    }

    pub(super) fn stats(&self, query: StatsQuery, reply: StatsReply) {
        let Some(collector) = &self.stats else {
            let _ = reply.send(Err(WireError::unavailable(
                "the stats collector is starting; retry in a moment",
            )));
            return;
        };
        let message = match query {
            StatsQuery::All => StatsMsg::All {
                targets: self.targets(),
                reply,
            },
            StatsQuery::Vm(vm) => match self.registry.resolve(&vm) {
                Ok((id, entry)) => StatsMsg::Vm {
                    target: Target {
                        id,
                        actor: entry.actor.clone(),
                        snapshot: entry.snapshot.clone(),
                    },
                    reply,
                },
                Err(err) => {
                    let _ = reply.send(Err(err));
                    return;
                }
            },
        };
        if let Err(ractor::MessagingErr::SendErr(
            StatsMsg::All { reply, .. } | StatsMsg::Vm { reply, .. },
        )) = collector.cast(message)
        {
            let _ = reply.send(Err(WireError::unavailable(
                "the stats collector is being restarted; retry in a moment",
            )));
        }
    }
}
