//! The shared harness of the end-to-end tests: throwaway PostgreSQL
//! clusters, daemons on temporary sockets, `crv` runs, the test guest.

pub mod daemon;
pub mod postgres;
pub mod prereq;

pub use daemon::{Crv, Daemon, DaemonOptions, Db};
