//! Connecting to the daemon and exchanging typed frames with it.

use crate::args::ConnectionArgs;
use crate::error::CliError;
use corvus_protocol::{
    ClientMessage, Connection, PROTOCOL_VERSION, Request, Response, ServerMessage,
    default_socket_path,
};
use std::path::PathBuf;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};

pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Transport for T {}

pub type ClientConnection = Connection<Box<dyn Transport>, ServerMessage, ClientMessage>;

/// Where the daemon is.
#[derive(Debug, Clone)]
pub enum Endpoint {
    Unix(PathBuf),
    Tcp(String),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(path) => write!(f, "{}", path.display()),
            Endpoint::Tcp(address) => write!(f, "tcp://{address}"),
        }
    }
}

impl Endpoint {
    pub fn from_args(args: &ConnectionArgs) -> Result<Endpoint, CliError> {
        if args.tcp {
            return Ok(Endpoint::Tcp(format!("{}:{}", args.host, args.port)));
        }
        match args.socket.clone().or_else(default_socket_path) {
            Some(path) => Ok(Endpoint::Unix(path)),
            None => Err(CliError::Usage(
                "XDG_RUNTIME_DIR is not set: pass --socket PATH or set CORVUS_SOCKET".into(),
            )),
        }
    }

    pub fn is_local(&self) -> bool {
        match self {
            Endpoint::Unix(_) => true,
            Endpoint::Tcp(address) => {
                address.starts_with("127.")
                    || address.starts_with("localhost:")
                    || address.starts_with("[::1]")
            }
        }
    }
}

pub struct Client {
    conn: ClientConnection,
}

impl Client {
    /// Connects and completes the handshake.
    pub async fn connect(endpoint: &Endpoint) -> Result<Client, CliError> {
        let unreachable = |source| CliError::Unreachable {
            endpoint: endpoint.clone(),
            source,
        };
        let stream: Box<dyn Transport> = match endpoint {
            Endpoint::Unix(path) => Box::new(UnixStream::connect(path).await.map_err(unreachable)?),
            Endpoint::Tcp(address) => {
                let stream = TcpStream::connect(address).await.map_err(unreachable)?;
                let _ = stream.set_nodelay(true);
                Box::new(stream)
            }
        };
        let mut conn = ClientConnection::new(stream);
        conn.send(ClientMessage::Hello {
            protocol_version: PROTOCOL_VERSION,
            client: format!("crv {}", env!("CARGO_PKG_VERSION")),
        })
        .await
        .map_err(CliError::frame)?;
        match conn.recv().await.map_err(CliError::frame)? {
            Some(ServerMessage::Welcome { .. }) => Ok(Client { conn }),
            Some(ServerMessage::Reply(Err(err))) => Err(CliError::Refused(err)),
            Some(_) => Err(CliError::Protocol(
                "the daemon did not answer the handshake with Welcome".into(),
            )),
            None => Err(CliError::Protocol(
                "the daemon closed the connection during the handshake".into(),
            )),
        }
    }

    /// Sends one request and waits for its reply.
    pub async fn request(&mut self, request: Request) -> Result<Response, CliError> {
        self.conn
            .send(ClientMessage::Request(request))
            .await
            .map_err(CliError::frame)?;
        match self.conn.recv().await.map_err(CliError::frame)? {
            Some(ServerMessage::Reply(Ok(response))) => Ok(response),
            Some(ServerMessage::Reply(Err(err))) => Err(CliError::Refused(err)),
            Some(other) => Err(CliError::Protocol(format!(
                "unexpected frame from the daemon: {other:?}"
            ))),
            None => Err(CliError::Protocol(
                "the daemon closed the connection before answering".into(),
            )),
        }
    }

    pub fn into_connection(self) -> ClientConnection {
        self.conn
    }
}

/// Connects, sends one request, returns the reply.
pub async fn one_shot(endpoint: &Endpoint, request: Request) -> Result<Response, CliError> {
    Client::connect(endpoint).await?.request(request).await
}
