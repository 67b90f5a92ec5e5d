//! The corvus daemon (DESIGN §1–§4): a root supervisor with one actor per
//! VM, a gateway serving clients, a persistence actor writing state changes,
//! and an event bus fanning them out.

pub mod client_name;
mod cloud;
pub mod config;
mod context;
pub mod daemon;
mod database;
mod disks;
mod events;
pub mod fdlimit;
mod gateway;
mod metrics;
mod networks;
mod nodes;
mod persistence;
mod retention;
mod sockets;
mod stats;
mod supervisor;
pub mod systemd;
mod test_hooks;
pub mod tls;
mod validate;
mod vm;
mod web;
mod wire;
