//! Connections that turn into streams: event subscriptions and byte relays.
//! Either side may end a stream: the client with `Detach` or by leaving,
//! the daemon with `StreamEnd`.

use super::Services;
use super::connection::ServerConnection;
use super::dispatch::{Next, call};
use crate::supervisor::SupervisorMsg;
use crate::vm::{Attachment, Origin, VmCommand, VmReply, describe_channel};
use crate::wire::db;
use corvus_protocol::ErrorKind;
use corvus_protocol::{
    Channel, ClientMessage, Response, ServerMessage, SubscribeFilter, VmEvent, VmRef, WireError,
};
use corvus_storage::DbKind;
use futures::{SinkExt, StreamExt};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use tracing::debug;

const ATTACH_TIMEOUT: Duration = Duration::from_secs(15);
/// Stored events read per database query during a replay (`--since`), so
/// that a replay of a long history is never held whole.
const REPLAY_PAGE: u64 = 5000;
/// Bytes read from QEMU per Output frame.
const RELAY_CHUNK: usize = 16 * 1024;

pub enum Stream {
    Events {
        vm_ids: Vec<i64>,
        /// Events up to this one are not wanted (`--since`), even live ones.
        since: u64,
        /// Events older than memory holds, read from the database.
        stored: Option<StoredReplay>,
        /// Then those memory holds.
        replay: Vec<VmEvent>,
        live: Receiver<VmEvent>,
    },
    Relay {
        channel: Channel,
        attachment: Attachment,
    },
    /// A long disk job's progress, then its answer.
    Job(crate::disks::job::JobStream),
    /// A relay opened on the VM's own node (issue 19), passed through.
    Remote(Box<super::remote_stream::RemoteStream>),
}

/// The stored part of a replay: events in (since, before), the first page
/// already read (so that an unreachable database is a typed error, not a
/// stream that ends at once).
pub struct StoredReplay {
    first_page: Vec<VmEvent>,
    before: u64,
}

/// The ids of the VMs a subscription names: this node's by its actors,
/// and on PostgreSQL any other node's by its row (issue 19).
async fn resolve(services: &Services, vms: &[VmRef]) -> Result<Vec<i64>, WireError> {
    let asked = vms.to_vec();
    let here = call(
        services,
        |reply| SupervisorMsg::Resolve { vms: asked, reply },
        ATTACH_TIMEOUT,
    )
    .await?;
    let elsewhere = match &here {
        Err(err) if err.kind == ErrorKind::NotFound => {
            services.ctx.store.kind() == DbKind::Postgres
        }
        Ok(_) | Err(_) => false,
    };
    if !elsewhere {
        return here;
    }
    let mut ids = Vec::with_capacity(vms.len());
    for vm in vms {
        match db(services.ctx.store.locate_vm(vm)).await? {
            Some((id, _)) => ids.push(id),
            None => return here,
        }
    }
    Ok(ids)
}

impl Stream {
    pub async fn subscribe(filter: SubscribeFilter, services: &Services) -> Next {
        match Stream::open_subscription(filter, services).await {
            Ok(stream) => Next::Stream(stream),
            Err(err) => Next::Reply(Err(err)),
        }
    }

    async fn open_subscription(
        filter: SubscribeFilter,
        services: &Services,
    ) -> Result<Stream, WireError> {
        let vm_ids = resolve(services, &filter.vms).await?;
        // Subscribing and taking the in-memory replay happen at once, so the
        // live stream starts exactly where the replay ends.
        let subscription = services.ctx.bus.subscribe(filter.since);
        let stored = match (filter.since, subscription.stored_before) {
            (Some(since), Some(before)) => {
                let first_page = db(services.ctx.store.events_page(
                    since,
                    Some(before),
                    &vm_ids,
                    Some(REPLAY_PAGE),
                ))
                .await?;
                Some(StoredReplay { first_page, before })
            }
            _ => None,
        };
        let replay = subscription
            .replay
            .into_iter()
            .filter(|e| wanted(&vm_ids, e))
            .collect();
        Ok(Stream::Events {
            vm_ids,
            since: filter.since.unwrap_or(0),
            stored,
            replay,
            live: subscription.live,
        })
    }

