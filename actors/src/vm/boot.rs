//! Bringing QEMU up: a fresh boot (virtiofsd first, then QEMU, then QMP in
//! a task), or the re-adoption of a QEMU that outlived an earlier daemon.

use super::runtime::Runtime;
use super::{VmActorRef, VmActorState, VmMsg};
use corvus_protocol::{EventCause, VmState};
use corvus_qemu::{ProcessHandle, QmpEvents, Signal, VmPaths, build_cmdline, process_marker, qmp};
use std::time::Duration;
use tracing::Instrument;
use tracing::{info, warn};

/// QEMU normally answers QMP within tens of milliseconds; TCG on a loaded
/// machine can take seconds.
const QMP_DEADLINE: Duration = Duration::from_secs(30);
/// A re-adopted QEMU is already up; if its QMP does not answer quickly it is
/// managed through signals alone.
const ADOPT_QMP_DEADLINE: Duration = Duration::from_secs(3);
const VIRTIOFSD_DEADLINE: Duration = Duration::from_secs(10);

impl VmActorState {
    /// Starts QEMU (and first its virtiofsd children). On success the VM is
    /// `starting` until QMP answers; on failure it is in `error`.
    pub(super) async fn boot(
        &mut self,
        myself: &VmActorRef,
        cause: EventCause,
        reason: String,
    ) -> Result<(), String> {
        self.boot_seq += 1;
        let boot = self.boot_seq;
        self.info.last_error = None;
        self.restarts.cancel();
        self.start_cause = cause.clone();
        self.change_state(VmState::Starting, reason, cause.clone());
        match self.launch(myself, boot).await {
            Ok(runtime) => {
                self.info.pid = Some(runtime.qemu.pid());
                for share in &mut self.info.shared_dirs {
                    share.pid = runtime.share_pid(share.id);
                }
                info!(pid = runtime.qemu.pid(), "QEMU started");
                self.runtime = Some(runtime);
                self.persist(None);
                self.publish();
                Ok(())
            }
            Err(message) => {
                self.info.last_error = Some(message.clone());
                self.change_state(VmState::Error, message.clone(), cause);
                Err(message)
            }
        }
    }

    async fn launch(&mut self, myself: &VmActorRef, boot: u64) -> Result<Runtime, String> {
        let paths = self.ctx.paths(self.info.id);
        let tags: Vec<&str> = self
            .info
            .shared_dirs
            .iter()
            .map(|s| s.tag.as_str())
            .collect();
        paths
            .check_socket_lengths(&tags)
            .map_err(|err| err.to_string())?;
        corvus_qemu::cmdline::validate(&self.info).map_err(|err| err.to_string())?;
        paths
            .prepare(&tags)
            .await
            .map_err(|err| format!("{:#}", anyhow::Error::new(err)))?;
        let images =
            crate::disks::vm_link::boot_images(&self.supervisor, &self.info.drives).await?;
        let virtiofsd = self.start_virtiofsd(&paths).await?;
        let args = build_cmdline(&self.info, &images, &paths, self.ctx.accel);
        // fork/exec and creating the log file are blocking system calls.
        let binary = self.ctx.qemu_binary.clone();
        let log = paths.qemu_log.clone();
        let spawned =
            tokio::task::spawn_blocking(move || ProcessHandle::spawn(&binary, &args, &log))
                .await
                .unwrap_or_else(|join| Err(std::io::Error::other(join.to_string())));
        let qemu = match spawned {
            Ok(qemu) => qemu,
            Err(err) => {
                for (_, daemon) in &virtiofsd {
                    let _ = daemon.signal(Signal::SIGKILL);
                }
                return Err(format!(
                    "cannot run {}: {err}",
                    self.ctx.qemu_binary.display()
                ));
            }
        };
        let mut runtime = Runtime::new(boot, qemu, virtiofsd);
        self.watch_processes(myself, &mut runtime);
        let me = myself.clone();
        let qmp_path = paths.qmp.clone();
        runtime.watch(tokio::spawn(
            async move {
                let message = match qmp::connect(&qmp_path, QMP_DEADLINE).await {
                    Ok((commands, events)) => match commands.query_status().await {
                        Ok(status) => VmMsg::QmpReady {
                            boot,
                            commands,
                            events,
                            status,
                        },
                        Err(err) => VmMsg::BootFailed {
                            boot,
                            error: format!("QEMU did not answer query-status: {err}"),
                        },
                    },
                    Err(err) => VmMsg::BootFailed {
                        boot,
                        error: format!(
                            "cannot open QEMU's QMP socket {}: {err}",
                            qmp_path.display()
                        ),
                    },
                };
                let _ = me.cast(message);
            }
            .in_current_span(),
        ));
        Ok(runtime)
    }

    async fn start_virtiofsd(&self, paths: &VmPaths) -> Result<Vec<(i64, ProcessHandle)>, String> {
        let mut started = Vec::new();
        if self.info.shared_dirs.is_empty() {
            return Ok(started);
        }
        let Some(virtiofsd) = self.ctx.virtiofsd().await else {
            return Err("this VM has shared directories but no virtiofsd was found (looked on PATH, in /usr/libexec and /usr/lib/qemu; Debian ships it in qemu-system-common or the virtiofsd package)".into());
        };
        for share in &self.info.shared_dirs {
            let socket = paths.virtiofsd_socket(&share.tag);
            let log = paths.virtiofsd_log(&share.tag);
            match virtiofsd
                .spawn(&socket, share, &log, VIRTIOFSD_DEADLINE)
                .await
            {
                Ok(daemon) => started.push((share.id, daemon)),
                Err(err) => {
                    for (_, daemon) in &started {
                        let _ = daemon.signal(Signal::SIGKILL);
                    }
                    return Err(format!(
                        "cannot serve share '{}': {:#}",
                        share.tag,
                        anyhow::Error::new(err)
                    ));
                }
            }
        }
        Ok(started)
    }

