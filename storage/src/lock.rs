//! The daemon lock: one daemon per SQLite database, one per node name on
//! PostgreSQL (issue 19), held for the daemon's life.
//!
//! The lock itself is one the operating system or the server releases when
//! its holder dies, so a crashed daemon never blocks the next one: an
//! `flock` on a file beside a SQLite database, a session-level advisory
//! lock on a PostgreSQL connection of its own (outside the pool, whose
//! connections come and go). The `daemon_lock` row only names the holder,
//! for the message a refused daemon prints; a row left by a dead daemon is
//! simply overwritten by the next holder.
//!
//! On PostgreSQL the lock's own session also writes the node's heartbeat
//! (`UPDATE node SET heartbeat = now()`), so that a fresh heartbeat always
//! comes from a session that holds the lock, by the database's clock.

use crate::entity::daemon_lock;
use crate::error::{StorageError, query};
use crate::identity::fnv1a64;
use crate::{DbKind, Store};
use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection};
use sea_orm::sqlx::{self, Connection as _};
use sea_orm::{ActiveValue::Set, DbErr, EntityTrait, RuntimeErr};
use std::fmt;
use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{error, info, warn};

/// The lock of a SQLite database's one daemon.
pub const DEFAULT_LOCK_NAME: &str = "corvus";

/// The PostgreSQL advisory lock key of a lock name.
pub fn advisory_key(name: &str) -> i64 {
    fnv1a64(format!("corvus-daemon-lock:{name}").as_bytes()) as i64
}

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    pub host: String,
    pub pid: u32,
    pub socket: String,
    pub started_at: DateTime<Utc>,
}

impl fmt::Display for LockHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "corvus pid {} on host {} (socket {}) since {}",
            self.pid,
            self.host,
            self.socket,
            self.started_at.to_rfc3339_opts(SecondsFormat::Secs, true)
        )
    }
}

/// What the lock's session last showed (PostgreSQL): the node's fence
/// (issue 19) reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionState {
    /// The session holds the lock, as far as its last probe knows.
    pub held: bool,
    /// When the last probe the server answered was *sent* (this host's
    /// monotonic clock): the database cannot have seen this node alive
    /// later than that without the node knowing.
    pub last_ok: Instant,
    /// Bumped every time the lock is taken again after it was lost.
    pub epoch: u64,
}

/// A held lock; dropping it releases it.
pub struct DatabaseLock {
    name: String,
    /// Kept open for the flock it carries; `None` for an in-memory database.
    _file: Option<File>,
    /// Owns the PostgreSQL connection that holds the advisory lock.
    keeper: Option<JoinHandle<()>>,
    session: Option<watch::Receiver<SessionState>>,
}

impl Drop for DatabaseLock {
    fn drop(&mut self) {
        if let Some(keeper) = self.keeper.take() {
            keeper.abort();
        }
    }
}

impl Store {
    /// Takes the lock `name` of this database, or says who holds it.
    /// Needs no table: it runs before migrations. On PostgreSQL `name` is
    /// the node's, and the lock's session writes its heartbeat every
    /// `heartbeat` (once the node row exists).
    pub async fn lock(
        &self,
        name: &str,
        heartbeat: Duration,
    ) -> Result<DatabaseLock, StorageError> {
        let taken = match self.kind {
            DbKind::Sqlite => self.lock_file().await.map(|file| DatabaseLock {
                name: name.to_owned(),
                _file: file,
                keeper: None,
                session: None,
            }),
            DbKind::Postgres => {
                self.lock_session(name, heartbeat)
                    .await
                    .map(|(keeper, session)| DatabaseLock {
                        name: name.to_owned(),
                        _file: None,
                        keeper: Some(keeper),
                        session: Some(session),
                    })
            }
        };
        match taken {
            Ok(lock) => Ok(lock),
            Err(LockFailure::Failed(err)) => Err(err),
            Err(LockFailure::Held) => Err(StorageError::Locked {
                database: crate::redact(&self.url),
                node: (self.kind == DbKind::Postgres).then(|| name.to_owned()),
                holder: self.lock_holder(name).await,
            }),
        }
    }

