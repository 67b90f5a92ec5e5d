//! What the actor learns from QEMU rather than from operators: QMP coming
//! up, QMP events, process exits.

use super::exit::{ExitContext, classify};
use super::{VmActorRef, VmActorState, VmReply};
use corvus_protocol::{EventCause, VmState};
use corvus_qemu::{ExitInfo, QmpCommands, QmpEvent, QmpEvents, RunStatus, read_tail_async};
use tracing::{debug, info, warn};

/// How much of QEMU's stderr a failure quotes.
const STDERR_TAIL: usize = 2048;

impl VmActorState {
    fn is_current(&self, boot: u64) -> bool {
        self.runtime.as_ref().is_some_and(|r| r.boot == boot)
    }

    pub(super) fn qmp_ready(
        &mut self,
        myself: &VmActorRef,
        boot: u64,
        commands: QmpCommands,
        events: QmpEvents,
        status: RunStatus,
    ) {
        let Some(mut runtime) = self.runtime.take_if(|r| r.boot == boot) else {
            return;
        };
        runtime.qmp = Some(commands);
        self.pump_events(myself, &mut runtime, events);
        self.runtime = Some(runtime);
        if self.info.status != VmState::Starting {
            return;
        }
        let (next, reason) = if status.running {
            (VmState::Running, "QEMU is running")
        } else {
            (VmState::Paused, "QEMU is paused")
        };
        let cause = self.start_cause.clone();
        self.change_state(next, reason, cause);
        let reply = self.info_reply_value();
        for pending in self.pending_start.drain(..) {
            let _ = pending.send(Ok(VmReply::Response(reply.clone())));
        }
    }

    /// QMP never came up: kill QEMU; its exit then settles the state with this reason.
    pub(super) fn boot_failed(&mut self, boot: u64, error: String) {
        if !self.is_current(boot) {
            return;
        }
        warn!(%error, "QEMU started but its QMP failed");
        if let Some(runtime) = self.runtime.as_mut() {
            runtime.boot_error = Some(error);
            runtime.signal(corvus_qemu::Signal::SIGKILL);
        }
    }

    pub(super) async fn exited(&mut self, myself: &VmActorRef, boot: u64, exit: ExitInfo) {
        let Some(runtime) = self.runtime.take_if(|r| r.boot == boot) else {
            return;
        };
        runtime.stop_virtiofsd();
        let paths = self.ctx.paths(self.info.id);
        let stderr = read_tail_async(&paths.qemu_log, STDERR_TAIL)
            .await
            .unwrap_or_default();
        let stderr = String::from_utf8_lossy(&stderr);
        let mut outcome = classify(&ExitContext {
            state: self.info.status,
            expected: runtime.expected,
            escalated: runtime.escalated,
            shutdown: runtime.shutdown.clone(),
            panicked: runtime.panicked,
            exit,
            stderr: &stderr,
        });
        // The QMP failure explains an exit only when our kill caused it; a
        // QEMU that exited by itself first (a bad drive) makes QMP fail too,
        // and its own stderr says why.
        if let Some(error) = &runtime.boot_error
            && exit.signal.is_some()
        {
            outcome.reason = error.clone();
        }
        info!(%exit, next = %outcome.next, reason = %outcome.reason, "QEMU exited");
        drop(runtime);
        self.stop_deadline = None;
        self.expected_events = Default::default();
        self.info.pid = None;
        for share in &mut self.info.shared_dirs {
            share.pid = None;
        }
        self.info.last_error = (outcome.next == VmState::Error).then(|| outcome.reason.clone());
        self.change_state(outcome.next, outcome.reason.clone(), outcome.cause);
        self.fail_pending_starts(&outcome.reason);
        let reply = self.info_reply_value();
        for pending in self.pending_reset.drain(..) {
            let _ = pending.send(Ok(VmReply::Response(reply.clone())));
        }
        self.after_exit(myself, outcome.trigger);
    }

    pub(super) fn qmp_event(&mut self, boot: u64, event: QmpEvent) {
        if !self.is_current(boot) {
            return;
        }
        match event {
            QmpEvent::Stop => {
                if self.expected_events.stop > 0 {
                    self.expected_events.stop -= 1;
                } else if self.info.status == VmState::Running {
                    self.change_state(
                        VmState::Paused,
                        "paused inside QEMU (STOP event)",
                        EventCause::QemuEvent {
                            event: "STOP".into(),
                        },
                    );
                }
            }
            QmpEvent::Resume => {
                if self.expected_events.resume > 0 {
                    self.expected_events.resume -= 1;
                } else if self.info.status == VmState::Paused {
                    self.change_state(
                        VmState::Running,
                        "resumed inside QEMU (RESUME event)",
                        EventCause::QemuEvent {
                            event: "RESUME".into(),
                        },
                    );
                }
            }
            QmpEvent::Shutdown { guest, reason } => {
                debug!(guest, %reason, "QEMU is shutting down");
                if let Some(runtime) = self.runtime.as_mut() {
                    runtime.shutdown = Some((guest, reason));
                }
            }
            QmpEvent::GuestPanicked { action } => {
                warn!(%action, "the guest panicked");
                if let Some(runtime) = self.runtime.as_mut() {
                    runtime.panicked = true;
                }
            }
            QmpEvent::Lagged { missed } => warn!(missed, "QMP events were dropped"),
            QmpEvent::Powerdown | QmpEvent::Reset { .. } | QmpEvent::Other { .. } => {
                debug!(?event, "QMP event")
            }
        }
    }

    pub(super) fn qmp_closed(&mut self, boot: u64) {
        if let Some(runtime) = self.runtime.as_mut().filter(|r| r.boot == boot) {
            debug!("QMP connection closed");
            runtime.qmp = None;
        }
    }

    /// A virtiofsd that ends while its VM runs leaves the share dead in the guest.
    pub(super) fn virtiofsd_exited(&mut self, boot: u64, share_id: i64, exit: ExitInfo) {
        if !self.is_current(boot) || !matches!(self.info.status, VmState::Running | VmState::Paused)
        {
            return;
        }
        let Some(share) = self.info.shared_dirs.iter_mut().find(|s| s.id == share_id) else {
            return;
        };
        share.pid = None;
        let message = format!(
            "virtiofsd of share '{}' {exit}; the guest can no longer use it until the VM restarts",
            share.tag
        );
        warn!(%message);
        self.info.last_error = Some(message.clone());
        let state = self.info.status;
        self.change_state_with_event(
            state,
            message,
            EventCause::QemuEvent {
                event: "virtiofsd exit".into(),
            },
        );
    }
}
