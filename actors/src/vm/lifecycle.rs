//! Operator commands on a VM's lifecycle: the state machine decides, this
//! carries out its effect.

use super::runtime::Expected;
use super::transition::{self, Command, Effect};
use super::{Origin, Reply, VmActorRef, VmActorState, VmMsg, VmReply};
use corvus_protocol::{ErrorKind, EventCause, VmState, WireError};
use corvus_qemu::Signal;
use std::time::Duration;
use tokio::time::Instant;
use tracing::warn;

/// QEMU drops a power-button press until the guest has loaded its ACPI
/// driver, so a stop presses it again at this interval until its timeout.
pub const POWERDOWN_RESEND: Duration = Duration::from_secs(2);
/// After SIGTERM, how long QEMU gets before SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(5);
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(60);

fn operator(origin: Origin, command: Command) -> EventCause {
    EventCause::Operator {
        connection: origin.connection,
        command: format!("vm {}", command.verb()),
    }
}

impl VmActorState {
    pub(super) async fn lifecycle(
        &mut self,
        myself: &VmActorRef,
        command: Command,
        origin: Origin,
        timeout_secs: Option<u32>,
        reply: Reply,
    ) {
        let state = self.info.status;
        let transition = match transition::apply(state, command) {
            Ok(transition) => transition,
            Err(refusal) => {
                let message = refusal.message(&self.info.name, state, command);
                let _ = reply.send(Err(WireError::transition(state, message)));
                return;
            }
        };
        let result = match transition.effect {
            Effect::Boot => {
                match self
                    .boot(myself, operator(origin, command), "start requested".into())
                    .await
                {
                    // Answered once QMP says running, or QEMU fails.
                    Ok(()) => return self.pending_start.push(reply),
                    Err(message) => Err(WireError::new(ErrorKind::QemuFailed, message)),
                }
            }
            Effect::Resume => self.qmp_resume(operator(origin, command)).await,
            Effect::Suspend => self.qmp_pause(operator(origin, command)).await,
            Effect::Powerdown { .. } => {
                let timeout = timeout_secs.map(|s| Duration::from_secs(s.into()));
                self.begin_stop(myself, Some(origin), timeout).await;
                Ok(self.info_reply())
            }
            Effect::Terminate => {
                self.terminate_boot(myself, origin);
                Ok(self.info_reply())
            }
            // An error with a QEMU still there (a quarantined actor) is reset by killing it.
            Effect::Kill | Effect::Cleanup if self.runtime.is_some() => {
                if let Some(runtime) = &mut self.runtime {
                    runtime.expected = Expected::Kill { origin };
                    runtime.signal(Signal::SIGKILL);
                    runtime.stop_virtiofsd();
                    // Answered when the process is gone, so that a following
                    // start can never meet the old QEMU.
                    return self.pending_reset.push(reply);
                }
                self.settle_stopped("reset", operator(origin, command));
                Ok(self.info_reply())
            }
            Effect::Kill => {
                self.settle_stopped("reset", operator(origin, command));
                Ok(self.info_reply())
            }
            Effect::Cleanup => {
                self.settle_stopped("reset after an error", operator(origin, command));
                Ok(self.info_reply())
            }
            Effect::Nothing => Ok(self.info_reply()),
        };
        let _ = reply.send(result);
    }

    /// A VM with nothing running becomes `stopped` with no error left.
    fn settle_stopped(&mut self, reason: &str, cause: EventCause) {
        self.runtime = None;
        self.info.pid = None;
        self.info.last_error = None;
        for share in &mut self.info.shared_dirs {
            share.pid = None;
        }
        self.change_state(VmState::Stopped, reason, cause);
    }

    async fn qmp_pause(&mut self, cause: EventCause) -> Result<VmReply, WireError> {
        let qmp = self.qmp()?;
        qmp.stop()
            .await
            .map_err(|err| WireError::unavailable(format!("QEMU did not pause: {err}")))?;
        self.expected_events.stop += 1;
        self.change_state(VmState::Paused, "paused", cause);
        Ok(self.info_reply())
    }

    async fn qmp_resume(&mut self, cause: EventCause) -> Result<VmReply, WireError> {
        let qmp = self.qmp()?;
        qmp.cont()
            .await
            .map_err(|err| WireError::unavailable(format!("QEMU did not resume: {err}")))?;
        self.expected_events.resume += 1;
        self.change_state(VmState::Running, "resumed", cause);
        Ok(self.info_reply())
    }

    fn qmp(&self) -> Result<corvus_qemu::QmpCommands, WireError> {
        self.runtime
            .as_ref()
            .and_then(|r| r.qmp.clone())
            .ok_or_else(|| {
                WireError::unavailable(format!(
                    "QEMU's QMP connection for VM '{}' is gone; use `crv vm reset {}`",
                    self.info.name, self.info.name
                ))
            })
    }