    /// The holder recorded in the lock row, if there is one to read.
    async fn lock_holder(&self, name: &str) -> Option<LockHolder> {
        let row = daemon_lock::Entity::find_by_id(name.to_owned())
            .one(&self.db)
            .await
            .ok()??;
        Some(LockHolder {
            host: row.host,
            pid: u32::try_from(row.pid).ok()?,
            socket: row.socket,
            started_at: row.started_at,
        })
    }

    async fn lock_file(&self) -> Result<Option<File>, LockFailure> {
        let Some(database) = crate::sqlite_path(&self.url) else {
            return Ok(None);
        };
        let mut path = database.into_os_string();
        path.push(".lock");
        let path = PathBuf::from(path);
        tokio::task::spawn_blocking(move || flock(path))
            .await
            .map_err(|err| LockFailure::Failed(StorageError::LockFile(std::io::Error::other(err))))?
            .map(Some)
    }

    async fn lock_session(
        &self,
        name: &str,
        heartbeat: Duration,
    ) -> Result<(JoinHandle<()>, watch::Receiver<SessionState>), LockFailure> {
        let key = advisory_key(name);
        let taken_at = Instant::now();
        let connection = match lock_connection(&self.url, key, name).await {
            Ok(Some(connection)) => connection,
            Ok(None) => return Err(LockFailure::Held),
            Err(err) => {
                return Err(LockFailure::Failed(query(DbErr::Conn(
                    RuntimeErr::SqlxError(Arc::new(err)),
                ))));
            }
        };
        let (state, receiver) = watch::channel(SessionState {
            held: true,
            last_ok: taken_at,
            epoch: 0,
        });
        let session = Session {
            url: self.url.clone(),
            key,
            node: name.to_owned(),
            heartbeat,
            state,
        };
        Ok((tokio::spawn(session.keep(connection)), receiver))
    }
}

impl DatabaseLock {
    /// What the lock's session shows, on PostgreSQL.
    pub fn session(&self) -> Option<watch::Receiver<SessionState>> {
        self.session.clone()
    }

    /// Names this daemon in the lock row (after migrations created it).
    pub async fn record_holder(
        &self,
        store: &Store,
        holder: &LockHolder,
    ) -> Result<(), StorageError> {
        let row = daemon_lock::ActiveModel {
            name: Set(self.name.clone()),
            host: Set(holder.host.clone()),
            pid: Set(i64::from(holder.pid)),
            socket: Set(holder.socket.clone()),
            started_at: Set(holder.started_at),
        };
        let tx = store.begin_write().await?;
        let written = daemon_lock::Entity::insert(row)
            .on_conflict(
                OnConflict::column(daemon_lock::Column::Name)
                    .update_columns([
                        daemon_lock::Column::Host,
                        daemon_lock::Column::Pid,
                        daemon_lock::Column::Socket,
                        daemon_lock::Column::StartedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&tx)
            .await
            .map(|_| ())
            .map_err(query);
        crate::transaction::finish(tx, written).await
    }

    /// Removes the lock row, then releases the lock (a clean exit).
    pub async fn release(self, store: &Store) {
        let removed = daemon_lock::Entity::delete_by_id(self.name.clone())
            .exec(store.connection())
            .await;
        if let Err(err) = removed {
            warn!(error = %err, "could not remove the daemon lock row; the next daemon overwrites it");
        }
    }
}

enum LockFailure {
    Held,
    Failed(StorageError),
}

/// Opens (creating, never following a symbolic link) and locks the file.
fn flock(path: PathBuf) -> Result<File, LockFailure> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(&path)
        .map_err(|source| LockFailure::Failed(StorageError::LockFileOpen { path, source }))?;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(file),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(LockFailure::Held),
        Err(err) => Err(LockFailure::Failed(StorageError::LockFile(err.into()))),
    }
}