    pub async fn attach(vm: VmRef, channel: Channel, origin: Origin, services: &Services) -> Next {
        let reply = call(
            services,
            |reply| SupervisorMsg::Forward {
                vm,
                command: VmCommand::Attach { channel },
                origin,
                reply,
            },
            ATTACH_TIMEOUT,
        )
        .await;
        match reply.and_then(|r| r) {
            Ok(VmReply::Attached(attachment)) => Next::Stream(Stream::Relay {
                channel,
                attachment,
            }),
            Ok(VmReply::Response(_)) => {
                Next::Reply(Err(WireError::internal("attach answered without a stream")))
            }
            Err(err) => Next::Reply(Err(err)),
        }
    }

    pub async fn run<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
        self,
        conn: ServerConnection<S>,
        id: u64,
        services: &Services,
    ) {
        match self {
            Stream::Events {
                vm_ids,
                since,
                stored,
                replay,
                live,
            } => {
                let replay = Replay {
                    since,
                    stored,
                    memory: replay,
                };
                events(conn, id, vm_ids, replay, live, services).await
            }
            Stream::Relay {
                channel,
                attachment,
            } => relay(conn, id, channel, attachment, &services.closing).await,
            Stream::Job(job) => super::disks::relay(conn, id, job).await,
            Stream::Remote(remote) => remote.run(conn, id, &services.closing).await,
        }
    }
}

fn wanted(vm_ids: &[i64], event: &VmEvent) -> bool {
    vm_ids.is_empty() || vm_ids.contains(&event.vm_id)
}

/// Watches the client's side: `Detach`, a close or garbage all end the stream.
fn watch_client<R>(mut incoming: R, id: u64) -> CancellationToken
where
    R: futures::Stream<Item = Result<ClientMessage, corvus_protocol::FrameError>>
        + Unpin
        + Send
        + 'static,
{
    let ended = CancellationToken::new();
    let token = ended.clone();
    tokio::spawn(async move {
        loop {
            match incoming.next().await {
                Some(Ok(ClientMessage::Detach)) | None | Some(Err(_)) => break,
                Some(Ok(other)) => debug!(
                    connection = id,
                    ?other,
                    "ignoring a message on an event stream"
                ),
            }
        }
        token.cancel();
    });
    ended
}

/// What a subscriber gets before the live events.
struct Replay {
    since: u64,
    stored: Option<StoredReplay>,
    memory: Vec<VmEvent>,
}

/// Sends the replay; returns the last seq sent, or `None` when the stream
/// is over (the client left, or the database failed mid-way).
async fn replay<K>(sink: &mut K, vm_ids: &[i64], replay: Replay, services: &Services) -> Option<u64>
where
    K: futures::Sink<ServerMessage> + Unpin,
{
    let mut last_seq = replay.since;
    if let Some(StoredReplay { first_page, before }) = replay.stored {
        let mut page = first_page;
        loop {
            let full = page.len() as u64 == REPLAY_PAGE;
            for event in page {
                last_seq = event.seq;
                sink.send(ServerMessage::Event(event)).await.ok()?;
            }
            if !full {
                break;
            }
            let next =
                services
                    .ctx
                    .store
                    .events_page(last_seq, Some(before), vm_ids, Some(REPLAY_PAGE));
            page = match db(next).await {
                Ok(page) => page,
                Err(err) => {
                    let reason = format!(
                        "the replay stopped: {}; resume with `crv events --since {last_seq}`",
                        WireError::from(err).message
                    );
                    let _ = sink.send(ServerMessage::StreamEnd { reason }).await;
                    return None;
                }
            };
        }
    }
    for event in replay.memory {
        last_seq = event.seq;
        sink.send(ServerMessage::Event(event)).await.ok()?;
    }
    Some(last_seq)
}

