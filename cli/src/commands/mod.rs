//! One module per group of verbs; each handler is a thin layer between the
//! parsed arguments and one or two requests.

pub mod agent;
pub mod attach;
pub mod cloud;
pub mod completions;
pub mod daemon;
pub mod definition;
pub mod devices;
pub mod disk;
pub mod disk_job;
pub mod events;
pub mod job;
pub mod lifecycle;
pub mod network;
pub mod node;
pub mod remote;
pub mod snapshot;
pub mod ssh;
pub mod stats;
pub mod view;
pub mod web;

use crate::client::Endpoint;

/// What every handler gets besides its own arguments.
pub struct Ctx {
    pub endpoint: Endpoint,
    pub json: bool,
}
