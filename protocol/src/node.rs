//! Nodes (issue 19): the daemons that share one PostgreSQL database, as
//! `crv node list` and `crv node show` report them.

use crate::enums::NodeState;
use serde::{Deserialize, Serialize};

/// One node as the database sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub name: String,
    /// `HOST:PORT` other nodes reach it on (`--advertise`), if it said.
    pub address: Option<String>,
    /// Live: its daemon holds the node's lock and its heartbeat, by the
    /// database's clock, is within the answering daemon's node timeout.
    pub state: NodeState,
    pub cpus: u32,
    pub ram_mib: u64,
    /// Its RAM minus the RAM of its VMs that have a QEMU (negative when
    /// they were given more than it has).
    pub free_ram_mib: i64,
    /// VMs it owns, whatever their state.
    pub vm_count: u64,
    /// Seconds since its last heartbeat, by the database's clock.
    pub heartbeat_age_secs: u64,
    /// The node of the daemon that answered.
    pub this_node: bool,
    /// Cordoned: placement gives it no new VMs (`crv node cordon`).
    pub cordoned: bool,
}

/// One VM of a drained node, and what `node drain` did with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainedVm {
    pub vm: String,
    /// Moved (or stopped, moved and started) to this node; `None`: left.
    pub moved_to: Option<String>,
    /// Why it was left, or what was done on the way (stopped, started).
    pub note: String,
}
