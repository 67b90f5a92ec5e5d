//! An in-process client of the daemon on an open connection: what a
//! long-lived program embedding `corvus-protocol` would do.

use anyhow::{Context as _, bail};
use corvus_protocol::{
    ClientMessage, Connection, PROTOCOL_VERSION, Request, Response, ServerMessage, SubscribeFilter,
    VmEvent, VmInfo,
};
use std::path::Path;
use tokio::net::UnixStream;

pub type Conn = Connection<UnixStream, ServerMessage, ClientMessage>;

pub struct Client {
    conn: Conn,
}

impl Client {
    /// Connects and completes the handshake.
    pub async fn connect(socket: &Path) -> anyhow::Result<Client> {
        let stream = UnixStream::connect(socket)
            .await
            .with_context(|| format!("Cannot connect to {}", socket.display()))?;
        let mut conn = Conn::new(stream);
        conn.send(ClientMessage::Hello {
            protocol_version: PROTOCOL_VERSION,
            client: "corvus-bench".into(),
        })
        .await
        .context("Cannot send Hello")?;
        match conn.recv().await.context("No answer to Hello")? {
            Some(ServerMessage::Welcome { .. }) => Ok(Client { conn }),
            other => bail!("the daemon did not welcome the benchmark: {other:?}"),
        }
    }

    pub async fn request(&mut self, request: Request) -> anyhow::Result<Response> {
        let verb = request.verb();
        self.conn
            .call(request)
            .await
            .with_context(|| format!("No answer to `{verb}`"))
    }

    pub async fn vm(&mut self, request: Request) -> anyhow::Result<VmInfo> {
        match self.request(request).await? {
            Response::Vm(vm) => Ok(*vm),
            other => bail!("expected a VM, got {other:?}"),
        }
    }

    pub async fn list(&mut self) -> anyhow::Result<Vec<std::sync::Arc<VmInfo>>> {
        match self.request(Request::ListVms).await? {
            Response::Vms(vms) => Ok(vms),
            other => bail!("expected a VM list, got {other:?}"),
        }
    }

    /// Turns the connection into an event stream for every VM.
    pub async fn subscribe(mut self) -> anyhow::Result<Subscription> {
        match self
            .request(Request::Subscribe {
                filter: SubscribeFilter::default(),
            })
            .await?
        {
            Response::Subscribed => Ok(Subscription { conn: self.conn }),
            other => bail!("expected Subscribed, got {other:?}"),
        }
    }
}

pub struct Subscription {
    conn: Conn,
}

impl Subscription {
    pub async fn next(&mut self) -> anyhow::Result<VmEvent> {
        match self.conn.recv().await.context("The event stream broke")? {
            Some(ServerMessage::Event(event)) => Ok(event),
            Some(ServerMessage::Lagged { missed }) => {
                bail!("a subscriber lagged by {missed} events")
            }
            Some(other) => bail!("unexpected frame on an event stream: {other:?}"),
            None => bail!("the daemon ended the event stream"),
        }
    }
}
