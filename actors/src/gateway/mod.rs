//! The gateway actor: owns the listening sockets and runs one task per
//! connection. It holds no VM logic; requests go to the supervisor.

mod connection;
mod disks;
mod dispatch;
pub mod listen;
mod stream;

use crate::context::SharedContext;
use crate::supervisor::SupervisorRef;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::net::{TcpListener, UnixListener};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

pub type GatewayRef = ActorRef<()>;

/// What a connection task needs: the daemon's context, where to send
/// requests, and how to ask the daemon to shut down.
pub struct Services {
    pub ctx: SharedContext,
    pub supervisor: SupervisorRef,
    pub shutdown: CancellationToken,
    next_connection: AtomicU64,
}

pub struct GatewayArgs {
    pub ctx: SharedContext,
    pub supervisor: SupervisorRef,
    pub shutdown: CancellationToken,
    pub unix: UnixListener,
    /// The socket file to remove at exit; `None` when systemd owns it.
    pub unix_path: Option<PathBuf>,
    pub tcp: Option<TcpListener>,
}

pub struct GatewayState {
    accept_loops: Vec<JoinHandle<()>>,
    unix_path: Option<PathBuf>,
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
        let services = Arc::new(Services {
            ctx: args.ctx,
            supervisor: args.supervisor,
            shutdown: args.shutdown,
            next_connection: AtomicU64::new(1),
        });
        let mut accept_loops = vec![tokio::spawn(accept_unix(args.unix, services.clone()))];
        if let Some(tcp) = args.tcp {
            accept_loops.push(tokio::spawn(accept_tcp(tcp, services)));
        }
        Ok(GatewayState {
            accept_loops,
            unix_path: args.unix_path,
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
        if let Some(path) = &state.unix_path
            && let Err(err) = std::fs::remove_file(path)
        {
            warn!(socket = %path.display(), %err, "could not remove the socket");
        }
        Ok(())
    }
}

impl Services {
    fn open(self: &Arc<Self>) -> u64 {
        self.ctx.connections.fetch_add(1, Ordering::Relaxed);
        self.next_connection.fetch_add(1, Ordering::Relaxed)
    }

    fn close(&self) {
        self.ctx.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn accept_unix(listener: UnixListener, services: Arc<Services>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let id = services.open();
                let services = services.clone();
                tokio::spawn(async move {
                    connection::serve(stream, id, &services).await;
                    services.close();
                });
            }
            Err(err) => accept_failed(err).await,
        }
    }
}

async fn accept_tcp(listener: TcpListener, services: Arc<Services>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let id = services.open();
                debug!(connection = id, %peer, "TCP client connected");
                let services = services.clone();
                tokio::spawn(async move {
                    connection::serve(stream, id, &services).await;
                    services.close();
                });
            }
            Err(err) => accept_failed(err).await,
        }
    }
}

/// Out of file descriptors and the like: wait a little instead of spinning.
async fn accept_failed(err: std::io::Error) {
    warn!(%err, "accept failed");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
}
