//! The frames client and daemon exchange (DESIGN §6).

use crate::cloud::{ExecOutput, GuestInterface};
use crate::disk::{DiskInfo, DiskSnapshotInfo, JobProgress};
use crate::enums::{Role, VmState};
use crate::error::WireError;
use crate::event::VmEvent;
use crate::model::VmInfo;
use crate::network::NetworkInfo;
use crate::node::{DrainedVm, NodeInfo};
use crate::request::Request;
use crate::snapshot::VmSnapshotInfo;
use crate::stats::VmStats;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Everything a client sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientMessage {
    /// Must be the first frame of every connection.
    Hello {
        protocol_version: u32,
        client: String,
    },
    Request(Request),
    /// Bytes typed into an attached monitor or console.
    Input(Vec<u8>),
    /// Ends an attachment or a subscription; the daemon answers `StreamEnd`.
    Detach,
}

/// Everything the daemon sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerMessage {
    Welcome {
        protocol_version: u32,
        daemon_version: String,
    },
    Reply(Result<Response, WireError>),
    /// A state event on a subscribed connection.
    Event(VmEvent),
    /// The subscriber fell behind and `missed` events were dropped for it.
    Lagged {
        missed: u64,
    },
    /// Bytes from an attached monitor or console.
    Output(Vec<u8>),
    /// The subscription or attachment is over; the connection closes.
    StreamEnd {
        reason: String,
    },
    /// Part of an answer too long for one frame (`vm list`, `vm history`):
    /// parts of the same `Response` variant follow one another, and the
    /// final `Reply` carries the last items (see `parts.rs`). A `Reply`
    /// error after some parts voids them.
    ReplyPart(Response),
    /// A long job (`ImportDisk`, `CloneDisk`) moved on. Any number of these
    /// come before the job's one `Reply`; `Detach` or closing the
    /// connection cancels the job, which then answers with its `Reply`.
    Progress(JobProgress),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    Pong,
    Status(Box<DaemonStatus>),
    ShuttingDown,
    /// Shared with the daemon's snapshots, so a long list is not copied before it is sent.
    Vms(Vec<Arc<VmInfo>>),
    Vm(Box<VmInfo>),
    Deleted {
        id: i64,
        name: String,
    },
    History(Vec<VmEvent>),
    /// Events follow on this connection.
    Subscribed,
    /// `Output` frames follow; `replay` is what the channel printed before.
    Attached {
        replay: Vec<u8>,
    },
    SpiceUri {
        uri: String,
        socket: String,
    },
    Disks(Vec<DiskInfo>),
    Disk(Box<DiskInfo>),
    DiskDeleted {
        id: i64,
        name: String,
        /// Whether the file went too (managed disks without `keep_file`).
        file_removed: bool,
    },
    DiskSnapshots {
        disk: String,
        snapshots: Vec<DiskSnapshotInfo>,
    },
    /// `DeleteVmWithDisks`: the VM and the disks deleted with it.
    VmDeletedWithDisks {
        id: i64,
        name: String,
        disks: Vec<String>,
    },
    VmStats(Box<VmStats>),
    /// Every defined VM, by id.
    AllStats(Vec<VmStats>),
    /// `revoked` certificates are now refused; `closed` connections of
    /// theirs were open and are closed.
    RevocationsReloaded {
        revoked: u64,
        closed: u64,
    },
    /// `WebLogin`: open `url` (it carries the one-time token) within
    /// `expires_in_secs`; it logs the browser in once.
    WebLogin {
        url: String,
        expires_in_secs: u64,
    },
    /// `GuestExec`: what the command did.
    Exec(ExecOutput),
    /// `GuestInterfaces`: the guest's interfaces and addresses.
    GuestInterfaces(Vec<GuestInterface>),
    Networks(Vec<NetworkInfo>),
    Network(Box<NetworkInfo>),
    NetworkDeleted {
        id: i64,
        name: String,
    },
    /// `VmSnapshot`: the VM's snapshots, oldest first.
    VmSnapshots {
        vm: String,
        snapshots: Vec<VmSnapshotInfo>,
    },
    Nodes(Vec<NodeInfo>),
    Node(Box<NodeInfo>),
    /// What `node drain` did with each VM of the node.
    Drained(Vec<DrainedVm>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateCount {
    pub state: VmState,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonStatus {
    pub daemon_version: String,
    pub protocol_version: u32,
    pub pid: u32,
    pub uptime_secs: u64,
    pub connections: u64,
    pub vm_count: u64,
    pub vms_by_state: Vec<StateCount>,
    /// `sqlite` or `postgresql`.
    pub database: String,
    /// `kvm` or `tcg`.
    pub accel: String,
    /// State changes waiting to be written while the database is unreachable.
    pub persistence_backlog: u64,
    pub socket: String,
    pub tcp: Option<String>,
    /// Why the database is not taking state changes ("database refuses
    /// writes: database or disk is full", "database unreachable: …"), while
    /// it is not; the backlog waits in memory and in the journal.
    pub database_error: Option<String>,
    /// The mutual-TLS address (`--listen`).
    pub tls: Option<String>,
    /// Who is asking, as events name them (a certificate's name, `unix:UID`).
    pub client: String,
    /// What the asking client may do.
    pub role: Role,
    /// This daemon's node name (`--node`).
    #[serde(default)]
    pub node: String,
}
