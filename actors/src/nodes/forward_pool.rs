//! Connections to other nodes kept open between forwards (issue 19): a
//! forward on a kept connection skips the TCP and TLS handshakes, which
//! were most of its cost (BENCHMARKS.md, figure 15).
//!
//! A kept connection is reused only while it is young (well inside the
//! owner's idle timeout) and still open: one the owner closed is seen
//! before anything is sent on it, so a request is never left in doubt by
//! a connection that was already gone.

use super::forward::NodeConnection;
use futures::FutureExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Far below the owner's idle timeout (5 min), so that the owner never
/// closes a connection just as a forward goes out on it.
const KEEP_FOR: Duration = Duration::from_secs(30);
/// Idle connections kept per node; more forwards at once open their own.
const KEEP_PER_NODE: usize = 4;

/// A kept connection and since when it is idle.
type Kept = (NodeConnection, Instant);

/// Idle connections by node address.
#[derive(Clone, Default)]
pub struct ForwardPool {
    idle: Arc<Mutex<HashMap<String, Vec<Kept>>>>,
}

impl std::fmt::Debug for ForwardPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForwardPool").finish_non_exhaustive()
    }
}

impl ForwardPool {
    /// An open, young connection to `address`, if one is kept.
    pub fn take(&self, address: &str) -> Option<NodeConnection> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let kept = idle.get_mut(address)?;
        while let Some((mut connection, since)) = kept.pop() {
            // Anything readable on an idle connection (its end, or a frame
            // nobody asked for) means it is of no further use.
            if since.elapsed() < KEEP_FOR && connection.recv().now_or_never().is_none() {
                return Some(connection);
            }
        }
        None
    }

    /// Keeps `connection` to `address`, after a complete exchange on it.
    pub fn keep(&self, address: &str, connection: NodeConnection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let kept = idle.entry(address.to_owned()).or_default();
        kept.retain(|(_, since)| since.elapsed() < KEEP_FOR);
        if kept.len() < KEEP_PER_NODE {
            kept.push((connection, Instant::now()));
        }
    }
}
