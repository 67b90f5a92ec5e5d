//! The command half of a QMP session.

use super::error::QmpError;
use super::session::{Pending, Reply};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How long a command may wait for its reply unless told otherwise.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// QEMU's version from the greeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub struct QemuVersion {
    pub major: u32,
    pub minor: u32,
    pub micro: u32,
}

/// `query-status`, with the run state as QEMU's word (`running`, `paused`,
/// `shutdown`, `prelaunch`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RunStatus {
    pub running: bool,
    pub status: String,
}

/// `query-status` with a string status: qapi's typed `RunState` (which does
/// decode QEMU 7.2) would fail the whole reply on a state added by a later
/// QEMU, and the daemon only needs the word.
#[derive(Debug, Serialize)]
struct QueryStatus {}

impl qapi::Command for QueryStatus {
    type Ok = RunStatus;
    const NAME: &'static str = "query-status";
    const ALLOW_OOB: bool = false;
}

/// Sends commands; cheap to clone, and every clone shares the session.
/// When the last clone is dropped the session ends (QEMU sees the socket
/// close), which also ends the matching [`super::QmpEvents`].
#[derive(Debug, Clone)]
pub struct QmpCommands {
    outgoing: mpsc::Sender<Vec<u8>>,
    pending: Arc<Pending>,
    next_id: Arc<AtomicU64>,
    timeout: Duration,
    version: QemuVersion,
}

/// Forgets a waiting command when its caller stops waiting (timeout or a
/// dropped future), so an unanswered id does not stay in the map.
struct Waiting<'a> {
    pending: &'a Pending,
    id: u64,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.pending.remove(self.id);
    }
}

impl QmpCommands {
    pub(super) fn new(
        outgoing: mpsc::Sender<Vec<u8>>,
        pending: Arc<Pending>,
        version: QemuVersion,
    ) -> QmpCommands {
        QmpCommands {
            outgoing,
            pending,
            next_id: Arc::new(AtomicU64::new(1)),
            timeout: DEFAULT_COMMAND_TIMEOUT,
            version,
        }
    }

    /// The same session with another reply timeout for commands sent
    /// through the returned handle.
    pub fn with_timeout(mut self, timeout: Duration) -> QmpCommands {
        self.timeout = timeout;
        self
    }

    pub fn qemu_version(&self) -> QemuVersion {
        self.version
    }

    /// Runs a typed command (qapi's generated structs in `qapi::qmp`, or a
    /// local type implementing `qapi::Command`).
    pub async fn execute<C: qapi::Command>(&self, command: C) -> Result<C::Ok, QmpError> {
        let arguments = serde_json::to_value(&command).map_err(|err| {
            QmpError::Protocol(format!("cannot encode command {}: {err}", C::NAME))
        })?;
        let reply = self.execute_value(C::NAME, arguments).await?;
        serde_json::from_value(reply)
            .map_err(|err| QmpError::Protocol(format!("unexpected reply to {}: {err}", C::NAME)))
    }

    /// Runs a command by name with JSON arguments and returns the raw
    /// `return` value; for commands whose typed reply does not fit.
    pub async fn execute_value(&self, name: &str, arguments: Value) -> Result<Value, QmpError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut line = serde_json::to_vec(&json!({
            "execute": name,
            "arguments": arguments,
            "id": id,
        }))
        .map_err(|err| QmpError::Protocol(format!("cannot encode command {name}: {err}")))?;
        line.push(b'\n');

        let (waiter, reply) = oneshot::channel();
        if !self.pending.insert(id, waiter) {
            return Err(QmpError::Closed);
        }
        let _waiting = Waiting {
            pending: &self.pending,
            id,
        };
        let exchange = async {
            self.outgoing
                .send(line)
                .await
                .map_err(|_| QmpError::Closed)?;
            reply.await.map_err(|_| QmpError::Closed)
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok(reply)) => refused_or(reply),
            Ok(Err(err)) => Err(err),
            Err(_) => Err(QmpError::Timeout),
        }
    }

    pub async fn query_status(&self) -> Result<RunStatus, QmpError> {
        self.execute(QueryStatus {}).await
    }

    /// Pauses the VM; a `STOP` event follows.
    pub async fn stop(&self) -> Result<(), QmpError> {
        self.execute(qapi::qmp::stop {}).await.map(drop)
    }

    /// Resumes a paused VM; a `RESUME` event follows.
    pub async fn cont(&self) -> Result<(), QmpError> {
        self.execute(qapi::qmp::cont {}).await.map(drop)
    }

    /// Presses the ACPI power button; the guest decides what happens.
    pub async fn system_powerdown(&self) -> Result<(), QmpError> {
        self.execute(qapi::qmp::system_powerdown {}).await.map(drop)
    }

    /// Makes QEMU exit at once. The connection closing before the reply
    /// arrives counts as success: QEMU is going away, which was the point.
    pub async fn quit(&self) -> Result<(), QmpError> {
        match self.execute(qapi::qmp::quit {}).await {
            Ok(_) | Err(QmpError::Closed) => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// Runs an HMP command and returns its text output.
    pub async fn human_monitor_command(&self, command_line: &str) -> Result<String, QmpError> {
        self.execute(qapi::qmp::human_monitor_command {
            command_line: command_line.to_owned(),
            cpu_index: None,
        })
        .await
    }
}

fn refused_or(reply: Reply) -> Result<Value, QmpError> {
    reply.map_err(|refusal| QmpError::Refused {
        class: refusal.class,
        desc: refusal.desc,
    })
}
