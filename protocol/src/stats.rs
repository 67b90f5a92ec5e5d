//! What a VM consumes, as `crv vm stats`, `crv top` and their `--json`
//! print it (issue 20). Counters are totals since QEMU started; rates are
//! per second over the interval between two samples (`interval_secs`), and
//! absent until there are two. A figure that could not be read is absent,
//! with the reason beside it where there is one to give.

use crate::enums::{NicType, VmState};
use serde::{Deserialize, Serialize};

/// A float that compares by its bits, so that the messages holding figures
/// keep `Eq` like every other message.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Figure(pub f64);

impl PartialEq for Figure {
    fn eq(&self, other: &Figure) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for Figure {}

/// One VM's figures. A VM without a QEMU (stopped, or one that just
/// exited) has only its identity, state and restart count: no figure of
/// a QEMU that is gone is ever shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmStats {
    pub vm_id: i64,
    pub vm_name: String,
    pub status: VmState,
    /// RFC 3339 UTC time the figures were read; `None` without a QEMU.
    pub sampled_at: Option<String>,
    /// Seconds between this sample and the earlier one the rates compare with.
    pub interval_secs: Option<Figure>,
    pub pid: Option<u32>,
    /// Seconds since this QEMU started.
    pub uptime_secs: Option<u64>,
    /// Restarts by the VM's restart policy since the daemon started.
    pub restarts: u64,
    pub cpu: Option<CpuStats>,
    pub memory: Option<MemoryStats>,
    pub block: BlockSection,
    pub net: Vec<NicStats>,
}

impl VmStats {
    /// A VM with no QEMU to read figures from.
    pub fn idle(vm_id: i64, vm_name: String, status: VmState, restarts: u64) -> VmStats {
        VmStats {
            vm_id,
            vm_name,
            status,
            sampled_at: None,
            interval_secs: None,
            pid: None,
            uptime_secs: None,
            restarts,
            cpu: None,
            memory: None,
            block: BlockSection::default(),
            net: Vec::new(),
        }
    }
}

/// CPU time of the QEMU process (every thread: vCPUs, I/O, emulation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuStats {
    /// User plus system seconds.
    pub seconds: Figure,
    pub user_seconds: Figure,
    pub system_seconds: Figure,
    /// Percent of one host CPU over the interval (200 is two CPUs' worth).
    pub percent: Option<Figure>,
    pub vcpus: Vec<VcpuStats>,
    /// Why there are no vCPU figures (QMP did not answer), when there are none.
    pub vcpus_unavailable: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VcpuStats {
    pub index: u32,
    /// The host thread running this vCPU.
    pub thread_id: u32,
    pub seconds: Figure,
    pub percent: Option<Figure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryStats {
    /// Resident memory of the QEMU process.
    pub rss_bytes: u64,
    /// The guest's memory as its balloon driver sets it; `None` without a
    /// balloon device (or when QMP did not answer).
    pub balloon_bytes: Option<u64>,
}

/// Block I/O per drive, from QMP `query-blockstats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockSection {
    pub drives: Vec<DriveStats>,
    /// Why there are no figures (QMP did not answer in time, or is down).
    pub unavailable: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriveStats {
    /// The drive's id in `crv vm show`; `None` for a backend QEMU added.
    pub drive_id: Option<i64>,
    /// QEMU's name for the backend (`drive3`, `pflash0`).
    pub device: String,
    pub rd_bytes: u64,
    pub wr_bytes: u64,
    pub rd_operations: u64,
    pub wr_operations: u64,
    pub flush_operations: u64,
    pub rd_total_time_ns: u64,
    pub wr_total_time_ns: u64,
    pub flush_total_time_ns: u64,
    pub rd_bytes_per_sec: Option<Figure>,
    pub wr_bytes_per_sec: Option<Figure>,
    pub rd_ops_per_sec: Option<Figure>,
    pub wr_ops_per_sec: Option<Figure>,
}

/// Traffic of one NIC, seen from the guest: `rx` is what the guest received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NicStats {
    pub nic_id: i64,
    #[serde(rename = "type")]
    pub nic_type: NicType,
    /// The host interface the counters come from (a tap).
    pub ifname: Option<String>,
    pub counters: Option<NetCounters>,
    /// Why there are no counters (user and vde networking have none to read).
    pub unavailable: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetCounters {
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes_per_sec: Option<Figure>,
    pub tx_bytes_per_sec: Option<Figure>,
}