/// A new connection holding the advisory lock, or `None` when another
/// session holds it.
async fn lock_connection(
    url: &str,
    key: i64,
    node: &str,
) -> Result<Option<PgConnection>, sqlx::Error> {
    // Named, so that `pg_stat_activity` shows whose lock a session holds.
    let options = PgConnectOptions::from_str(url)?.application_name(&format!("corvus-lock-{node}"));
    let mut connection = PgConnection::connect_with(&options).await?;
    let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(key)
        .fetch_one(&mut connection)
        .await?;
    Ok(taken.then_some(connection))
}

/// What the lock's own session keeps doing for the daemon's life.
struct Session {
    url: String,
    key: i64,
    node: String,
    heartbeat: Duration,
    state: watch::Sender<SessionState>,
}

/// What one heartbeat showed.
enum Beat {
    /// Written.
    Alive,
    /// The server answered but refused it (a read-only or full database):
    /// the session and its lock are still there, only the heartbeat ages.
    Refused(sqlx::Error),
    /// The connection is gone or does not answer.
    Lost,
}

impl Session {
    /// Holds the advisory lock's connection and writes the heartbeat. A
    /// server restart or a killed session ends the lock: take it again as
    /// soon as the server lets us, and say so loudly if another daemon got
    /// it first. Every answer the server gives is reported on `state`.
    async fn keep(self, mut connection: PgConnection) {
        let mut refused_before = false;
        loop {
            tokio::time::sleep(self.heartbeat).await;
            let sent = Instant::now();
            match self.beat(&mut connection).await {
                Beat::Alive => {
                    refused_before = false;
                    self.state.send_modify(|s| s.last_ok = sent);
                    continue;
                }
                Beat::Refused(refused) => {
                    if !refused_before {
                        warn!(node = %self.node, error = %refused, "the database refuses this node's heartbeat; the other nodes see it dead once the heartbeat is older than their --node-timeout");
                    }
                    refused_before = true;
                    self.state.send_modify(|s| s.last_ok = sent);
                    continue;
                }
                Beat::Lost => {}
            }
            warn!(node = %self.node, "lost the PostgreSQL session holding the node lock; taking the lock again");
            self.state.send_modify(|s| s.held = false);
            // Closed first, so that a session the server still keeps for it
            // ends and frees the lock.
            drop(connection);
            connection = self.retake().await;
        }
    }

    async fn beat(&self, connection: &mut PgConnection) -> Beat {
        let beat = sqlx::query("UPDATE node SET heartbeat = now() WHERE name = $1")
            .bind(&self.node)
            .execute(connection);
        // An answer slower than the heartbeat is as good as none.
        match tokio::time::timeout(self.heartbeat.max(Duration::from_secs(1)), beat).await {
            Ok(Ok(_)) => Beat::Alive,
            Ok(Err(sqlx::Error::Database(refused))) => {
                Beat::Refused(sqlx::Error::Database(refused))
            }
            Ok(Err(_)) | Err(_) => Beat::Lost,
        }
    }

    /// Takes the lock again, and writes a heartbeat with it, as soon as the
    /// server lets us; tries at least once per heartbeat interval.
    async fn retake(&self) -> PgConnection {
        let mut delay = Duration::from_millis(100);
        loop {
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(self.heartbeat);
            let sent = Instant::now();
            match lock_connection(&self.url, self.key, &self.node).await {
                Ok(Some(mut connection)) => {
                    if matches!(self.beat(&mut connection).await, Beat::Lost) {
                        continue;
                    }
                    info!(node = %self.node, "node lock taken again");
                    self.state.send_modify(|s| {
                        s.held = true;
                        s.last_ok = sent;
                        s.epoch += 1;
                    });
                    return connection;
                }
                Ok(None) => error!(
                    node = %self.node,
                    "another corvus took this node's lock while the session was lost; two daemons may now manage the same VMs: stop one"
                ),
                Err(_) => {}
            }
        }
    }
}
