//! Waiting for a process to exit without blocking a runtime thread.

use super::ProcessHandle;
use rustix::io::Errno;
use rustix::process::{WaitId, WaitIdOptions, WaitIdStatus, waitid};
use std::fmt;
use std::future::Future;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// How a process ended. Both fields are `None` when it was not our child
/// (adopted after a daemon restart): only the parent can learn the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitInfo {
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

impl ExitInfo {
    pub const UNKNOWN: ExitInfo = ExitInfo {
        code: None,
        signal: None,
    };

    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    fn from_status(status: WaitIdStatus) -> ExitInfo {
        ExitInfo {
            code: status.exit_status(),
            signal: status.terminating_signal(),
        }
    }
}

impl fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.signal) {
            (_, Some(signal)) => {
                let name = nix::sys::signal::Signal::try_from(signal)
                    .map(|sig| sig.as_str())
                    .unwrap_or("unknown");
                write!(f, "killed by signal {signal} ({name})")
            }
            (Some(code), None) => write!(f, "exited with status {code}"),
            (None, None) => {
                f.write_str("exited with an unknown status (not started by this daemon)")
            }
        }
    }
}

impl ProcessHandle {
    /// A future that resolves when the process exits, reaping it if it is
    /// our child. It owns a duplicate of the pidfd, so it may outlive the
    /// handle and be spawned as a task.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (the pidfd is registered with its reactor).
    pub fn exit_watcher(&self) -> io::Result<impl Future<Output = ExitInfo> + Send + 'static> {
        let pidfd = rustix::io::fcntl_dupfd_cloexec(&self.pidfd, 0)?;
        // SAFETY: an OwnedFd stays open and keeps its number for as long as
        // the AsyncFd owns it, which is all `register` asks.
        let pidfd = unsafe { AsyncFd::register_with_interest(pidfd, Interest::READABLE) }?;
        let child = self.child;
        let pid = self.pid;
        Ok(async move { wait_for_exit(pidfd, child, pid).await })
    }
}

async fn wait_for_exit(pidfd: AsyncFd<OwnedFd>, child: bool, pid: u32) -> ExitInfo {
    loop {
        let mut guard = match pidfd.readable().await {
            Ok(guard) => guard,
            Err(err) => {
                tracing::warn!(pid, error = %err, "cannot watch process exit");
                return ExitInfo::UNKNOWN;
            }
        };
        if !child {
            return ExitInfo::UNKNOWN;
        }
        // Readable means exited, so WNOHANG returns at once with the status.
        match reap(pidfd.get_ref()) {
            Ok(Some(info)) => return info,
            Ok(None) => guard.clear_ready(),
            Err(err) => {
                // ECHILD: something else reaped it (a second watcher).
                tracing::warn!(pid, error = %err, "cannot reap process");
                return ExitInfo::UNKNOWN;
            }
        }
    }
}

/// `waitid(P_PIDFD, WEXITED | WNOHANG)`: `None` while the process runs.
pub(super) fn reap(pidfd: &OwnedFd) -> io::Result<Option<ExitInfo>> {
    loop {
        let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG;
        match waitid(WaitId::PidFd(pidfd.as_fd()), options) {
            Ok(status) => return Ok(status.map(ExitInfo::from_status)),
            Err(Errno::INTR) => continue,
            Err(err) => return Err(err.into()),
        }
    }
}

/// Whether the pidfd's process is a child of this process (only a child
/// can be waited for; anything else is `ECHILD`).
pub(super) fn is_our_child(pidfd: &OwnedFd) -> bool {
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
    loop {
        match waitid(WaitId::PidFd(pidfd.as_fd()), options) {
            Err(Errno::INTR) => continue,
            result => return result.is_ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_like_sentences() {
        let exited = ExitInfo {
            code: Some(1),
            signal: None,
        };
        assert_eq!(exited.to_string(), "exited with status 1");
        assert!(!exited.success());
        let killed = ExitInfo {
            code: None,
            signal: Some(9),
        };
        assert_eq!(killed.to_string(), "killed by signal 9 (SIGKILL)");
        assert_eq!(
            ExitInfo::UNKNOWN.to_string(),
            "exited with an unknown status (not started by this daemon)"
        );
        assert!(
            ExitInfo {
                code: Some(0),
                signal: None
            }
            .success()
        );
    }
}
