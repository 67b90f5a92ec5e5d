//! Forwarding (issue 19): a request for a VM another live node owns is
//! passed to that node over mutual TLS, with this node's certificate
//! (`corvus tls issue NODE --role node`, in `--node-cert-dir`), and that
//! node's answer goes back to the client. The owner checks the request
//! against the role the client had here, and never forwards it again.

use super::forward_pool::ForwardPool;
use corvus_protocol::tls::{ClientPems, client_config};
use corvus_protocol::{
    CallError, ClientMessage, Connection, ErrorKind, PROTOCOL_VERSION, Request, Response, Role,
    ServerMessage, WireError,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Longer than any request's own deadline on the owner (a start: 120 s).
const FORWARD_DEADLINE: Duration = Duration::from_secs(150);
/// Longer than the owner's own deadline for attaching (15 s).
const STREAM_OPEN_DEADLINE: Duration = Duration::from_secs(20);

/// A connection to another node, as its client.
pub type NodeConnection = Connection<
    tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    ServerMessage,
    ClientMessage,
>;

/// This node's certificate for talking to the others, and the
/// connections kept open to them.
#[derive(Debug, Clone)]
pub struct Forwarder {
    /// `NODE.crt`, `NODE.key` and `ca.crt`, as `corvus tls issue` writes them.
    pub dir: PathBuf,
    pub node: String,
    pub pool: ForwardPool,
}

fn unavailable(node: &str, address: &str, why: impl std::fmt::Display) -> WireError {
    WireError::unavailable(format!(
        "cannot pass the request to node '{node}' at {address}: {why}"
    ))
}

async fn read(dir: &Path, file: &str) -> Result<Vec<u8>, String> {
    let path = dir.join(file);
    tokio::fs::read(&path)
        .await
        .map_err(|err| format!("cannot read {}: {err}", path.display()))
}

impl Forwarder {
    /// Whether this node has a certificate to forward with; read again at
    /// every forward, so a certificate issued later is used at once.
    pub async fn ready(&self) -> bool {
        tokio::fs::try_exists(self.dir.join(format!("{}.crt", self.node)))
            .await
            .unwrap_or(false)
    }

    /// Passes `request` of `client` (with `role`) to `node` at `address`
    /// and returns its answer. A node that dies mid-request leaves it
    /// unknown whether it was carried out: the error says so, and nothing
    /// sends the request again (it may not be idempotent).
    pub async fn send(
        &self,
        node: &str,
        address: &str,
        client: String,
        role: Role,
        request: Request,
    ) -> Result<Response, WireError> {
        let exchange = async {
            let mut connection = match self.pool.take(address) {
                Some(kept) => kept,
                None => self.connect(node, address).await?,
            };
            let answer = forward(&mut connection, node, client, role, request).await;
            let complete =
                !matches!(&answer, Err(err) if matches!(err.kind, ErrorKind::NodeLost { .. }));
            if complete {
                self.pool.keep(address, connection);
            }
            answer
        };
        tokio::time::timeout(FORWARD_DEADLINE, exchange)
            .await
            .unwrap_or_else(|_| {
                Err(lost(
                    node,
                    format!("it gave no answer within {} s", FORWARD_DEADLINE.as_secs()),
                ))
            })
    }

    /// Opens a stream (an `Attach`) of `client` on `node`: its first answer
    /// and the connection the stream's frames then travel on.
    pub async fn open_stream(
        &self,
        node: &str,
        address: &str,
        client: String,
        role: Role,
        request: Request,
    ) -> Result<(Response, NodeConnection), WireError> {
        let opening = async {
            let mut connection = self.connect(node, address).await?;
            let first = forward(&mut connection, node, client, role, request).await?;
            Ok((first, connection))
        };
        tokio::time::timeout(STREAM_OPEN_DEADLINE, opening)
            .await
            .unwrap_or_else(|_| {
                Err(lost(
                    node,
                    format!(
                        "it did not open the stream within {} s",
                        STREAM_OPEN_DEADLINE.as_secs()
                    ),
                ))
            })
    }

    /// A TLS connection to `node`, past the handshake. Nothing has been
    /// asked of it yet, so a failure here never leaves a request in doubt.
    async fn connect(&self, node: &str, address: &str) -> Result<NodeConnection, WireError> {
        let (host, port) = address
            .rsplit_once(':')
            .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)))
            .ok_or_else(|| unavailable(node, address, "it advertises no HOST:PORT"))?;
        let certificate = read(&self.dir, &format!("{}.crt", self.node)).await;
        let key = read(&self.dir, &format!("{}.key", self.node)).await;
        let ca = read(&self.dir, "ca.crt").await;
        let (certificate, key, ca) = match (certificate, key, ca) {
            (Ok(certificate), Ok(key), Ok(ca)) => (certificate, key, ca),
            (Err(why), _, _) | (_, Err(why), _) | (_, _, Err(why)) => {
                return Err(unavailable(node, address, why));
            }
        };
        let tls = client_config(ClientPems {
            certificate: &certificate,
            key: &key,
            ca: &ca,
        })
        .map_err(|err| unavailable(node, address, err))?;
        let stream = corvus_protocol::tls::connect(tls, host, port)
            .await
            .map_err(|err| unavailable(node, address, err))?;
        let mut connection: NodeConnection = Connection::new(stream);
        let hello = connection
            .send(ClientMessage::Hello {
                protocol_version: PROTOCOL_VERSION,
                client: format!("corvus node {}", self.node),
            })
            .await;
        match (connection.recv().await, hello) {
            (Ok(Some(ServerMessage::Welcome { .. })), Ok(())) => Ok(connection),
            (Ok(Some(ServerMessage::Reply(Err(err)))), _) => Err(err),
            (other, _) => Err(unavailable(
                node,
                address,
                format!("no handshake ({other:?})"),
            )),
        }
    }
}

/// Sends `request` as `Forwarded` on an open connection and reads the answer.
async fn forward(
    connection: &mut NodeConnection,
    node: &str,
    client: String,
    role: Role,
    request: Request,
) -> Result<Response, WireError> {
    let forwarded = Request::Forwarded {
        client,
        role,
        request: Box::new(request),
    };
    connection.call(forwarded).await.map_err(|err| match err {
        CallError::Refused(err) => err,
        CallError::Frame(_) | CallError::Closed | CallError::Unexpected(_) => lost(node, err),
    })
}

/// `node` went away after a request or stream was passed to it.
pub fn lost(node: &str, why: impl std::fmt::Display) -> WireError {
    WireError::new(
        ErrorKind::NodeLost {
            node: node.to_owned(),
        },
        format!(
            "node '{node}' was lost in the middle of the request ({why}); it may or may not have run on node '{node}', and it was not sent again: check `crv vm show` and `crv node list`"
        ),
    )
}
