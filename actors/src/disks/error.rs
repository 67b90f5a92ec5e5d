//! What a disk operation can run into, and the one place where it becomes
//! a wire error: the kind clients branch on, and a message that says what
//! happened and what to do, with the whole cause chain.

use crate::wire::DbFailure;
use corvus_protocol::{ErrorKind, WireError};
use corvus_qemu::ImgError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    #[error("no disk named or numbered '{0}' (see `crv disk list`)")]
    Unknown(String),
    #[error("a disk named '{0}' already exists; pick another name or delete it first")]
    NameTaken(String),
    #[error("disk '{disk}' has no snapshot '{snapshot}' (see `crv disk snapshot list {disk}`)")]
    NoSnapshot { disk: String, snapshot: String },
    #[error("disk '{disk}' already has a snapshot '{snapshot}'; pick another name")]
    SnapshotExists { disk: String, snapshot: String },
    #[error("{0}")]
    Invalid(String),
    #[error("disk '{disk}' is busy: {what} is in progress; retry when it has finished")]
    Busy { disk: String, what: &'static str },
    #[error("disk '{disk}' is in use by {users}; {hint}")]
    InUse {
        disk: String,
        users: String,
        hint: &'static str,
    },
    #[error(
        "not enough free space in {}: {needed} needed, {available} available",
        dir.display()
    )]
    NoSpace {
        dir: PathBuf,
        needed: String,
        available: String,
    },
    #[error("the file of disk '{disk}' is missing: {} (was it deleted outside Corvus?)", path.display())]
    FileMissing { disk: String, path: PathBuf },
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}")]
    Img {
        what: String,
        #[source]
        source: ImgError,
    },
    #[error("{0}")]
    Source(String),
    #[error(
        "the checksum of the source does not match: expected sha256 {expected}, got {actual}; nothing was kept"
    )]
    Checksum { expected: String, actual: String },
    #[error("cancelled; nothing was kept")]
    Cancelled,
    #[error("{0}")]
    Database(WireError),
    #[error("{0}")]
    Unavailable(String),
}

impl DiskError {
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DiskError {
        let what = what.into();
        move |source| DiskError::Io { what, source }
    }

    pub fn img(what: impl Into<String>) -> impl FnOnce(ImgError) -> DiskError {
        let what = what.into();
        move |source| match source {
            ImgError::Cancelled => DiskError::Cancelled,
            source => DiskError::Img { what, source },
        }
    }
}

impl From<DbFailure> for DiskError {
    fn from(failure: DbFailure) -> DiskError {
        DiskError::Database(failure.into())
    }
}

impl From<DiskError> for WireError {
    fn from(err: DiskError) -> WireError {
        let kind = match &err {
            DiskError::Unknown(_)
            | DiskError::FileMissing { .. }
            | DiskError::NoSnapshot { .. } => ErrorKind::NotFound,
            DiskError::NameTaken(_)
            | DiskError::InUse { .. }
            | DiskError::SnapshotExists { .. } => ErrorKind::Conflict,
            DiskError::Invalid(_)
            | DiskError::NoSpace { .. }
            | DiskError::Source(_)
            | DiskError::Checksum { .. }
            | DiskError::Cancelled => ErrorKind::InvalidArgument,
            DiskError::Busy { .. } => ErrorKind::Busy,
            DiskError::Unavailable(_) => ErrorKind::Unavailable,
            DiskError::Io { .. } | DiskError::Img { .. } => ErrorKind::Internal,
            DiskError::Database(wire) => return wire.clone(),
        };
        let message = anyhow::Error::new(err)
            .chain()
            .map(|cause| cause.to_string())
            .collect::<Vec<_>>()
            .join(": ");
        WireError::new(kind, message)
    }
}

/// `1.5 GiB`: sizes in messages, in the binary units the CLI takes.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
