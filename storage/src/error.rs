//! What can go wrong with the database, and how callers tell a server that
//! cannot be reached, one that refuses writes and a broken rule apart.

use crate::lock::LockHolder;
use sea_orm::{DbErr, RuntimeErr, SqlErr};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("Unsupported database URL '{0}': use sqlite://PATH or postgresql://USER@HOST/DB")]
    UnsupportedUrl(String),
    #[error("Cannot create the database directory {}", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("Cannot open the database {url}")]
    Connect {
        url: String,
        #[source]
        source: DbErr,
    },
    #[error("Database migration failed")]
    Migrate(#[source] DbErr),
    #[error("Database query failed")]
    Query(#[source] DbErr),
    #[error("The database holds an invalid {column} '{value}'")]
    Corrupt { column: &'static str, value: String },
    #[error("{}", locked(database, node.as_deref(), holder.as_ref()))]
    Locked {
        database: String,
        /// The node whose lock is held (PostgreSQL: one daemon per node).
        node: Option<String>,
        holder: Option<LockHolder>,
    },
    #[error("Cannot open the database lock file {}", path.display())]
    LockFileOpen {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("Cannot lock the database lock file")]
    LockFile(#[source] std::io::Error),
}

fn locked(database: &str, node: Option<&str>, holder: Option<&LockHolder>) -> String {
    let holder = match holder {
        Some(holder) => holder.to_string(),
        None => "another corvus, which has not named itself yet".to_owned(),
    };
    match node {
        Some(node) => format!(
            "Node '{node}' of the database {database} is in use by {holder}; stop it first, or give this daemon another name with --node"
        ),
        None => format!("The database {database} is in use by {holder}; stop it first"),
    }
}

/// Which unique rule a write broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duplicate {
    VmName,
    DiskName,
    DiskPath,
    MacAddress,
    ShareTag,
    NetworkName,
    Bridge,
    /// One address leased statically to two NICs of a network.
    StaticLease,
    Other,
}

impl StorageError {
    /// True when the database could not be reached at all (as opposed to
    /// refusing a statement), so the write may succeed later.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StorageError::Query(err) | StorageError::Connect { source: err, .. } => {
                matches!(err, DbErr::Conn(_) | DbErr::ConnectionAcquire(_)) || is_connection_io(err)
            }
            _ => false,
        }
    }

    /// The database's reason when it refuses writes for a while but may take
    /// them later: a full disk, a read-only database or hot standby, an I/O
    /// error, a lock held elsewhere, a server shutting down. `None` for
    /// anything else (a broken rule, a malformed row, an unreachable server).
    pub fn refusal(&self) -> Option<String> {
        let StorageError::Query(err) = self else {
            return None;
        };
        let database = database_error(err)?;
        let code = database.code()?;
        let passing = if database
            .try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>()
            .is_some()
        {
            // The primary result code is the low byte of an extended one.
            code.parse::<u32>().is_ok_and(|extended| {
                matches!(
                    extended & 0xff,
                    SQLITE_PERM
                        | SQLITE_BUSY
                        | SQLITE_LOCKED
                        | SQLITE_READONLY
                        | SQLITE_IOERR
                        | SQLITE_FULL
                        | SQLITE_CANTOPEN
                )
            })
        } else {
            // SQLSTATE: read-only transaction, lock not available, and the
            // classes insufficient resources, operator intervention, system
            // error and transaction rollback (serialization, deadlock).
            code == "25006"
                || code == "55P03"
                || ["53", "57", "58", "40"]
                    .iter()
                    .any(|class| code.starts_with(class))
        };
        passing.then(|| self.reason())
    }

    /// The database's own words for the failure ("database or disk is
    /// full", "cannot execute UPDATE in a read-only transaction"), without
    /// our wrapping, for `crv status` and the log.
    pub fn reason(&self) -> String {
        let err = match self {
            StorageError::Query(err)
            | StorageError::Migrate(err)
            | StorageError::Connect { source: err, .. } => err,
            other => return other.to_string(),
        };
        match (database_error(err), sqlx_error(err)) {
            (Some(database), _) => database.message().to_owned(),
            (None, Some(sqlx)) => sqlx.to_string(),
            (None, None) => err.to_string(),
        }
    }

    /// The unique rule this error broke, if it is a unique violation.
    pub fn duplicate(&self) -> Option<Duplicate> {
        let StorageError::Query(err) = self else {
            return None;
        };
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(message)) => Some(classify_duplicate(&message)),
            _ => None,
        }
    }
}

const SQLITE_PERM: u32 = 3;
const SQLITE_BUSY: u32 = 5;
const SQLITE_LOCKED: u32 = 6;
const SQLITE_READONLY: u32 = 8;
const SQLITE_IOERR: u32 = 10;
const SQLITE_FULL: u32 = 13;
const SQLITE_CANTOPEN: u32 = 14;

fn sqlx_error(err: &DbErr) -> Option<&sea_orm::sqlx::Error> {
    match err {
        DbErr::Conn(RuntimeErr::SqlxError(sqlx))
        | DbErr::Exec(RuntimeErr::SqlxError(sqlx))
        | DbErr::Query(RuntimeErr::SqlxError(sqlx)) => Some(sqlx),
        _ => None,
    }
}

fn database_error(err: &DbErr) -> Option<&dyn sea_orm::sqlx::error::DatabaseError> {
    sqlx_error(err)?.as_database_error()
}

impl StorageError {
    /// True when a write broke a foreign key: a row still refers to the
    /// one being deleted, or the row referred to is gone.
    pub fn referenced(&self) -> bool {
        let StorageError::Query(err) = self else {
            return false;
        };
        // SQLite reports a RESTRICT action with the code of a trigger
        // (1811), which sea-orm does not classify; its message is constant.
        matches!(
            err.sql_err(),
            Some(SqlErr::ForeignKeyConstraintViolation(_))
        ) || err.to_string().contains("FOREIGN KEY constraint failed")
    }
}

fn classify_duplicate(message: &str) -> Duplicate {
    // SQLite names columns ("vm.name"), PostgreSQL names constraints ("vm_name_key").
    if message.contains("ip_address") || message.contains("static_lease") {
        Duplicate::StaticLease
    } else if message.contains("network.name") || message.contains("network_name") {
        Duplicate::NetworkName
    } else if message.contains("network.bridge") || message.contains("network_bridge") {
        Duplicate::Bridge
    } else if message.contains("mac_address") {
        Duplicate::MacAddress
    } else if message.contains("tag") {
        Duplicate::ShareTag
    } else if message.contains("disk.name") || message.contains("disk_name") {
        Duplicate::DiskName
    } else if message.contains("disk.path") || message.contains("disk_path") {
        Duplicate::DiskPath
    } else if message.contains("vm.name") || message.contains("vm_name") {
        Duplicate::VmName
    } else {
        Duplicate::Other
    }
}

fn is_connection_io(err: &DbErr) -> bool {
    let text = err.to_string();
    [
        "Connection refused",
        "connection closed",
        "PoolTimedOut",
        "pool timed out",
        "Broken pipe",
        "terminating connection",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

pub(crate) fn query(err: DbErr) -> StorageError {
    StorageError::Query(err)
}
