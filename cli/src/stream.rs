//! Client side of the daemon's streams: event subscriptions.

use crate::client::{Client, ClientConnection, Endpoint};
use crate::error::CliError;
use corvus_protocol::{
    ClientMessage, Request, Response, ServerMessage, SubscribeFilter, VmEvent, VmRef,
};

pub enum Item {
    Event(VmEvent),
    Lagged(u64),
}

pub struct EventStream {
    conn: ClientConnection,
    /// Why the daemon ended the stream, once it has.
    end_reason: Option<String>,
}

impl EventStream {
    pub async fn open(
        endpoint: &Endpoint,
        vms: Vec<VmRef>,
        since: Option<u64>,
    ) -> Result<EventStream, CliError> {
        let mut client = Client::connect(endpoint).await?;
        match client
            .request(Request::Subscribe {
                filter: SubscribeFilter { vms, since },
            })
            .await?
        {
            Response::Subscribed => Ok(EventStream {
                conn: client.into_connection(),
                end_reason: None,
            }),
            other => Err(CliError::Protocol(format!(
                "unexpected answer to a subscription: {other:?}"
            ))),
        }
    }

    /// The next event, or `None` when the daemon ends the stream.
    pub async fn next(&mut self) -> Result<Option<Item>, CliError> {
        loop {
            let received = match self.conn.recv().await {
                // A TLS daemon that closes without a close_notify (it
                // closes a revoked client's streams so) ends the stream.
                Err(corvus_protocol::FrameError::Io(err))
                    if err.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    return Ok(None);
                }
                received => received.map_err(CliError::frame)?,
            };
            match received {
                Some(ServerMessage::Event(event)) => return Ok(Some(Item::Event(event))),
                Some(ServerMessage::Lagged { missed }) => return Ok(Some(Item::Lagged(missed))),
                Some(ServerMessage::StreamEnd { reason }) => {
                    self.end_reason = Some(reason);
                    return Ok(None);
                }
                None => return Ok(None),
                Some(ServerMessage::Reply(Err(err))) => return Err(CliError::Refused(err)),
                Some(_) => continue,
            }
        }
    }

    /// What the daemon said when it ended the stream.
    pub fn end_reason(&self) -> Option<&str> {
        self.end_reason.as_deref()
    }

    pub async fn close(mut self) {
        let _ = self.conn.send(ClientMessage::Detach).await;
    }
}
