//! The actor shell around the pure core: it feeds every input to
//! `core::transition`, writes the state the core decided (this file holds
//! the only assignment of the VM's status), records and publishes it, and
//! performs the effects.

use super::boot::Boot;
use super::core::{self, Effect, Input, Timer, Transition, View};
use super::outbox::Outbox;
use super::{Reply, VmActorRef, VmActorState, VmMsg, launch, qmp_tasks, restart, save};
use crate::networks::vm_link::{self, managed};
use corvus_protocol::{ErrorKind, EventKind, WireError};
use std::time::Duration;
use tokio::time::Instant;
use tracing::{info, warn};

/// The work a command goes on to once the core let it through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handoff {
    /// A definition change or an attachment.
    Proceed,
    /// A drive or NIC change on the running QEMU.
    Plug,
    /// A snapshot operation (QMP or qemu-img).
    Snapshot,
}

impl VmActorState {
    pub(super) fn view(&self) -> View<'_> {
        View {
            name: &self.info.name,
            status: self.info.status,
            last_error: self.info.last_error.as_deref(),
            boot: self.boot.as_ref().map(|boot| &boot.state),
            last_boot: self.last_boot,
            stop_timeout: self
                .info
                .stop_timeout_secs
                .map(|secs| Duration::from_secs(secs.into()))
                .unwrap_or(core::DEFAULT_STOP_TIMEOUT),
            deleted: self.deleted,
            guest_agent: self.info.guest_agent,
            managed_nics: !managed(&self.info.network_interfaces).is_empty(),
            save_blocker: save::blocker(&self.info).or_else(|| {
                self.boot.as_ref().filter(|boot| boot.replugged).map(|_| {
                    "drives or NICs were attached or detached while it ran, so its devices are not where a restore would put them; stop and start it once, then save".to_owned()
                })
            }),
            fenced: self.info.ha && self.ctx.fence.is_fenced(),
            now: Instant::now(),
        }
    }

    /// Runs one input through the core and carries out what it decided.
    /// `reply` answers the command (or QMP request) the input came from;
    /// it is handed back when the core lets the command proceed to work
    /// the shell does itself (a definition change, an attachment, a live
    /// device change), with which of them.
    pub(super) fn step(
        &mut self,
        myself: &VmActorRef,
        input: Input,
        reply: Option<Reply>,
    ) -> Option<(Reply, Handoff)> {
        let command = match &input {
            Input::Command { command, .. } => Some(command.clone()),
            _ => None,
        };
        match core::transition(&self.view(), input) {
            Ok(transition) => self.apply(myself, transition, reply),
            Err(refusal) => {
                if let (Some(reply), Some(command)) = (reply, command) {
                    let error = refusal.to_wire(&self.info.name, self.info.status, &command);
                    let _ = reply.send(Err(error));
                }
                None
            }
        }
    }

    fn apply(
        &mut self,
        myself: &VmActorRef,
        transition: Transition,
        mut reply: Option<Reply>,
    ) -> Option<(Reply, Handoff)> {
        let Transition {
            next,
            boot,
            last_error,
            event,
            effects,
        } = transition;
        let from = self.info.status;
        let before = self.runtime_columns();

        // The boot: carried on, replaced by a new one, or over.
        let same_boot = match (&self.boot, &boot) {
            (Some(current), Some(state)) => current.state.number == state.number,
            _ => false,
        };
        let mut ended = if same_boot { None } else { self.boot.take() };
        match (self.boot.as_mut(), boot) {
            (Some(current), Some(state)) => current.state = state,
            (None, Some(state)) => {
                self.last_boot = self.last_boot.max(state.number);
                let found = self.adopted.take();
                let paths = found
                    .as_ref()
                    .map(|found| found.paths.clone())
                    .unwrap_or_else(|| self.ctx.paths(self.info.id));
                let mut fresh = Boot::new(state, paths);
                if let Some(found) = found {
                    fresh.attach(myself, found.qemu, found.virtiofsd);
                }
                self.boot = Some(fresh);
            }
            (_, None) => {}
        }

        // The one writer of the VM's state.
        self.info.status = next;
        self.info.last_error = last_error;
        self.sync_runtime();

        let recorded = event.map(|event| self.publish_event(from, next, event));
        // Its deletion is the last thing recorded of a VM.
        self.deleted |= recorded
            .as_ref()
            .is_some_and(|event| event.kind == EventKind::Deleted);
        let durable = (recorded.is_some() || self.runtime_columns() != before)
            .then(|| self.persist(recorded));
        self.publish();

        let mut proceed = None;
        let mut outbox = Outbox::default();
        for effect in effects {
            match effect {
                Effect::Proceed => proceed = Some(Handoff::Proceed),
                Effect::Plug => proceed = Some(Handoff::Plug),
                Effect::Snapshot => proceed = Some(Handoff::Snapshot),
                effect => self.perform(myself, effect, &mut reply, &mut ended, &mut outbox),
            }
        }
        if let Some(ended) = ended {
            ended.end();
        }
        self.answer_settled();
        self.replay_deferred(myself);
        let handed_back = match reply {
            // The core let the command through to the shell's own work.
            Some(reply) if let Some(handoff) = proceed => Some((reply, handoff)),
            Some(reply) => {
                outbox.push(reply, Ok(self.info_reply()));
                None
            }
            None => None,
        };
        outbox.send_once_safe(durable);
        handed_back
    }

    fn perform(
        &mut self,
        myself: &VmActorRef,
        effect: Effect,
        reply: &mut Option<Reply>,
        ended: &mut Option<Boot>,
        outbox: &mut Outbox,
    ) {
        match effect {
            Effect::Reply(result) => {
                if let Some(reply) = reply.take() {
                    outbox.push(reply, result.map(|()| self.info_reply()));
                }
            }
            Effect::AwaitRunning => match (reply.take(), self.boot.as_mut()) {
                (Some(waiting), Some(boot)) => boot.starts.push(waiting),
                (Some(waiting), None) => outbox.push(waiting, Ok(self.info_reply())),
                (None, _) => {}
            },
            Effect::AwaitGone => match (reply.take(), self.boot.as_mut()) {
                (Some(waiting), Some(boot)) => boot.resets.push(waiting),
                (Some(waiting), None) => outbox.push(waiting, Ok(self.info_reply())),
                (None, _) => {}
            },
            Effect::AnswerStarts(result) => {
                let waiting = ended
                    .as_mut()
                    .or(self.boot.as_mut())
                    .map(|boot| std::mem::take(&mut boot.starts))
                    .unwrap_or_default();
                for start in waiting {
                    let answer = match &result {
                        Ok(()) => Ok(self.info_reply()),
                        Err(message) => Err(WireError::new(ErrorKind::QemuFailed, message)),
                    };
                    outbox.push(start, answer);
                }
            }
            Effect::AnswerResets => {
                let waiting = ended
                    .as_mut()
                    .or(self.boot.as_mut())
                    .map(|boot| std::mem::take(&mut boot.resets))
                    .unwrap_or_default();
                for reset in waiting {
                    outbox.push(reset, Ok(self.info_reply()));
                }
            }
            Effect::Launch => {
                let files = self.save_files();
                if let Some(boot) = self.boot.as_mut() {
                    let plan = launch::Plan {
                        info: self.info.clone(),
                        paths: boot.paths.clone(),
                        boot: boot.state.number,
                        restore: boot.state.restore.then_some(files.complete),
                    };
                    let task = launch::start(
                        self.ctx.clone(),
                        self.supervisor.clone(),
                        plan,
                        myself.clone(),
                        self.unplugging.take(),
                    );
                    boot.watch(task);
                }
            }
            Effect::ConnectQmp { deadline } => {
                let files = self.save_files();
                if let Some(boot) = self.boot.as_mut() {
                    // A re-adopted restore is past `migrate-incoming`, or
                    // never gets there: QMP's first answer tells which.
                    let restore =
                        (boot.state.restore && !boot.state.adopted).then_some(files.complete);
                    let task = qmp_tasks::connect(
                        boot.paths.qmp.clone(),
                        deadline,
                        restore,
                        boot.state.number,
                        myself.clone(),
                    );
                    boot.watch(task);
                }
            }
            Effect::Qmp { op, origin } => {
                let Some(boot) = self.boot.as_mut() else {
                    return;
                };
                qmp_tasks::run(
                    boot.qmp.clone(),
                    op,
                    origin,
                    reply.take(),
                    boot.state.number,
                    myself.clone(),
                );
            }
            Effect::Signal(signal) => {
                if let Some(boot) = self.boot.as_ref() {
                    info!(?signal, pid = ?boot.qemu.as_ref().map(|q| q.pid()), "signalling QEMU");
                    boot.signal(signal);
                }
            }
            Effect::Schedule(timer) => {
                let Some(boot) = self.boot.as_ref().map(|b| b.state.number) else {
                    return;
                };
                let after = match timer {
                    Timer::StopTick(after) => after,
                    Timer::KillTick => core::KILL_GRACE,
                    Timer::ExitSettle => core::EXIT_SETTLE,
                };
                myself.send_after(after, move || VmMsg::Timer { boot, timer });
            }
            Effect::ApplyRestartPolicy {
                trigger,
                restarting,
            } => {
                let decision =
                    self.restarts
                        .decide(&self.info, trigger, restarting, Instant::now());
                match decision {
                    restart::Decision::No => {}
                    restart::Decision::Schedule { attempt, delay } => {
                        info!(
                            attempt,
                            delay_ms = delay.as_millis() as u64,
                            "restarting the VM under its restart policy"
                        );
                        myself.send_after(delay, move || VmMsg::Restart { attempt });
                    }
                    restart::Decision::Limit { message } => {
                        warn!(%message);
                        self.step(myself, Input::RestartLimit { message }, None);
                    }
                }
            }
            Effect::CancelRestart => self.restarts.cancel(),
            // Handled by `apply`, which hands the reply back.
            Effect::Proceed | Effect::Plug | Effect::Snapshot => {}
            Effect::Record {
                confirmed,
                origin,
                verb,
            } => match reply.take() {
                Some(waiting) => {
                    if let Some(boot) = self.boot.as_mut() {
                        boot.replugged = true;
                    }
                    self.record(myself, confirmed, origin, verb, waiting)
                }
                None => warn!(?confirmed, "a confirmed device change without its reply"),
            },
            Effect::ReconcileDevices => self.reconcile_devices(myself),
            Effect::AgentShutdown => {
                if let Some(boot) = self.boot.as_ref() {
                    super::agent::shutdown(
                        boot.paths.qga.clone(),
                        boot.state.number,
                        myself.clone(),
                    );
                }
            }
            Effect::Save => self.start_save(myself, reply.take()),
            Effect::DiscardSave { cancel_migration } => self.discard_save(cancel_migration),
            Effect::RemoveTaps { boot } => {
                let nics = managed(&self.info.network_interfaces);
                let me = myself.clone();
                let previous = self.unplugging.take();
                self.unplugging = Some(tokio::spawn(async move {
                    if let Some(previous) = previous {
                        let _ = previous.await;
                    }
                    let result = vm_link::unplug(&nics).await;
                    if let Err(reason) = &result {
                        warn!(%reason, "taps left behind");
                    }
                    let _ = me.cast(VmMsg::TapsRemoved { boot, result });
                }));
            }
        }
    }

    /// A re-adoption is settled once QMP answered or was given up on.
    pub(super) fn answer_settled(&mut self) {
        if !self.adopting() {
            for waiter in self.settle_waiters.drain(..) {
                let _ = waiter.send(());
            }
        }
    }

    /// A re-adopted QEMU whose QMP is still being reached: what it is
    /// doing (running or paused) is not known yet.
    pub(super) fn adopting(&self) -> bool {
        self.boot.as_ref().is_some_and(|boot| {
            boot.state.adopted && boot.state.phase == core::Phase::Spawned && boot.connecting
        })
    }

    /// Commands wait while a definition write is in flight or a re-adopted
    /// QEMU's state is not known yet, so that each meets what the one
    /// before it left, and a command right after an actor's respawn is not
    /// refused for want of a QMP session that is a moment away.
    pub(super) fn busy(&self) -> bool {
        self.writing || self.plugging || self.snapshotting || self.adopting()
    }

    /// Runs the commands that waited, once nothing holds them back.
    pub(super) fn replay_deferred(&mut self, myself: &VmActorRef) {
        if self.replaying {
            return;
        }
        self.replaying = true;
        while !self.busy() {
            let Some((command, origin, reply)) = self.deferred.pop_front() else {
                break;
            };
            self.command(myself, command, origin, reply);
        }
        self.replaying = false;
    }
}
