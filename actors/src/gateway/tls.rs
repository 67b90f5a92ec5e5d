//! The TLS side of the gateway: the handshake of each `--listen` client
//! (with its deadline, one log line when it fails), the revocation check
//! against the database, and reloading revocations on `corvus tls revoke`.

use super::Services;
use super::peer::Peer;
use crate::tls::server::{TlsServer, client_of};
use crate::wire::db;
use corvus_protocol::{ErrorKind, Response, Role, WireError};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tracing::{debug, info, warn};

/// TLS handshakes under way at once. Past this a new TLS client is closed
/// at once, so that clients stalling in their handshake (each for up to
/// `--handshake-timeout`) hold at most this many places under
/// `--max-connections`, and local clients always find room.
pub const MAX_HANDSHAKES: u64 = 128;

/// One handshake under way; dropping it makes room for another.
pub struct Handshaking {
    services: Arc<Services>,
}

impl Handshaking {
    /// Room for one more handshake, or `None` (logged, rate-limited) when
    /// `MAX_HANDSHAKES` are under way.
    pub fn begin(services: &Arc<Services>) -> Option<Handshaking> {
        let counted =
            services
                .handshakes
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |under_way| {
                    (under_way < MAX_HANDSHAKES).then_some(under_way + 1)
                });
        if counted.is_err() {
            if let Some(closed) = services.handshake_refusals.count(&services.ctx.started) {
                warn!(
                    closed,
                    limit = MAX_HANDSHAKES,
                    "closing new TLS clients at once: too many handshakes are under way"
                );
            }
            return None;
        }
        Some(Handshaking {
            services: services.clone(),
        })
    }
}

impl Drop for Handshaking {
    fn drop(&mut self) {
        self.services.handshakes.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How long a handshake waits for the database's word on revocation before
/// trusting what the daemon already knows (loaded at start, reloaded by
/// `corvus tls revoke`): as long as the store waits for a connection.
const REVOCATION_LOOKUP: Duration = Duration::from_secs(3);

/// How a client's TLS handshake went. Each way but `Done` has cost one
/// log line.
pub enum Handshake {
    Done(TlsStream<TcpStream>, Peer),
    /// The handshake completed, but the client may not come in: it is told why.
    Refused(TlsStream<TcpStream>, WireError),
    /// Refused by TLS itself (the client got an alert), or timed out.
    Failed,
}

impl Handshake {
    pub fn into_stream(self) -> Option<TlsStream<TcpStream>> {
        match self {
            Handshake::Done(stream, _) => Some(stream),
            Handshake::Refused(..) | Handshake::Failed => None,
        }
    }
}

/// The TLS handshake of one client, under `--handshake-timeout`, and who
/// the client is.
pub async fn handshake(
    stream: TcpStream,
    address: SocketAddr,
    server: &TlsServer,
    services: &Services,
) -> Handshake {
    let limit = services.limits.handshake_timeout;
    let stream = match tokio::time::timeout(limit, server.acceptor.accept(stream)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(err)) => {
            warn!(peer = %address, error = %err, "TLS handshake refused; connection closed");
            return Handshake::Failed;
        }
        Err(_) => {
            warn!(peer = %address, secs = limit.as_secs(), "TLS handshake not done in time (--handshake-timeout); connection closed");
            return Handshake::Failed;
        }
    };
    let Some(certificate) = client_of(stream.get_ref().1) else {
        warn!(peer = %address, "TLS client without a readable certificate; connection closed");
        return Handshake::Failed;
    };
    if revoked_in_database(&certificate.serial, server, services).await {
        warn!(peer = %address, client = %certificate.name, serial = %certificate.serial, "TLS client with a revoked certificate; connection closed");
        let error = WireError::new(
            ErrorKind::PermissionDenied {
                needed: Role::Viewer,
            },
            format!(
                "the certificate of '{}' was revoked: ask the daemon's administrator for a new one",
                certificate.name
            ),
        );
        return Handshake::Refused(stream, error);
    }
    debug!(peer = %address, client = %certificate.name, role = %certificate.role, "TLS client connected");
    Handshake::Done(stream, Peer::tls(certificate))
}

/// The database's word on a certificate that the in-memory set let through
/// (another host may have revoked it, or a revocation may not have been
/// announced). A database that does not answer in time leaves the set's word.
async fn revoked_in_database(serial: &str, server: &TlsServer, services: &Services) -> bool {
    let lookup = services.ctx.store.is_revoked(serial);
    match tokio::time::timeout(REVOCATION_LOOKUP, lookup).await {
        Ok(Ok(true)) => {
            server.revoked.insert(serial.to_owned());
            true
        }
        Ok(Ok(false)) => false,
        Ok(Err(err)) => {
            debug!(error = %err, "cannot check a certificate against the database; trusting the revocations already known");
            false
        }
        Err(_) => {
            debug!(
                "the database did not answer a revocation check in time; trusting the revocations already known"
            );
            false
        }
    }
}

/// `corvus tls revoke` recorded revocations: take the database's list and
/// close the connections of the certificates on it.
pub async fn reload_revocations(services: &Services) -> Result<Response, WireError> {
    let serials = db(services.ctx.store.revoked_serials()).await?;
    let revoked = services.revoked.replace(serials);
    let closed = services.clients.close_revoked(&services.revoked);
    info!(revoked, closed, "revocations reloaded");
    Ok(Response::RevocationsReloaded { revoked, closed })
}
