//! A client of the QEMU guest agent (qemu-ga) over the VM's `qga.sock`.
//!
//! The agent's channel is a virtio-serial port: it has no greeting, no
//! command ids and no events, and it keeps whatever a client that gave up
//! left in it (a late reply, half a command). So every exchange starts
//! with `guest-sync-delimited`: a 0xFF byte resets the agent's parser, the
//! agent answers with 0xFF and the random id we sent, and everything read
//! before that id is stale and dropped. One exchange at a time: the owner
//! holds the [`QgaChannel`] mutably for each. Commands use qapi's generated
//! `qga` types; every exchange has a deadline, after which the channel is
//! still usable (the next sync skips the late reply).

#[cfg(test)]
mod tests;

use serde_json::{Value, json};
use std::io;
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::time::{Instant, sleep, timeout_at};

/// The agent's resynchronisation marker, before its answer to a sync.
const DELIMITER: u8 = 0xFF;
/// Longest reply line accepted; `guest-exec-status` carries at most 16 MiB
/// of output per stream, base64-encoded.
const MAX_LINE: usize = 48 << 20;
const RETRY_INTERVAL: Duration = Duration::from_millis(50);

#[derive(Debug, thiserror::Error)]
pub enum QgaError {
    #[error("Cannot connect to the guest agent's socket")]
    Connect(#[source] io::Error),
    #[error("The guest agent's channel failed")]
    Io(#[source] io::Error),
    #[error("The guest agent did not answer in time")]
    Timeout,
    #[error("The guest agent's channel is closed")]
    Closed,
    #[error("Unexpected message from the guest agent: {0}")]
    Protocol(String),
    /// The agent answered with an error: the channel is fine.
    #[error("The guest agent refused the command: {desc} ({class})")]
    Refused { class: String, desc: String },
}

/// An open channel to one VM's agent.
pub struct QgaChannel {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl QgaChannel {
    /// Connects to the chardev QEMU serves, retrying until `deadline` while
    /// QEMU has not created it yet. Connecting says nothing about the agent
    /// itself: only [`QgaChannel::sync`] does.
    pub async fn connect(path: &Path, deadline: Duration) -> Result<QgaChannel, QgaError> {
        let until = Instant::now() + deadline;
        loop {
            match UnixStream::connect(path).await {
                Ok(stream) => {
                    let (read, writer) = stream.into_split();
                    return Ok(QgaChannel {
                        reader: BufReader::new(read),
                        writer,
                    });
                }
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
                    ) && Instant::now() + RETRY_INTERVAL < until =>
                {
                    sleep(RETRY_INTERVAL).await;
                }
                Err(err) => return Err(QgaError::Connect(err)),
            }
        }
    }

    /// Resets the agent's parser and waits for it to echo a fresh id,
    /// dropping whatever an earlier exchange left behind.
    pub async fn sync(&mut self, timeout: Duration) -> Result<(), QgaError> {
        let until = Instant::now() + timeout;
        let id = i64::from(sync_id());
        let mut request = vec![DELIMITER];
        request.extend(line("guest-sync-delimited", json!({ "id": id }))?);
        self.write(&request, until).await?;
        loop {
            self.skip_to_delimiter(until).await?;
            let reply = self.read_line(until).await?;
            match reply.get("return").and_then(Value::as_i64) {
                Some(echoed) if echoed == id => return Ok(()),
                // An older sync's echo: keep looking for ours.
                _ => continue,
            }
        }
    }

    /// Runs a typed command (qapi's `qga` structs) after a sync; `timeout`
    /// covers both.
    pub async fn execute<C: qapi::Command>(
        &mut self,
        command: C,
        timeout: Duration,
    ) -> Result<C::Ok, QgaError> {
        let until = Instant::now() + timeout;
        self.sync(until.saturating_duration_since(Instant::now()))
            .await?;
        self.write(&request_line(&command)?, until).await?;
        let reply = self.read_line(until).await?;
        let value = returned(reply)?;
        serde_json::from_value(value)
            .map_err(|err| QgaError::Protocol(format!("unexpected reply to {}: {err}", C::NAME)))
    }

    /// Sends a command the agent answers only when it fails
    /// (`guest-shutdown`): an error within `patience` is returned; silence
    /// means the agent took it.
    pub async fn execute_unanswered<C: qapi::Command>(
        &mut self,
        command: C,
        timeout: Duration,
        patience: Duration,
    ) -> Result<(), QgaError> {
        let until = Instant::now() + timeout;
        self.sync(until.saturating_duration_since(Instant::now()))
            .await?;
        self.write(&request_line(&command)?, until).await?;
        match self.read_line(Instant::now() + patience).await {
            Ok(reply) => returned(reply).map(drop),
            Err(QgaError::Timeout) => Ok(()),
            // The guest powering off closes nothing on our side, but a
            // QEMU already exiting does: the command did its job.
            Err(QgaError::Closed) => Ok(()),
            Err(err) => Err(err),
        }
    }

    async fn write(&mut self, bytes: &[u8], until: Instant) -> Result<(), QgaError> {
        match timeout_at(until, self.writer.write_all(bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(QgaError::Io(err)),
            Err(_) => Err(QgaError::Timeout),
        }
    }

    async fn skip_to_delimiter(&mut self, until: Instant) -> Result<(), QgaError> {
        let mut skipped = Vec::new();
        match timeout_at(until, self.reader.read_until(DELIMITER, &mut skipped)).await {
            Ok(Ok(0)) => Err(QgaError::Closed),
            Ok(Ok(_)) if skipped.last() == Some(&DELIMITER) => Ok(()),
            Ok(Ok(_)) => Err(QgaError::Closed),
            Ok(Err(err)) => Err(QgaError::Io(err)),
            Err(_) => Err(QgaError::Timeout),
        }
    }

    /// The next JSON line, skipping blank ones.
    async fn read_line(&mut self, until: Instant) -> Result<Value, QgaError> {
        loop {
            let mut raw = Vec::new();
            let read = timeout_at(until, async {
                let mut limited = (&mut self.reader).take(MAX_LINE as u64);
                limited.read_until(b'\n', &mut raw).await
            })
            .await;
            match read {
                Err(_) => return Err(QgaError::Timeout),
                Ok(Err(err)) => return Err(QgaError::Io(err)),
                Ok(Ok(0)) => return Err(QgaError::Closed),
                Ok(Ok(_)) => {}
            }
            let text = String::from_utf8_lossy(&raw);
            // A delimiter may precede a line (the echo of a sync).
            let text = text.trim_matches(|c: char| c.is_whitespace() || c == '\u{FFFD}');
            if text.is_empty() {
                continue;
            }
            return serde_json::from_str(text)
                .map_err(|err| QgaError::Protocol(format!("not JSON ({err}): {text}")));
        }
    }
}

fn sync_id() -> u32 {
    // Time-derived is enough: the id only has to differ from the last few.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32).rotate_left(13))
        .unwrap_or(0x5eed);
    nanos & 0x7fff_ffff
}

fn line(name: &str, arguments: Value) -> Result<Vec<u8>, QgaError> {
    let mut bytes = serde_json::to_vec(&json!({ "execute": name, "arguments": arguments }))
        .map_err(|err| QgaError::Protocol(format!("cannot encode {name}: {err}")))?;
    bytes.push(b'\n');
    Ok(bytes)
}

fn request_line<C: qapi::Command>(command: &C) -> Result<Vec<u8>, QgaError> {
    let arguments = serde_json::to_value(command)
        .map_err(|err| QgaError::Protocol(format!("cannot encode {}: {err}", C::NAME)))?;
    line(C::NAME, arguments)
}

fn returned(reply: Value) -> Result<Value, QgaError> {
    if let Some(value) = reply.get("return") {
        return Ok(value.clone());
    }
    match reply.get("error") {
        Some(error) => {
            let field = |key| {
                error
                    .get(key)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            Err(QgaError::Refused {
                class: field("class"),
                desc: field("desc"),
            })
        }
        None => Err(QgaError::Protocol(format!(
            "neither a return nor an error: {reply}"
        ))),
    }
}
