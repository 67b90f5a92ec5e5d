//! The QMP queries behind `crv vm stats` and `/metrics`: vCPU threads,
//! block I/O counters and the balloon. Only the fields Corvus reports are
//! read, and unknown ones are ignored, so a later QEMU that adds fields (or
//! drops one of the optional ones) does not break the whole reply.

use super::commands::QmpCommands;
use super::error::QmpError;
use serde::{Deserialize, Serialize};

/// One vCPU from `query-cpus-fast`: its index and the host thread running it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct VcpuThread {
    #[serde(rename = "cpu-index")]
    pub cpu_index: u32,
    #[serde(rename = "thread-id")]
    pub thread_id: u32,
}

/// One block backend from `query-blockstats`: `device` is the backend's
/// name — `drive<id>` for Corvus's drives (their `-blockdev` top node, see
/// [`crate::hotplug::drive_node`]), `pflash0`, … for firmware units.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BlockStats {
    /// The `-drive id=`; QEMU leaves it empty for a `-blockdev` drive,
    /// whose top node's name is then taken ([`QmpCommands::query_blockstats`]).
    #[serde(default)]
    pub device: String,
    #[serde(default, rename = "node-name")]
    pub node_name: String,
    pub stats: BlockCounters,
}

/// The counters of one backend since QEMU started. Each defaults to zero:
/// QEMU has always sent them, but nothing here should fail on their absence.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct BlockCounters {
    pub rd_bytes: u64,
    pub wr_bytes: u64,
    pub rd_operations: u64,
    pub wr_operations: u64,
    pub flush_operations: u64,
    pub rd_total_time_ns: u64,
    pub wr_total_time_ns: u64,
    pub flush_total_time_ns: u64,
}

/// `query-balloon`: the guest's memory as the balloon driver sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct BalloonInfo {
    /// Bytes.
    pub actual: u64,
}

#[derive(Debug, Serialize)]
struct QueryCpusFast {}

impl qapi::Command for QueryCpusFast {
    type Ok = Vec<VcpuThread>;
    const NAME: &'static str = "query-cpus-fast";
    const ALLOW_OOB: bool = false;
}

#[derive(Debug, Serialize)]
struct QueryBlockstats {}

impl qapi::Command for QueryBlockstats {
    type Ok = Vec<BlockStats>;
    const NAME: &'static str = "query-blockstats";
    const ALLOW_OOB: bool = false;
}

#[derive(Debug, Serialize)]
struct QueryBalloon {}

impl qapi::Command for QueryBalloon {
    type Ok = BalloonInfo;
    const NAME: &'static str = "query-balloon";
    const ALLOW_OOB: bool = false;
}

/// QEMU's error class when a VM has no balloon device.
const NO_BALLOON: &str = "DeviceNotActive";

impl QmpCommands {
    /// Every vCPU and its host thread id.
    pub async fn query_cpus_fast(&self) -> Result<Vec<VcpuThread>, QmpError> {
        self.execute(QueryCpusFast {}).await
    }

    /// Block I/O counters of every backend.
    pub async fn query_blockstats(&self) -> Result<Vec<BlockStats>, QmpError> {
        let mut backends = self.execute(QueryBlockstats {}).await?;
        for backend in &mut backends {
            if backend.device.is_empty() {
                backend.device = backend.node_name.clone();
            }
        }
        Ok(backends)
    }

    /// The balloon's figures, or `None` when the VM has no balloon device.
    pub async fn query_balloon(&self) -> Result<Option<BalloonInfo>, QmpError> {
        match self.execute(QueryBalloon {}).await {
            Ok(info) => Ok(Some(info)),
            Err(QmpError::Refused { class, .. }) if class == NO_BALLOON => Ok(None),
            Err(err) => Err(err),
        }
    }
}
