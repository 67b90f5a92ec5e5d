//! Corvus's database. One `Store` over SQLite (the zero-setup default) or
//! PostgreSQL; the daemon's persistence actor and loaders are its callers.

pub mod entity;
mod error;
mod identity;
mod lock;
mod notify;
mod queries;
pub mod rows;
mod transaction;

pub use error::{Duplicate, StorageError};
pub use identity::DatabaseIdentity;
pub use lock::{DEFAULT_LOCK_NAME, DatabaseLock, LockHolder, SessionState, advisory_key};
pub use notify::{Announced, EVENTS_CHANNEL};
pub use queries::cloud::{NewCloudInit, NewVmExtras};
pub use queries::disks::NewDisk;
pub use queries::networks::{NetworkNicRow, NewNetwork};
pub use queries::node_reach::NodeReach;
pub use queries::nodes::{NodeRegistration, NodeRow};
pub use queries::reserve::DeviceTable;
pub use queries::snapshots::SnapshotRow;
pub use queries::state::StateRecord;
pub use queries::takeover::{LostVm, node_lost};
pub use queries::web_sessions::NewWebSession;
pub use rows::StoredVm;

use corvus_migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

impl DbKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DbKind::Sqlite => "sqlite",
            DbKind::Postgres => "postgresql",
        }
    }
}

#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    kind: DbKind,
    /// Normalised, password included (for the lock's own connection).
    url: String,
    identity: DatabaseIdentity,
    /// The node it writes for, which announces its events (`notify.rs`).
    node: Arc<OnceLock<Arc<str>>>,
}

/// How long a query may wait for a connection before the database counts as down.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

impl Store {
    /// Opens `sqlite://PATH` (creating the file and its directory) or
    /// `postgresql://…` / `postgres://…`.
    pub async fn connect(url: &str) -> Result<Store, StorageError> {
        let (kind, url) = normalise_url(url)?;
        let mut options = ConnectOptions::new(url.clone());
        options
            .sqlx_logging(false)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_timeout(ACQUIRE_TIMEOUT);
        match kind {
            DbKind::Sqlite => {
                if let Some(dir) = sqlite_path(&url).and_then(|p| p.parent().map(Path::to_path_buf))
                {
                    std::fs::create_dir_all(&dir)
                        .map_err(|source| StorageError::CreateDir { path: dir, source })?;
                }
                // One writer is all SQLite allows; WAL lets readers proceed beside it.
                options
                    .max_connections(1)
                    .map_sqlx_sqlite_pool_opts(|pool| {
                        pool.after_release(transaction::sqlite_release_check)
                    })
                    .map_sqlx_sqlite_opts(|opts| {
                        opts.create_if_missing(true)
                            .foreign_keys(true)
                            .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                            .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                            .busy_timeout(Duration::from_secs(5))
                    });
            }
            DbKind::Postgres => {
                options
                    .max_connections(4)
                    .min_connections(0)
                    .map_sqlx_postgres_pool_opts(|pool| {
                        pool.after_release(transaction::postgres_release_check)
                    });
            }
        }
        let db = Database::connect(options)
            .await
            .map_err(|source| StorageError::Connect {
                url: redact(&url),
                source,
            })?;
        Ok(Store {
            db,
            kind,
            identity: identity::identify(kind, &url),
            url,
            node: Arc::default(),
        })
    }

    /// Brings the schema up to date; safe to run at every start.
    pub async fn migrate(&self) -> Result<(), StorageError> {
        Migrator::up(&self.db, None)
            .await
            .map_err(StorageError::Migrate)
    }

    pub fn kind(&self) -> DbKind {
        self.kind
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    pub async fn close(self) {
        let _ = self.db.close().await;
    }
}

fn normalise_url(url: &str) -> Result<(DbKind, String), StorageError> {
    if let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        if rest.is_empty() {
            return Err(StorageError::UnsupportedUrl(url.to_owned()));
        }
        Ok((DbKind::Sqlite, format!("sqlite://{rest}")))
    } else if url.starts_with("postgresql://") || url.starts_with("postgres://") {
        Ok((DbKind::Postgres, url.to_owned()))
    } else {
        Err(StorageError::UnsupportedUrl(url.to_owned()))
    }
}

pub(crate) fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://")?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// A URL fit for logs: the password, if any, replaced.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_recognised_by_scheme() {
        assert_eq!(
            normalise_url("sqlite:///tmp/a.db").unwrap().0,
            DbKind::Sqlite
        );
        assert_eq!(normalise_url("sqlite:rel.db").unwrap().1, "sqlite://rel.db");
        assert_eq!(
            normalise_url("postgres://u@h/db").unwrap().0,
            DbKind::Postgres
        );
        assert_eq!(
            normalise_url("postgresql://u@h/db").unwrap().0,
            DbKind::Postgres
        );
        assert!(normalise_url("mysql://u@h/db").is_err());
        assert!(normalise_url("sqlite://").is_err());
    }

    #[test]
    fn passwords_never_reach_the_logs() {
        assert_eq!(
            redact("postgresql://me:secret@host/db"),
            "postgresql://me:***@host/db"
        );
        assert_eq!(redact("sqlite:///tmp/a.db"), "sqlite:///tmp/a.db");
    }

    #[test]
    fn the_sqlite_path_excludes_query_parameters() {
        assert_eq!(
            sqlite_path("sqlite:///var/x.db?mode=rwc"),
            Some(PathBuf::from("/var/x.db"))
        );
        assert_eq!(sqlite_path("sqlite://:memory:"), None);
    }
}
