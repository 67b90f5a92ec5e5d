//! The state journal: state changes the database has not taken, kept in a
//! local file so that neither an exit nor a crash loses them.
//!
//! One file per database under `DATA_DIR/journal/`, one JSON record per
//! line, appended and fsync'd (the directory too when the file is new)
//! before the append is considered done. The next daemon replays it into
//! the database before it loads and adopts any VM, then empties it.
//! Records are written whole, in one `write`, so a crash can only tear the
//! last line; reading keeps every whole record and reports what it skipped.

use corvus_qemu::Strictness;
use corvus_qemu::private_dir::{self, PrivateDirError};
use corvus_storage::{DatabaseIdentity, StateRecord};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("Cannot use the journal directory")]
    Dir(#[source] PrivateDirError),
    #[error("Cannot read the state journal {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("Cannot write the state journal {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("Cannot encode a state change for the journal")]
    Encode(#[source] serde_json::Error),
    #[error("The journal task failed")]
    Task(#[source] tokio::task::JoinError),
}

/// A line of the journal that was not a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// 1-based.
    pub line: usize,
    pub bytes: usize,
    /// The last line, cut short by a crash.
    pub torn: bool,
    pub error: String,
}

/// What a journal held.
#[derive(Debug, Default)]
pub struct Recovered {
    /// In the order they were appended.
    pub records: Vec<StateRecord>,
    pub skipped: Vec<Skipped>,
}

#[derive(Debug, Clone)]
pub struct Journal {
    path: PathBuf,
}

/// The journal's file name: readable, and unique per database.
pub fn file_name(identity: &DatabaseIdentity) -> String {
    let name: String = identity
        .name
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '_' | '-' => c,
            _ => '_',
        })
        .take(48)
        .collect();
    format!(
        "{}-{name}-{:016x}.jsonl",
        identity.kind.as_str(),
        identity.digest()
    )
}

impl Journal {
    /// The journal of one database, in `data_dir/journal` (created 0700).
    pub async fn open(
        data_dir: &Path,
        identity: &DatabaseIdentity,
    ) -> Result<Journal, JournalError> {
        let dir = data_dir.join("journal");
        private_dir::ensure_async(dir.clone(), Strictness::Private)
            .await
            .map_err(JournalError::Dir)?;
        Ok(Journal {
            path: dir.join(file_name(identity)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every whole record, oldest first. A torn last line is cut off the
    /// file so that the next append starts on a line of its own.
    pub async fn recover(&self) -> Result<Recovered, JournalError> {
        let path = self.path.clone();
        blocking(move || recover(&path)).await
    }

    /// Appends records and returns once they are on disk.
    pub async fn append(&self, records: Vec<StateRecord>) -> Result<(), JournalError> {
        let mut buffer = Vec::new();
        for record in &records {
            serde_json::to_writer(&mut buffer, record).map_err(JournalError::Encode)?;
            buffer.push(b'\n');
        }
        let path = self.path.clone();
        blocking(move || append(&path, &buffer)).await
    }

    /// Empties the journal: everything it held is in the database.
    pub async fn clear(&self) -> Result<(), JournalError> {
        let path = self.path.clone();
        blocking(move || truncate(&path, 0)).await
    }

    /// Other databases' journals in the same directory that still hold
    /// changes (a daemon started on another `--database`), by path and size.
    pub async fn others(&self) -> Vec<(PathBuf, u64)> {
        let path = self.path.clone();
        blocking(move || Ok(others(&path)))
            .await
            .unwrap_or_default()
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, JournalError> + Send + 'static,
) -> Result<T, JournalError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(JournalError::Task)?
}

fn options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options
        .mode(0o600)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits());
    options
}

fn recover(path: &Path) -> Result<Recovered, JournalError> {
    let read_error = |source| JournalError::Read {
        path: path.to_owned(),
        source,
    };
    let bytes = match options().read(true).open(path) {
        Ok(mut file) => {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut file, &mut bytes).map_err(read_error)?;
            bytes
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Recovered::default()),
        Err(err) => return Err(read_error(err)),
    };
    let (recovered, whole) = parse(&bytes);
    if whole < bytes.len() {
        truncate(path, whole as u64)?;
    }
    Ok(recovered)
}

/// The records of a journal's bytes, and how many bytes hold whole lines.
pub(crate) fn parse(bytes: &[u8]) -> (Recovered, usize) {
    let mut recovered = Recovered::default();
    let mut start = 0;
    let mut line = 0;
    while start < bytes.len() {
        line += 1;
        let rest = &bytes[start..];
        let Some(end) = rest.iter().position(|b| *b == b'\n') else {
            recovered.skipped.push(Skipped {
                line,
                bytes: rest.len(),
                torn: true,
                error: "the line has no end: a write cut short".into(),
            });
            break;
        };
        let text = &rest[..end];
        if !text.is_empty() {
            match serde_json::from_slice::<StateRecord>(text) {
                Ok(record) => recovered.records.push(record),
                Err(err) => recovered.skipped.push(Skipped {
                    line,
                    bytes: text.len(),
                    torn: false,
                    error: err.to_string(),
                }),
            }
        }
        start += end + 1;
    }
    (recovered, start.min(bytes.len()))
}

fn append(path: &Path, buffer: &[u8]) -> Result<(), JournalError> {
    let write_error = |source| JournalError::Write {
        path: path.to_owned(),
        source,
    };
    let created = std::fs::symlink_metadata(path).is_err();
    let mut file = options()
        .append(true)
        .create(true)
        .open(path)
        .map_err(write_error)?;
    file.write_all(buffer).map_err(write_error)?;
    file.sync_data().map_err(write_error)?;
    if created {
        sync_dir(path).map_err(write_error)?;
    }
    Ok(())
}

fn truncate(path: &Path, length: u64) -> Result<(), JournalError> {
    let write_error = |source| JournalError::Write {
        path: path.to_owned(),
        source,
    };
    let file = match options().write(true).open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(write_error(err)),
    };
    file.set_len(length).map_err(write_error)?;
    file.sync_all().map_err(write_error)
}

/// Makes a new directory entry durable (fsync(2): syncing a file does not
/// sync the entry that names it).
fn sync_dir(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) => std::fs::File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

fn others(ours: &Path) -> Vec<(PathBuf, u64)> {
    let Some(dir) = ours.parent() else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path != ours && path.extension().is_some_and(|e| e == "jsonl"))
        .filter_map(|path| {
            let size = std::fs::symlink_metadata(&path).ok()?.len();
            (size > 0).then_some((path, size))
        })
        .collect()
}

#[cfg(test)]
#[path = "journal_tests.rs"]
mod tests;
