//! The accept loops: one task per connection up to `--max-connections`
//! (and `--max-connections-per-client`), a typed refusal past them, TCP
//! keepalive, the TLS handshake of `--listen` clients, and a back-off
//! instead of a spin when accepting fails (out of file descriptors).

use super::peer::{Peer, Via};
use super::tls::{self, Handshake};
use super::{Services, Slot, connection};
use crate::tls::server::TlsServer;
use connection::ServerConnection;
use corvus_protocol::{ErrorKind, ServerMessage, WireError};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixListener};
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// A refused client is told why within this long (its TLS handshake
/// included), then dropped.
const REFUSAL_GRACE: Duration = Duration::from_secs(2);
/// Refusals under way at once; past this a client is closed without a word
/// (a flood must not cost a task per connection attempt).
const MAX_REFUSALS: u64 = 64;
/// TCP keepalive: the first probe after this much silence, then every
/// `KEEPALIVE_INTERVAL`, and the peer counts as gone after `KEEPALIVE_PROBES`
/// unanswered ones (about two minutes, where Linux's default is two hours).
const KEEPALIVE_IDLE: u32 = 60;
const KEEPALIVE_INTERVAL: u32 = 10;
const KEEPALIVE_PROBES: u32 = 6;

/// The main socket (`via` admin) or the viewer socket.
pub async fn unix(listener: UnixListener, services: Arc<Services>, via: Via) {
    let mut backoff = Backoff::default();
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                backoff.succeeded();
                let peer = Peer::unix(&stream, via);
                admit(stream, &services, peer);
            }
            Err(err) => backoff.failed(err).await,
        }
    }
}

/// Plain TCP (`--tcp --insecure-tcp`), loopback only.
pub async fn tcp(listener: TcpListener, services: Arc<Services>) {
    let mut backoff = Backoff::default();
    loop {
        match listener.accept().await {
            Ok((stream, address)) => {
                backoff.succeeded();
                tune(&stream, address);
                admit(stream, &services, Peer::tcp(address));
            }
            Err(err) => backoff.failed(err).await,
        }
    }
}

/// Mutual TLS (`--listen`): the handshake runs in the connection's task,
/// under `--handshake-timeout`, so a client that stalls holds nobody up.
pub async fn tls(listener: TcpListener, server: Arc<TlsServer>, services: Arc<Services>) {
    let mut backoff = Backoff::default();
    loop {
        match listener.accept().await {
            Ok((stream, address)) => {
                backoff.succeeded();
                // Before anything else: clients stalling in their handshake
                // must not hold every place under --max-connections.
                let Some(handshaking) = tls::Handshaking::begin(&services) else {
                    continue;
                };
                tune(&stream, address);
                let Some(slot) = services.open() else {
                    let (server, refusing) = (server.clone(), services.clone());
                    let opening = async move {
                        let done = tls::handshake(stream, address, &server, &refusing).await;
                        drop(handshaking);
                        done.into_stream()
                    };
                    refuse_at_limit(opening, &services);
                    continue;
                };
                let server = server.clone();
                tokio::spawn(async move {
                    let done = tls::handshake(stream, address, &server, &slot.services).await;
                    drop(handshaking);
                    match done {
                        Handshake::Done(stream, peer) => serve(stream, slot, peer).await,
                        Handshake::Refused(stream, error) => {
                            let _ = tokio::time::timeout(REFUSAL_GRACE, tell(stream, error)).await;
                        }
                        Handshake::Failed => {}
                    }
                });
            }
            Err(err) => backoff.failed(err).await,
        }
    }
}

fn tune(stream: &TcpStream, address: SocketAddr) {
    let _ = stream.set_nodelay(true);
    if let Err(err) = keepalive(stream) {
        warn!(peer = %address, %err, "cannot enable TCP keepalive on a connection");
    }
}

fn keepalive(stream: &TcpStream) -> nix::Result<()> {
    use nix::sys::socket::{setsockopt, sockopt};
    setsockopt(stream, sockopt::KeepAlive, &true)?;
    setsockopt(stream, sockopt::TcpKeepIdle, &KEEPALIVE_IDLE)?;
    setsockopt(stream, sockopt::TcpKeepInterval, &KEEPALIVE_INTERVAL)?;
    setsockopt(stream, sockopt::TcpKeepCount, &KEEPALIVE_PROBES)
}

/// Serves the connection, or refuses it when the daemon is at its limit.
fn admit<S>(stream: S, services: &Arc<Services>, peer: Peer)
where
    S: AsyncRead + AsyncWrite + AsRawFd + Unpin + Send + 'static,
{
    let Some(slot) = services.open() else {
        refuse_at_limit(async { Some(stream) }, services);
        return;
    };
    if peer.via == Via::Tcp {
        debug!(connection = slot.id, client = %peer.name, "TCP client connected");
    }
    tokio::spawn(serve(stream, slot, peer));
}

