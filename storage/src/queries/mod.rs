//! Queries, grouped by what they touch. The daemon's loaders and its
//! persistence actor are the only callers.

pub mod cloud;
pub mod devices;
pub mod disks;
pub mod events;
pub mod networks;
pub mod node_reach;
pub mod nodes;
pub(crate) mod numbering;
pub mod reserve;
pub mod retention;
pub mod revocations;
pub mod snapshots;
pub mod state;
mod survivors;
pub mod takeover;
pub mod vms;
pub mod web_sessions;
