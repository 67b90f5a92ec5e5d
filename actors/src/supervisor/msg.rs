//! The supervisor's mailbox: every message it takes, from the gateway,
//! its own tasks, its children and the node's failover tasks.

use super::StatsQuery;
use crate::disks::DiskMsg;
use crate::networks::NetworkMsg;
use crate::vm::{self, Origin, VmCommand};
use corvus_protocol::{Response, StateCount, VmInfo, VmRef, VmSpec, WireError};
use corvus_storage::StoredVm;
use ractor::RpcReplyPort;
use std::sync::Arc;

pub enum SupervisorMsg {
    /// A command for one VM, passed on to its actor.
    Forward {
        vm: VmRef,
        command: VmCommand,
        origin: Origin,
        reply: vm::Reply,
    },
    /// Boxed, as `Created`'s row: by far the largest messages.
    Create {
        spec: Box<VmSpec>,
        origin: Origin,
        reply: RpcReplyPort<Result<Response, WireError>>,
    },
    /// The database answered a `Create`.
    Created {
        name: String,
        origin: Origin,
        result: Result<Box<StoredVm>, WireError>,
        reply: RpcReplyPort<Result<Response, WireError>>,
    },
    /// A VM of this node that had no actor here (created through another
    /// node), as the database has it.
    Located {
        stored: Box<StoredVm>,
        command: VmCommand,
        origin: Origin,
        reply: vm::Reply,
    },
    /// A VmActor deleted its VM.
    Removed { id: i64 },
    List {
        reply: RpcReplyPort<Vec<Arc<VmInfo>>>,
    },
    /// VM references to ids, for event filters.
    Resolve {
        vms: Vec<VmRef>,
        reply: RpcReplyPort<Result<Vec<i64>, WireError>>,
    },
    Counts {
        reply: RpcReplyPort<Vec<StateCount>>,
    },
    /// The daemon is shutting down: from now on only read-only requests
    /// are served, so nothing is started that the shutdown would not see.
    BeginShutdown,
    /// Daemon shutdown with `--stop-vms-on-exit`: stop every VM gracefully;
    /// answers once none has a QEMU left, or when their stop timeouts and
    /// escalations are over, whichever comes first.
    StopAll { reply: RpcReplyPort<()> },
    /// For the DiskService, the supervisor's child beside the VM actors.
    Disk(DiskMsg),
    /// For the NetworkService, a child like the DiskService.
    Network(NetworkMsg),
    /// `vm stats` and `top`, passed on to the stats collector.
    Stats {
        query: StatsQuery,
        reply: crate::stats::StatsReply,
    },
    /// The stats collector's round: every VM, to read those with a QEMU.
    StatsTargets {
        reply: RpcReplyPort<Vec<crate::stats::Target>>,
    },
    /// This node took VM `id` over from the lost node `from` (issue 19).
    TakenOver { id: i64, from: String },
    /// The database's row of a VM taken over.
    TakenOverLoaded { stored: Box<StoredVm>, from: String },
    /// This node lost its lock beyond --fence-timeout: kill every HA VM.
    Fence,
    /// This node holds its lock again: see which VMs moved meanwhile.
    Reclaim,
    /// VMs another node owns now, with that node, and those whose rows
    /// still name this one; `fences` is the number of fences when the rows
    /// were read, so that only that fence ends.
    Release {
        moved: Vec<(i64, String)>,
        owned: Vec<i64>,
        fences: u64,
    },
}
