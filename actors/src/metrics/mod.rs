//! Prometheus metrics: the daemon's own instruments (request durations,
//! event subscribers and their lag), and the `/metrics` endpoint of
//! `corvus --metrics` that serves them with every VM's figures.

mod http;
mod render;

pub use http::{bind, serve};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use std::time::Duration;

/// Labels of the request duration histogram: the request as `crv` names it.
type RequestLabel = [(&'static str, &'static str); 1];

/// The daemon's instruments, updated where things happen (the gateway) and
/// read at each scrape.
#[derive(Debug, Clone)]
pub struct DaemonMetrics {
    rpc: Family<RequestLabel, Histogram, fn() -> Histogram>,
    subscribers: Gauge,
    lagged: Counter,
}

impl Default for DaemonMetrics {
    fn default() -> DaemonMetrics {
        DaemonMetrics {
            rpc: Family::new_with_constructor(rpc_histogram),
            subscribers: Gauge::default(),
            lagged: Counter::default(),
        }
    }
}

/// 50 µs to ~13 s: a ping on an open connection is ~15 µs, a `vm start`
/// under TCG takes seconds.
fn rpc_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.00005, 4.0, 10))
}

impl DaemonMetrics {
    /// One request answered (or turned into a stream) after `took`.
    pub fn observe_rpc(&self, request: &'static str, took: Duration) {
        self.rpc
            .get_or_create(&[("request", request)])
            .observe(took.as_secs_f64());
    }

    /// Counts an event subscription for as long as the guard lives.
    pub fn subscriber(&self) -> SubscriberGuard {
        self.subscribers.inc();
        SubscriberGuard {
            gauge: self.subscribers.clone(),
        }
    }

    /// Events a slow subscriber missed.
    pub fn lagged(&self, missed: u64) {
        self.lagged.inc_by(missed);
    }
}

/// One open event subscription.
pub struct SubscriberGuard {
    gauge: Gauge,
}

impl Drop for SubscriberGuard {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}
