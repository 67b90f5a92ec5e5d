//! Typed failures that cross the wire.

use crate::enums::{Role, VmState};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What kind of failure a request met; clients branch on this, humans read the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// No VM (or drive, NIC, share) with that name or id.
    NotFound,
    /// The command is not allowed in the VM's current state.
    InvalidTransition { state: VmState },
    /// A value the daemon will not accept; nothing was changed.
    InvalidArgument,
    /// The request collides with existing data (a duplicate name or MAC).
    Conflict,
    /// QEMU refused to start or died while starting; the message quotes it.
    QemuFailed,
    /// Someone else holds the resource (an attached console or monitor).
    Busy,
    /// A dependency is down (the database, QEMU's QMP socket).
    Unavailable,
    /// A bug or an unexpected failure inside the daemon.
    Internal,
    /// Client and daemon speak different protocol versions.
    ProtocolMismatch { daemon: u32, client: u32 },
    /// A frame longer than the protocol's limit: one the client sent, or
    /// an answer the daemon could not fit in one.
    FrameTooLarge { limit: u64 },
    /// A frame that does not decode as a message.
    MalformedFrame,
    /// The daemon already serves its maximum number of connections.
    TooManyConnections { limit: u64 },
    /// Frames still being received already hold the memory the daemon
    /// allows them; the frame was refused.
    FrameBudgetExhausted { budget: u64 },
    /// The connection sat idle, or a frame arrived too slowly, for `secs`.
    ConnectionTimeout { secs: u64 },
    /// The client's role does not allow the request; `needed` is the least
    /// role that does.
    PermissionDenied { needed: Role },
    /// The VM belongs to another node, which alone runs it; `live` says
    /// whether that node answers now (ask it through its own socket).
    OwnedByNode { node: String, live: bool },
    /// The node a request or stream was passed to went away before it
    /// answered: whether a request ran there is unknown (nothing retries it).
    NodeLost { node: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub struct WireError {
    pub kind: ErrorKind,
    pub message: String,
}

impl WireError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> WireError {
        WireError {
            kind,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> WireError {
        WireError::new(ErrorKind::NotFound, message)
    }

    pub fn invalid(message: impl Into<String>) -> WireError {
        WireError::new(ErrorKind::InvalidArgument, message)
    }

    pub fn conflict(message: impl Into<String>) -> WireError {
        WireError::new(ErrorKind::Conflict, message)
    }

    pub fn unavailable(message: impl Into<String>) -> WireError {
        WireError::new(ErrorKind::Unavailable, message)
    }

    pub fn internal(message: impl Into<String>) -> WireError {
        WireError::new(ErrorKind::Internal, message)
    }

    pub fn transition(state: VmState, message: impl Into<String>) -> WireError {
        WireError::new(ErrorKind::InvalidTransition { state }, message)
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
