//! The Corvus wire protocol: typed messages, framing and the handshake.
//!
//! A frame is an 8-byte big-endian length followed by a postcard payload.
//! The client opens with [`ClientMessage::Hello`]; the daemon answers
//! [`ServerMessage::Welcome`] or a [`ErrorKind::ProtocolMismatch`] error.
//! An answer too long for one frame comes as `ReplyPart` frames and a final
//! `Reply`; [`Connection::call`] joins them.

mod budget;
mod cloud;
mod codec;
mod connection;
mod disk;
mod enums;
mod error;
mod event;
mod message;
mod model;
mod network;
mod node;
mod parts;
mod request;
mod snapshot;
mod stats;
pub mod text;
pub mod tls;

pub use budget::{FrameBudget, OverBudget, Reservation, UNCHARGED_FRAME_LEN};
pub use cloud::{
    CloudInitChanges, CloudInitInfo, CloudInitSpec, ExecOutput, ExecSpec, Forward, GuestInterface,
    ParseForwardError,
};
pub use codec::{Expiry, FrameCodec, FrameError, MAX_FRAME_LEN};
pub use connection::{CallError, Connection, Limits};
pub use disk::{
    DiskInfo, DiskRef, DiskSnapshotInfo, DiskUser, ImageVmSpec, ImportSpec, JobProgress,
    SnapshotSpec,
};
pub use enums::{
    AgentStatus, CacheMode, Channel, DiskFormat, DisplayKind, DriveFormat, DriveInterface,
    DriveMedia, EventKind, ForwardProtocol, NetworkMode, NetworkState, NicType, NodeState,
    ParseEnumError, RestartPolicy, Role, ShareCache, SnapshotAction, TextEnum, VmState,
};
pub use error::{ErrorKind, WireError};
pub use event::{EventCause, SubscribeFilter, VmEvent};
pub use message::{ClientMessage, DaemonStatus, Response, ServerMessage, StateCount};
pub use model::{
    DEFAULT_HOTPLUG_SLOTS, DriveInfo, DriveSpec, NicInfo, NicSpec, RuntimePaths, ShareInfo,
    ShareSpec, VmChanges, VmInfo, VmRef, VmSpec,
};
pub use network::{NetworkEvent, NetworkInfo, NetworkNic, NetworkRef, NetworkSpec};
pub use node::{DrainedVm, NodeInfo};
pub use parts::PART_BYTES;
pub use request::Request;
pub use snapshot::{VmSnapshotInfo, VmSnapshotSpec};
pub use stats::{
    BlockSection, CpuStats, DriveStats, Figure, MemoryStats, NetCounters, NicStats, VcpuStats,
    VmStats,
};

/// Bumped whenever a message changes shape; client and daemon must agree.
pub const PROTOCOL_VERSION: u32 = 9;

/// Where the daemon listens unless told otherwise: `$XDG_RUNTIME_DIR/corvus/corvus.sock`,
/// or `/run/corvus/corvus.sock` for root without `XDG_RUNTIME_DIR`.
pub fn default_socket_path() -> Option<std::path::PathBuf> {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => Some(std::path::PathBuf::from(dir).join("corvus/corvus.sock")),
        None if nix::unistd::geteuid().is_root() => Some("/run/corvus/corvus.sock".into()),
        None => None,
    }
}
