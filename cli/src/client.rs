//! Connecting to the daemon and exchanging typed frames with it: over its
//! Unix socket, plain loopback TCP, or mutual TLS to a remote.

use crate::args::ConnectionArgs;
use crate::error::CliError;
use crate::remotes::{self, Remotes};
use corvus_protocol::tls::{ClientPems, client_config};
use corvus_protocol::{
    ClientMessage, Connection, PROTOCOL_VERSION, Request, Response, ServerMessage,
    default_socket_path,
};
use std::path::PathBuf;
use std::sync::Arc;
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
    Remote(RemoteEndpoint),
}

/// A remote of `crv remote add`, ready to connect to.
#[derive(Debug, Clone)]
pub struct RemoteEndpoint {
    pub name: String,
    pub host: String,
    pub port: u16,
    tls: Arc<rustls::ClientConfig>,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(path) => write!(f, "{}", path.display()),
            Endpoint::Tcp(address) => write!(f, "tcp://{address}"),
            Endpoint::Remote(remote) if remote.host.contains(':') => {
                write!(
                    f,
                    "remote '{}' (tls://[{}]:{})",
                    remote.name, remote.host, remote.port
                )
            }
            Endpoint::Remote(remote) => {
                write!(
                    f,
                    "remote '{}' (tls://{}:{})",
                    remote.name, remote.host, remote.port
                )
            }
        }
    }
}

impl Endpoint {
    /// `--tcp`; then `--remote` or `--socket` as typed; then `CORVUS_REMOTE`
    /// or `CORVUS_SOCKET`; then the default remote; then the local socket.
    pub fn from_args(args: &ConnectionArgs) -> Result<Endpoint, CliError> {
        if args.tcp {
            return Ok(Endpoint::Tcp(format!("{}:{}", args.host, args.port)));
        }
        let typed_remote = args.remote.as_ref().filter(|_| args.typed.remote);
        let typed_socket = args.socket.as_ref().filter(|_| args.typed.socket);
        let chosen = match (typed_remote, typed_socket) {
            (Some(_), Some(_)) => {
                return Err(CliError::Usage(
                    "--remote and --socket name two different daemons: give one".into(),
                ));
            }
            (Some(remote), None) => Some(Choice::Remote(remote.clone())),
            (None, Some(socket)) => Some(Choice::Socket(socket.clone())),
            (None, None) => match (&args.remote, &args.socket) {
                (Some(remote), _) => Some(Choice::Remote(remote.clone())),
                (None, Some(socket)) => Some(Choice::Socket(socket.clone())),
                (None, None) => None,
            },
        };
        match chosen {
            Some(Choice::Socket(path)) => Ok(Endpoint::Unix(path)),
            Some(Choice::Remote(name)) => Endpoint::remote(&name),
            None => {
                let dir = remotes::config_dir()?;
                match Remotes::load(&dir)?.default {
                    Some(name) => Endpoint::remote(&name),
                    None => Endpoint::local(),
                }
            }
        }
    }

    fn local() -> Result<Endpoint, CliError> {
        match default_socket_path() {
            Some(path) => Ok(Endpoint::Unix(path)),
            None => Err(CliError::Usage(
                "XDG_RUNTIME_DIR is not set: pass --socket PATH or set CORVUS_SOCKET".into(),
            )),
        }
    }

    /// The remote `name` of remotes.toml (`local`: the local socket).
    pub fn remote(name: &str) -> Result<Endpoint, CliError> {
        if name == remotes::LOCAL {
            return Endpoint::local();
        }
        let dir = remotes::config_dir()?;
        let remote = Remotes::load(&dir)?.get(name)?.clone();
        let (host, port) = remotes::split_address(&remote.address)?;
        let files = remotes::remote_dir(&dir, name);
        let read = |file: &str| {
            let path = files.join(file);
            std::fs::read(&path).map_err(|err| {
                CliError::Usage(format!(
                    "cannot read {} of remote '{name}': {err}; add the remote again",
                    path.display()
                ))
            })
        };
        let (ca, certificate, key) = (
            read(remotes::CA)?,
            read(remotes::CERTIFICATE)?,
            read(remotes::KEY)?,
        );
        let tls = client_config(ClientPems {
            ca: &ca,
            certificate: &certificate,
            key: &key,
        })
        .map_err(|err| {
            CliError::Usage(format!(
                "the certificates of remote '{name}' in {} are unusable: {}",
                files.display(),
                crate::error::chain(&err)
            ))
        })?;
        Ok(Endpoint::Remote(RemoteEndpoint {
            name: name.to_owned(),
            host,
            port,
            tls,
        }))
    }

    /// Whether files on the daemon's host (the SPICE socket) are reachable here.
    pub fn is_local(&self) -> bool {
        let loopback = |host: &str| {
            host == "localhost"
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        };
        match self {
            Endpoint::Unix(_) => true,
            Endpoint::Tcp(address) => {
                address.starts_with("127.")
                    || address.starts_with("localhost:")
                    || address.starts_with("[::1]")
            }
            Endpoint::Remote(remote) => loopback(&remote.host),
        }
    }
}

enum Choice {
    Remote(String),
    Socket(PathBuf),
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
            Endpoint::Remote(remote) => {
                let connected =
                    corvus_protocol::tls::connect(remote.tls.clone(), &remote.host, remote.port)
                        .await;
                match connected {
                    Ok(stream) => Box::new(stream),
                    Err(err) => return Err(CliError::connect(endpoint, err)),
                }
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
            (_, Err(err)) | (Err(err), Ok(())) => Err(CliError::handshake(endpoint, err)),
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
