//! The restart policy (DESIGN §4): which exits restart a VM, how often, and
//! after how long.

use super::core::Trigger;
use corvus_protocol::{RestartPolicy, VmInfo};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

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

/// What the policy says after an exit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    No,
    Schedule {
        attempt: u32,
        delay: Duration,
    },
    /// Too many restarts within the window: the VM stays in `error`.
    Limit {
        message: String,
    },
}

impl Restarts {
    /// Applies the VM's restart policy to an exit; a scheduled restart is
    /// remembered so that a later cancel (a reset, a start, a delete) wins.
    pub fn decide(
        &mut self,
        vm: &VmInfo,
        trigger: Trigger,
        restarting: bool,
        now: Instant,
    ) -> Decision {
        if !applies(vm.restart_policy, trigger, restarting) {
            return Decision::No;
        }
        let window = Duration::from_secs(vm.restart_window_secs.into());
        while self
            .recent
            .front()
            .is_some_and(|at| now.duration_since(*at) > window)
        {
            self.recent.pop_front();
        }
        let max = vm.max_restarts;
        if self.recent.len() >= max as usize {
            return Decision::Limit {
                message: format!("restart limit reached ({max} in {} s)", window.as_secs()),
            };
        }
        self.recent.push_back(now);
        let attempt = self.recent.len() as u32;
        self.scheduled = Some(attempt);
        Decision::Schedule {
            attempt,
            delay: backoff(attempt),
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
