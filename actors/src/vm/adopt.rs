//! At actor start: re-attaching to a QEMU that outlived an earlier daemon
//! (or an earlier actor), or finding it gone. The process checks are quick
//! reads of procfs; QMP is reached afterwards by a task, like any boot's.
//!
//! A QEMU is ours when it carries this VM's `corvus-vm-<id>` on its command
//! line and either this daemon's owner mark in its environment (see
//! `corvus_qemu::find_marked`) or, for one started before owner marks
//! existed, our runtime directory. It is found by the PID the database
//! recorded, or by the mark when the database lagged behind a crash, and
//! reached at the sockets its own command line names, wherever the runtime
//! directory is now.

use super::core::{Adoption, Input};
use super::{VmActorRef, VmActorState};
use corvus_qemu::cmdline::runtime_dir_of;
use corvus_qemu::{ProcessHandle, VmPaths, owner_mark_of, process_marker};

/// A live QEMU of this VM and its virtiofsd children.
pub struct Found {
    pub qemu: ProcessHandle,
    pub virtiofsd: Vec<(i64, ProcessHandle)>,
    /// The runtime directory its command line names.
    pub paths: VmPaths,
}

impl VmActorState {
    pub(super) fn adopt(&mut self, myself: &VmActorRef, found_pid: Option<u32>) {
        let recorded = self.info.pid.filter(|_| self.info.status.has_process());
        let candidates = recorded
            .into_iter()
            .chain(found_pid.filter(|pid| Some(*pid) != recorded));
        let mut why_not = None;
        let mut adoption = Adoption::Nothing;
        for pid in candidates {
            match self.find(pid) {
                Ok(found) => {
                    tracing::info!(pid, "re-adopting a running QEMU");
                    self.adopted = Some(found);
                    adoption = Adoption::Alive;
                    break;
                }
                Err(why) => why_not = Some(why),
            }
        }
        if adoption == Adoption::Nothing && self.info.status.has_process() {
            adoption = Adoption::Gone {
                why: why_not.unwrap_or_else(|| "no PID was recorded".into()),
            };
        }
        self.step(myself, Input::Adopted(adoption), None);
    }

    fn find(&self, pid: u32) -> Result<Found, String> {
        let qemu = ProcessHandle::adopt(pid, &process_marker(self.info.id))
            .map_err(|err| err.to_string())?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let ours = self.ctx.paths(self.info.id);
        let dir = runtime_dir_of(&cmdline);
        let owner = owner_mark_of(pid);
        let mine = match owner.as_deref() {
            Some(mark) => mark == self.ctx.owner_mark,
            // Started before owner marks: our runtime directory says it is ours.
            None => dir.as_ref() == Some(&ours.dir),
        };
        if !mine {
            return Err(format!(
                "process {pid} is another daemon's VM (its owner mark is {})",
                owner.as_deref().unwrap_or("absent")
            ));
        }
        let paths = dir.map(VmPaths::in_dir).unwrap_or(ours);
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
