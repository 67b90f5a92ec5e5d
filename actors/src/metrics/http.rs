//! The `/metrics` endpoint (`corvus --metrics HOST:PORT`): a small HTTP/1
//! server on hyper. It answers `GET /metrics` and refuses everything else
//! (405 for other methods, 404 for other paths). A scrape asks the stats
//! collector for every VM's latest figures (through the supervisor, with a
//! deadline) and renders them; nothing is sampled during a scrape.

use super::render::{self, Format, Scrape};
use crate::context::SharedContext;
use crate::supervisor::{StatsQuery, SupervisorMsg, SupervisorRef};
use corvus_protocol::{Response as WireResponse, VmStats, WireError};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ACCEPT, ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use ractor::rpc::CallResult;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tracing::{Instrument, debug, warn};

/// Scrapes served at once; more wait to be accepted. Prometheus scrapes
/// one at a time per target, so a handful is plenty.
const CONCURRENT: usize = 16;
/// A client has this long to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the collector may take to hand over its figures.
const STATS_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("Cannot listen for metrics on {address}")]
    Bind {
        address: String,
        #[source]
        source: std::io::Error,
    },
}

/// Binds `address` (HOST:PORT; a port alone means 127.0.0.1).
pub async fn bind(address: &str) -> Result<TcpListener, MetricsError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| MetricsError::Bind {
            address: address.to_owned(),
            source,
        })
}

struct Endpoint {
    ctx: SharedContext,
    supervisor: SupervisorRef,
}

/// Serves scrapes until the returned task is aborted.
pub fn serve(
    listener: TcpListener,
    ctx: SharedContext,
    supervisor: SupervisorRef,
) -> JoinHandle<()> {
    let endpoint = Arc::new(Endpoint { ctx, supervisor });
    let slots = Arc::new(Semaphore::new(CONCURRENT));
    tokio::spawn(
        async move {
            loop {
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    return;
                };
                let stream = match listener.accept().await {
                    Ok((stream, _)) => stream,
                    Err(err) => {
                        warn!(%err, "cannot accept a metrics connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let endpoint = endpoint.clone();
                tokio::spawn(
                    async move {
                        let service = hyper::service::service_fn(move |request| {
                            let endpoint = endpoint.clone();
                            async move {
                                Ok::<_, std::convert::Infallible>(endpoint.answer(request).await)
                            }
                        });
                        // One request per connection: an idle kept-alive
                        // connection would hold one of the few places.
                        let served = hyper::server::conn::http1::Builder::new()
                            .timer(TokioTimer::new())
                            .header_read_timeout(HEADER_TIMEOUT)
                            .keep_alive(false)
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                        if let Err(err) = served {
                            debug!(%err, "metrics connection ended with an error");
                        }
                        drop(permit);
                    }
                    .in_current_span(),
                );
            }
        }
        .instrument(tracing::info_span!("metrics")),
    )
}

impl Endpoint {
    async fn answer(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        if request.method() != Method::GET {
            let mut response = plain(
                StatusCode::METHOD_NOT_ALLOWED,
                format!(
                    "{} is not served here: scrape with GET /metrics\n",
                    request.method()
                ),
            );
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET"));
            return response;
        }
        if request.uri().path() != "/metrics" {
            return plain(
                StatusCode::NOT_FOUND,
                format!(
                    "nothing at {}: metrics are at /metrics\n",
                    request.uri().path()
                ),
            );
        }
        let format = match request.headers().get(ACCEPT).and_then(|v| v.to_str().ok()) {
            Some(accept) if accept.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Prometheus,
        };
        let vms = match self.all_stats().await {
            Ok(vms) => vms,
            Err(err) => {
                return plain(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("{}\n", err.message),
                );
            }
        };
        let scrape = Scrape {
            vms,
            connections: self.ctx.connections.load(Ordering::Relaxed),
            backlog: self.ctx.persistence_status.backlog(),
        };
        match render::render(&self.ctx.metrics, scrape, format) {
            Ok(text) => {
                let mut response = Response::new(Full::new(Bytes::from(text)));
                response.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static(format.content_type()),
                );
                response
            }
            Err(_) => plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the metrics could not be encoded\n".into(),
            ),
        }
    }

    async fn all_stats(&self) -> Result<Vec<VmStats>, WireError> {
        let answer = self
            .supervisor
            .call(
                |reply| SupervisorMsg::Stats {
                    query: StatsQuery::All,
                    reply,
                },
                Some(STATS_TIMEOUT),
            )
            .await;
        match answer {
            Ok(CallResult::Success(Ok(WireResponse::AllStats(vms)))) => Ok(vms),
            Ok(CallResult::Success(Err(err))) => Err(err),
            Ok(CallResult::Success(Ok(_))) => {
                Err(WireError::internal("the collector answered something else"))
            }
            Ok(CallResult::Timeout) => Err(WireError::unavailable(format!(
                "the stats collector did not answer within {} s; see the daemon log",
                STATS_TIMEOUT.as_secs()
            ))),
            Ok(CallResult::SenderError) | Err(_) => Err(WireError::unavailable(
                "the daemon is shutting down or recovering its stats collector",
            )),
        }
    }
}

fn plain(status: StatusCode, text: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(text)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
