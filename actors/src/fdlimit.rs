//! The daemon's file descriptor limit, raised at start.
//!
//! Every client connection and every VM (QMP, pidfd, logs, relays) holds
//! descriptors; the common soft limit of 1024 ran out under a few hundred
//! idle clients and stalled `accept` for everyone. The hard limit is what
//! the administrator allows, so the daemon takes all of it, as systemd
//! recommends for services that need many descriptors.

use nix::sys::resource::{Resource, getrlimit, setrlimit};
use tracing::{info, warn};

/// Raises the soft `RLIMIT_NOFILE` to the hard one and returns the limit in
/// force; `max_connections` is only compared with it, for the log.
pub fn raise(max_connections: u64) -> Option<u64> {
    let (soft, hard) = match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok(limits) => limits,
        Err(err) => {
            warn!(%err, "cannot read the file descriptor limit");
            return None;
        }
    };
    let limit = if soft < hard {
        match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => {
                info!(
                    from = soft,
                    to = hard,
                    "raised the file descriptor limit to the hard limit"
                );
                hard
            }
            Err(err) => {
                warn!(%err, soft, hard, "cannot raise the file descriptor limit");
                soft
            }
        }
    } else {
        info!(limit = soft, "file descriptor limit");
        soft
    };
    if limit < max_connections.saturating_mul(2) {
        warn!(
            limit,
            max_connections,
            "the file descriptor limit leaves little room beside --max-connections for VMs; raise LimitNOFILE= or lower --max-connections"
        );
    }
    Some(limit)
}
