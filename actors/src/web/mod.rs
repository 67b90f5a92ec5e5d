//! The web console (`corvus --http HOST:PORT`, issue 21): an embedded page
//! and a small JSON API served by axum. It holds no VM logic: every API
//! call is a wire `Request` sent through the gateway's `Door`, so roles,
//! refusals, the console's Busy rule and its replay are exactly the
//! wire's. On a loopback address it speaks plain HTTP; anywhere else only
//! HTTPS with the daemon's TLS certificates (`corvus tls init`).

mod api;
mod assets;
mod auth;
mod https;
mod live;
pub mod sessions;

use crate::gateway::Door;
use crate::tls::server::{Revoked, ServerTlsError, TlsServer};
use axum::Router;
use axum::routing::{get, post};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tracing::{Instrument, info, warn};

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("Cannot serve the web console on {address}")]
    Bind {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "--http {address} is not a loopback address, so the web console is served over HTTPS only, with the certificates of `corvus tls init`"
    )]
    Tls {
        address: String,
        #[source]
        source: ServerTlsError,
    },
}

/// The bound `--http` socket, with TLS off loopback.
pub struct WebListener {
    tcp: TcpListener,
    tls: Option<Arc<TlsServer>>,
    /// What `crv web` links to: `http://127.0.0.1:PORT` or `https://HOST:PORT`.
    pub url: String,
}

/// Binds `address`; off loopback, loads the TLS certificates from
/// `config_dir` first (blocking: call it before the daemon serves anything).
pub async fn bind(
    address: &str,
    config_dir: &Path,
    revoked: Arc<Revoked>,
) -> Result<WebListener, WebError> {
    let tcp = TcpListener::bind(address)
        .await
        .map_err(|source| WebError::Bind {
            address: address.to_owned(),
            source,
        })?;
    let local = tcp.local_addr().map_err(|source| WebError::Bind {
        address: address.to_owned(),
        source,
    })?;
    if local.ip().is_loopback() {
        return Ok(WebListener {
            tcp,
            tls: None,
            url: format!("http://{}", display(local)),
        });
    }
    let dir = config_dir.to_owned();
    let loaded = tokio::task::spawn_blocking(move || TlsServer::load_web(&dir, revoked))
        .await
        .map_err(|join| WebError::Bind {
            address: address.to_owned(),
            source: std::io::Error::other(join),
        })?;
    let server = loaded.map_err(|source| WebError::Tls {
        address: address.to_owned(),
        source,
    })?;
    // The host as given (a name the certificate holds), the port as bound;
    // for "all addresses", this host's name, which `tls init` certifies.
    let host = if local.ip().is_unspecified() {
        crate::tls::command::hostname()
    } else {
        address
            .rsplit_once(':')
            .map_or(address, |(host, _)| host)
            .to_owned()
    };
    Ok(WebListener {
        tcp,
        tls: Some(Arc::new(server)),
        url: format!("https://{host}:{}", local.port()),
    })
}

fn display(address: SocketAddr) -> String {
    match address {
        SocketAddr::V4(v4) => v4.to_string(),
        SocketAddr::V6(v6) => format!("[{}]:{}", v6.ip(), v6.port()),
    }
}

/// What every handler gets.
pub struct Web {
    pub door: Door,
    /// Cookies carry `Secure` over HTTPS.
    pub secure: bool,
}

pub type SharedWeb = Arc<Web>;

/// Serves the page and the API until the task is aborted.
pub fn serve(listener: WebListener, door: Door) -> JoinHandle<()> {
    let WebListener { tcp, tls, url } = listener;
    let web = Arc::new(Web {
        door,
        secure: tls.is_some(),
    });
    let app = router(web);
    info!(url = %url, "serving the web console");
    tokio::spawn(
        async move {
            match tls {
                Some(server) => https::serve(tcp, server, app).await,
                None => {
                    if let Err(err) = axum::serve(tcp, app).await {
                        warn!(%err, "the web console stopped serving");
                    }
                }
            }
        }
        .instrument(tracing::info_span!("web")),
    )
}

fn router(web: SharedWeb) -> Router {
    Router::new()
        .route("/", get(assets::index))
        .route("/assets/{*path}", get(assets::file))
        .route("/login", get(auth::login))
        .route("/api/session", get(auth::whoami))
        .route("/api/logout", post(auth::logout))
        .route("/api/vms", get(api::list).post(api::create))
        .route("/api/vms/{vm}", get(api::show).delete(api::delete))
        .route("/api/vms/{vm}/history", get(api::history))
        .route("/api/vms/{vm}/stats", get(api::stats))
        .route("/api/vms/{vm}/console", get(live::console))
        .route("/api/vms/{vm}/{action}", post(api::act))
        .route("/api/stats", get(api::all_stats))
        .route("/api/disks", get(api::disks))
        .route("/api/events", get(live::events))
        .fallback(api::not_found)
        .layer(axum::middleware::map_response(assets::harden))
        .with_state(web)
}