    /// A graceful stop: ACPI powerdown (after `cont` when paused), pressed
    /// again until the timeout, then SIGTERM and SIGKILL.
    pub(super) async fn begin_stop(
        &mut self,
        myself: &VmActorRef,
        origin: Option<Origin>,
        timeout: Option<Duration>,
    ) {
        let timeout = timeout
            .or(self
                .info
                .stop_timeout_secs
                .map(|s| Duration::from_secs(s.into())))
            .unwrap_or(DEFAULT_STOP_TIMEOUT);
        let was_paused = self.info.status == VmState::Paused;
        let cause = match origin {
            Some(origin) => operator(origin, Command::Stop),
            None => EventCause::Daemon,
        };
        let Some(runtime) = self.runtime.as_mut() else {
            return;
        };
        runtime.expected = Expected::Stop { origin };
        let boot = runtime.boot;
        let qmp = runtime.qmp.clone();
        self.stop_deadline = Some(Instant::now() + timeout);
        self.change_state(
            VmState::Stopping,
            format!("stop requested (timeout {} s)", timeout.as_secs()),
            cause,
        );
        let pressed = match qmp {
            Some(qmp) => {
                if was_paused {
                    match qmp.cont().await {
                        Ok(()) => self.expected_events.resume += 1,
                        Err(err) => {
                            warn!(%err, "cannot resume the paused guest before powering it down")
                        }
                    }
                }
                qmp.system_powerdown().await.is_ok()
            }
            None => false,
        };
        if pressed {
            myself.send_after(POWERDOWN_RESEND.min(timeout), move || VmMsg::StopTick {
                boot,
            });
        } else {
            // Without QMP there is no power button to press.
            self.escalate(myself, Signal::SIGTERM);
        }
    }

    /// `--stop-vms-on-exit`: a graceful stop on the daemon's behalf.
    pub(super) async fn daemon_stop(&mut self, myself: &VmActorRef) {
        match self.info.status {
            VmState::Running | VmState::Paused => self.begin_stop(myself, None, None).await,
            VmState::Starting => {
                if let Some(runtime) = self.runtime.as_mut() {
                    runtime.expected = Expected::Stop { origin: None };
                }
                self.fail_pending_starts("the daemon is exiting");
                self.change_state(
                    VmState::Stopping,
                    "the daemon is exiting",
                    EventCause::Daemon,
                );
                self.escalate(myself, Signal::SIGTERM);
            }
            VmState::Stopped | VmState::Stopping | VmState::Error => {}
        }
    }

    fn terminate_boot(&mut self, myself: &VmActorRef, origin: Origin) {
        let Some(runtime) = self.runtime.as_mut() else {
            return;
        };
        runtime.expected = Expected::Terminate { origin };
        self.fail_pending_starts(&format!(
            "start of VM '{}' cancelled by a stop",
            self.info.name
        ));
        self.change_state(
            VmState::Stopping,
            "stop requested while starting",
            operator(origin, Command::Stop),
        );
        self.escalate(myself, Signal::SIGTERM);
    }

    /// Sends `signal` to QEMU; after SIGTERM, SIGKILL follows if it lingers.
    pub(super) fn escalate(&mut self, myself: &VmActorRef, signal: Signal) {
        let Some(runtime) = self.runtime.as_mut() else {
            return;
        };
        runtime.escalated = Some(signal);
        runtime.signal(signal);
        if signal == Signal::SIGTERM {
            let boot = runtime.boot;
            myself.send_after(KILL_GRACE, move || VmMsg::KillTick { boot });
        }
    }

    /// The stop timer: press the button again, or escalate at the deadline.
    pub(super) async fn stop_tick(&mut self, myself: &VmActorRef, boot: u64) {
        let Some(runtime) = self.runtime.as_ref().filter(|r| r.boot == boot) else {
            return;
        };
        if self.info.status != VmState::Stopping || runtime.escalated.is_some() {
            return;
        }
        let Some(deadline) = self.stop_deadline else {
            return;
        };
        let now = Instant::now();
        if now >= deadline {
            warn!("stop timed out; terminating QEMU");
            return self.escalate(myself, Signal::SIGTERM);
        }
        if let Some(qmp) = runtime.qmp.clone() {
            let _ = qmp.system_powerdown().await;
        }
        myself.send_after(POWERDOWN_RESEND.min(deadline - now), move || {
            VmMsg::StopTick { boot }
        });
    }

    pub(super) fn kill_tick(&mut self, boot: u64) {
        if let Some(runtime) = self.runtime.as_mut().filter(|r| r.boot == boot) {
            warn!(pid = runtime.qemu.pid(), "QEMU ignored SIGTERM; killing it");
            runtime.escalated = Some(Signal::SIGKILL);
            runtime.signal(Signal::SIGKILL);
        }
    }

    pub(super) fn fail_pending_starts(&mut self, message: &str) {
        for reply in self.pending_start.drain(..) {
            let _ = reply.send(Err(WireError::new(ErrorKind::QemuFailed, message)));
        }
    }
}