/// Serves an admitted connection under its client's own limit, until it
/// ends or the daemon closes it (its certificate was revoked).
async fn serve<S>(stream: S, slot: Slot, peer: Peer)
where
    S: AsyncRead + AsyncWrite + AsRawFd + Unpin + Send + 'static,
{
    let lease = match slot.services.clients.admit(slot.id, &peer) {
        Ok(lease) => lease,
        Err(limit) => {
            info!(connection = slot.id, client = %peer.name, limit, "refusing a client at its connection limit (--max-connections-per-client)");
            let error = WireError::new(
                ErrorKind::TooManyConnections { limit },
                format!(
                    "{} already holds {limit} connections, the most one client may (--max-connections-per-client): close some, or retry later",
                    peer.name
                ),
            );
            let _ = tokio::time::timeout(REFUSAL_GRACE, tell(stream, error)).await;
            return;
        }
    };
    let socket = stream.as_raw_fd();
    let serving = connection::serve(stream, slot.id, &peer, &slot.services);
    tokio::pin!(serving);
    tokio::select! {
        () = &mut serving => {}
        () = lease.closed() => {
            // A stream's halves may live in tasks of their own (an event
            // stream's reader, a relay's writer): shutting the socket down
            // ends them all, where dropping this future would not. The
            // socket is still open: `serving` owns it until this returns.
            let _ = nix::sys::socket::shutdown(socket, nix::sys::socket::Shutdown::Both);
            info!(connection = slot.id, client = %peer.name, "closed the connection of a revoked certificate");
        }
    }
}

/// Tells a client past `--max-connections` why, then closes. The error is
/// sent before the client's Hello is read: it is the first frame crv reads.
/// `opening` yields the stream to write to (after a TLS handshake, for
/// `--listen` clients), or `None`.
fn refuse_at_limit<S, F>(opening: F, services: &Arc<Services>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: Future<Output = Option<S>> + Send + 'static,
{
    let limit = services.limits.max_connections;
    log_refusal(services, limit);
    if services.refusals.fetch_add(1, Ordering::AcqRel) >= MAX_REFUSALS {
        services.refusals.fetch_sub(1, Ordering::AcqRel);
        return;
    }
    let services = services.clone();
    tokio::spawn(async move {
        let error = WireError::new(
            ErrorKind::TooManyConnections { limit },
            format!(
                "the daemon already serves {limit} connections, its maximum (--max-connections): retry later, or close idle clients"
            ),
        );
        let _ = tokio::time::timeout(
            REFUSAL_GRACE,
            async move { tell(opening.await?, error).await },
        )
        .await;
        services.refusals.fetch_sub(1, Ordering::AcqRel);
    });
}

/// Sends `error` as the connection's first frame, then closes it.
async fn tell<S>(stream: S, error: WireError) -> Option<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut conn = ServerConnection::new(stream);
    conn.send(ServerMessage::Reply(Err(error))).await.ok()?;
    // Read what the client sent until it closes, so that the kernel
    // does not reset the connection (and drop the error) on close.
    let mut stream = conn.into_inner();
    stream.shutdown().await.ok()?;
    let mut sink = [0u8; 1024];
    while stream.read(&mut sink).await.ok()? > 0 {}
    Some(())
}

fn log_refusal(services: &Services, limit: u64) {
    if let Some(refused) = services.refusals_at_limit.count(&services.ctx.started) {
        warn!(
            limit,
            refused,
            "refusing clients: the daemon serves its maximum of connections (--max-connections)"
        );
    }
}

/// Refusals of one kind, logged once when they begin and then at most once
/// every `LOG_EVERY` with their count, so that a flood of clients does not
/// flood the log.
#[derive(Default)]
pub struct Refusals {
    total: AtomicU64,
    /// Seconds since the daemon started, plus one; 0 never.
    logged_at: AtomicU64,
}

impl Refusals {
    /// Counts one; returns the count so far when a log line is due.
    pub fn count(&self, started: &std::time::Instant) -> Option<u64> {
        let total = self.total.fetch_add(1, Ordering::AcqRel) + 1;
        let now = started.elapsed().as_secs() + 1;
        let last = self.logged_at.load(Ordering::Acquire);
        let due = last == 0 || now >= last + Backoff::LOG_EVERY.as_secs();
        let claimed = due
            && self
                .logged_at
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
                .is_ok();
        claimed.then_some(total)
    }
}

/// Accept failures: EMFILE and ENFILE leave the client in the backlog and
/// the listener readable, so retrying at once would spin. Waits double
/// from 10 ms to 1 s; the log says so once per episode, then every 10 s.
#[derive(Default)]
struct Backoff {
    delay: Option<Duration>,
    failures: u64,
    last_logged: Option<Instant>,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(10);
    const LONGEST: Duration = Duration::from_secs(1);
    const LOG_EVERY: Duration = Duration::from_secs(10);

    async fn failed(&mut self, err: io::Error) {
        // The client gave up between readiness and accept: nothing to wait for.
        if matches!(
            err.kind(),
            io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
        ) {
            debug!(%err, "a client left before it was accepted");
            return;
        }
        self.failures += 1;
        if self
            .last_logged
            .is_none_or(|at| at.elapsed() >= Self::LOG_EVERY)
        {
            warn!(%err, failures = self.failures, "cannot accept clients; retrying with back-off (raise the file descriptor limit or lower --max-connections)");
            self.last_logged = Some(Instant::now());
        }
        let delay = self
            .delay
            .map_or(Self::FIRST, |d| (d * 2).min(Self::LONGEST));
        self.delay = Some(delay);
        tokio::time::sleep(delay).await;
    }

    fn succeeded(&mut self) {
        if self.failures > 0 {
            info!(
                failures = self.failures,
                "accepting clients again after failures"
            );
        }
        *self = Backoff::default();
    }
}
