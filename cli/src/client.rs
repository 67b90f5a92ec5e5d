//! Connecting to the daemon and exchanging typed frames with it.

use crate::args::ConnectionArgs;
use crate::error::CliError;
use corvus_protocol::{
    ClientMessage, Connection, PROTOCOL_VERSION, Request, Response, ServerMessage,
    default_socket_path,
};
use std::path::PathBuf;
use std::time::Duration;
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

/// How long crv waits for a daemon to accept and answer the handshake.
/// Requests themselves have no deadline: a `vm start` may take a minute.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl Client {
    /// Connects and completes the handshake, or gives up after
    /// `HANDSHAKE_TIMEOUT` (a socket nobody serves, a hung daemon).
    pub async fn connect(endpoint: &Endpoint) -> Result<Client, CliError> {
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, Client::handshake(endpoint)).await {
            Ok(result) => result,
            Err(_) => Err(CliError::NoHandshake {
                endpoint: endpoint.clone(),
                secs: HANDSHAKE_TIMEOUT.as_secs(),
            }),
        }
    }

    async fn handshake(endpoint: &Endpoint) -> Result<Client, CliError> {
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
        let hello = conn
            .send(ClientMessage::Hello {
                protocol_version: PROTOCOL_VERSION,
                client: format!("crv {}", env!("CARGO_PKG_VERSION")),
            })
            .await;
        // A daemon that refuses us (too many connections) may have written
        // its reason and closed before the Hello went out: read it anyway.
        let answer = conn.recv().await;
        match (answer, hello) {
            (Ok(Some(ServerMessage::Welcome { .. })), Ok(())) => Ok(Client { conn }),
            (Ok(Some(ServerMessage::Reply(Err(err)))), _) => Err(CliError::Refused(err)),
            (_, Err(err)) | (Err(err), Ok(())) => Err(CliError::frame(err)),
            (Ok(Some(_)), Ok(())) => Err(CliError::Protocol(
                "the daemon did not answer the handshake with Welcome".into(),
            )),
            (Ok(None), Ok(())) => Err(CliError::Protocol(
                "the daemon closed the connection during the handshake".into(),
            )),
        }
    }

    /// Sends one request and waits for its reply, however many frames it takes.
    pub async fn request(&mut self, request: Request) -> Result<Response, CliError> {
        self.conn.call(request).await.map_err(CliError::from)
    }

    pub fn into_connection(self) -> ClientConnection {
        self.conn
    }
}

/// Connects, sends one request, returns the reply.
pub async fn one_shot(endpoint: &Endpoint, request: Request) -> Result<Response, CliError> {
    Client::connect(endpoint).await?.request(request).await
}
