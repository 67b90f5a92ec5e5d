//! Opening a session: wait for the socket, read the greeting, negotiate.

use super::commands::{QemuVersion, QmpCommands};
use super::error::QmpError;
use super::events::{EVENT_BUFFER, QmpEvents};
use super::session::{Lines, MAX_LINE, Pending, spawn_reader, spawn_writer};
use futures::StreamExt;
use serde::Deserialize;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UnixStream;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::{broadcast, mpsc};
use tokio::time::{Instant, sleep, timeout_at};
use tokio_util::codec::{FramedRead, LinesCodec};

/// Between connection attempts. Small because VM start time includes it,
/// and a failed `connect(2)` on a Unix socket costs microseconds.
const RETRY_INTERVAL: Duration = Duration::from_millis(5);

/// Commands queued for the writer before `execute` waits.
const OUTGOING_QUEUE: usize = 32;

/// Connects to QEMU's QMP socket and returns the negotiated session.
///
/// The socket may not exist yet, or exist before QEMU listens on it (QEMU
/// binds, then listens); both are retried until `deadline`, after which the
/// last error is returned as [`QmpError::Connect`]. The greeting and the
/// negotiation must also finish before the deadline ([`QmpError::Timeout`]).
pub async fn connect(
    path: &Path,
    deadline: Duration,
) -> Result<(QmpCommands, QmpEvents), QmpError> {
    let until = Instant::now() + deadline;
    let stream = connect_socket(path, until).await?;
    let greeted = Greeted::read(stream, until).await?;
    greeted.negotiate(until).await
}

async fn connect_socket(path: &Path, until: Instant) -> Result<UnixStream, QmpError> {
    loop {
        match UnixStream::connect(path).await {
            Ok(stream) => return Ok(stream),
            Err(err) if not_there_yet(&err) && Instant::now() + RETRY_INTERVAL < until => {
                sleep(RETRY_INTERVAL).await;
            }
            Err(err) => return Err(QmpError::Connect(err)),
        }
    }
}

fn not_there_yet(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
    )
}

#[derive(Deserialize)]
struct Greeting {
    #[serde(rename = "QMP")]
    qmp: GreetingBody,
}

#[derive(Deserialize)]
struct GreetingBody {
    version: GreetingVersion,
}

#[derive(Deserialize)]
struct GreetingVersion {
    qemu: QemuVersion,
}

/// A connection that has received QEMU's greeting and is in capabilities
/// negotiation mode: the only thing it can do is [`Greeted::negotiate`].
struct Greeted {
    lines: Lines,
    write: OwnedWriteHalf,
    version: QemuVersion,
}

impl Greeted {
    async fn read(stream: UnixStream, until: Instant) -> Result<Greeted, QmpError> {
        let (read, write) = stream.into_split();
        let mut lines = FramedRead::new(read, LinesCodec::new_with_max_length(MAX_LINE));
        let line = match timeout_at(until, lines.next()).await {
            Err(_) => return Err(QmpError::Timeout),
            Ok(None) => return Err(QmpError::Closed),
            Ok(Some(Err(err))) => return Err(QmpError::Io(io::Error::other(err))),
            Ok(Some(Ok(line))) => line,
        };
        let greeting: Greeting = serde_json::from_str(&line)
            .map_err(|err| QmpError::Protocol(format!("not a QMP greeting ({err}): {line}")))?;
        Ok(Greeted {
            lines,
            write,
            version: greeting.qmp.version.qemu,
        })
    }

    /// Starts the session tasks and leaves negotiation mode. Out-of-band
    /// execution is not enabled: Corvus sends one command at a time per
    /// purpose and never needs to overtake a running one.
    async fn negotiate(self, until: Instant) -> Result<(QmpCommands, QmpEvents), QmpError> {
        let pending = Arc::new(Pending::open());
        // The receiver exists before the reader starts, so no event is lost.
        let (event_sender, event_receiver) = broadcast::channel(EVENT_BUFFER);
        let (outgoing, outgoing_receiver) = mpsc::channel(OUTGOING_QUEUE);
        spawn_reader(self.lines, pending.clone(), event_sender);
        spawn_writer(self.write, outgoing_receiver, pending.clone());

        let commands = QmpCommands::new(outgoing, pending, self.version);
        let remaining = until.saturating_duration_since(Instant::now());
        commands
            .clone()
            .with_timeout(remaining)
            .execute(qapi::qmp::qmp_capabilities { enable: None })
            .await?;
        Ok((commands, QmpEvents::new(event_receiver)))
    }
}
