//! The daemon's listeners: the Unix socket, plain TCP and TLS, bound here
//! or passed by systemd (socket activation).

use crate::config::Config;
use crate::gateway::listen;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use tokio::net::{TcpListener, UnixListener};
use tracing::{info, warn};

/// The daemon's listeners: bound here, or passed by systemd.
pub struct Sockets {
    pub unix: UnixListener,
    /// Where clients connect, for `crv status` and the log.
    pub path: PathBuf,
    /// The file the daemon created and removes at exit.
    pub remove_at_exit: Option<PathBuf>,
    /// Plain TCP (`--insecure-tcp`).
    pub tcp: Option<TcpListener>,
    pub tcp_address: Option<String>,
    /// Mutual TLS (`--listen`).
    pub tls: Option<TcpListener>,
    pub tls_address: Option<String>,
    pub activated: bool,
}

/// A TCP socket systemd passed: served over TLS with `--listen`, as plain
/// TCP with `--insecure-tcp` on a loopback address, refused otherwise.
enum PassedTcp {
    Tls(TcpListener, String),
    Plain(TcpListener, String),
}

fn classify_passed_tcp(
    config: &Config,
    listener: TcpListener,
    address: String,
) -> anyhow::Result<PassedTcp> {
    if config.listen.is_some() {
        return Ok(PassedTcp::Tls(listener, address));
    }
    let loopback = listener
        .local_addr()
        .is_ok_and(|local| local.ip().is_loopback());
    match (&config.tcp, loopback) {
        (Some(_), true) => Ok(PassedTcp::Plain(listener, address)),
        _ => anyhow::bail!(
            "systemd passed the TCP socket {address}: serve it with --listen (mutual TLS), or, on a loopback address only, with --tcp --insecure-tcp"
        ),
    }
}

pub async fn listen_sockets(
    config: &Config,
    passed: Vec<OwnedFd>,
    passed_error: Option<String>,
) -> anyhow::Result<Sockets> {
    if let Some(err) = passed_error {
        return Err(listen::ListenError::ActivationEnv(err).into());
    }
    if !passed.is_empty() {
        let activated = listen::activated(passed)?;
        let path = activated.unix_path.unwrap_or_else(|| config.socket.clone());
        if path != config.socket {
            warn!(passed = %path.display(), configured = %config.socket.display(), "systemd passed a socket other than --socket; serving the one passed");
        }
        info!(socket = %path.display(), "using the socket passed by systemd");
        let passed = match activated.tcp {
            Some((listener, address)) => Some(classify_passed_tcp(config, listener, address)?),
            None => None,
        };
        let ((tcp, tcp_address), (tls, tls_address)) = match passed {
            Some(PassedTcp::Plain(listener, address)) => (
                (Some(listener), Some(address)),
                bind_optional(&config.listen).await?,
            ),
            Some(PassedTcp::Tls(listener, address)) => (
                bind_optional(&config.tcp).await?,
                (Some(listener), Some(address)),
            ),
            None => (
                bind_optional(&config.tcp).await?,
                bind_optional(&config.listen).await?,
            ),
        };
        return Ok(Sockets {
            unix: activated.unix,
            path,
            remove_at_exit: None,
            tcp,
            tcp_address,
            tls,
            tls_address,
            activated: true,
        });
    }
    let unix = listen::bind_unix(&config.socket).await?;
    let (tcp, tcp_address) = bind_optional(&config.tcp).await?;
    let (tls, tls_address) = bind_optional(&config.listen).await?;
    Ok(Sockets {
        unix,
        path: config.socket.clone(),
        remove_at_exit: Some(config.socket.clone()),
        tcp,
        tcp_address,
        tls,
        tls_address,
        activated: false,
    })
}

async fn bind_optional(
    address: &Option<String>,
) -> Result<(Option<TcpListener>, Option<String>), listen::ListenError> {
    match address {
        Some(address) => Ok((
            Some(listen::bind_tcp(address).await?),
            Some(address.clone()),
        )),
        None => Ok((None, None)),
    }
}
