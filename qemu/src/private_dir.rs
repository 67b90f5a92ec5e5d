//! Directories only the daemon's user may enter: the data directory, the
//! runtime root and each VM's runtime directory. They hold sockets that give
//! full control of a VM and files the daemon (often root) writes, so a
//! directory another user made or can write is refused rather than used.

use nix::unistd::{Uid, geteuid};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum PrivateDirError {
    #[error("Cannot create the directory {}", path.display())]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("Cannot inspect the directory {}", path.display())]
    Inspect {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is a symbolic link; Corvus does not follow links for its private directories: remove it", path.display())]
    Symlink { path: PathBuf },
    #[error("{} exists and is not a directory: move it away", path.display())]
    NotADirectory { path: PathBuf },
    #[error("{} belongs to user {owner}, not to the daemon's user {daemon}: remove it or use another directory", path.display())]
    Owner {
        path: PathBuf,
        owner: u32,
        daemon: u32,
    },
    #[error("{} has mode {mode:o}, which lets other users in; `chmod 700` it", path.display())]
    Mode { path: PathBuf, mode: u32 },
}

/// How strict the check of an existing directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strictness {
    /// Owned by the daemon's user and closed to everyone else (0700 or less).
    Private,
    /// A root under which private directories are made: owned by the
    /// daemon's user or root, and not writable by others unless sticky
    /// (like /tmp, where nobody can replace another user's entries).
    Parent,
}

/// Creates `path` with mode 0700 (and any missing parents), or checks the
/// one that exists without following a symbolic link. Blocking: call it
/// from `spawn_blocking` or before the runtime starts.
pub fn ensure(path: &Path, strictness: Strictness) -> Result<(), PrivateDirError> {
    match std::fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => return Ok(()),
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(path)
                .map_err(|source| PrivateDirError::Create {
                    path: path.to_owned(),
                    source,
                })?;
            return Ok(());
        }
        Err(source) => {
            return Err(PrivateDirError::Create {
                path: path.to_owned(),
                source,
            });
        }
    }
    check(path, strictness)
}

/// Checks an existing directory (see [`Strictness`]).
pub fn check(path: &Path, strictness: Strictness) -> Result<(), PrivateDirError> {
    let meta = std::fs::symlink_metadata(path).map_err(|source| PrivateDirError::Inspect {
        path: path.to_owned(),
        source,
    })?;
    let file_type = meta.file_type();
    if file_type.is_symlink() {
        return Err(PrivateDirError::Symlink {
            path: path.to_owned(),
        });
    }
    if !file_type.is_dir() {
        return Err(PrivateDirError::NotADirectory {
            path: path.to_owned(),
        });
    }
    let daemon = geteuid();
    let owner = Uid::from_raw(meta.uid());
    let mode = meta.permissions().mode() & 0o7777;
    let owner_ok = match strictness {
        Strictness::Private => owner == daemon,
        Strictness::Parent => owner == daemon || owner.is_root(),
    };
    if !owner_ok {
        return Err(PrivateDirError::Owner {
            path: path.to_owned(),
            owner: owner.as_raw(),
            daemon: daemon.as_raw(),
        });
    }
    let mode_ok = match strictness {
        Strictness::Private => mode & 0o077 == 0,
        Strictness::Parent => mode & 0o022 == 0 || mode & 0o1000 != 0,
    };
    if !mode_ok {
        return Err(PrivateDirError::Mode {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

/// [`ensure`] off the async runtime's threads.
pub async fn ensure_async(path: PathBuf, strictness: Strictness) -> Result<(), PrivateDirError> {
    let shown = path.clone();
    tokio::task::spawn_blocking(move || ensure(&path, strictness))
        .await
        .unwrap_or_else(|join| {
            Err(PrivateDirError::Create {
                path: shown,
                source: io::Error::other(join.to_string()),
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode_of(path: &Path) -> u32 {
        std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
    }

    #[test]
    fn a_missing_directory_is_made_private_with_its_parents() {
        let root = tempfile::tempdir().expect("tempdir");
        let path = root.path().join("a/b");
        ensure(&path, Strictness::Private).expect("create");
        assert_eq!(mode_of(&path), 0o700);
        assert_eq!(mode_of(&root.path().join("a")), 0o700);
        ensure(&path, Strictness::Private).expect("an existing private directory is fine");
    }

    #[test]
    fn an_open_directory_is_refused_and_named() {
        let root = tempfile::tempdir().expect("tempdir");
        let path = root.path().join("open");
        std::fs::create_dir(&path).expect("mkdir");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let err = ensure(&path, Strictness::Private).unwrap_err();
        assert!(
            matches!(err, PrivateDirError::Mode { mode: 0o755, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("chmod 700"), "{err}");
        ensure(&path, Strictness::Parent).expect("a 0755 parent is fine");
    }

    #[test]
    fn a_symlink_is_never_followed() {
        let root = tempfile::tempdir().expect("tempdir");
        let target = root.path().join("elsewhere");
        std::fs::create_dir(&target).expect("mkdir");
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let link = root.path().join("link");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        let err = ensure(&link, Strictness::Private).unwrap_err();
        assert!(matches!(err, PrivateDirError::Symlink { .. }), "{err}");
    }

    #[test]
    fn a_world_writable_parent_needs_the_sticky_bit() {
        let root = tempfile::tempdir().expect("tempdir");
        let path = root.path().join("shared");
        std::fs::create_dir(&path).expect("mkdir");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        assert!(ensure(&path, Strictness::Parent).is_err());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
        ensure(&path, Strictness::Parent).expect("sticky like /tmp");
    }

    #[test]
    fn a_file_in_the_way_is_not_a_directory() {
        let root = tempfile::tempdir().expect("tempdir");
        let path = root.path().join("file");
        std::fs::write(&path, b"x").expect("write");
        let err = ensure(&path, Strictness::Private).unwrap_err();
        assert!(
            matches!(err, PrivateDirError::NotADirectory { .. }),
            "{err}"
        );
    }
}
