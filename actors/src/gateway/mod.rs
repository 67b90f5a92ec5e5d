//! The gateway actor: owns the listening sockets and runs one task per
//! connection. It holds no VM logic; requests go to the supervisor, once
//! `roles.rs` has checked that the client may send them.

mod accept;
mod clients;
mod connection;
mod disks;
mod dispatch;
mod forwarding;
mod history;
mod inprocess;
pub mod listen;
mod nodes;
pub(crate) mod peer;
mod remote_stream;
mod roles;
mod stream;
mod tls;

use crate::config::ConnectionLimits;
use crate::context::SharedContext;
use crate::supervisor::SupervisorRef;
use crate::tls::server::{Revoked, TlsServer};
use accept::Refusals;
use clients::Clients;
use corvus_protocol::{FrameBudget, Limits};
pub(crate) use inprocess::{Door, InProcess};
use peer::Via;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::net::{TcpListener, UnixListener};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::warn;

pub type GatewayRef = ActorRef<()>;

/// What a connection task needs: the daemon's context, where to send
/// requests, and how to ask the daemon to shut down.
pub struct Services {
    pub ctx: SharedContext,
    pub supervisor: SupervisorRef,
    pub shutdown: CancellationToken,
    /// Cancelled once the daemon is on its way out: idle connections and
    /// streams close, a request under way still gets its answer.
    pub closing: CancellationToken,
    pub limits: ConnectionLimits,
    /// Shared by every connection's decoder.
    budget: FrameBudget,
    /// Who is connected, for the per-client limit and revocations.
    clients: Arc<Clients>,
    /// Revoked client certificates, shared with the TLS verifier.
    revoked: Arc<Revoked>,
    next_connection: AtomicU64,
    /// Connections to other nodes kept between forwards.
    pub forward_pool: crate::nodes::forward_pool::ForwardPool,
    /// Refusals (past `--max-connections`) still being told.
    refusals: AtomicU64,
    /// Clients refused at the limit so far, for the log.
    refusals_at_limit: Refusals,
    /// TLS handshakes under way, and clients closed past their maximum.
    handshakes: AtomicU64,
    handshake_refusals: Refusals,
    /// For work that outlives the request that began it (a drain's task).
    myself: std::sync::Weak<Services>,
}

impl Services {
    /// A handle of its own on the services; `None` once the gateway is gone.
    pub fn owned(&self) -> Option<Arc<Services>> {
        self.myself.upgrade()
    }
}

pub struct GatewayArgs {
    pub ctx: SharedContext,
    pub supervisor: SupervisorRef,
    pub shutdown: CancellationToken,
    pub closing: CancellationToken,
    pub unix: UnixListener,
    /// The socket file to remove at exit; `None` when systemd owns it.
    pub unix_path: Option<PathBuf>,
    pub tcp: Option<TcpListener>,
    /// `--viewer-socket`: read-only clients, and the file to remove at exit.
    pub viewer: Option<(UnixListener, PathBuf)>,
    /// `--listen`: mutual TLS.
    pub tls: Option<(TcpListener, Arc<TlsServer>)>,
    pub revoked: Arc<Revoked>,
    pub limits: ConnectionLimits,
    /// `--http`: the web console, whose requests come in through a `Door`.
    pub web: Option<crate::web::WebListener>,
}

pub struct GatewayState {
    accept_loops: Vec<JoinHandle<()>>,
    /// Socket files the daemon created, removed at exit.
    socket_files: Vec<PathBuf>,
}

pub struct Gateway;

pub async fn spawn(args: GatewayArgs) -> Result<GatewayRef, ractor::SpawnErr> {
    let (actor, _) = Actor::spawn(Some("gateway".into()), Gateway, args).await?;
    Ok(actor)
}

impl Actor for Gateway {
    type Msg = ();
    type State = GatewayState;
    type Arguments = GatewayArgs;

    async fn pre_start(
        &self,
        _: GatewayRef,
        args: GatewayArgs,
    ) -> Result<GatewayState, ActorProcessingErr> {
        let services = Arc::new_cyclic(|myself| Services {
            myself: myself.clone(),
            ctx: args.ctx,
            supervisor: args.supervisor,
            shutdown: args.shutdown,
            closing: args.closing,
            budget: FrameBudget::new(args.limits.frame_budget),
            clients: Arc::new(Clients::new(args.limits.max_per_client)),
            revoked: args.revoked,
            limits: args.limits,
            next_connection: AtomicU64::new(1),
            forward_pool: Default::default(),
            refusals: AtomicU64::new(0),
            refusals_at_limit: Refusals::default(),
            handshakes: AtomicU64::new(0),
            handshake_refusals: Refusals::default(),
        });
        let mut accept_loops = vec![tokio::spawn(accept::unix(
            args.unix,
            services.clone(),
            Via::AdminSocket,
        ))];
        let mut socket_files: Vec<PathBuf> = args.unix_path.into_iter().collect();
        if let Some((viewer, path)) = args.viewer {
            let accepting = accept::unix(viewer, services.clone(), Via::ViewerSocket);
            accept_loops.push(tokio::spawn(accepting));
            socket_files.push(path);
        }
        if let Some(tcp) = args.tcp {
            accept_loops.push(tokio::spawn(accept::tcp(tcp, services.clone())));
        }
        if let Some((listener, server)) = args.tls {
            accept_loops.push(tokio::spawn(accept::tls(
                listener,
                server,
                services.clone(),
            )));
        }
        if let Some(web) = args.web {
            accept_loops.push(crate::web::serve(web, Door::new(services)));
        }
        Ok(GatewayState {
            accept_loops,
            socket_files,
        })
    }

    async fn post_stop(
        &self,
        _: GatewayRef,
        state: &mut GatewayState,
    ) -> Result<(), ActorProcessingErr> {
        for task in &state.accept_loops {
            task.abort();
        }
        for path in &state.socket_files {
            if let Err(err) = std::fs::remove_file(path) {
                warn!(socket = %path.display(), %err, "could not remove the socket");
            }
        }
        Ok(())
    }
}

impl Services {
    /// Counts a new connection and numbers it, or `None` at the limit.
    fn open(self: &Arc<Self>) -> Option<Slot> {
        self.ctx
            .connections
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < self.limits.max_connections).then_some(open + 1)
            })
            .ok()?;
        Some(Slot {
            id: self.next_connection.fetch_add(1, Ordering::Relaxed),
            services: self.clone(),
        })
    }

    /// What one connection may hold and how long it may dawdle.
    fn connection_limits(&self) -> Limits {
        Limits {
            budget: Some(self.budget.clone()),
            frame_timeout: Some(self.limits.frame_timeout),
            idle_timeout: self.limits.idle_timeout,
        }
    }
}

/// One counted connection; dropping it (however its task ends, a panic
/// included) frees its place under `--max-connections`.
struct Slot {
    id: u64,
    services: Arc<Services>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.services.ctx.connections.fetch_sub(1, Ordering::AcqRel);
    }
}
