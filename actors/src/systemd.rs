//! What systemd hands the daemon: a notification socket (`Type=notify`) and
//! listening sockets (socket activation).
//!
//! Both arrive as environment variables, which every child would inherit:
//! a QEMU that found `NOTIFY_SOCKET` or `LISTEN_FDS` could confuse systemd
//! about the daemon's state. So [`Handoff::take_from_env`] reads them once,
//! at the start of `main`, and removes them. `sd-notify` reads the
//! activation variables and formats the notifications; sending is done here
//! because the crate looks `NOTIFY_SOCKET` up in the environment each time.

use sd_notify::NotifyState;
use std::ffi::OsString;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::Arc;
use tracing::{debug, warn};

const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";
const ACTIVATION: [&str; 3] = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"];

/// What systemd passed to this process.
#[derive(Debug, Default)]
pub struct Handoff {
    pub notifier: Notifier,
    /// Sockets from socket activation, in the order of the `.socket` unit.
    pub listen_fds: Vec<OwnedFd>,
    /// Why the passed sockets could not be taken, for the log once it exists.
    pub listen_error: Option<String>,
}

impl Handoff {
    /// Takes the notification socket and the activation sockets out of the
    /// environment.
    ///
    /// # Safety
    ///
    /// Calls [`std::env::remove_var`]: no other thread may exist yet (call
    /// it first in `main`, before any runtime starts).
    pub unsafe fn take_from_env() -> Handoff {
        let notify = std::env::var_os(NOTIFY_SOCKET).filter(|path| !path.is_empty());
        let (listen_fds, listen_error) = match sd_notify::listen_fds() {
            // SAFETY: LISTEN_PID names this process, so systemd (or whoever
            // started it) passed these descriptors to it and nothing else in
            // the process has claimed them; each is wrapped exactly once.
            Ok(fds) => (
                fds.map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }).collect(),
                None,
            ),
            Err(err) => (Vec::new(), Some(err.to_string())),
        };
        for name in std::iter::once(NOTIFY_SOCKET).chain(ACTIVATION) {
            // SAFETY: the caller guarantees that no other thread exists, so
            // nothing reads the environment concurrently.
            unsafe { std::env::remove_var(name) };
        }
        Handoff {
            notifier: Notifier(notify.map(Arc::new)),
            listen_fds,
            listen_error,
        }
    }
}

/// Sends state notifications to systemd; does nothing when the daemon was
/// not started with `NOTIFY_SOCKET`.
#[derive(Debug, Clone, Default)]
pub struct Notifier(Option<Arc<OsString>>);

impl Notifier {
    /// A line for `systemctl status`: what the daemon is doing now.
    pub fn status(&self, text: &str) {
        self.send(&[NotifyState::Status(&one_line(text))]);
    }

    /// The daemon serves clients: `systemctl start` returns.
    pub fn ready(&self, text: &str) {
        self.send(&[NotifyState::Ready, NotifyState::Status(&one_line(text))]);
    }

    /// The daemon has begun to shut down.
    pub fn stopping(&self, text: &str) {
        self.send(&[NotifyState::Stopping, NotifyState::Status(&one_line(text))]);
    }

    fn send(&self, states: &[NotifyState]) {
        let Some(path) = &self.0 else {
            return;
        };
        let message: String = states.iter().map(|state| format!("{state}\n")).collect();
        debug!(message = message.trim_end(), "notifying systemd");
        if let Err(err) = send_datagram(path, message.as_bytes()) {
            warn!(socket = %path.to_string_lossy(), %err, "cannot notify systemd");
        }
    }
}

/// A notification is one datagram; `@name` is a socket in the abstract
/// namespace, as sd_notify(3) describes.
fn send_datagram(path: &OsString, message: &[u8]) -> std::io::Result<()> {
    let socket = UnixDatagram::unbound()?;
    match path.as_bytes().strip_prefix(b"@") {
        Some(name) => socket.send_to_addr(message, &SocketAddr::from_abstract_name(name)?)?,
        None => socket.send_to(message, path)?,
    };
    Ok(())
}

/// The protocol is line-based: a newline in a status would end it early.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_are_datagrams_of_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let receiver = UnixDatagram::bind(&path).unwrap();
        let notifier = Notifier(Some(Arc::new(path.into_os_string())));
        notifier.status("migrating\nthe database");
        notifier.ready("serving");
        let mut buffer = [0u8; 256];
        let n = receiver.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..n], b"STATUS=migrating the database\n");
        let n = receiver.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..n], b"READY=1\nSTATUS=serving\n");
    }

    #[test]
    fn an_at_sign_names_an_abstract_socket() {
        let name = format!("corvus-test-notify-{}", std::process::id());
        let receiver =
            UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(&name).unwrap()).unwrap();
        Notifier(Some(Arc::new(format!("@{name}").into()))).stopping("bye");
        let mut buffer = [0u8; 64];
        let n = receiver.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..n], b"STOPPING=1\nSTATUS=bye\n");
    }

    #[test]
    fn without_a_socket_nothing_is_sent() {
        Notifier::default().ready("serving");
    }
}
