//! At actor start: re-attaching to a QEMU that outlived an earlier daemon
//! (or an earlier actor), or finding it gone. The process checks are quick
//! reads of procfs; QMP is reached afterwards by a task, like any boot's.

use super::core::{Adoption, Input};
use super::{VmActorRef, VmActorState};
use corvus_qemu::cmdline::runtime_dir_of;
use corvus_qemu::{ProcessHandle, VmPaths, process_marker};

/// A live QEMU of this VM and its virtiofsd children.
pub struct Found {
    pub qemu: ProcessHandle,
    pub virtiofsd: Vec<(i64, ProcessHandle)>,
    /// The runtime directory its command line names.
    pub paths: VmPaths,
}

impl VmActorState {
    pub(super) fn adopt(&mut self, myself: &VmActorRef) {
        let adoption = if !self.info.status.has_process() {
            Adoption::Nothing
        } else {
            match self.find() {
                Ok(found) => {
                    tracing::info!(pid = found.qemu.pid(), "re-adopting a running QEMU");
                    self.adopted = Some(found);
                    Adoption::Alive
                }
                Err(why) => Adoption::Gone { why },
            }
        };
        self.step(myself, Input::Adopted(adoption), None);
    }

    fn find(&self) -> Result<Found, String> {
        let pid = self.info.pid.ok_or("no PID was recorded")?;
        let qemu = ProcessHandle::adopt(pid, &process_marker(self.info.id))
            .map_err(|err| err.to_string())?;
        // The marker names the VM id; the QMP socket on its command line
        // names the runtime directory of the daemon that started it.
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let ours = self.ctx.paths(self.info.id);
        let paths = match runtime_dir_of(&cmdline) {
            Some(dir) if dir == ours.dir => ours,
            _ => return Err(format!("process {pid} is another daemon's VM")),
        };
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
                    .map(|daemon| (share.id, daemon))
            })
            .collect();
        Ok(Found {
            qemu,
            virtiofsd,
            paths,
        })
    }
}
