//! Binding the daemon's sockets: a private Unix socket, and TCP on request.

use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use tokio::net::{TcpListener, UnixListener, UnixStream};

#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("another corvus is already listening on {}", .0.display())]
    AlreadyRunning(PathBuf),
    #[error("{} exists and is not a socket; move it away or pass another --socket", .0.display())]
    NotASocket(PathBuf),
    #[error("cannot create the socket directory {}", path.display())]
    Directory {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot listen on {}", path.display())]
    Bind {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot listen on TCP {address}")]
    Tcp {
        address: String,
        #[source]
        source: io::Error,
    },
}

/// Binds `path`, replacing a stale socket file that nobody listens on, and
/// refusing when a live daemon answers there.
pub async fn bind_unix(path: &Path) -> Result<UnixListener, ListenError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| ListenError::Directory {
                path: dir.to_owned(),
                source,
            })?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => match UnixStream::connect(path).await {
            Ok(_) => return Err(ListenError::AlreadyRunning(path.to_owned())),
            Err(_) => {
                tracing::info!(socket = %path.display(), "replacing a stale socket that nobody listens on");
                let _ = std::fs::remove_file(path);
            }
        },
        Ok(_) => return Err(ListenError::NotASocket(path.to_owned())),
        Err(_) => {}
    }
    let listener = UnixListener::bind(path).map_err(|source| ListenError::Bind {
        path: path.to_owned(),
        source,
    })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|source| {
        ListenError::Bind {
            path: path.to_owned(),
            source,
        }
    })?;
    Ok(listener)
}

pub async fn bind_tcp(address: &str) -> Result<TcpListener, ListenError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| ListenError::Tcp {
            address: address.to_owned(),
            source,
        })
}
