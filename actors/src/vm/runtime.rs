//! What exists while a VM's QEMU runs: the process, its QMP session, its
//! virtiofsd children and the tasks that watch them.

use super::Origin;
use corvus_qemu::{ProcessHandle, QmpCommands, Signal};
use tokio::task::JoinHandle;
use tracing::warn;

/// What the actor asked of QEMU, so that its exit can be read correctly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// Nothing: an exit now is the guest's doing or a crash.
    Nothing,
    /// A graceful stop (`crv vm stop`, or the daemon stopping its VMs).
    Stop { origin: Option<Origin> },
    /// SIGTERM before the guest could boot (stop during `starting`).
    Terminate { origin: Origin },
    /// SIGKILL (`crv vm reset`).
    Kill { origin: Origin },
}

pub struct Runtime {
    /// Which boot this is; messages from an earlier boot are ignored.
    pub boot: u64,
    pub qemu: ProcessHandle,
    pub qmp: Option<QmpCommands>,
    /// (shared_dir id, its virtiofsd).
    pub virtiofsd: Vec<(i64, ProcessHandle)>,
    pub expected: Expected,
    /// The strongest signal sent so far, when a stop ran out of time.
    pub escalated: Option<Signal>,
    /// The SHUTDOWN event, if QEMU sent one: (guest initiated, reason).
    pub shutdown: Option<(bool, String)>,
    pub panicked: bool,
    /// Why the boot failed before QEMU exited (QMP never answered).
    pub boot_error: Option<String>,
    tasks: Vec<JoinHandle<()>>,
}

impl Runtime {
    pub fn new(boot: u64, qemu: ProcessHandle, virtiofsd: Vec<(i64, ProcessHandle)>) -> Runtime {
        Runtime {
            boot,
            qemu,
            qmp: None,
            virtiofsd,
            expected: Expected::Nothing,
            escalated: None,
            shutdown: None,
            panicked: false,
            boot_error: None,
            tasks: Vec::new(),
        }
    }

    pub fn watch(&mut self, task: JoinHandle<()>) {
        self.tasks.push(task);
    }

    pub fn signal(&self, signal: Signal) {
        if let Err(err) = self.qemu.signal(signal) {
            warn!(pid = self.qemu.pid(), %err, ?signal, "cannot signal QEMU");
        }
    }

    /// Asks every virtiofsd to go; they also exit on their own once QEMU is gone.
    pub fn stop_virtiofsd(&self) {
        for (_, daemon) in &self.virtiofsd {
            let _ = daemon.signal(Signal::SIGTERM);
        }
    }

    pub fn share_pid(&self, share_id: i64) -> Option<u32> {
        self.virtiofsd
            .iter()
            .find(|(id, _)| *id == share_id)
            .map(|(_, p)| p.pid())
    }
}

impl Drop for Runtime {
    /// The watching tasks end with the runtime; QEMU itself does not, so a
    /// daemon that stops leaves its VMs running.
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
