//! Disk requests: quick ones go to the DiskService through the supervisor
//! like any request; long jobs (import, clone) turn the connection into a
//! job stream — `Progress` frames, then the job's one `Reply`. A client
//! that detaches or leaves cancels its job, which removes what it wrote.

use super::Services;
use super::connection::ServerConnection;
use super::dispatch::{Next, call};
use super::stream::Stream;
use crate::disks::{DiskMsg, DiskRequest, JobRequest, job};
use crate::supervisor::SupervisorMsg;
use crate::vm::Origin;
use corvus_protocol::{ClientMessage, Response, ServerMessage, WireError};
use futures::{SinkExt, StreamExt};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tracing::debug;

/// qemu-img runs behind most of these; a resize or a snapshot of a large
/// image can take a while.
const DISK_TIMEOUT: Duration = Duration::from_secs(120);

pub async fn request(
    services: &Services,
    request: DiskRequest,
    origin: Origin,
) -> Result<Response, WireError> {
    call(
        services,
        |reply| {
            SupervisorMsg::Disk(DiskMsg::Request {
                request,
                origin,
                reply,
            })
        },
        DISK_TIMEOUT,
    )
    .await?
}

/// Starts a long job; the connection then streams it.
pub fn start_job(services: &Services, request: JobRequest) -> Next {
    let (channel, stream) = job::open();
    let message = SupervisorMsg::Disk(DiskMsg::Job { request, channel });
    if services.supervisor.cast(message).is_err() {
        return Next::Reply(Err(WireError::unavailable("the daemon is shutting down")));
    }
    Next::Stream(Stream::Job(stream))
}

/// Relays a job's progress until its answer; a client that detaches or
/// leaves cancels it, and still gets the answer if it is there to read it.
pub async fn relay<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    conn: ServerConnection<S>,
    id: u64,
    job: job::JobStream,
) {
    let job::JobStream {
        mut progress,
        cancel,
        mut done,
    } = job;
    // The job is cancelled however this task ends.
    let _cancel_on_exit = cancel.clone().drop_guard();
    let (mut sink, mut incoming) = conn.split();
    let mut client_gone = false;
    // After a Detach the client still reads the answer (the cancellation).
    let mut detached = false;
    let answer = loop {
        tokio::select! {
            answer = &mut done => break answer.unwrap_or_else(|_| {
                Err(WireError::internal("the disk job ended without an answer; see the daemon log"))
            }),
            Some(update) = progress.recv() => {
                if !client_gone && sink.send(ServerMessage::Progress(update)).await.is_err() {
                    client_gone = true;
                    cancel.cancel();
                }
            }
            message = incoming.next(), if !client_gone && !detached => match message {
                Some(Ok(ClientMessage::Detach)) => {
                    debug!(connection = id, "client cancelled a disk job");
                    detached = true;
                    cancel.cancel();
                }
                None | Some(Err(_)) => {
                    debug!(connection = id, "client left a disk job; cancelling it");
                    client_gone = true;
                    cancel.cancel();
                }
                Some(Ok(other)) => debug!(connection = id, ?other, "ignoring a message during a disk job"),
            },
        }
    };
    if !client_gone {
        let _ = sink.send(ServerMessage::Reply(answer)).await;
    }
}
