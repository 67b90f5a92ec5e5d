//! Rates, and what happens when readings do not line up.

use super::*;
use crate::stats::nics::Traffic;
use crate::stats::procfs::ProcFigures;
use corvus_protocol::{
    DisplayKind, DriveFormat, DriveMedia, NicType, RestartPolicy, RuntimePaths, VmInfo,
};
use corvus_qemu::{BlockStats, VcpuThread};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn drive(id: i64, interface: DriveInterface) -> DriveInfo {
    DriveInfo {
        id,
        interface,
        file_path: format!("/img/{id}"),
        format: DriveFormat::Raw,
        media: DriveMedia::Disk,
        read_only: false,
        cache: None,
        discard: false,
        disk_id: None,
    }
}

fn info() -> Arc<VmInfo> {
    let text = String::new;
    Arc::new(VmInfo {
        id: 7,
        name: "web".into(),
        created_at: text(),
        updated_at: text(),
        status: VmState::Running,
        cpu_count: 1,
        ram_mb: 256,
        description: None,
        pid: Some(100),
        restart_policy: RestartPolicy::Never,
        max_restarts: 5,
        restart_window_secs: 60,
        stop_timeout_secs: None,
        autostart: false,
        display: DisplayKind::None,
        cpu_model: None,
        kernel: None,
        initrd: None,
        cmdline: None,
        last_error: None,
        drives: vec![
            drive(3, DriveInterface::Pflash),
            drive(4, DriveInterface::Virtio),
            drive(5, DriveInterface::Pflash),
        ],
        network_interfaces: Vec::new(),
        shared_dirs: Vec::new(),
        runtime: RuntimePaths {
            dir: text(),
            qmp: text(),
            monitor: text(),
            spice: text(),
            serial: text(),
            serial_log: text(),
        },
        guest_agent: false,
        agent: corvus_protocol::AgentStatus::Off,
        ip_addresses: Vec::new(),
        cloud_init: None,
        hotplug_slots: 0,
        node: String::new(),
        ha: false,
    })
}

/// A reading `secs` after `start`, with every counter at `n` (CPU in ticks).
fn reading(start: Instant, secs: u64, pid: u32, n: u64) -> RawSample {
    let ticks = CpuTicks { user: n, system: n };
    let backend = |device: &str| BlockStats {
        device: device.into(),
        node_name: String::new(),
        stats: BlockCounters {
            rd_bytes: n * 1000,
            wr_bytes: n * 2000,
            ..BlockCounters::default()
        },
    };
    RawSample {
        vm_id: 7,
        pid,
        at: start + Duration::from_secs(secs),
        wall: format!("t+{secs}"),
        info: info(),
        proc: ProcFigures {
            cpu: ticks,
            rss_bytes: 1 << 20,
            uptime_secs: secs,
            threads: vec![(101, ticks)],
        },
        vcpus: Ok(vec![VcpuThread {
            cpu_index: 0,
            thread_id: 101,
        }]),
        block: Ok(vec![backend("drive4"), backend("pflash1"), backend("")]),
        balloon: None,
        nics: vec![NicReading {
            nic_id: 9,
            nic_type: NicType::Tap,
            ifname: Some("tap0".into()),
            counters: Ok(Traffic {
                rx_bytes: n * 10,
                tx_bytes: n,
                rx_packets: n,
                tx_packets: n,
            }),
        }],
    }
}

#[test]
fn rates_are_counters_over_the_interval_between_two_readings() {
    let start = Instant::now();
    let hz = ticks_per_second();
    let before = reading(start, 0, 100, 0);
    // Half a second of CPU over two seconds: 25 %, as user and system ticks.
    let now = reading(start, 2, 100, hz / 4);
    let stats = compute(&now, Some(&before), 3);
    assert_eq!(stats.interval_secs, Some(Figure(2.0)));
    assert_eq!(stats.restarts, 3);
    let cpu = stats.cpu.expect("cpu");
    assert_eq!(cpu.percent, Some(Figure(25.0)));
    assert_eq!(cpu.vcpus[0].percent, Some(Figure(25.0)));
    assert_eq!(cpu.seconds, Figure(0.5));
    let disk = &stats.block.drives[0];
    assert_eq!(disk.wr_bytes_per_sec, Some(Figure((hz / 4 * 1000) as f64)));
    let nic = stats.net[0].counters.as_ref().expect("counters");
    assert_eq!(nic.rx_bytes_per_sec, Some(Figure((hz / 4 * 5) as f64)));
}

#[test]
fn a_first_reading_or_another_qemu_has_counters_but_no_rates() {
    let start = Instant::now();
    let before = reading(start, 0, 99, 50);
    let now = reading(start, 5, 100, 10);
    for stats in [compute(&now, None, 0), compute(&now, Some(&before), 0)] {
        assert_eq!(stats.interval_secs, None);
        let cpu = stats.cpu.expect("cpu");
        assert_eq!(cpu.percent, None);
        assert!(cpu.seconds.0 > 0.0);
        assert_eq!(stats.block.drives[0].rd_bytes, 10_000);
        assert_eq!(stats.block.drives[0].rd_bytes_per_sec, None);
    }
}

#[test]
fn backends_map_to_drive_ids_and_anonymous_ones_are_left_out() {
    let now = reading(Instant::now(), 0, 100, 1);
    let stats = compute(&now, None, 0);
    let ids: Vec<(Option<i64>, &str)> = stats
        .block
        .drives
        .iter()
        .map(|d| (d.drive_id, d.device.as_str()))
        .collect();
    assert_eq!(ids, vec![(Some(4), "drive4"), (Some(5), "pflash1")]);
    assert_eq!(drive_id(&info().drives, "pflash0"), Some(3));
    assert_eq!(drive_id(&info().drives, "drive99"), None);
    assert_eq!(drive_id(&info().drives, "ide0-cd0"), None);
}

#[test]
fn a_qmp_that_did_not_answer_marks_block_and_vcpus_but_keeps_proc_figures() {
    let mut now = reading(Instant::now(), 0, 100, 1);
    let late = "QEMU's QMP did not answer within 1000 ms".to_owned();
    now.block = Err(late.clone());
    now.vcpus = Err(late.clone());
    let stats = compute(&now, None, 0);
    assert_eq!(stats.block.unavailable.as_ref(), Some(&late));
    assert!(stats.block.drives.is_empty());
    let cpu = stats.cpu.expect("CPU time comes from /proc");
    assert_eq!(cpu.vcpus_unavailable.as_ref(), Some(&late));
    assert!(cpu.vcpus.is_empty());
    assert_eq!(stats.memory.map(|m| m.rss_bytes), Some(1 << 20));
}
