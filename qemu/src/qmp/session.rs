//! The two tasks behind a QMP session. The reader is the only place that
//! reads the socket: it routes replies to the command waiting for them (by
//! `id`) and events to the event buffer, so neither can starve the other.
//! The writer is the only place that writes: a command whose caller gives up
//! mid-way can never leave half a line on the socket.

use super::events::QmpEvent;
use futures::StreamExt;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::io::AsyncWriteExt;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::codec::{FramedRead, LinesCodec};
use tracing::Instrument;

/// Longest line accepted from QEMU; `query-qmp-schema` is ~200 KiB.
pub(super) const MAX_LINE: usize = 16 << 20;

pub(super) type Lines = FramedRead<OwnedReadHalf, LinesCodec>;

/// QEMU's answer to one command: `return` or `error`.
pub(super) type Reply = Result<Value, Refusal>;

#[derive(Debug)]
pub(super) struct Refusal {
    pub class: String,
    pub desc: String,
}

/// Commands waiting for their reply. `None` once the session is over, so a
/// command issued after that fails at once instead of waiting for a timeout.
#[derive(Debug)]
pub(super) struct Pending(Mutex<Option<HashMap<u64, oneshot::Sender<Reply>>>>);

impl Pending {
    pub(super) fn open() -> Pending {
        Pending(Mutex::new(Some(HashMap::new())))
    }

    fn lock(&self) -> MutexGuard<'_, Option<HashMap<u64, oneshot::Sender<Reply>>>> {
        // A panic while holding this lock cannot leave the map inconsistent
        // (single insert/remove calls), so a poisoned lock is still usable.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// False when the session is already closed.
    pub(super) fn insert(&self, id: u64, waiter: oneshot::Sender<Reply>) -> bool {
        match self.lock().as_mut() {
            Some(map) => {
                map.insert(id, waiter);
                true
            }
            None => false,
        }
    }

    pub(super) fn remove(&self, id: u64) -> Option<oneshot::Sender<Reply>> {
        self.lock().as_mut().and_then(|map| map.remove(&id))
    }

    /// Ends the session: every waiter sees its reply channel drop.
    pub(super) fn close(&self) {
        self.lock().take();
    }
}

pub(super) fn spawn_writer(
    mut socket: OwnedWriteHalf,
    mut lines: mpsc::Receiver<Vec<u8>>,
    pending: Arc<Pending>,
) {
    tokio::spawn(
        async move {
            while let Some(line) = lines.recv().await {
                if let Err(err) = socket.write_all(&line).await {
                    tracing::warn!(error = %err, "QMP write failed");
                    break;
                }
            }
            // Either every command handle is gone or the socket broke; dropping
            // the write half shuts it down, and QEMU closes its side in turn.
            pending.close();
        }
        .in_current_span(),
    );
}

pub(super) fn spawn_reader(
    mut lines: Lines,
    pending: Arc<Pending>,
    events: broadcast::Sender<QmpEvent>,
) {
    tokio::spawn(
        async move {
            while let Some(line) = lines.next().await {
                match line {
                    Ok(line) => route(&line, &pending, &events),
                    Err(err) => {
                        tracing::warn!(error = %err, "QMP read failed");
                        break;
                    }
                }
            }
            pending.close();
            // Dropping `events` here ends the event stream after the buffer.
        }
        .in_current_span(),
    );
}

fn route(line: &str, pending: &Pending, events: &broadcast::Sender<QmpEvent>) {
    let message: Value = match serde_json::from_str(line) {
        Ok(message) => message,
        Err(err) => {
            tracing::warn!(error = %err, line, "QMP line is not JSON; ignored");
            return;
        }
    };
    if let Some(name) = message.get("event").and_then(Value::as_str) {
        // No receiver left is fine: nobody wants events any more.
        let _ = events.send(QmpEvent::from_json(name, message.get("data")));
        return;
    }
    let Some(reply) = reply_of(&message) else {
        tracing::warn!(line, "QMP message is neither reply nor event; ignored");
        return;
    };
    match message.get("id").and_then(Value::as_u64) {
        Some(id) => match pending.remove(id) {
            // The caller may have given up (timeout); that is fine.
            Some(waiter) => drop(waiter.send(reply)),
            None => tracing::debug!(id, "QMP reply nobody waits for"),
        },
        // QEMU answers without an id only when it could not parse the
        // request at all, which our writer never produces.
        None => tracing::warn!(line, "QMP reply without id; ignored"),
    }
}

fn reply_of(message: &Value) -> Option<Reply> {
    if let Some(value) = message.get("return") {
        return Some(Ok(value.clone()));
    }
    let error = message.get("error")?;
    let field = |key| {
        error
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    Some(Err(Refusal {
        class: field("class"),
        desc: field("desc"),
    }))
}
