//! A console or monitor of another node's VM (issue 19): the owner opened
//! the relay and runs every rule of it (the Busy console, its replay, the
//! client's role); this node passes frames both ways, and says which node
//! was lost when the owner's side breaks without a `StreamEnd`.

use super::connection::ServerConnection;
use crate::nodes::forward::NodeConnection;
use corvus_protocol::{ClientMessage, ErrorKind, Response, ServerMessage, WireError};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;
use tracing::debug;

pub struct RemoteStream {
    /// The node that owns the VM and opened the relay.
    pub node: String,
    /// Its answer to the attach (`Attached` with the replay).
    pub first: Response,
    pub upstream: NodeConnection,
}

/// The stream's end when `node` went away under it.
fn lost(node: &str, why: &str) -> WireError {
    WireError::new(
        ErrorKind::NodeLost {
            node: node.to_owned(),
        },
        format!(
            "the stream ended: node '{node}', which runs the VM, was lost ({why}); see `crv node list`, and attach again once it is back"
        ),
    )
}

impl RemoteStream {
    pub async fn run<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
        self,
        conn: ServerConnection<S>,
        id: u64,
        closing: &CancellationToken,
    ) {
        let RemoteStream {
            node,
            first,
            upstream,
        } = self;
        let (mut sink, mut incoming) = conn.split();
        if sink.send(ServerMessage::Reply(Ok(first))).await.is_err() {
            return;
        }
        debug!(connection = id, %node, "relay through node open");
        let (mut to_owner, mut from_owner) = upstream.split();
        // After the client's Detach, the owner's StreamEnd still comes back.
        let mut client_done = false;
        loop {
            tokio::select! {
                received = incoming.next(), if !client_done => match received {
                    Some(Ok(ClientMessage::Input(bytes))) => {
                        if to_owner.send(ClientMessage::Input(bytes)).await.is_err() {
                            let _ = sink.send(ServerMessage::Reply(Err(lost(&node, "its connection broke")))).await;
                            break;
                        }
                    }
                    Some(Ok(ClientMessage::Detach)) => {
                        client_done = true;
                        if to_owner.send(ClientMessage::Detach).await.is_err() {
                            let _ = sink.send(ServerMessage::StreamEnd { reason: "detached".into() }).await;
                            break;
                        }
                    }
                    Some(Ok(ClientMessage::Hello { .. } | ClientMessage::Request(_))) => {}
                    // The client left: closing the owner's side frees the channel there.
                    None | Some(Err(_)) => break,
                },
                frame = from_owner.next() => match frame {
                    Some(Ok(message)) => {
                        let last = matches!(message, ServerMessage::StreamEnd { .. });
                        if sink.send(message).await.is_err() || last {
                            break;
                        }
                    }
                    None => {
                        let _ = sink.send(ServerMessage::Reply(Err(lost(&node, "it closed the connection")))).await;
                        break;
                    }
                    Some(Err(err)) => {
                        let _ = sink.send(ServerMessage::Reply(Err(lost(&node, &err.to_string())))).await;
                        break;
                    }
                },
                () = closing.cancelled() => {
                    let _ = sink.send(ServerMessage::StreamEnd { reason: "the daemon is shutting down".into() }).await;
                    break;
                }
            }
        }
        debug!(connection = id, %node, "relay through node closed");
    }
}
