//! A VmActor that fails is respawned and re-attaches to its QEMU, which
//! is left alone. Past the restart intensity the VM is put in `error`
//! instead, still attached so that `crv vm reset` can end its QEMU.

use super::{SupervisorRef, SupervisorState};
use ractor::ActorProcessingErr;
use std::collections::{HashMap, VecDeque};
use std::time::Duration;
use tokio::time::Instant;

/// At most this many actor failures of one VM within `WINDOW`.
const MAX_FAILURES: usize = 3;
const WINDOW: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct Failures(HashMap<i64, VecDeque<Instant>>);

impl Failures {
    /// Records a failure; true when the VM is over its intensity.
    fn record(&mut self, vm_id: i64) -> bool {
        let now = Instant::now();
        let recent = self.0.entry(vm_id).or_default();
        while recent
            .front()
            .is_some_and(|at| now.duration_since(*at) > WINDOW)
        {
            recent.pop_front();
        }
        recent.push_back(now);
        recent.len() > MAX_FAILURES
    }
}

impl SupervisorState {
    pub(super) async fn respawn(
        &mut self,
        myself: &SupervisorRef,
        vm_id: i64,
        why: &str,
    ) -> Result<(), ActorProcessingErr> {
        let Some(entry) = self.registry.remove(vm_id) else {
            return Ok(());
        };
        // The last state the actor published is what the new one starts from.
        let info = (**entry.snapshot.borrow()).clone();
        let quarantine = self.actor_failures.record(vm_id).then(|| {
            format!(
                "the VM's actor failed more than {MAX_FAILURES} times in {} s (last: {why}); its QEMU was left as it was: `crv vm reset {}` stops it",
                WINDOW.as_secs(),
                info.name
            )
        });
        self.start_actor(myself, info, quarantine).await
    }
}
