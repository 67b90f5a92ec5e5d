//! Requests between nodes (issue 19). Sending: a request this node
//! refused with `OwnedByNode` for a live node is passed to that node when
//! this node has a node certificate (a console or monitor as a stream
//! relayed through this node). Receiving: `Forwarded` from a node
//! certificate of a registered node runs as the client it names, with the
//! role that client had on the sending node, and is never passed on again.

use super::Services;
use super::dispatch::{Next, route};
use super::peer::{Peer, Via};
use super::remote_stream::RemoteStream;
use super::roles;
use super::stream::Stream;
use crate::client_name::ClientName;
use crate::nodes::forward::Forwarder;
use crate::wire::db;
use corvus_protocol::{ErrorKind, Request, Role, WireError};
use corvus_storage::DbKind;
use std::future::Future;
use std::pin::Pin;

/// Where a request this node refused as another live node's goes: that
/// node, its address, and this node's certificate to reach it. `None`
/// when it is not to be forwarded; `Some(Err)` when it cannot be.
async fn owner(
    refusal: &WireError,
    peer: &Peer,
    services: &Services,
) -> Option<Result<(Forwarder, String, String), WireError>> {
    let ErrorKind::OwnedByNode { node, live: true } = &refusal.kind else {
        return None;
    };
    reach(node, peer, services).await.map(|reached| {
        reached.map_err(|why| {
            WireError::new(refusal.kind.clone(), format!("{}; {why}", refusal.message))
        })
    })
}

/// How this node reaches `node` for `peer`'s request: `None` when it is not
/// to forward at all (a request that came forwarded, or no node
/// certificate here); `Some(Err(why))` when `node` cannot be reached.
async fn reach(
    node: &str,
    peer: &Peer,
    services: &Services,
) -> Option<Result<(Forwarder, String, String), String>> {
    let ctx = &services.ctx;
    let forwarder = Forwarder {
        dir: ctx.node.cert_dir.clone(),
        node: ctx.node.name.clone(),
        pool: services.forward_pool.clone(),
    };
    // A request that came forwarded is answered here, whatever it is; and
    // without a node certificate the refusal tells the client where to go.
    if peer.role == Role::Node || peer.via == Via::Node || !forwarder.ready().await {
        return None;
    }
    let address = db(ctx.store.node_reach(node))
        .await
        .ok()?
        .and_then(|reach| reach.address);
    let Some(address) = address else {
        return Some(Err(format!(
            "node '{node}' advertises no address (--advertise), so it cannot be forwarded there"
        )));
    };
    Some(Ok((forwarder, node.to_owned(), address)))
}

/// `request` of `peer` answered by `node` itself; `None` when this node
/// does not forward (see `reach`).
pub async fn ask(
    node: &str,
    request: Request,
    peer: &Peer,
    services: &Services,
) -> Option<Result<corvus_protocol::Response, WireError>> {
    let (forwarder, node, address) = match reach(node, peer, services).await? {
        Ok(reached) => reached,
        Err(why) => return Some(Err(WireError::unavailable(why))),
    };
    let client = peer.name.to_string();
    Some(
        forwarder
            .send(&node, &address, client, peer.role, request)
            .await,
    )
}

/// The owner's answer to `request` when this node refused it as another
/// live node's; `None` when it is not to be forwarded.
pub async fn to_owner(
    refusal: &WireError,
    request: &Request,
    peer: &Peer,
    services: &Services,
) -> Option<Result<corvus_protocol::Response, WireError>> {
    let (forwarder, node, address) = match owner(refusal, peer, services).await? {
        Ok(owner) => owner,
        Err(err) => return Some(Err(err)),
    };
    let client = peer.name.to_string();
    Some(
        forwarder
            .send(&node, &address, client, peer.role, request.clone())
            .await,
    )
}

/// `request` of `peer` asked of each of `nodes` at once, for answers that
/// span nodes (`disk list`, `top`): each node with its answer, `None`
/// where this node forwards nothing (see `reach`).
pub async fn ask_each(
    nodes: Vec<String>,
    request: &Request,
    peer: &Peer,
    services: &Services,
) -> Vec<(String, Option<Result<corvus_protocol::Response, WireError>>)> {
    let asked = nodes.into_iter().map(|node| async move {
        let answer = ask(&node, request.clone(), peer, services).await;
        (node, answer)
    });
    futures::future::join_all(asked).await
}

/// A console or monitor of another live node's VM: the stream opened on
/// that node, relayed here; `None` when it is not to be forwarded.
pub async fn stream_to_owner(
    refusal: &WireError,
    request: &Request,
    peer: &Peer,
    services: &Services,
) -> Option<Next> {
    let (forwarder, node, address) = match owner(refusal, peer, services).await? {
        Ok(owner) => owner,
        Err(err) => return Some(Next::Reply(Err(err))),
    };
    let client = peer.name.to_string();
    let opened = forwarder
        .open_stream(&node, &address, client, peer.role, request.clone())
        .await;
    Some(match opened {
        // Boxed: a TLS connection's buffers would make every stream that big.
        Ok((first, upstream)) => Next::Stream(Stream::Remote(Box::new(RemoteStream {
            node,
            first,
            upstream,
        }))),
        Err(err) => Next::Reply(Err(err)),
    })
}

/// Runs a request another node passed on, as the client it names. Boxed
/// as a trait object because it calls `route`, which calls it.
pub fn serve<'a>(
    client: String,
    role: Role,
    request: Request,
    connection: u64,
    peer: &'a Peer,
    services: &'a Services,
) -> Pin<Box<dyn Future<Output = Next> + Send + 'a>> {
    Box::pin(async move {
        let inner = match admit(&client, role, &request, peer, services).await {
            Ok(inner) => inner,
            Err(err) => return Next::Reply(Err(err)),
        };
        if let Err(err) = roles::authorize(connection, &inner, &request) {
            return Next::Reply(Err(err));
        }
        route(request, connection, &inner, services).await
    })
}

/// The client a forwarded request runs as, once its sender proved to be a
/// registered node and the request one that may travel.
async fn admit(
    client: &str,
    role: Role,
    request: &Request,
    peer: &Peer,
    services: &Services,
) -> Result<Peer, WireError> {
    let ctx = &services.ctx;
    let sender = peer.name.to_string();
    let registered = ctx.store.kind() == DbKind::Postgres
        && sender != ctx.node.name
        && db(ctx.store.node_reach(&sender)).await?.is_some();
    if !registered {
        return Err(WireError::new(
            ErrorKind::PermissionDenied { needed: Role::Node },
            format!(
                "permission denied: '{sender}' is no other node of this database (see `crv node list`); only nodes forward requests"
            ),
        ));
    }
    // Events reach every node by the database; nothing travels twice.
    let travels = role != Role::Node
        && !matches!(
            request,
            Request::Subscribe { .. } | Request::Forwarded { .. }
        );
    if !travels {
        return Err(WireError::invalid(format!(
            "`{}` is not forwarded between nodes; send it to the VM's node itself",
            request.verb()
        )));
    }
    Ok(Peer {
        name: ClientName::intern(&format!("{client} via {sender}")),
        role,
        via: Via::Node,
        certificate: None,
    })
}
