//! One client connection: the handshake, then requests one at a time,
//! until the client leaves or the connection turns into a stream.

use super::Services;
use super::dispatch::{self, Next};
use corvus_protocol::{
    ClientMessage, Connection, ErrorKind, FrameError, MAX_FRAME_LEN, PROTOCOL_VERSION,
    ServerMessage, WireError,
};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tracing::{debug, info};

pub type ServerConnection<S> = Connection<S, ClientMessage, ServerMessage>;

/// A client that connects and says nothing is dropped after this long.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn serve<S>(stream: S, id: u64, services: &Services)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut conn = ServerConnection::new(stream);
    if !handshake(&mut conn, id).await {
        return;
    }
    loop {
        let message = match conn.recv().await {
            Ok(Some(message)) => message,
            Ok(None) => return,
            Err(err) => return refuse_frame(&mut conn, id, err).await,
        };
        let request = match message {
            ClientMessage::Request(request) => request,
            ClientMessage::Hello { .. } | ClientMessage::Input(_) | ClientMessage::Detach => {
                let error = WireError::invalid(
                    "expected a request: Hello is only valid first, Input and Detach only on a stream",
                );
                let _ = conn.send(ServerMessage::Reply(Err(error))).await;
                continue;
            }
        };
        match dispatch::handle(request, id, services).await {
            Next::Reply(reply) => {
                if conn.send(ServerMessage::Reply(reply)).await.is_err() {
                    return;
                }
            }
            Next::Stream(stream) => return stream.run(conn, id, services).await,
        }
    }
}

async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut ServerConnection<S>,
    id: u64,
) -> bool {
    let first = match tokio::time::timeout(HELLO_TIMEOUT, conn.recv()).await {
        Ok(Ok(Some(message))) => message,
        Ok(Ok(None)) | Err(_) => return false,
        Ok(Err(err)) => {
            refuse_frame(conn, id, err).await;
            return false;
        }
    };
    let reply = match first {
        ClientMessage::Hello {
            protocol_version,
            client,
        } if protocol_version == PROTOCOL_VERSION => {
            debug!(connection = id, %client, "client connected");
            ServerMessage::Welcome {
                protocol_version: PROTOCOL_VERSION,
                daemon_version: env!("CARGO_PKG_VERSION").to_owned(),
            }
        }
        ClientMessage::Hello {
            protocol_version, ..
        } => ServerMessage::Reply(Err(WireError::new(
            ErrorKind::ProtocolMismatch {
                daemon: PROTOCOL_VERSION,
                client: protocol_version,
            },
            format!(
                "this daemon speaks protocol {PROTOCOL_VERSION}, the client {protocol_version}: use matching corvus and crv versions"
            ),
        ))),
        _ => ServerMessage::Reply(Err(WireError::new(
            ErrorKind::MalformedFrame,
            "the first message must be Hello",
        ))),
    };
    let welcomed = matches!(reply, ServerMessage::Welcome { .. });
    conn.send(reply).await.is_ok() && welcomed
}

/// A frame that cannot be read: tell the client why, then close, since
/// nothing after it can be trusted.
async fn refuse_frame<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut ServerConnection<S>,
    id: u64,
    err: FrameError,
) {
    let error = match &err {
        FrameError::TooLarge { len } => WireError::new(
            ErrorKind::FrameTooLarge {
                limit: MAX_FRAME_LEN as u64,
            },
            format!("frame of {len} bytes refused: the limit is {MAX_FRAME_LEN} bytes"),
        ),
        FrameError::Malformed(_) => WireError::new(
            ErrorKind::MalformedFrame,
            "the frame does not decode as a Corvus message",
        ),
        FrameError::Io(_) => {
            debug!(connection = id, error = %err, "connection broke");
            return;
        }
    };
    info!(connection = id, error = %error.message, "closing a connection that sent a bad frame");
    let _ = conn.send(ServerMessage::Reply(Err(error))).await;
}
