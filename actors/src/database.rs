//! The database as a daemon opens it, in this order and before any VM is
//! adopted: connected, locked against a second daemon, migrated, the
//! previous daemon's journal written into it, and the VMs loaded.

use crate::config::Config;
use crate::persistence::{self, Journal, Skipped, WRITE_TIMEOUT};
use anyhow::Context as _;
use chrono::Utc;
use corvus_protocol::VmEvent;
use corvus_storage::{
    DEFAULT_LOCK_NAME, DatabaseLock, DbKind, LockHolder, StateRecord, Store, StoredVm,
};
use tracing::{info, warn};

pub struct OpenDatabase {
    pub store: Store,
    /// Held until the daemon exits.
    pub lock: DatabaseLock,
    pub journal: Journal,
    /// With the journaled changes the database did not take applied.
    pub vms: Vec<StoredVm>,
    /// Journaled changes the database would not take now, queued again.
    pub pending: Vec<StateRecord>,
    pub pending_error: Option<String>,
    /// The highest event sequence number stored or journaled: the next
    /// daemon's events never reuse one.
    pub last_seq: u64,
}

impl OpenDatabase {
    /// The events of `pending`, to be shown until they are written.
    pub fn pending_events(&self) -> Vec<VmEvent> {
        self.pending
            .iter()
            .filter_map(|r| r.event.clone())
            .collect()
    }
}

pub async fn open(
    config: &Config,
    notify: &crate::systemd::Notifier,
) -> anyhow::Result<OpenDatabase> {
    let database = corvus_storage::redact(&config.database);
    notify.status(&format!("Connecting to the database {database}"));
    let store = Store::connect(&config.database).await?;
    notify.status("Locking the database");
    // One daemon per SQLite file; one per node name on PostgreSQL.
    let lock_name = match store.kind() {
        DbKind::Sqlite => DEFAULT_LOCK_NAME,
        DbKind::Postgres => config.node.name.as_str(),
    };
    let lock = take_lock(&store, lock_name, config.node.heartbeat()).await?;
    notify.status("Applying database migrations");
    store.migrate().await?;
    let holder = LockHolder {
        host: host_name().await,
        pid: std::process::id(),
        socket: config.socket.display().to_string(),
        started_at: Utc::now(),
    };
    if let Err(err) = lock.record_holder(&store, &holder).await {
        // The lock itself holds; only the name a refused daemon prints is missing.
        warn!(error = %format!("{:#}", anyhow::Error::new(err)), "cannot record this daemon in the lock row");
    }

    let journal = Journal::open(&config.data_dir, &store.identity())
        .await
        .context("Cannot use the state journal")?;
    for (path, bytes) in journal.others().await {
        warn!(journal = %path.display(), bytes, "another database's state journal still holds changes; start corvus on that database to write them");
    }
    let recovered = journal.recover().await?;
    report_skipped(&journal, &recovered.skipped);
    let (pending, pending_error) = replay(&store, &journal, recovered.records).await;

    crate::nodes::register(&store, &config.node).await?;

    notify.status("Loading VM definitions");
    let mut vms = store
        .load_vms()
        .await
        .context("Cannot load VM definitions")?;
    // The other nodes' VMs are theirs to run; this daemon only lists them.
    vms.retain(|stored| stored.vm.node.as_deref() == Some(config.node.name.as_str()));
    overlay(&mut vms, &pending);
    let stored_seq = store
        .max_event_seq()
        .await
        .context("Cannot read the event history")?;
    let journaled_seq = pending
        .iter()
        .filter_map(|r| r.event.as_ref().map(|e| e.seq))
        .max()
        .unwrap_or(0);
    info!(database = %database, journal = %journal.path().display(), vms = vms.len(), "database ready");
    Ok(OpenDatabase {
        store,
        lock,
        journal,
        vms,
        pending,
        pending_error,
        last_seq: stored_seq.max(journaled_seq),
    })
}

