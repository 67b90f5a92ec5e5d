//! A small QMP client on tokio.
//!
//! Not qapi's own stream: it stops at the first event its generated types
//! cannot decode (QEMU 7.2 sends several that qapi-qmp 0.15 lacks), and it
//! only makes progress while someone polls it. qapi's typed command structs
//! and its `Command` trait are still used for requests and replies.
//!
//! Shape: [`connect`] returns a [`QmpCommands`] (cloneable, commands with a
//! timeout) and a [`QmpEvents`] (a buffered stream of [`QmpEvent`]s).

mod commands;
mod connect;
mod error;
mod events;
mod hotplug;
mod migration;
mod session;
mod snapshot;
mod stats;

#[cfg(test)]
mod tests;

pub use commands::{DEFAULT_COMMAND_TIMEOUT, QemuVersion, QmpCommands, RunStatus};
pub use connect::connect;
pub use error::QmpError;
pub use events::{EVENT_BUFFER, QmpEvent, QmpEvents};
pub use migration::{
    INCOMING_DEFERRED, MigrationPhase, MigrationStatus, restore_uri, save_uri, shell_quote,
};
pub use snapshot::{NodeSnapshots, SnapshotJob};
pub use stats::{BalloonInfo, BlockCounters, BlockStats, VcpuThread};
