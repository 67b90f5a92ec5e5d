//! Starting virtiofsd and waiting until QEMU can connect to it.

use super::readonly::run_with_readonly_dir;
use super::{Virtiofsd, VirtiofsdError};
use crate::process::{ProcessHandle, Signal, read_tail_async};
use corvus_protocol::ShareInfo;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use tokio::time::{Instant, sleep};
use tracing::Instrument;

/// Between readiness checks; virtiofsd is up in a few milliseconds.
const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// How much of virtiofsd's log an early-exit error quotes.
const LOG_TAIL: usize = 2048;

/// The `Flags` of a listening socket in `/proc/net/unix` (`__SO_ACCEPTCON`).
const LISTENING: &str = "00010000";

impl Virtiofsd {
    /// Starts virtiofsd for `share` on `socket`, its stderr in `log`, and
    /// returns once it listens. A virtiofsd serves one QEMU connection and
    /// exits when QEMU disconnects, so each boot needs a fresh one.
    pub async fn spawn(
        &self,
        socket: &Path,
        share: &ShareInfo,
        log: &Path,
        deadline: Duration,
    ) -> Result<ProcessHandle, VirtiofsdError> {
        let until = Instant::now() + deadline;
        if self.needs_readonly_mount(share) && !rustix::process::geteuid().is_root() {
            return Err(VirtiofsdError::ReadOnlyUnsupported {
                binary: self.binary.clone(),
            });
        }
        match tokio::fs::remove_file(socket).await {
            Err(err) if err.kind() != io::ErrorKind::NotFound => {
                return Err(VirtiofsdError::StaleSocket {
                    path: socket.to_owned(),
                    source: err,
                });
            }
            _ => {}
        }
        let spawn_error = |source| VirtiofsdError::Spawn {
            binary: self.binary.clone(),
            source,
        };
        let mut command = Command::new(&self.binary);
        command.args(self.args(socket, share));
        if self.needs_readonly_mount(share) {
            run_with_readonly_dir(&mut command, &share.path).map_err(spawn_error)?;
        }
        let handle = ProcessHandle::spawn_command(command, log).map_err(spawn_error)?;
        let guard = KillUnlessReady(&handle);

        loop {
            if listening(socket).await {
                guard.ready();
                return Ok(handle);
            }
            if !handle.is_alive() {
                guard.ready(); // exited by itself; reaped right here
                let status = match handle.exit_watcher() {
                    Ok(exit) => exit.await,
                    Err(_) => crate::process::ExitInfo::UNKNOWN,
                };
                let log = read_tail_async(log, LOG_TAIL).await.unwrap_or_default();
                return Err(VirtiofsdError::Exited {
                    status,
                    log: String::from_utf8_lossy(&log).trim().to_owned(),
                });
            }
            if Instant::now() >= until {
                drop(guard);
                return Err(VirtiofsdError::Timeout {
                    socket: socket.to_owned(),
                    deadline,
                });
            }
            sleep(POLL_INTERVAL).await;
        }
    }
}

/// Kills a virtiofsd that is not known to listen yet when the wait fails
/// or its future is dropped, and reaps it in the background, rather than
/// leaving it waiting for a QEMU that will never come.
struct KillUnlessReady<'a>(&'a ProcessHandle);

impl KillUnlessReady<'_> {
    fn ready(self) {
        std::mem::forget(self);
    }
}

impl Drop for KillUnlessReady<'_> {
    fn drop(&mut self) {
        let handle = self.0;
        if let Err(err) = handle.signal(Signal::SIGKILL) {
            tracing::warn!(pid = handle.pid(), error = %err, "cannot kill virtiofsd");
        }
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        if let Ok(exit) = handle.exit_watcher() {
            tokio::spawn(exit.in_current_span());
        }
    }
}

/// The socket file appears at `bind(2)`, a moment before `listen(2)`; a
/// connection in between is refused, and QEMU does not retry. The kernel's
/// socket table tells the two apart without connecting (a test connection
/// would use up the C virtiofsd, which serves exactly one).
async fn listening(socket: &Path) -> bool {
    if tokio::fs::symlink_metadata(socket).await.is_err() {
        return false;
    }
    match tokio::fs::read(Path::new("/proc/net/unix")).await {
        Ok(table) => socket_state(&table, socket.as_os_str().as_bytes()) != Some(false),
        // No table to ask: the file existing is the best sign there is.
        Err(_) => true,
    }
}

/// `Some(listening)` for the socket bound at `path` in a `/proc/net/unix`
/// table, `None` when the table does not list it (a socket bound in another
/// network namespace, say; then we cannot tell and assume it is ready).
fn socket_state(table: &[u8], path: &[u8]) -> Option<bool> {
    let mut found = None;
    for line in table.split(|&byte| byte == b'\n').skip(1) {
        // Num RefCount Protocol Flags Type St Inode Path
        let mut fields = line.splitn(8, |&byte| byte == b' ');
        let flags = fields.nth(3);
        if fields.nth(3) == Some(path) {
            let listening = flags == Some(LISTENING.as_bytes());
            found = Some(found.unwrap_or(false) || listening);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::socket_state;

    const TABLE: &[u8] = b"Num       RefCount Protocol Flags    Type St Inode Path
0000000087a29a7b: 00000002 00000000 00010000 0001 01 20933 /run/corvus/1/virtiofsd-a.sock
0000000012345678: 00000002 00000000 00000000 0001 01 20934 /run/corvus/1/virtiofsd-b c.sock
0000000012345679: 00000003 00000000 00000000 0001 03 20935
";

    #[test]
    fn the_socket_table_tells_bound_from_listening() {
        assert_eq!(
            socket_state(TABLE, b"/run/corvus/1/virtiofsd-a.sock"),
            Some(true)
        );
        assert_eq!(
            socket_state(TABLE, b"/run/corvus/1/virtiofsd-b c.sock"),
            Some(false)
        );
        assert_eq!(socket_state(TABLE, b"/run/corvus/1/other.sock"), None);
    }
}