    /// Tasks that tell the actor when QEMU or a virtiofsd exits.
    fn watch_processes(&self, myself: &VmActorRef, runtime: &mut Runtime) {
        let boot = runtime.boot;
        match runtime.qemu.exit_watcher() {
            Ok(exit) => {
                let me = myself.clone();
                runtime.watch(tokio::spawn(
                    async move {
                        let exit = exit.await;
                        let _ = me.cast(VmMsg::Exited { boot, exit });
                    }
                    .in_current_span(),
                ));
            }
            Err(err) => warn!(%err, "cannot watch QEMU for its exit"),
        }
        let watchers: Vec<_> = runtime
            .virtiofsd
            .iter()
            .filter_map(|(share_id, d)| d.exit_watcher().ok().map(|w| (*share_id, w)))
            .collect();
        for (share_id, exit) in watchers {
            let me = myself.clone();
            runtime.watch(tokio::spawn(
                async move {
                    let exit = exit.await;
                    let _ = me.cast(VmMsg::VirtiofsdExited {
                        boot,
                        share_id,
                        exit,
                    });
                }
                .in_current_span(),
            ));
        }
    }

    /// Forwards QMP events to the actor, and says when the session ends.
    pub(super) fn pump_events(
        &self,
        myself: &VmActorRef,
        runtime: &mut Runtime,
        mut events: QmpEvents,
    ) {
        let boot = runtime.boot;
        let me = myself.clone();
        runtime.watch(tokio::spawn(
            async move {
                while let Some(event) = events.next().await {
                    if me.cast(VmMsg::Qmp { boot, event }).is_err() {
                        return;
                    }
                }
                let _ = me.cast(VmMsg::QmpClosed { boot });
            }
            .in_current_span(),
        ));
    }

    /// At actor start: re-attach to a QEMU that is still running (after a
    /// daemon restart or an actor restart), or record that it is gone.
    pub(super) async fn adopt(&mut self, myself: &VmActorRef) {
        let recorded = self.info.status;
        if !recorded.has_process() {
            if self.info.pid.take().is_some() {
                self.persist(None);
            }
            return;
        }
        let paths = self.ctx.paths(self.info.id);
        let adopted = self
            .info
            .pid
            .ok_or_else(|| "no PID was recorded".to_owned())
            .and_then(|pid| {
                let qemu = ProcessHandle::adopt(pid, &process_marker(self.info.id))
                    .map_err(|err| err.to_string())?;
                // The marker names the VM id; the QMP path (commas doubled, as
                // QEMU options need) names this daemon's runtime directory.
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let qmp_option = paths.qmp.to_string_lossy().replace(',', ",,");
                if String::from_utf8_lossy(&cmdline).contains(&qmp_option) {
                    Ok(qemu)
                } else {
                    Err(format!("process {pid} is another daemon's VM"))
                }
            });
        let qemu = match adopted {
            Ok(qemu) => qemu,
            Err(why) => return self.gone_while_down(recorded, &why),
        };
        self.boot_seq += 1;
        let virtiofsd = self
            .info
            .shared_dirs
            .iter()
            .filter_map(|share| {
                let marker = paths
                    .virtiofsd_socket(&share.tag)
                    .to_string_lossy()
                    .into_owned();
                share
                    .pid
                    .and_then(|pid| ProcessHandle::adopt(pid, &marker).ok())
                    .map(|d| (share.id, d))
            })
            .collect();
        let mut runtime = Runtime::new(self.boot_seq, qemu, virtiofsd);
        self.watch_processes(myself, &mut runtime);
        let state = match qmp::connect(&paths.qmp, ADOPT_QMP_DEADLINE).await {
            Ok((commands, events)) => {
                let state = match commands.query_status().await {
                    Ok(status) if status.running => VmState::Running,
                    Ok(_) => VmState::Paused,
                    Err(_) => recorded,
                };
                runtime.qmp = Some(commands);
                self.pump_events(myself, &mut runtime, events);
                state
            }
            Err(err) => {
                warn!(%err, "re-adopted QEMU without QMP: it can only be reset or killed");
                recorded
            }
        };
        for share in &mut self.info.shared_dirs {
            share.pid = runtime.share_pid(share.id);
        }
        info!(pid = runtime.qemu.pid(), %state, "re-adopted a running QEMU");
        self.runtime = Some(runtime);
        if recorded == VmState::Stopping {
            // The stop was asked for before the daemon went away: carry it on.
            self.change_state(
                state,
                "re-adopted after a daemon restart",
                EventCause::Readoption,
            );
            self.begin_stop(myself, None, None).await;
        } else {
            self.change_state(
                state,
                "re-adopted after a daemon restart",
                EventCause::Readoption,
            );
        }
    }

    fn gone_while_down(&mut self, recorded: VmState, why: &str) {
        self.info.pid = None;
        for share in &mut self.info.shared_dirs {
            share.pid = None;
        }
        if recorded == VmState::Stopping {
            self.info.last_error = None;
            self.change_state(
                VmState::Stopped,
                "QEMU exited while the daemon was down, as a stop had asked",
                EventCause::Readoption,
            );
        } else {
            let message = format!("QEMU exited while the daemon was down ({why})");
            self.info.last_error = Some(message.clone());
            self.change_state(VmState::Error, message, EventCause::Readoption);
            self.restart_after_readoption = true;
        }
    }
}
