//! One client connection: the handshake, then requests one at a time (each
//! authorized for the client's role first), until the client leaves or the
//! connection turns into a stream.

use super::Services;
use super::dispatch::{self, Next};
use super::history;
use super::peer::Peer;
use super::roles;
use corvus_protocol::{
    ClientMessage, Connection, ErrorKind, Expiry, FrameError, MAX_FRAME_LEN, PART_BYTES,
    PROTOCOL_VERSION, Response, ServerMessage, WireError,
};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tracing::{debug, info, warn};

pub type ServerConnection<S> = Connection<S, ClientMessage, ServerMessage>;

/// A client that connects and says nothing is dropped after this long.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn serve<S>(stream: S, id: u64, peer: &Peer, services: &Services)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut conn = ServerConnection::with_limits(stream, services.connection_limits());
    if !handshake(&mut conn, id, peer).await {
        return;
    }
    loop {
        let received = tokio::select! {
            received = conn.recv() => received,
            // Between requests: nothing is lost by closing now.
            () = services.closing.cancelled() => {
                debug!(connection = id, "closing an idle connection: the daemon is shutting down");
                return;
            }
        };
        let message = match received {
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
        let verb = request.verb();
        if let Err(denied) = roles::authorize(id, peer, &request) {
            if conn.send(ServerMessage::Reply(Err(denied))).await.is_err() {
                return;
            }
            continue;
        }
        let sent = match dispatch::handle(request, id, peer, services).await {
            Next::Reply(reply) => Answer::new(&mut conn, id, verb).finish(reply).await,
            Next::History(older) => {
                history::send_older(Answer::new(&mut conn, id, verb), older, services).await
            }
            Next::Stream(stream) => {
                // Silence on a stream is normal; a frame started there is still timed.
                conn.never_idle();
                return stream.run(conn, id, services).await;
            }
        };
        if let Err(err) = sent {
            debug!(connection = id, verb, error = %err, "the client left before its answer was sent");
            return;
        }
    }
}

/// One answer on its way, in as many frames as it needs: `ReplyPart`s, then
/// a final `Reply`. An answer that still does not fit (one item over the
/// frame limit) is logged and becomes a typed error for the client, never a
/// silently closed connection.
pub struct Answer<'a, S> {
    conn: &'a mut ServerConnection<S>,
    id: u64,
    verb: &'static str,
    /// Set once the answer was replaced by an error: nothing more goes out.
    abandoned: bool,
}

impl<'a, S: AsyncRead + AsyncWrite + Unpin> Answer<'a, S> {
    pub fn new(conn: &'a mut ServerConnection<S>, id: u64, verb: &'static str) -> Self {
        Answer {
            conn,
            id,
            verb,
            abandoned: false,
        }
    }

    /// Sends some of the answer's items; more follow.
    pub async fn part(&mut self, items: Response) -> Result<(), FrameError> {
        for part in items.into_parts(PART_BYTES) {
            self.send(ServerMessage::ReplyPart(part)).await?;
        }
        Ok(())
    }

    /// Sends the rest of the answer, or the error that ends it.
    pub async fn finish(mut self, reply: Result<Response, WireError>) -> Result<(), FrameError> {
        let mut parts = match reply {
            Ok(response) => response.into_parts(PART_BYTES),
            Err(err) => return self.send(ServerMessage::Reply(Err(err))).await,
        };
        let last = parts.pop();
        for part in parts {
            self.send(ServerMessage::ReplyPart(part)).await?;
        }
        let last = last.ok_or_else(|| WireError::internal("an answer split into no parts"));
        self.send(ServerMessage::Reply(last)).await
    }

    async fn send(&mut self, message: ServerMessage) -> Result<(), FrameError> {
        if self.abandoned {
            return Ok(());
        }
        match self.conn.send(message).await {
            Err(FrameError::TooLarge { len }) => {
                warn!(
                    connection = self.id,
                    verb = self.verb,
                    bytes = len,
                    limit = MAX_FRAME_LEN,
                    "an answer does not fit in a frame; the client gets an error instead"
                );
                self.abandoned = true;
                let error = WireError::new(
                    ErrorKind::FrameTooLarge {
                        limit: MAX_FRAME_LEN as u64,
                    },
                    format!(
                        "the answer to `{}` needs a frame of {len} bytes, over the protocol's limit of {MAX_FRAME_LEN}; this is a daemon bug, please report it with the daemon log",
                        self.verb
                    ),
                );
                self.conn.send(ServerMessage::Reply(Err(error))).await
            }
            other => other,
        }
    }
}

async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut ServerConnection<S>,
    id: u64,
    peer: &Peer,
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
            debug!(connection = id, client = %peer.name, role = %peer.role, program = %client, "client said hello");
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

/// A frame that cannot be read, or a client that waited too long: tell it
/// why, then close, since nothing after a bad frame can be trusted.
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
        FrameError::OverBudget(over) => WireError::new(
            ErrorKind::FrameBudgetExhausted { budget: over.total },
            format!(
                "{err}: retry when other clients' transfers are done, or raise corvus --frame-budget"
            ),
        ),
        FrameError::TimedOut(Expiry::Idle(limit)) => {
            debug!(connection = id, "closing an idle connection");
            let error = WireError::new(
                ErrorKind::ConnectionTimeout {
                    secs: limit.as_secs(),
                },
                format!("{err}; the daemon closed it (--idle-timeout): reconnect"),
            );
            let _ = conn.send(ServerMessage::Reply(Err(error))).await;
            return;
        }
        FrameError::TimedOut(Expiry::SlowFrame(limit)) => WireError::new(
            ErrorKind::ConnectionTimeout {
                secs: limit.as_secs(),
            },
            format!("{err}; the daemon closed the connection"),
        ),
        FrameError::Io(_) => {
            debug!(connection = id, error = %err, "connection broke");
            return;
        }
    };
    info!(connection = id, error = %error.message, "closing a connection that sent a bad frame");
    let _ = conn.send(ServerMessage::Reply(Err(error))).await;
}
