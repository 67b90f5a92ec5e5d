//! The shared harness of the end-to-end tests: throwaway PostgreSQL
//! clusters, daemons on temporary sockets, `crv` runs, the test guest.

pub mod access;
pub mod browser;
pub mod chaos;
pub mod cloud_guest;
pub mod daemon;
pub mod disks;
pub mod guest;
pub mod http;
pub mod metrics;
pub mod netns;
pub mod postgres;
pub mod prereq;
pub mod remote;
mod seed;
pub mod tmpfs;
mod vm;
pub mod web;

pub use vm::transitions;

pub use daemon::{Crv, Daemon, DaemonOptions, Db};
pub use guest::Guest;
