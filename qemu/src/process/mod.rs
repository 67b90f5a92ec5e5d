//! QEMU and virtiofsd processes, held through a pidfd so that a signal can
//! never reach a stranger that inherited a recycled PID.
//!
//! Processes run in their own process group: they outlive the daemon
//! (DESIGN §4, the unit uses `KillMode=process`) and a Ctrl+C in the
//! daemon's terminal does not reach them.

mod adopt;
mod exit;
mod marked;
mod tail;

pub use adopt::AdoptError;
pub use exit::ExitInfo;
pub use marked::{OWNER_VARIABLE, find_marked, owner_mark_of};
pub use nix::sys::signal::Signal;
pub use tail::{read_tail, read_tail_async};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, pidfd_open, pidfd_send_signal};
use std::ffi::OsString;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// A running (or exited, not yet reaped) process.
///
/// Dropping the handle leaves the process running. For a child, exactly one
/// [`ProcessHandle::exit_watcher`] should run to completion, or the exited
/// process stays a zombie until the daemon exits.
#[derive(Debug)]
pub struct ProcessHandle {
    pidfd: OwnedFd,
    pid: u32,
    /// Only our own children can be reaped and report an exit status.
    child: bool,
}

impl ProcessHandle {
    /// Starts `binary` with `args` (no shell), stdin and stdout on
    /// `/dev/null`, stderr into `stderr_log`, truncated first so that the file
    /// explains this run only.
    ///
    /// This is synchronous like `tokio::process::Command::spawn`: a file
    /// creation and a fork/exec, both short, and no waiting on the child.
    /// The std `Command` is used on purpose: tokio's would reap the child
    /// itself and steal the exit status from [`ProcessHandle::exit_watcher`].
    pub fn spawn(binary: &Path, args: &[OsString], stderr_log: &Path) -> io::Result<ProcessHandle> {
        Self::spawn_marked(binary, args, &[], stderr_log)
    }

    /// [`ProcessHandle::spawn`] with extra environment variables, such as
    /// the owner mark that [`find_marked`] looks for.
    pub fn spawn_marked(
        binary: &Path,
        args: &[OsString],
        env: &[(&str, &str)],
        stderr_log: &Path,
    ) -> io::Result<ProcessHandle> {
        let mut command = Command::new(binary);
        command.args(args);
        command.envs(env.iter().copied());
        Self::spawn_command(command, stderr_log)
    }

    /// Spawns a prepared command with the standard treatment (own process
    /// group, null stdin/stdout, stderr to a fresh log).
    pub(crate) fn spawn_command(
        mut command: Command,
        stderr_log: &Path,
    ) -> io::Result<ProcessHandle> {
        // Never through a symbolic link: the daemon (often root) would
        // truncate whatever it points at.
        let log = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(stderr_log)?;
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0);
        let mut child = command.spawn()?;
        let pid = child.id();
        // The child is not reaped before we open the pidfd (nothing waits on
        // it yet), so this PID cannot have been recycled in between.
        match open_pidfd(pid) {
            Ok(pidfd) => Ok(ProcessHandle {
                pidfd,
                pid,
                child: true,
            }),
            Err(err) => {
                // Without a pidfd we could never signal or reap it safely.
                let _ = child.kill();
                let _ = child.wait();
                Err(err)
            }
        }
    }

    /// Re-attaches to a process started by an earlier daemon (or by an
    /// earlier actor of this one) if its command line contains `marker` as a
    /// whole word: `corvus-vm-1` does not match `corvus-vm-12`. The strictest
    /// marker is `process=corvus-vm-<id>` (see [`process_marker`]).
    ///
    /// The pidfd is opened first and the process is checked to be alive
    /// after reading its command line: if the PID was recycled in between,
    /// the pidfd refers to the exited original and the answer is `Gone`, so
    /// a recycled PID can never be adopted and signalled.
    ///
    /// When the process is still this daemon's child (a VM actor restarted
    /// by its supervisor), the handle can reap it and report its exit
    /// status; an exited child is reaped here, as no one else would.
    ///
    /// [`process_marker`]: crate::process_marker
    pub fn adopt(pid: u32, marker: &str) -> Result<ProcessHandle, AdoptError> {
        adopt::adopt(pid, marker)
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether this daemon started the process (and so can learn its status).
    pub fn is_child(&self) -> bool {
        self.child
    }

    /// Sends `sig` through the pidfd. A process that has already exited is
    /// not an error: the caller wanted it gone and it is.
    pub fn signal(&self, sig: Signal) -> io::Result<()> {
        let sig = rustix::process::Signal::from_named_raw(sig as i32)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "unknown signal"))?;
        match pidfd_send_signal(&self.pidfd, sig) {
            Ok(()) | Err(Errno::SRCH) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    /// Leaves the process to end on its own and reaps it when it does, in
    /// the background (so that it never lingers as a zombie). Without a
    /// tokio runtime (the daemon is exiting) the process is left to init.
    pub fn reap_in_background(self) {
        if tokio::runtime::Handle::try_current().is_err() || !self.child {
            return;
        }
        match self.exit_watcher() {
            Ok(exit) => {
                tokio::spawn(exit);
            }
            Err(err) => tracing::warn!(pid = self.pid, error = %err, "cannot reap process"),
        }
    }

    /// SIGKILL, then [`ProcessHandle::reap_in_background`]: for processes
    /// that must not outlive a failed or abandoned start.
    pub fn kill_and_reap(self) {
        if let Err(err) = self.signal(Signal::SIGKILL) {
            tracing::warn!(pid = self.pid, error = %err, "cannot kill process");
        }
        self.reap_in_background();
    }

    /// False once the process has exited, even if it is not reaped yet.
    /// Never blocks: a pidfd polls readable exactly when its process is gone.
    pub fn is_alive(&self) -> bool {
        let mut fds = [PollFd::new(&self.pidfd, PollFlags::IN)];
        let now = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        loop {
            match poll(&mut fds, Some(&now)) {
                Ok(ready) => return ready == 0,
                Err(Errno::INTR) => continue,
                // EBADF and friends cannot happen on an owned pidfd; if they
                // did, claiming "alive" keeps the caller watching for the exit.
                Err(_) => return true,
            }
        }
    }
}

fn open_pidfd(pid: u32) -> io::Result<OwnedFd> {
    let pid = i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "invalid PID"))?;
    Ok(pidfd_open(pid, PidfdFlags::empty())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_planted_as_a_symlink_is_refused_and_its_target_untouched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("precious");
        std::fs::write(&target, b"keep me").expect("write");
        let log = dir.path().join("qemu.log");
        std::os::unix::fs::symlink(&target, &log).expect("symlink");
        let err = ProcessHandle::spawn(Path::new("/bin/true"), &[], &log).unwrap_err();
        assert_eq!(
            err.raw_os_error(),
            Some(rustix::io::Errno::LOOP.raw_os_error())
        );
        assert_eq!(std::fs::read(&target).expect("read"), b"keep me");
    }
}
