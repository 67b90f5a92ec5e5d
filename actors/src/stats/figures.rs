//! From counters to what users read: a reading of a VM, compared with an
//! earlier one of the same QEMU, becomes its figures with rates. Pure.

use super::nics::NicReading;
use super::procfs::{CpuTicks, ticks_per_second};
use super::sample::RawSample;
use corvus_protocol::{
    BlockSection, CpuStats, DriveInfo, DriveInterface, DriveStats, Figure, MemoryStats,
    NetCounters, NicStats, VcpuStats, VmState, VmStats,
};
use corvus_qemu::BlockCounters;

/// The figures of `now`, with rates over the time since `before` when that
/// is an earlier reading of the same QEMU.
pub fn compute(now: &RawSample, before: Option<&RawSample>, restarts: u64) -> VmStats {
    let before = before.filter(|b| b.pid == now.pid && b.at < now.at);
    let interval = before.map(|b| now.at.duration_since(b.at).as_secs_f64());
    let rate = |now: u64, then: Option<u64>| -> Option<Figure> {
        let seconds = interval?;
        Some(Figure(now.saturating_sub(then?) as f64 / seconds))
    };
    let cpu_percent = |now: CpuTicks, then: Option<CpuTicks>| {
        rate(now.total(), then.map(CpuTicks::total))
            .map(|ticks| Figure(ticks.0 / ticks_per_second() as f64 * 100.0))
    };
    let seconds = |ticks: u64| Figure(ticks as f64 / ticks_per_second() as f64);

    let vcpus = match &now.vcpus {
        Ok(vcpus) => vcpus
            .iter()
            .filter_map(|vcpu| {
                let ticks = thread_ticks(now, vcpu.thread_id)?;
                Some(VcpuStats {
                    index: vcpu.cpu_index,
                    thread_id: vcpu.thread_id,
                    seconds: seconds(ticks.total()),
                    percent: cpu_percent(
                        ticks,
                        before.and_then(|b| thread_ticks(b, vcpu.thread_id)),
                    ),
                })
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    VmStats {
        vm_id: now.vm_id,
        vm_name: now.info.name.clone(),
        status: now.info.status,
        sampled_at: Some(now.wall.clone()),
        interval_secs: interval.map(Figure),
        pid: Some(now.pid),
        uptime_secs: Some(now.proc.uptime_secs),
        restarts,
        cpu: Some(CpuStats {
            seconds: seconds(now.proc.cpu.total()),
            user_seconds: seconds(now.proc.cpu.user),
            system_seconds: seconds(now.proc.cpu.system),
            percent: cpu_percent(now.proc.cpu, before.map(|b| b.proc.cpu)),
            vcpus,
            vcpus_unavailable: now.vcpus.as_ref().err().cloned(),
        }),
        memory: Some(MemoryStats {
            rss_bytes: now.proc.rss_bytes,
            balloon_bytes: now.balloon,
        }),
        block: block(now, before, &rate),
        net: now.nics.iter().map(|nic| net(nic, before, &rate)).collect(),
    }
}

fn thread_ticks(sample: &RawSample, thread_id: u32) -> Option<CpuTicks> {
    sample
        .proc
        .threads
        .iter()
        .find(|(tid, _)| *tid == thread_id)
        .map(|(_, ticks)| *ticks)
}

type Rate<'a> = dyn Fn(u64, Option<u64>) -> Option<Figure> + 'a;

fn block(now: &RawSample, before: Option<&RawSample>, rate: &Rate<'_>) -> BlockSection {
    let backends = match &now.block {
        Ok(backends) => backends,
        Err(reason) => {
            return BlockSection {
                drives: Vec::new(),
                unavailable: Some(reason.clone()),
            };
        }
    };
    let earlier = |device: &str| -> Option<BlockCounters> {
        let backends = before?.block.as_ref().ok()?;
        backends
            .iter()
            .find(|b| b.device == device)
            .map(|b| b.stats)
    };
    let drives = backends
        .iter()
        .filter(|backend| !backend.device.is_empty())
        .map(|backend| {
            let c = backend.stats;
            let then = earlier(&backend.device);
            DriveStats {
                drive_id: drive_id(&now.info.drives, &backend.device),
                device: backend.device.clone(),
                rd_bytes: c.rd_bytes,
                wr_bytes: c.wr_bytes,
                rd_operations: c.rd_operations,
                wr_operations: c.wr_operations,
                flush_operations: c.flush_operations,
                rd_total_time_ns: c.rd_total_time_ns,
                wr_total_time_ns: c.wr_total_time_ns,
                flush_total_time_ns: c.flush_total_time_ns,
                rd_bytes_per_sec: rate(c.rd_bytes, then.map(|t| t.rd_bytes)),
                wr_bytes_per_sec: rate(c.wr_bytes, then.map(|t| t.wr_bytes)),
                rd_ops_per_sec: rate(c.rd_operations, then.map(|t| t.rd_operations)),
                wr_ops_per_sec: rate(c.wr_operations, then.map(|t| t.wr_operations)),
            }
        })
        .collect();
    BlockSection {
        drives,
        unavailable: None,
    }
}

/// The drive behind a QEMU backend name: `drive<id>` (the command line's
/// `-drive id=`), or `pflash<n>` for the n-th firmware unit.
fn drive_id(drives: &[DriveInfo], device: &str) -> Option<i64> {
    if let Some(id) = device.strip_prefix("drive") {
        let id: i64 = id.parse().ok()?;
        return drives.iter().any(|d| d.id == id).then_some(id);
    }
    let unit: usize = device.strip_prefix("pflash")?.parse().ok()?;
    drives
        .iter()
        .filter(|d| d.interface == DriveInterface::Pflash)
        .nth(unit)
        .map(|d| d.id)
}

fn net(nic: &NicReading, before: Option<&RawSample>, rate: &Rate<'_>) -> NicStats {
    let then = before
        .and_then(|b| {
            b.nics
                .iter()
                .find(|n| n.nic_id == nic.nic_id && n.ifname == nic.ifname)
        })
        .and_then(|n| n.counters.as_ref().ok().copied());
    let (counters, unavailable) = match &nic.counters {
        Ok(t) => (
            Some(NetCounters {
                rx_bytes: t.rx_bytes,
                tx_bytes: t.tx_bytes,
                rx_packets: t.rx_packets,
                tx_packets: t.tx_packets,
                rx_bytes_per_sec: rate(t.rx_bytes, then.map(|t| t.rx_bytes)),
                tx_bytes_per_sec: rate(t.tx_bytes, then.map(|t| t.tx_bytes)),
            }),
            None,
        ),
        Err(reason) => (None, Some(reason.clone())),
    };
    NicStats {
        nic_id: nic.nic_id,
        nic_type: nic.nic_type,
        ifname: nic.ifname.clone(),
        counters,
        unavailable,
    }
}

/// A reading shown later: the VM's current name, state and restart count
/// over the figures of its (still running) QEMU.
pub fn current(mut stats: VmStats, name: &str, status: VmState, restarts: u64) -> VmStats {
    name.clone_into(&mut stats.vm_name);
    stats.status = status;
    stats.restarts = restarts;
    stats
}

#[cfg(test)]
#[path = "figures_tests.rs"]
mod tests;
