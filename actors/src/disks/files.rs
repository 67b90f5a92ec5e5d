//! The disk directory (`DATA_DIR/disks`, 0700) and the files in it. A
//! managed disk's file name is random, never derived from the disk's name,
//! and is claimed with O_EXCL|O_NOFOLLOW before qemu-img writes into it, so
//! nothing planted in the directory is ever followed or overwritten.

use super::error::{DiskError, human_size};
use corvus_qemu::Strictness;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Where managed disks live.
pub fn disk_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("disks")
}

/// Creates the disk directory 0700, or refuses one that others could enter.
pub async fn ensure_dir(dir: &Path) -> Result<(), DiskError> {
    corvus_qemu::private_dir::ensure_async(dir.to_path_buf(), Strictness::Private)
        .await
        .map_err(|err| DiskError::Io {
            what: format!("cannot use the disk directory {}", dir.display()),
            source: std::io::Error::other(format!("{:#}", anyhow::Error::new(err))),
        })
}

/// A file claimed for a new disk; removed on drop unless kept, so that a
/// failed or cancelled operation leaves nothing behind.
pub struct NewFile {
    pub path: PathBuf,
    keep: bool,
}

impl NewFile {
    /// Claims a fresh random name in `dir` (`<16 hex>.<suffix>`).
    pub async fn claim(dir: &Path, suffix: &str) -> Result<NewFile, DiskError> {
        ensure_dir(dir).await?;
        for _ in 0..8 {
            let path = dir.join(format!("{:016x}.{suffix}", fastrand::u64(..)));
            let opened = tokio::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(nix::libc::O_NOFOLLOW)
                .open(&path)
                .await;
            match opened {
                Ok(_) => return Ok(NewFile { path, keep: false }),
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(err) => {
                    return Err(DiskError::io(format!("cannot create {}", path.display()))(
                        err,
                    ));
                }
            }
        }
        Err(DiskError::Io {
            what: format!("cannot find a free file name in {}", dir.display()),
            source: std::io::Error::from(std::io::ErrorKind::AlreadyExists),
        })
    }

    /// The file stays: it now belongs to a disk row.
    pub fn keep(mut self) -> PathBuf {
        self.keep = true;
        std::mem::take(&mut self.path)
    }

    pub fn path_text(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }
}

impl Drop for NewFile {
    fn drop(&mut self) {
        if !self.keep && !self.path.as_os_str().is_empty() {
            // Drop cannot await; unlink is one quick system call.
            if let Err(err) = std::fs::remove_file(&self.path)
                && err.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(path = %self.path.display(), %err, "cannot remove a partial disk file");
            }
        }
    }
}

/// Free bytes for an unprivileged writer on the filesystem of `dir`.
pub async fn free_space(dir: &Path) -> Result<u64, DiskError> {
    let target = dir.to_path_buf();
    let stat = tokio::task::spawn_blocking(move || nix::sys::statvfs::statvfs(&target))
        .await
        .map_err(|err| DiskError::io("statvfs")(std::io::Error::other(err.to_string())))?
        .map_err(|errno| {
            DiskError::io(format!("cannot read the free space of {}", dir.display()))(errno.into())
        })?;
    Ok((stat.blocks_available() as u64).saturating_mul(stat.fragment_size() as u64))
}

/// Refuses up front what would not fit (issue 14: checked with statvfs).
pub async fn require_space(dir: &Path, needed: u64) -> Result<(), DiskError> {
    let available = free_space(dir).await?;
    if needed > available {
        return Err(DiskError::NoSpace {
            dir: dir.to_path_buf(),
            needed: human_size(needed),
            available: human_size(available),
        });
    }
    Ok(())
}

/// Logs the files in the disk directory that no disk records: left by an
/// import the daemon did not live to finish, or kept by `delete
/// --keep-file`. Which is which cannot be told, so nothing is removed.
pub async fn report_strays(dir: &Path, catalog: &super::catalog::Catalog) {
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else {
        return;
    };
    let mut strays = Vec::new();
    while let Ok(Some(entry)) = entries.next_entry().await {
        let path = entry.path().to_string_lossy().into_owned();
        if catalog.by_path(&path).is_none() {
            strays.push(path);
        }
    }
    if !strays.is_empty() {
        tracing::warn!(files = ?strays, "files in the disk directory that no disk records (an interrupted import, or kept by `crv disk delete --keep-file`): register or remove them");
    }
}

/// Bytes the file occupies; `None` when it is gone.
pub async fn allocated(path: &str) -> Option<u64> {
    let meta = tokio::fs::symlink_metadata(path).await.ok()?;
    Some(meta.blocks().saturating_mul(512))
}

/// Removes a managed disk's file; a file already gone is not an error.
pub async fn remove(path: &str) -> Result<(), DiskError> {
    match tokio::fs::remove_file(path).await {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(DiskError::io(format!("cannot remove {path}"))(err)),
    }
}
