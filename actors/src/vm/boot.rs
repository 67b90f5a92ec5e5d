//! One boot of QEMU as the shell holds it: the core's [`BootState`] beside
//! the things that are not data — the processes, the QMP session, the
//! replies waiting on this boot and the tasks that watch it. "QEMU is gone"
//! is the actor dropping its `Boot`.

use super::core::BootState;
use super::{Reply, VmActorRef, VmMsg};
use corvus_protocol::WireError;
use corvus_qemu::{ProcessHandle, QmpCommands, Signal, VmPaths, read_tail_async};
use tokio::task::JoinHandle;
use tracing::{Instrument, warn};

/// How much of QEMU's stderr a failure quotes.
const STDERR_TAIL: usize = 2048;

pub struct Boot {
    pub state: BootState,
    /// Where this boot's sockets and logs are (a re-adopted QEMU keeps the
    /// directory it was started with).
    pub paths: VmPaths,
    pub qemu: Option<ProcessHandle>,
    /// (shared_dir id, its virtiofsd).
    pub virtiofsd: Vec<(i64, ProcessHandle)>,
    pub qmp: Option<QmpCommands>,
    /// A QMP connection attempt is under way.
    pub connecting: bool,
    /// `crv vm start` callers waiting for QEMU to run.
    pub starts: Vec<Reply>,
    /// `crv vm reset` callers waiting for QEMU to be gone.
    pub resets: Vec<Reply>,
    /// What the guest agent last did this boot (`vm show`'s `agent` and
    /// `ip_addresses`); a new boot starts unknown.
    pub agent: super::agent::AgentSeen,
    /// Live unplugs waiting for the guest's consent (`DEVICE_DELETED`), by
    /// device id; dropped with the boot, which tells them QEMU is gone.
    pub unplugs: Vec<(String, tokio::sync::oneshot::Sender<()>)>,
    /// A drive or NIC was attached or detached live this boot: QEMU's
    /// devices no longer sit where a start (or a restore) puts them.
    pub replugged: bool,
    /// Exit watchers: they reap, so they outlive the boot when it ends.
    watchers: Vec<JoinHandle<()>>,
    /// The launch, QMP connection and event pump: they end with the boot.
    tasks: Vec<JoinHandle<()>>,
}

impl Boot {
    pub fn new(state: BootState, paths: VmPaths) -> Boot {
        Boot {
            state,
            paths,
            qemu: None,
            virtiofsd: Vec::new(),
            qmp: None,
            connecting: false,
            starts: Vec::new(),
            resets: Vec::new(),
            agent: super::agent::AgentSeen::default(),
            unplugs: Vec::new(),
            replugged: false,
            watchers: Vec::new(),
            tasks: Vec::new(),
        }
    }

    pub fn watch(&mut self, task: JoinHandle<()>) {
        self.tasks.push(task);
    }

    /// Takes QEMU and its virtiofsd children, with a task per process that
    /// reports its exit (and reaps it).
    pub fn attach(
        &mut self,
        myself: &VmActorRef,
        qemu: ProcessHandle,
        virtiofsd: Vec<(i64, ProcessHandle)>,
    ) {
        let boot = self.state.number;
        match qemu.exit_watcher() {
            Ok(exit) => {
                let me = myself.clone();
                let log = self.paths.qemu_log.clone();
                self.watchers.push(tokio::spawn(
                    async move {
                        let exit = exit.await;
                        let stderr = read_tail_async(&log, STDERR_TAIL).await.unwrap_or_default();
                        let stderr = String::from_utf8_lossy(&stderr).into_owned();
                        let _ = me.cast(VmMsg::Exited { boot, exit, stderr });
                    }
                    .in_current_span(),
                ));
            }
            Err(err) => warn!(%err, "cannot watch QEMU for its exit"),
        }
        for (share_id, daemon) in &virtiofsd {
            let share_id = *share_id;
            match daemon.exit_watcher() {
                Ok(exit) => {
                    let me = myself.clone();
                    self.watchers.push(tokio::spawn(
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
                Err(err) => warn!(%err, share_id, "cannot watch virtiofsd for its exit"),
            }
        }
        self.qemu = Some(qemu);
        self.virtiofsd = virtiofsd;
        self.connecting = true;
    }

    pub fn signal(&self, signal: Signal) {
        let Some(qemu) = &self.qemu else {
            return;
        };
        if let Err(err) = qemu.signal(signal) {
            warn!(pid = qemu.pid(), %err, ?signal, "cannot signal QEMU");
        }
    }

    pub fn share_pid(&self, share_id: i64) -> Option<u32> {
        self.virtiofsd
            .iter()
            .find(|(id, _)| *id == share_id)
            .map(|(_, daemon)| daemon.pid())
    }

    /// QEMU is gone: its virtiofsd children are asked to go too (they would
    /// on their own once QEMU disconnects), and the exit watchers stay on so
    /// that every child is reaped exactly once.
    pub fn end(mut self) {
        for (_, daemon) in &self.virtiofsd {
            let _ = daemon.signal(Signal::SIGTERM);
        }
        // Dropping a JoinHandle detaches its task.
        self.watchers.clear();
    }
}

impl Drop for Boot {
    /// The actor is going away with QEMU still there (a daemon that stops,
    /// an actor that failed): QEMU keeps running for the next actor or
    /// daemon to adopt, and whoever still waits hears why.
    fn drop(&mut self) {
        for task in self.watchers.iter().chain(&self.tasks) {
            task.abort();
        }
        let gone = || {
            WireError::unavailable(
                "the VM's actor stopped before QEMU answered (the daemon is exiting or recovering the VM); check with `crv vm show`",
            )
        };
        for reply in self.starts.drain(..).chain(self.resets.drain(..)) {
            let _ = reply.send(Err(gone()));
        }
    }
}
