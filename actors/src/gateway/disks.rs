//! Disk requests: quick ones go to the DiskService through the supervisor
//! like any request; long jobs (import, clone) turn the connection into a
//! job stream — `Progress` frames, then the job's one `Reply`. A client
//! that detaches or leaves cancels its job, which removes what it wrote.
//! On PostgreSQL a disk is its node's: requests naming another node's disk
//! go there, and `disk list` asks every node for its own.

use super::Services;
use super::connection::ServerConnection;
use super::dispatch::{Next, call};
use super::forwarding;
use super::peer::{Peer, Via};
use super::stream::Stream;
use crate::disks::{DiskMsg, DiskRequest, JobRequest, job, stored_info};
use crate::supervisor::SupervisorMsg;
use crate::vm::Origin;
use crate::wire::db;
use corvus_protocol::{
    ClientMessage, DiskInfo, DiskRef, ErrorKind, Request, Response, ServerMessage, WireError,
};
use corvus_storage::DbKind;
use futures::{SinkExt, StreamExt};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tracing::{debug, warn};

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

/// Relays a job's progress until its answer (a disk job's or a drain's); a
/// client that detaches or leaves cancels it, and still gets the answer if
/// it is there to read it.
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
        // Frames the job sent before its answer still go first, in order.
        while let Ok(update) = progress.try_recv() {
            if sink.send(ServerMessage::Progress(update)).await.is_err() {
                return;
            }
        }
        let _ = sink.send(ServerMessage::Reply(answer)).await;
    }
}

/// The disk a request acts on, when it names one that exists already.
fn named_disk(request: &Request) -> Option<&DiskRef> {
    match request {
        Request::ShowDisk { disk }
        | Request::ResizeDisk { disk, .. }
        | Request::DeleteDisk { disk, .. } => Some(disk),
        Request::OverlayDisk { backing, .. } => Some(backing),
        Request::DiskSnapshot { spec } => Some(&spec.disk),
        Request::CreateVmFromImage { spec } => Some(&spec.image),
        Request::CloneDisk { source, .. } => Some(source),
        _ => None,
    }
}

/// The refusal of a request naming another node's disk (PostgreSQL, issue
/// 19): that node alone manages it, so `handle` forwards the request there.
/// A clone streams its progress, which does not travel between nodes: it
/// is refused saying where to send it.
pub async fn elsewhere(request: &Request, services: &Services) -> Option<WireError> {
    if let Request::CreateDisk {
        node: Some(node), ..
    }
    | Request::RegisterDisk {
        node: Some(node), ..
    } = request
    {
        return made_elsewhere(node, request.verb(), services).await;
    }
    let disk = named_disk(request)?;
    let refusal = crate::nodes::disk_owner_of(&services.ctx, disk, request.verb()).await?;
    if matches!(request, Request::CloneDisk { .. }) {
        return Some(WireError::invalid(format!(
            "{}; a clone is not forwarded between nodes",
            refusal.message
        )));
    }
    Some(refusal)
}

/// The refusal of a new disk asked for on another node (`--node`): that
/// node makes it (`handle` forwards the request there); a node that does
/// not exist, or is dead, is named.
async fn made_elsewhere(node: &str, verb: &str, services: &Services) -> Option<WireError> {
    let ctx = &services.ctx;
    let me = &ctx.node.name;
    if node == me {
        return None;
    }
    if ctx.store.kind() == DbKind::Sqlite {
        return Some(WireError::invalid(format!(
            "there is no node '{node}': on SQLite this daemon, node '{me}', is the only one; several nodes need a PostgreSQL database"
        )));
    }
    let reach = match db(ctx.store.node_reach(node)).await {
        Ok(Some(reach)) => reach,
        Ok(None) => {
            return Some(WireError::invalid(format!(
                "there is no node '{node}' (see `crv node list`)"
            )));
        }
        Err(failure) => return Some(failure.into()),
    };
    if !reach.live(ctx.node.timeout) {
        return Some(crate::nodes::dead(node, ctx));
    }
    Some(WireError::new(
        ErrorKind::OwnedByNode {
            node: node.to_owned(),
            live: true,
        },
        format!(
            "the disk is to be on node '{node}', which makes it on its own host; this daemon is node '{me}' and did not `{verb}` it: send the request to node '{node}'"
        ),
    ))
}

/// `disk list`: this node's disks and, unless the request came from
/// another node, every other node's as that node lists them; a node that
/// cannot be asked gets its disks listed from their rows, saying so.
pub async fn list(services: &Services, peer: &Peer, origin: Origin) -> Result<Response, WireError> {
    let mut disks = match request(services, DiskRequest::List, origin).await? {
        Response::Disks(disks) => disks,
        other => return Ok(other),
    };
    let ctx = &services.ctx;
    if ctx.store.kind() != DbKind::Postgres || peer.via == Via::Node {
        return Ok(Response::Disks(disks));
    }
    let mut by_node: BTreeMap<String, Vec<DiskInfo>> = BTreeMap::new();
    for row in db(ctx.store.other_nodes_disks(&ctx.node.name)).await? {
        let node = row.node.clone().unwrap_or_default();
        match stored_info(row) {
            Ok(disk) => by_node.entry(node).or_default().push(disk),
            Err(err) => {
                warn!(error = %format!("{:#}", anyhow::Error::new(err)), "skipping a disk whose stored row is invalid")
            }
        }
    }
    let nodes = by_node.keys().cloned().collect();
    for (node, answer) in forwarding::ask_each(nodes, &Request::ListDisks, peer, services).await {
        let stored = by_node.remove(&node).unwrap_or_default();
        match answer {
            Some(Ok(Response::Disks(theirs))) => disks.extend(theirs),
            answer => {
                let why = match answer {
                    Some(Err(err)) => err.message,
                    None => "this node forwards nothing (no node certificate)".to_owned(),
                    Some(Ok(_)) => "it gave an answer of another kind".to_owned(),
                };
                let problem = format!("node '{node}' did not list it ({why}); shown as stored");
                disks.extend(stored.into_iter().map(|disk| DiskInfo {
                    problem: Some(problem.clone()),
                    ..disk
                }));
            }
        }
    }
    disks.sort_by_key(|disk| disk.id);
    Ok(Response::Disks(disks))
}
