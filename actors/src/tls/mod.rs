//! Remote access over mutual TLS (issue 18): the built-in CA and its
//! commands (`corvus tls …`), the files it keeps, and the daemon's TLS
//! acceptor. Roles are enforced in the gateway (`gateway/roles.rs`).

pub mod args;
pub mod ca;
pub mod certificate;
pub mod command;
pub mod server;
pub mod store;
