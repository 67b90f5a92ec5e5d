//! `vm list` and `top` across nodes, `node list|show` and the requests of
//! a `node drain` (issue 19). The supervisor
//! knows the VMs this node runs; the other nodes' VMs come from their rows,
//! with the state their owners last wrote.

use super::Services;
use super::dispatch::{Next, QUICK, call, handle};
use super::forwarding;
use super::peer::{Peer, Via};
use super::stream::Stream;
use crate::disks::job;
use crate::supervisor::{StatsQuery, SupervisorMsg};
use crate::wire::db;
use corvus_protocol::{JobProgress, NodeInfo, Request, Response, VmInfo, VmStats, WireError};
use corvus_storage::DbKind;
use std::sync::Arc;
use tracing::warn;

/// This node's VMs as their actors see them, then every other VM of the
/// database as its row says, in id order.
pub async fn list_vms(services: &Services) -> Result<Vec<Arc<VmInfo>>, WireError> {
    let vms = call(services, |reply| SupervisorMsg::List { reply }, QUICK).await?;
    let ctx = &services.ctx;
    let paths = |id| ctx.paths(id).to_protocol();
    match crate::nodes::every_vm::every_vm(&ctx.store, vms.clone(), paths).await {
        Ok(every) => Ok(every),
        Err(failure) => {
            // This node's own VMs are still worth listing.
            warn!(error = %WireError::from(failure), "cannot read the other nodes' VMs; listing this node's only");
            Ok(vms)
        }
    }
}

pub async fn list(services: &Services) -> Result<Vec<NodeInfo>, WireError> {
    let local = call(services, |reply| SupervisorMsg::List { reply }, QUICK).await?;
    crate::nodes::list(&services.ctx, &local).await
}

pub async fn show(services: &Services, name: &str) -> Result<Response, WireError> {
    list(services)
        .await?
        .into_iter()
        .find(|node| node.name == name)
        .map(|node| Response::Node(Box::new(node)))
        .ok_or_else(|| {
            WireError::not_found(format!("there is no node '{name}' (see `crv node list`)"))
        })
}

/// `node drain`: its steps are requests of the client that asked, run by a
/// task of its own; the connection relays a progress frame per VM, then
/// the report. A client that detaches or leaves cancels what is left.
pub fn drain(node: String, stop: bool, connection: u64, peer: &Peer, services: &Services) -> Next {
    let Some(services) = services.owned() else {
        return Next::Reply(Err(WireError::unavailable("the daemon is shutting down")));
    };
    let peer = peer.clone();
    let (channel, stream) = job::open();
    tokio::spawn(async move {
        let send = |request: Request| step(request, connection, &peer, &services);
        let progress = |done: usize, total: usize, vm: &str| {
            // Only the latest figure matters to a slow client.
            let _ = channel.progress.try_send(JobProgress {
                job: 0,
                phase: vm.to_owned(),
                done: done as u64,
                total: Some(total as u64),
            });
        };
        let ctx = services.ctx.clone();
        let drained =
            crate::nodes::drain::drain(&ctx, &node, stop, &send, &progress, &channel.cancel)
                .await
                .map(Response::Drained);
        let _ = channel.done.send(drained);
    });
    Next::Stream(Stream::Job(stream))
}

/// One request of a drain, as its client sent it (forwarded to the VM's
/// owner when it is another node's). Boxed with its type spelt out: it
/// runs `handle`, which runs the drain that calls it.
fn step<'a>(
    request: Request,
    connection: u64,
    peer: &'a Peer,
    services: &'a Services,
) -> futures::future::BoxFuture<'a, Result<Response, WireError>> {
    Box::pin(async move {
        match handle(request, connection, peer, services).await {
            Next::Reply(reply) => reply,
            Next::History(_) | Next::Stream(_) => {
                Err(WireError::internal("a drain step answered with a stream"))
            }
        }
    })
}

/// `top`: this node's VMs' figures, then those of every other live node
/// with VMs as that node reads them (each node reads only its own QEMUs).
/// A node that does not answer has its VMs listed without figures, saying
/// why, and is logged.
pub async fn all_stats(services: &Services, peer: &Peer) -> Result<Response, WireError> {
    let mut all = match super::dispatch::stats(services, StatsQuery::All).await? {
        Response::AllStats(all) => all,
        other => return Ok(other),
    };
    let ctx = &services.ctx;
    if ctx.store.kind() != DbKind::Postgres || peer.via == Via::Node {
        return Ok(Response::AllStats(all));
    }
    let others: Vec<String> = match db(ctx.store.nodes()).await {
        Ok(nodes) => nodes
            .into_iter()
            .filter(|node| {
                node.name != ctx.node.name && node.vm_count > 0 && node.live(ctx.node.timeout)
            })
            .map(|node| node.name)
            .collect(),
        Err(failure) => {
            warn!(error = %WireError::from(failure), "cannot read the other nodes; showing this node's VMs only");
            Vec::new()
        }
    };
    let mut silent = Vec::new();
    for (node, answer) in forwarding::ask_each(others, &Request::AllStats, peer, services).await {
        match answer {
            Some(Ok(Response::AllStats(theirs))) => all.extend(theirs),
            Some(Err(err)) => {
                warn!(node = %node, error = %err, "a node did not report its VMs' figures");
                silent.push((node, err.message));
            }
            Some(Ok(_)) => silent.push((node, "it answered oddly".to_owned())),
            None => silent.push((
                node,
                "this node forwards nothing (no node certificate)".to_owned(),
            )),
        }
    }
    if !silent.is_empty() {
        all.extend(unreported(services, &silent).await);
    }
    all.sort_by_key(|stats| stats.vm_id);
    Ok(Response::AllStats(all))
}

/// The VMs of nodes that did not report their figures, as their rows say,
/// without figures and saying why, so that `top` still lists every VM.
async fn unreported(services: &Services, silent: &[(String, String)]) -> Vec<VmStats> {
    let ctx = &services.ctx;
    let paths = |id| ctx.paths(id).to_protocol();
    let Ok(every) = crate::nodes::every_vm::every_vm(&ctx.store, Vec::new(), paths).await else {
        return Vec::new();
    };
    every
        .iter()
        .filter_map(|vm| {
            let (node, why) = silent.iter().find(|(node, _)| vm.node == *node)?;
            let mut stats = VmStats::idle(vm.id, vm.name.clone(), vm.status, 0);
            stats.block.unavailable = Some(format!("node '{node}' did not report it: {why}"));
            Some(stats)
        })
        .collect()
}
