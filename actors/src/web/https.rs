//! HTTPS for `--http` off loopback: the daemon's server certificate, a
//! client certificate from its CA accepted but not required, and the
//! certificate's identity handed to the handlers of that connection.

use crate::tls::certificate::ClientCertificate;
use crate::tls::server::{TlsServer, client_of};
use axum::{Extension, Router};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::{debug, warn};

/// A slow or silent client gives up its place after this long.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once; a page holds a handful (requests, events,
/// a console).
const CONNECTIONS: usize = 256;

/// The verified client certificate of a connection, if it showed one.
#[derive(Clone)]
pub struct ClientIdentity(pub Option<ClientCertificate>);

pub async fn serve(listener: TcpListener, server: Arc<TlsServer>, app: Router) {
    let places = Arc::new(Semaphore::new(CONNECTIONS));
    loop {
        let Ok(place) = places.clone().acquire_owned().await else {
            return;
        };
        let (stream, address) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                warn!(%err, "cannot accept a web connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (server, app) = (server.clone(), app.clone());
        tokio::spawn(async move {
            let accepted =
                tokio::time::timeout(HANDSHAKE_TIMEOUT, server.acceptor.accept(stream)).await;
            let tls = match accepted {
                Ok(Ok(tls)) => tls,
                Ok(Err(err)) => return debug!(peer = %address, %err, "web TLS handshake failed"),
                Err(_) => return debug!(peer = %address, "web TLS handshake timed out"),
            };
            let identity = ClientIdentity(client_of(tls.get_ref().1));
            let service = TowerToHyperService::new(app.layer(Extension(identity)));
            let served = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .with_upgrades()
                .await;
            if let Err(err) = served {
                debug!(peer = %address, %err, "web connection ended with an error");
            }
            drop(place);
        });
    }
}
