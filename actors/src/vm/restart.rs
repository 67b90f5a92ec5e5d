//! The restart policy (DESIGN §4): which exits restart a VM, how often, and
//! after how long.

use super::exit::Trigger;
use super::{VmActorRef, VmActorState, VmMsg};
use corvus_protocol::{EventCause, RestartPolicy, VmState};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;
use tracing::{info, warn};

const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Restarts within the VM's window, and the one that is scheduled.
#[derive(Default)]
pub struct Restarts {
    recent: VecDeque<Instant>,
    /// The attempt number of a scheduled restart; a restart that arrives
    /// with another number (or none scheduled) was cancelled.
    scheduled: Option<u32>,
}

/// 1 s, 2 s, 4 s, … up to 30 s.
pub fn backoff(attempt: u32) -> Duration {
    let doubled = FIRST_BACKOFF.saturating_mul(
        1u32.checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX),
    );
    doubled.min(MAX_BACKOFF)
}

pub fn applies(policy: RestartPolicy, trigger: Trigger, restarting: bool) -> bool {
    match (policy, trigger) {
        (RestartPolicy::Never, _) | (_, Trigger::Requested) => false,
        (RestartPolicy::OnFailure | RestartPolicy::Always, Trigger::Failure) => true,
        (RestartPolicy::Always, Trigger::GuestPoweroff) => true,
        (RestartPolicy::OnFailure, Trigger::GuestPoweroff) => false,
        // A start that failed is the operator's to hear about, unless the
        // policy itself was starting the VM.
        (RestartPolicy::OnFailure | RestartPolicy::Always, Trigger::StartFailed) => restarting,
    }
}

impl Restarts {
    pub fn cancel(&mut self) {
        self.scheduled = None;
    }

    pub fn take_if_scheduled(&mut self, attempt: u32) -> bool {
        if self.scheduled == Some(attempt) {
            self.scheduled = None;
            true
        } else {
            false
        }
    }
}

impl VmActorState {
    /// Applies the restart policy after QEMU has exited.
    pub(super) fn after_exit(&mut self, myself: &VmActorRef, trigger: Trigger) {
        let restarting = matches!(self.start_cause, EventCause::RestartPolicy { .. });
        if !applies(self.info.restart_policy, trigger, restarting) {
            return;
        }
        let window = Duration::from_secs(self.info.restart_window_secs.into());
        let now = Instant::now();
        while self
            .restarts
            .recent
            .front()
            .is_some_and(|at| now.duration_since(*at) > window)
        {
            self.restarts.recent.pop_front();
        }
        let max = self.info.max_restarts;
        if self.restarts.recent.len() >= max as usize {
            let message = format!("restart limit reached ({max} in {} s)", window.as_secs());
            warn!(%message);
            self.info.last_error = Some(message.clone());
            self.change_state_with_event(VmState::Error, message, EventCause::Daemon);
            return;
        }
        self.restarts.recent.push_back(now);
        let attempt = self.restarts.recent.len() as u32;
        let delay = backoff(attempt);
        info!(
            attempt,
            delay_ms = delay.as_millis() as u64,
            "restarting the VM under its restart policy"
        );
        self.restarts.scheduled = Some(attempt);
        myself.send_after(delay, move || VmMsg::Restart { attempt });
    }

    pub(super) async fn restart_due(&mut self, myself: &VmActorRef, attempt: u32) {
        if !self.restarts.take_if_scheduled(attempt)
            || !matches!(self.info.status, VmState::Error | VmState::Stopped)
        {
            return;
        }
        let why = self
            .info
            .last_error
            .clone()
            .unwrap_or_else(|| "the guest powered off".into());
        info!(attempt, %why, "restart");
        let reason = format!("restart {attempt} after: {why}");
        if self
            .boot(myself, EventCause::RestartPolicy { attempt }, reason)
            .await
            .is_err()
        {
            self.after_exit(myself, Trigger::StartFailed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_to_thirty() {
        let delays: Vec<u64> = (1..=7).map(|a| backoff(a).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(backoff(200).as_secs(), 30);
    }

    #[test]
    fn policies_restart_exactly_what_they_promise() {
        use RestartPolicy::*;
        use Trigger::*;
        for trigger in [Requested, GuestPoweroff, Failure, StartFailed] {
            assert!(
                !applies(Never, trigger, true),
                "never restarts after {trigger:?}"
            );
            assert!(!applies(Always, Requested, false));
        }
        assert!(applies(OnFailure, Failure, false));
        assert!(!applies(OnFailure, GuestPoweroff, false));
        assert!(applies(Always, GuestPoweroff, false));
        assert!(
            !applies(Always, StartFailed, false),
            "an operator's failed start is not retried"
        );
        assert!(
            applies(Always, StartFailed, true),
            "a failed restart is retried"
        );
    }
}
