//! Startup and shutdown: the order in which the daemon's parts come up and
//! go down.

use crate::config::Config;
use crate::context::Context;
use crate::events::EventBus;
use crate::gateway::{self, GatewayArgs, listen};
use crate::persistence::{self, PersistenceArgs, PersistenceMsg};
use crate::supervisor::{self, SupervisorArgs, SupervisorMsg};
use anyhow::Context as _;
use corvus_storage::Store;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// The longest `--stop-vms-on-exit` waits for VMs to stop.
const STOP_ALL_DEADLINE: Duration = Duration::from_secs(600);
/// How long queued state changes may take to reach the database at exit.
const DRAIN_DEADLINE: Duration = Duration::from_secs(5);

pub async fn run(config: Config) -> anyhow::Result<()> {
    let started = Instant::now();
    let accel = config
        .accel
        .resolve()
        .context("Cannot use the requested acceleration")?;
    let store = Store::connect(&config.database).await?;
    store.migrate().await?;
    let vms = store
        .load_vms()
        .await
        .context("Cannot load VM definitions")?;
    let last_seq = store
        .max_event_seq()
        .await
        .context("Cannot read the event history")?;
    info!(database = %corvus_storage::redact(&config.database), vms = vms.len(), %accel, "database ready");

    // Bound before the VMs are adopted so that a second daemon is refused
    // before it touches anything; clients wait in the backlog until ready.
    let unix = listen::bind_unix(&config.socket).await?;
    let tcp = match &config.tcp {
        Some(address) => Some(listen::bind_tcp(address).await?),
        None => None,
    };

    let backlog = Arc::new(AtomicU64::new(0));
    let persistence = persistence::spawn(PersistenceArgs {
        store: store.clone(),
        backlog: backlog.clone(),
    })
    .await
    .context("Cannot start the persistence actor")?;
    let ctx = Arc::new(Context {
        store,
        persistence: persistence.clone(),
        bus: EventBus::new(last_seq),
        runtime_root: config.runtime_dir.clone(),
        accel,
        qemu_binary: config.qemu.clone(),
        virtiofsd: corvus_qemu::virtiofsd::find().await,
        socket: config.socket.clone(),
        tcp: config.tcp.clone(),
        started,
        connections: Arc::new(AtomicU64::new(0)),
        persistence_backlog: backlog,
    });
    let supervisor = supervisor::spawn(SupervisorArgs {
        ctx: ctx.clone(),
        vms,
    })
    .await
    .context("Cannot start the supervisor")?;

    let shutdown = CancellationToken::new();
    let gateway = gateway::spawn(GatewayArgs {
        ctx: ctx.clone(),
        supervisor: supervisor.clone(),
        shutdown: shutdown.clone(),
        unix,
        unix_path: config.socket.clone(),
        tcp,
    })
    .await
    .context("Cannot start the gateway")?;
    info!(socket = %config.socket.display(), tcp = ?config.tcp, startup_ms = started.elapsed().as_millis() as u64, "corvus ready");

    wait_for_shutdown(&shutdown).await?;
    info!("shutting down");
    gateway
        .stop_and_wait(None, Some(Duration::from_secs(5)))
        .await
        .ok();
    if config.stop_vms_on_exit {
        info!("stopping every VM before exiting (--stop-vms-on-exit)");
        // Each VM has its own stop timeout and escalation; this only bounds the wait.
        let stopped = supervisor
            .call(
                |reply| SupervisorMsg::StopAll { reply },
                Some(STOP_ALL_DEADLINE),
            )
            .await;
        if !matches!(stopped, Ok(ractor::rpc::CallResult::Success(()))) {
            warn!("some VMs were still running when the daemon gave up waiting");
        }
    }
    supervisor
        .stop_and_wait(None, Some(Duration::from_secs(30)))
        .await
        .ok();
    match persistence
        .call(
            |reply| PersistenceMsg::Drain {
                deadline: DRAIN_DEADLINE,
                reply,
            },
            Some(DRAIN_DEADLINE + Duration::from_secs(1)),
        )
        .await
    {
        Ok(ractor::rpc::CallResult::Success(0)) => {}
        Ok(ractor::rpc::CallResult::Success(left)) => {
            warn!(left, "exiting with state changes the database did not take")
        }
        _ => warn!("the persistence actor did not confirm its queue was written"),
    }
    persistence
        .stop_and_wait(None, Some(Duration::from_secs(1)))
        .await
        .ok();
    ctx.store.clone().close().await;
    info!("corvus stopped");
    Ok(())
}

async fn wait_for_shutdown(shutdown: &CancellationToken) -> anyhow::Result<()> {
    let mut terminate = signal(SignalKind::terminate()).context("Cannot handle SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("Cannot handle SIGINT")?;
    tokio::select! {
        _ = terminate.recv() => info!("SIGTERM received"),
        _ = interrupt.recv() => info!("SIGINT received"),
        _ = shutdown.cancelled() => info!("shutdown requested by a client"),
    }
    Ok(())
}