/// Writes the journal's records in order and empties it. Stops at the
/// first the database refuses: that one and the rest stay in the journal
/// and go back to the persistence actor's queue.
async fn replay(
    store: &Store,
    journal: &Journal,
    records: Vec<StateRecord>,
) -> (Vec<StateRecord>, Option<String>) {
    if records.is_empty() {
        return (Vec::new(), None);
    }
    let total = records.len();
    for (index, record) in records.iter().enumerate() {
        let problem = match tokio::time::timeout(WRITE_TIMEOUT, store.record_state(record)).await {
            Ok(Ok(())) => continue,
            Ok(Err(err)) => persistence::describe(err),
            Err(_) => "database unreachable: no answer".to_owned(),
        };
        warn!(journal = %journal.path().display(), written = index, left = total - index, "{problem}; the journaled state changes stay queued");
        return (records[index..].to_vec(), Some(problem));
    }
    info!(journal = %journal.path().display(), records = total, "wrote the state changes the previous daemon journaled");
    if let Err(err) = journal.clear().await {
        // Writing them again at the next start is harmless (idempotent).
        warn!(error = %format!("{:#}", anyhow::Error::new(err)), "cannot empty the state journal");
    }
    (Vec::new(), None)
}

fn report_skipped(journal: &Journal, skipped: &[Skipped]) {
    for line in skipped {
        let what = if line.torn {
            "a torn last record (the daemon died while writing it)"
        } else {
            "a damaged record"
        };
        warn!(journal = %journal.path().display(), line = line.line, bytes = line.bytes, error = %line.error, "skipped {what}; every whole record is kept");
    }
}

/// What the VMs look like once the queued changes are written.
fn overlay(vms: &mut [StoredVm], records: &[StateRecord]) {
    for record in records {
        let Some(stored) = vms.iter_mut().find(|v| v.vm.id == record.vm_id) else {
            continue;
        };
        stored.vm.status = record.status.as_str().to_owned();
        stored.vm.pid = record.pid.map(|p| p as i32);
        stored.vm.last_error = record.last_error.clone();
        for (share_id, pid) in &record.share_pids {
            if let Some(share) = stored.shares.iter_mut().find(|s| s.id == *share_id) {
                share.pid = pid.map(|p| p as i32);
            }
        }
    }
}

/// This host's name, for the lock row.
/// How long a lock held by a dead daemon of this host is waited for.
const DEAD_HOLDER_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The database lock. A PostgreSQL session of a daemon killed a moment ago
/// ends only once the server notices, so a holder on this host whose
/// process is gone is waited for (up to [`DEAD_HOLDER_WAIT`]) instead of
/// being named as the daemon in the way.
async fn take_lock(
    store: &Store,
    name: &str,
    heartbeat: std::time::Duration,
) -> Result<DatabaseLock, corvus_storage::StorageError> {
    let deadline = std::time::Instant::now() + DEAD_HOLDER_WAIT;
    loop {
        match store.lock(name, heartbeat).await {
            Err(corvus_storage::StorageError::Locked {
                holder: Some(holder),
                ..
            }) if std::time::Instant::now() < deadline
                && holder.host == host_name().await
                && !process_running(holder.pid).await =>
            {
                info!(
                    pid = holder.pid,
                    "the database lock is still held for a dead daemon of this host; waiting for its session to end"
                );
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            other => return other,
        }
    }
}

/// Alive, not merely unreaped (a zombie holds no session).
async fn process_running(pid: u32) -> bool {
    tokio::fs::read_to_string(format!("/proc/{pid}/stat"))
        .await
        .ok()
        .and_then(|stat| {
            let state = stat.rsplit_once(") ")?.1.chars().next()?;
            Some(state != 'Z' && state != 'X')
        })
        .unwrap_or(false)
}

async fn host_name() -> String {
    tokio::fs::read_to_string("/proc/sys/kernel/hostname")
        .await
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}
