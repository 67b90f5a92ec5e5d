use sea_orm::{DbErr, SqlErr};
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
}

/// Which unique rule a write broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duplicate {
    VmName,
    DiskName,
    DiskPath,
    MacAddress,
    ShareTag,
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
    if message.contains("mac_address") {
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
