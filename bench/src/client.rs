//! An in-process client of the daemon on an open connection: what a
//! long-lived program embedding `corvus-protocol` would do. Over the Unix
//! socket, or over mutual TLS (figure 9).

use anyhow::{Context as _, bail};
use corvus_protocol::{
    ClientMessage, Connection, PROTOCOL_VERSION, Request, Response, ServerMessage, SubscribeFilter,
    VmEvent, VmInfo,
};
use std::path::Path;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::client::TlsStream;

pub type Conn<S = UnixStream> = Connection<S, ServerMessage, ClientMessage>;

pub struct Client<S = UnixStream> {
    conn: Conn<S>,
}

impl Client {
    /// Connects to the Unix socket and completes the handshake.
    pub async fn connect(socket: &Path) -> anyhow::Result<Client> {
        let stream = UnixStream::connect(socket)
            .await
            .with_context(|| format!("Cannot connect to {}", socket.display()))?;
        Client::hello(stream).await
    }
}

impl Client<TlsStream<TcpStream>> {
    /// Connects over TCP, completes the TLS handshake, then Corvus's.
    pub async fn connect_tls(
        tls: Arc<rustls::ClientConfig>,
        host: &str,
        port: u16,
    ) -> anyhow::Result<Client<TlsStream<TcpStream>>> {
        let stream = corvus_protocol::tls::connect(tls, host, port)
            .await
            .with_context(|| format!("Cannot connect over TLS to {host}:{port}"))?;
        Client::hello(stream).await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    async fn hello(stream: S) -> anyhow::Result<Client<S>> {
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

    pub async fn ping(&mut self) -> anyhow::Result<()> {
        match self.request(Request::Ping).await? {
            Response::Pong => Ok(()),
            other => bail!("ping answered with {other:?}"),
        }
    }

    /// Turns the connection into an event stream for every VM.
    pub async fn subscribe(mut self) -> anyhow::Result<Subscription<S>> {
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

pub struct Subscription<S = UnixStream> {
    conn: Conn<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Subscription<S> {
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
