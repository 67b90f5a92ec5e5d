//! Who is on the other end of a connection: the name events and logs give
//! it, what it may do, and how it came in.

use crate::client_name::ClientName;
use crate::tls::certificate::ClientCertificate;
use corvus_protocol::Role;
use std::net::SocketAddr;
use tokio::net::UnixStream;

/// How a client reached the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The main Unix socket (0600): whoever can open it is the daemon's user.
    AdminSocket,
    /// `--viewer-socket`, open to `--socket-group`.
    ViewerSocket,
    /// `--tcp --insecure-tcp`: no authentication, loopback only.
    Tcp,
    /// `--listen`: a client certificate from the daemon's CA.
    Tls,
    /// `--http`: a web console session (issue 21).
    Web,
    /// A request another node passed on, run as the client it names
    /// (issue 19); it is never passed on again.
    Node,
}

#[derive(Debug, Clone)]
pub struct Peer {
    pub name: ClientName,
    pub role: Role,
    pub via: Via,
    /// The serial of the client's certificate (TLS only), for revocations.
    pub certificate: Option<String>,
}

impl Peer {
    /// A client on a Unix socket, named by its uid (SO_PEERCRED).
    pub fn unix(stream: &UnixStream, via: Via) -> Peer {
        let name = match stream.peer_cred() {
            Ok(credentials) => ClientName::unix(credentials.uid()),
            Err(_) => ClientName::from_static("unix:unknown"),
        };
        let role = match via {
            Via::ViewerSocket => Role::Viewer,
            Via::AdminSocket | Via::Tcp | Via::Tls | Via::Web | Via::Node => Role::Admin,
        };
        Peer {
            name,
            role,
            via,
            certificate: None,
        }
    }

    /// A client on plain TCP: anyone on the host, with every right.
    pub fn tcp(address: SocketAddr) -> Peer {
        Peer {
            name: ClientName::intern(&format!("tcp:{}", address.ip())),
            role: Role::Admin,
            via: Via::Tcp,
            certificate: None,
        }
    }

    /// A client whose certificate the TLS handshake verified.
    pub fn tls(certificate: ClientCertificate) -> Peer {
        Peer {
            name: ClientName::intern(&certificate.name),
            role: certificate.role,
            via: Via::Tls,
            certificate: Some(certificate.serial),
        }
    }

    /// Whether `--max-connections-per-client` applies: to certificates and
    /// viewer-socket users, not to the daemon's own user on its socket.
    pub fn capped(&self) -> bool {
        match self.via {
            Via::ViewerSocket | Via::Tls => true,
            // The web front bounds its own connections; a forwarded
            // request's node connection is capped as the node's.
            Via::AdminSocket | Via::Tcp | Via::Web | Via::Node => false,
        }
    }
}
