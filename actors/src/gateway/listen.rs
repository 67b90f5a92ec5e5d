//! Binding the daemon's sockets: a private Unix socket, a read-only one for
//! a group on request, TCP listeners (plain on loopback, or for TLS); or
//! taking the ones systemd passed (socket activation).

use nix::sys::socket::{
    AddressFamily, SockaddrLike, SockaddrStorage, getsockname, getsockopt, sockopt,
};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
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
    #[error("cannot give the group {group} access to {}", path.display())]
    Group {
        path: PathBuf,
        group: String,
        #[source]
        source: nix::Error,
    },
    #[error("cannot listen on TCP {address}")]
    Tcp {
        address: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot use the sockets passed by systemd: {0}")]
    ActivationEnv(String),
    #[error("socket {fd} passed by systemd is not a listening stream socket")]
    NotListening {
        fd: RawFd,
        #[source]
        source: Option<nix::Error>,
    },
    #[error("socket {fd} passed by systemd is neither a Unix nor a TCP socket")]
    UnsupportedFamily { fd: RawFd },
    #[error("systemd passed more than one {kind} socket; corvus serves one of each")]
    Duplicate { kind: &'static str },
    #[error("systemd passed no Unix socket; add a ListenStream= with a path to the .socket unit")]
    NoUnixSocket,
    #[error("cannot use socket {fd} passed by systemd")]
    Adopt {
        fd: RawFd,
        #[source]
        source: io::Error,
    },
}

/// The listeners systemd passed to an activated daemon.
#[derive(Debug)]
pub struct Activated {
    pub unix: UnixListener,
    /// The Unix socket's path, when it has one (systemd owns the file).
    pub unix_path: Option<PathBuf>,
    /// A TCP listener and its address, when the `.socket` unit has one.
    pub tcp: Option<(TcpListener, String)>,
}

/// Takes the sockets of socket activation: one Unix stream socket, and at
/// most one TCP socket. Anything else is refused rather than ignored.
pub fn activated(fds: Vec<OwnedFd>) -> Result<Activated, ListenError> {
    let mut unix = None;
    let mut tcp = None;
    for fd in fds {
        let raw = fd.as_raw_fd();
        let not_listening = |source| ListenError::NotListening { fd: raw, source };
        if getsockopt(&fd, sockopt::SockType).map_err(|e| not_listening(Some(e)))?
            != nix::sys::socket::SockType::Stream
            || !getsockopt(&fd, sockopt::AcceptConn).map_err(|e| not_listening(Some(e)))?
        {
            return Err(not_listening(None));
        }
        let family = getsockname::<SockaddrStorage>(raw)
            .map_err(|e| not_listening(Some(e)))?
            .family();
        let adopt = |source| ListenError::Adopt { fd: raw, source };
        match family {
            Some(AddressFamily::Unix) => {
                let listener = std::os::unix::net::UnixListener::from(fd);
                listener.set_nonblocking(true).map_err(adopt)?;
                let path = listener
                    .local_addr()
                    .ok()
                    .and_then(|a| a.as_pathname().map(Path::to_path_buf));
                let listener = UnixListener::from_std(listener).map_err(adopt)?;
                if unix.replace((listener, path)).is_some() {
                    return Err(ListenError::Duplicate { kind: "Unix" });
                }
            }
            Some(AddressFamily::Inet | AddressFamily::Inet6) => {
                let listener = std::net::TcpListener::from(fd);
                listener.set_nonblocking(true).map_err(adopt)?;
                let address = listener.local_addr().map_err(adopt)?.to_string();
                let listener = TcpListener::from_std(listener).map_err(adopt)?;
                if tcp.replace((listener, address)).is_some() {
                    return Err(ListenError::Duplicate { kind: "TCP" });
                }
            }
            _ => return Err(ListenError::UnsupportedFamily { fd: raw }),
        }
    }
    let (unix, unix_path) = unix.ok_or(ListenError::NoUnixSocket)?;
    Ok(Activated {
        unix,
        unix_path,
        tcp,
    })
}

/// Binds `path` (mode 0600), replacing a stale socket file that nobody
/// listens on, and refusing when a live daemon answers there.
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
    bind_socket(path, 0o600).await
}

/// Binds the read-only socket for `group` (mode 0660, that group). A
/// directory the daemon creates for it is 0750 and the group's too; one
/// that exists is left as it is (it must let the group through).
pub async fn bind_viewer(
    path: &Path,
    group: nix::unistd::Gid,
    group_name: &str,
) -> Result<UnixListener, ListenError> {
    let give_group = |path: &Path| {
        nix::unistd::chown(path, None, Some(group)).map_err(|source| ListenError::Group {
            path: path.to_owned(),
            group: group_name.to_owned(),
            source,
        })
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        let directory = |source| ListenError::Directory {
            path: dir.to_owned(),
            source,
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(directory)?;
        give_group(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o750)).map_err(directory)?;
    }
    let listener = bind_socket(path, 0o600).await?;
    give_group(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(|source| {
        ListenError::Bind {
            path: path.to_owned(),
            source,
        }
    })?;
    Ok(listener)
}

async fn bind_socket(path: &Path, mode: u32) -> Result<UnixListener, ListenError> {
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
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|source| {
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