async fn events<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    conn: ServerConnection<S>,
    id: u64,
    vm_ids: Vec<i64>,
    replayed: Replay,
    mut live: Receiver<VmEvent>,
    services: &Services,
) {
    let _counted = services.ctx.metrics.subscriber();
    let (mut sink, incoming) = conn.split();
    if sink
        .send(ServerMessage::Reply(Ok(Response::Subscribed)))
        .await
        .is_err()
    {
        return;
    }
    // A live event at or below `since` (one that was just being published
    // when a client asked for later ones) is a duplicate for that client.
    let Some(mut last_seq) = replay(&mut sink, &vm_ids, replayed, services).await else {
        return;
    };
    let ended = watch_client(incoming, id);
    debug!(connection = id, "event stream open");
    loop {
        let message = tokio::select! {
            _ = ended.cancelled() => {
                let _ = sink.send(ServerMessage::StreamEnd { reason: "detached".into() }).await;
                return;
            }
            () = services.closing.cancelled() => ServerMessage::StreamEnd {
                reason: "the daemon is shutting down".into(),
            },
            received = live.recv() => match received {
                Ok(event) if event.seq > last_seq && wanted(&vm_ids, &event) => {
                    last_seq = event.seq;
                    ServerMessage::Event(event)
                }
                Ok(_) => continue,
                Err(RecvError::Lagged(missed)) => {
                    services.ctx.metrics.lagged(missed);
                    ServerMessage::Lagged { missed }
                }
                Err(RecvError::Closed) => ServerMessage::StreamEnd { reason: "the daemon is shutting down".into() },
            },
        };
        let last = matches!(message, ServerMessage::StreamEnd { .. });
        // A client that stops reading blocks only this task; the bus moves on
        // and tells it how much it missed once it reads again.
        tokio::select! {
            sent = sink.send(message) => if sent.is_err() || last { return },
            _ = ended.cancelled() => return,
        }
    }
}

async fn relay<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    conn: ServerConnection<S>,
    id: u64,
    channel: Channel,
    attachment: Attachment,
    closing: &CancellationToken,
) {
    let Attachment {
        stream,
        replay,
        lease,
    } = attachment;
    let (mut sink, mut incoming) = conn.split();
    if sink
        .send(ServerMessage::Reply(Ok(Response::Attached { replay })))
        .await
        .is_err()
    {
        return;
    }
    debug!(connection = id, %channel, "relay open");
    let (mut from_qemu, mut to_qemu) = stream.into_split();
    // Ends with `true` when the client detached or left, `false` when QEMU's
    // side broke.
    let to_qemu_task = tokio::spawn(async move {
        while let Some(Ok(message)) = incoming.next().await {
            match message {
                ClientMessage::Input(bytes) => {
                    if to_qemu.write_all(&bytes).await.is_err() {
                        return false;
                    }
                }
                ClientMessage::Detach => return true,
                ClientMessage::Hello { .. } | ClientMessage::Request(_) => {}
            }
        }
        true
    });
    let mut buffer = vec![0u8; RELAY_CHUNK];
    let mut to_qemu_task = to_qemu_task;
    let stopped = || format!("the {} closed: the VM stopped", describe_channel(channel));
    // What to tell the client (None: it is gone), and whether the input task ended.
    let (reason, task_done) = loop {
        tokio::select! {
            read = from_qemu.read(&mut buffer) => match read {
                Ok(0) | Err(_) => break (Some(stopped()), false),
                Ok(n) => {
                    if sink.send(ServerMessage::Output(buffer[..n].to_vec())).await.is_err() {
                        break (None, false);
                    }
                }
            },
            detached = &mut to_qemu_task => match detached {
                Ok(false) => break (Some(stopped()), true),
                Ok(true) | Err(_) => break (Some("detached".to_owned()), true),
            },
            () = closing.cancelled() => break (Some("the daemon is shutting down".to_owned()), false),
        }
    };
    if !task_done {
        to_qemu_task.abort();
        let _ = to_qemu_task.await;
    }
    // Close QEMU's socket and free the channel before saying so: a client
    // that waits for StreamEnd can attach again at once.
    drop(from_qemu);
    drop(lease);
    if let Some(reason) = reason {
        let _ = sink.send(ServerMessage::StreamEnd { reason }).await;
    }
    debug!(connection = id, %channel, "relay closed");
}
