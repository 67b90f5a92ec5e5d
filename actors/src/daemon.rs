//! Startup and shutdown: the order in which the daemon's parts come up and
//! go down.

use crate::config::Config;
use crate::context::Context;
use crate::database;
use crate::events::{EventBus, Numbering};
use crate::gateway::{self, GatewayArgs, listen};
use crate::persistence::{
    self, DrainOutcome, PersistenceArgs, PersistenceMsg, PersistenceStatus, WRITE_TIMEOUT,
};
use crate::retention;
use crate::sockets::listen_sockets;
use crate::supervisor::{self, SupervisorArgs, SupervisorMsg};
use crate::systemd::Handoff;
use crate::tls::server::{Revoked, TlsServer};
use anyhow::Context as _;
use corvus_qemu::Strictness;
use corvus_storage::{DbKind, Store};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// A safety net over `StopAll`, which answers by itself once every VM's
/// stop timeout and escalation are over (at most a day: the longest stop
/// timeout a VM may have).
const STOP_ALL_DEADLINE: Duration = Duration::from_secs(86_400 + 60);
/// How long queued state changes may take to reach the database at exit.
const DRAIN_DEADLINE: Duration = Duration::from_secs(5);

/// Runs the daemon until SIGTERM, SIGINT or `crv shutdown`. `handoff` is
/// what systemd passed: where to send readiness, and activated sockets.
pub async fn run(config: Config, handoff: Handoff) -> anyhow::Result<()> {
    let started = Instant::now();
    // First of all, so that a signal during start-up (say, while VMs are
    // re-adopted) is a clean shutdown once start-up is done, not a death
    // by the default action.
    let mut signals = Signals::install()?;
    let notify = handoff.notifier;
    let accel = config
        .accel
        .resolve()
        .context("Cannot use the requested acceleration")?;
    // Before the database: a SQLite default lives in the data directory.
    corvus_qemu::private_dir::ensure_async(config.data_dir.clone(), Strictness::Private)
        .await
        .context("Cannot use the data directory (--data-dir)")?;
    if handoff.listen_fds.is_empty() {
        refuse_a_served_socket(&config.socket).await?;
    }
    // Locked, migrated and with the previous daemon's journal written
    // before anything is bound or adopted.
    let opened = database::open(&config, &notify).await?;
    let numbering = match opened.store.kind() {
        DbKind::Sqlite => Numbering::Daemon,
        DbKind::Postgres => Numbering::Database,
    };
    let bus = EventBus::new(opened.last_seq, opened.pending_events(), numbering);
    let database::OpenDatabase {
        store,
        lock,
        journal,
        vms,
        pending,
        pending_error,
        ..
    } = opened;
    let journal_path = journal.path().to_owned();
    // Before any client or VM needs descriptors; after the checks whose
    // failure must be the only line on stderr.
    crate::fdlimit::raise(config.limits.max_connections);

    // Before anything listens: a missing or broken CA is a one-line error.
    let revoked = Arc::new(Revoked::default());
    let tls_server = match &config.listen {
        Some(_) => Some(load_tls(&config, &store, revoked.clone()).await?),
        None => None,
    };

    // Bound before the VMs are adopted so that a second daemon is refused
    // before it touches anything; clients wait in the backlog until ready.
    let sockets = listen_sockets(&config, handoff.listen_fds, handoff.listen_error).await?;
    let web = match &config.http {
        Some(address) => {
            Some(crate::web::bind(address, &config.config_dir, revoked.clone()).await?)
        }
        None => None,
    };
    let viewer = match &config.viewer_socket {
        Some(viewer) => Some((
            listen::bind_viewer(&viewer.path, viewer.group, &viewer.group_name).await?,
            viewer.path.clone(),
        )),
        None => None,
    };
    if let Some(address) = &sockets.tcp_address {
        warn!(address = %address, "plain TCP (--insecure-tcp) has no authentication: every local user gets every right over it; use --listen (mutual TLS) instead");
    }
    corvus_qemu::private_dir::ensure_async(config.runtime_dir.clone(), Strictness::Parent)
        .await
        .context("Cannot use the runtime directory (--runtime-dir)")?;

    let persistence_status = PersistenceStatus::default();
    let persistence = persistence::spawn(PersistenceArgs {
        store: store.clone(),
        journal,
        pending,
        pending_error,
        status: persistence_status.clone(),
    })
    .await
    .context("Cannot start the persistence actor")?;
    let owner_mark = format!("{:016x}", store.identity().digest());
    let ctx = Arc::new(Context {
        owner_mark,
        store,
        persistence: persistence.clone(),
        bus,
        runtime_root: config.runtime_dir.clone(),
        data_dir: config.data_dir.clone(),
        accel,
        qemu_binary: resolve_binary(&config.qemu),
        dnsmasq_binary: resolve_sbin(&config.dnsmasq),
        virtiofsd: OnceCell::new(),
        socket: sockets.path.clone(),
        tcp: sockets.tcp_address.clone(),
        tls: sockets.tls_address.clone(),
        http: web.as_ref().map(|web| web.url.clone()),
        started,
        connections: Arc::new(AtomicU64::new(0)),
        persistence_status,
        metrics: Default::default(),
        node: config.node.clone(),
        fence: Default::default(),
    });
    let vm_count = vms.len();
    notify.status(&format!("Re-adopting running VMs ({vm_count} defined)"));
    // Returns once every VmActor has adopted its QEMU or found it gone.
    let supervisor = supervisor::spawn(SupervisorArgs {
        ctx: ctx.clone(),
        vms,
        stats_interval: config.stats_interval,
    })
    .await
    .context("Cannot start the supervisor")?;

    let shutdown = CancellationToken::new();
    let closing = CancellationToken::new();
    let gateway = gateway::spawn(GatewayArgs {
        ctx: ctx.clone(),
        supervisor: supervisor.clone(),
        shutdown: shutdown.clone(),
        closing: closing.clone(),
        unix: sockets.unix,
        unix_path: sockets.remove_at_exit,
        tcp: sockets.tcp,
        viewer,
        tls: sockets.tls.zip(tls_server),
        revoked,
        limits: config.limits.clone(),
        web,
    })
    .await
    .context("Cannot start the gateway")?;
    let metrics = match &config.metrics {
        Some(address) => {
            let listener = crate::metrics::bind(address).await?;
            info!(address = %address, "serving Prometheus metrics at /metrics");
            Some(crate::metrics::serve(
                listener,
                ctx.clone(),
                supervisor.clone(),
            ))
        }
        None => None,
    };
    let node_events = crate::nodes::events::spawn(ctx.clone());
    // Failover (PostgreSQL): this node fences its HA VMs when it loses its
    // lock, and takes over the lost nodes' VMs.
    let fence = crate::nodes::fence::spawn(ctx.clone(), supervisor.clone(), lock.session());
    let takeover = crate::nodes::takeover::spawn(ctx.clone(), supervisor.clone(), lock.session());
    let pruner = retention::spawn(
        ctx.store.clone(),
        config.retention.keep,
        config.retention.interval,
    );
    info!(%accel, socket = %sockets.path.display(), data_dir = %ctx.data_dir.display(), tcp = ?sockets.tcp_address, tls = ?sockets.tls_address, viewer_socket = ?config.viewer_socket.as_ref().map(|v| v.path.display().to_string()), activated = sockets.activated, startup_ms = started.elapsed().as_millis() as u64, "corvus ready");
    notify.ready(&format!(
        "Serving clients on {} ({vm_count} VM{})",
        sockets.path.display(),
        if vm_count == 1 { "" } else { "s" }
    ));

    signals.wait_for_shutdown(&shutdown).await;
    info!("shutting down");
    // Nothing new may start while the daemon is on its way out, and the
    // clients still connected are let go (idle ones and streams at once).
    let _ = supervisor.cast(SupervisorMsg::BeginShutdown);
    closing.cancel();
    if let Some(pruner) = pruner {
        pruner.abort();
    }
    for task in [node_events, takeover].into_iter().flatten() {
        task.abort();
    }
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    notify.stopping("Stopping: closing the socket");
    gateway
        .stop_and_wait(None, Some(Duration::from_secs(5)))
        .await
        .ok();
    if config.stop_vms_on_exit {
        info!("stopping every VM before exiting (--stop-vms-on-exit)");
        notify.status("Stopping: stopping every VM (--stop-vms-on-exit)");
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
    notify.status("Stopping: stopping the VM actors");
    supervisor
        .stop_and_wait(None, Some(Duration::from_secs(30)))
        .await
        .ok();
    notify.status("Stopping: writing queued state changes to the database");
    match persistence
        .call(
            |reply| PersistenceMsg::Drain {
                deadline: DRAIN_DEADLINE,
                reply,
            },
            // A write under way when the deadline passes may take its own timeout.
            Some(DRAIN_DEADLINE + WRITE_TIMEOUT + Duration::from_secs(2)),
        )
        .await
    {
        Ok(ractor::rpc::CallResult::Success(DrainOutcome { left: 0, .. })) => {}
        Ok(ractor::rpc::CallResult::Success(DrainOutcome {
            left,
            journaled: true,
        })) => {
            warn!(left, journal = %journal_path.display(), "exiting with state changes the database did not take; they are in the journal, and the next start writes them")
        }
        _ => warn!("the persistence actor did not confirm its queue was written or journaled"),
    }
    // Its post_stop journals whatever is still queued.
    persistence
        .stop_and_wait(None, Some(WRITE_TIMEOUT + Duration::from_secs(2)))
        .await
        .ok();
    // The fence watches until the VM actors are gone: a lock lost while
    // they stop still kills the HA VMs.
    if let Some(fence) = fence {
        fence.abort();
    }
    // The row only names the holder; a database that does not answer keeps it, harmlessly.
    let _ = tokio::time::timeout(WRITE_TIMEOUT, lock.release(&ctx.store)).await;
    ctx.store.clone().close().await;
    info!("corvus stopped");
    notify.status("Stopped");
    Ok(())
}

/// The CA and server certificate from the config directory, and the
/// revocations the database holds.
async fn load_tls(
    config: &Config,
    store: &Store,
    revoked: Arc<Revoked>,
) -> anyhow::Result<Arc<TlsServer>> {
    let serials = store
        .revoked_serials()
        .await
        .context("Cannot read the revoked client certificates")?;
    let known = revoked.replace(serials);
    let dir = config.config_dir.clone();
    let server = tokio::task::spawn_blocking(move || TlsServer::load(&dir, revoked))
        .await
        .context("Cannot load the TLS certificates")?
        .context("Cannot serve --listen")?;
    info!(config_dir = %config.config_dir.display(), revoked = known, "TLS certificates loaded");
    Ok(Arc::new(server))
}

/// A daemon already serving our socket is the likeliest second start (on
/// the same database too): name the socket, before the database lock
/// refuses it less directly. Binding it comes later and checks again.
async fn refuse_a_served_socket(socket: &std::path::Path) -> Result<(), listen::ListenError> {
    match tokio::net::UnixStream::connect(socket).await {
        Ok(_) => Err(listen::ListenError::AlreadyRunning(socket.to_owned())),
        Err(_) => Ok(()),
    }
}

/// The signals the daemon answers. SIGHUP (a closed terminal, or a
/// `systemctl reload`) is logged and otherwise ignored: there is no
/// configuration to reload, logs go to stderr, and dying would be wrong.
struct Signals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Signals> {
        Ok(Signals {
            terminate: signal(SignalKind::terminate()).context("Cannot handle SIGTERM")?,
            interrupt: signal(SignalKind::interrupt()).context("Cannot handle SIGINT")?,
            hangup: signal(SignalKind::hangup()).context("Cannot handle SIGHUP")?,
        })
    }

    async fn wait_for_shutdown(&mut self, shutdown: &CancellationToken) {
        loop {
            tokio::select! {
                _ = self.terminate.recv() => return info!("SIGTERM received"),
                _ = self.interrupt.recv() => return info!("SIGINT received"),
                _ = shutdown.cancelled() => return info!("shutdown requested by a client"),
                _ = self.hangup.recv() => {
                    info!("SIGHUP received and ignored: corvus has no configuration to reload; stop it with SIGTERM")
                }
            }
        }
    }
}

/// The QEMU binary as a path, looked up on PATH once rather than at every
/// VM start. A missing QEMU is not fatal: definitions can still be managed,
/// and a start says what is missing.
/// A bare name on PATH, then in the sbin directories a non-root PATH
/// lacks; a path, or a name found nowhere, as given (its start then fails
/// with an error naming it).
fn resolve_sbin(binary: &std::path::Path) -> std::path::PathBuf {
    if binary.components().count() > 1 {
        return binary.to_path_buf();
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain(["/usr/sbin", "/sbin"].map(std::path::PathBuf::from))
        .map(|dir| dir.join(binary))
        .find(|path| path.is_file())
        .unwrap_or_else(|| binary.to_path_buf())
}

fn resolve_binary(binary: &std::path::Path) -> std::path::PathBuf {
    if binary.components().count() > 1 {
        return binary.to_path_buf();
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(binary))
            .find(|path| path.is_file())
    });
    found.unwrap_or_else(|| {
        warn!(qemu = %binary.display(), "QEMU is not on PATH; VMs cannot start (install qemu-system-x86 or pass --qemu)");
        binary.to_path_buf()
    })
}
