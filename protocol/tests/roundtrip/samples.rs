//! Sample values of the wire's structs, varied by the generated name, id and number.

use corvus_protocol::*;

pub fn sample_vm(name: &str, id: i64, n: u64) -> VmInfo {
    VmInfo {
        id,
        name: name.to_owned(),
        created_at: "2026-01-01T00:00:00Z".into(),
        updated_at: "2026-01-01T00:00:01Z".into(),
        status: VmState::Paused,
        cpu_count: n as u32,
        ram_mb: n,
        description: Some(name.to_owned()),
        pid: Some(n as u32),
        restart_policy: RestartPolicy::OnFailure,
        max_restarts: 5,
        restart_window_secs: 60,
        stop_timeout_secs: None,
        autostart: true,
        display: DisplayKind::Spice,
        cpu_model: Some("qemu64".into()),
        kernel: Some(format!("/boot/{name}")),
        initrd: None,
        cmdline: Some("console=ttyS0".into()),
        last_error: None,
        drives: vec![DriveInfo {
            id: 1,
            interface: DriveInterface::Nvme,
            file_path: format!("/var/a, b/{name}"),
            format: DriveFormat::Qcow2,
            media: DriveMedia::Disk,
            read_only: true,
            cache: Some(CacheMode::Directsync),
            discard: true,
            disk_id: Some(4),
        }],
        network_interfaces: vec![NicInfo {
            id: 2,
            nic_type: NicType::Bridge,
            host_device: Some("br0".into()),
            mac_address: "52:54:00:12:34:56".into(),
            forwards: vec![forward(n)],
            network_id: Some(id),
            ip_address: Some("10.77.0.9".into()),
            lease_address: Some("10.77.0.10".into()),
        }],
        shared_dirs: vec![ShareInfo {
            id: 3,
            path: "/srv".into(),
            tag: "srv".into(),
            cache: ShareCache::Never,
            read_only: false,
            pid: None,
        }],
        runtime: RuntimePaths {
            dir: "/run/corvus/1".into(),
            qmp: "/run/corvus/1/qmp.sock".into(),
            monitor: "/run/corvus/1/monitor.sock".into(),
            spice: "/run/corvus/1/spice.sock".into(),
            serial: "/run/corvus/1/serial.sock".into(),
            serial_log: "/run/corvus/1/serial.log".into(),
        },
        guest_agent: true,
        agent: AgentStatus::NotResponding,
        ip_addresses: vec!["10.0.2.15/24".into()],
        cloud_init: Some(CloudInitInfo {
            user: "alice".into(),
            ssh_keys: vec!["ssh-ed25519 AAAA alice@host".into()],
            hostname: name.to_owned(),
            user_data: Some("#cloud-config\n{}\n".into()),
            network_config: None,
            instance_id: format!("iid-{n}"),
        }),
        hotplug_slots: 4,
        node: name.to_owned(),
        ha: n % 2 == 1,
    }
}

pub fn sample_event(name: &str, id: i64, n: u64, cause: EventCause) -> VmEvent {
    VmEvent {
        seq: n,
        at: "2026-01-01T00:00:00.123Z".into(),
        vm_id: id,
        vm_name: name.to_owned(),
        from: VmState::Running,
        to: VmState::Error,
        reason: format!("reason {name}"),
        cause,
        kind: corvus_protocol::EventKind::State,
    }
}

pub fn forward(n: u64) -> Forward {
    Forward {
        protocol: ForwardProtocol::Udp,
        host_address: "127.0.0.1".into(),
        host_port: n as u16,
        guest_port: 22,
    }
}

pub fn sample_network(name: &str, id: i64, n: u64) -> NetworkInfo {
    NetworkInfo {
        id,
        name: name.to_owned(),
        subnet: "10.77.0.0/24".into(),
        mode: NetworkMode::Nat,
        bridge: format!("crv-{name}"),
        gateway: "10.77.0.1".into(),
        dhcp_start: "10.77.0.2".into(),
        dhcp_end: "10.77.0.254".into(),
        dns_domain: Some(name.to_owned()),
        created_at: "2026-01-01T00:00:00Z".into(),
        status: NetworkState::Error,
        last_error: Some(format!("{name} failed")),
        nics: vec![NetworkNic {
            vm_id: id,
            vm_name: name.to_owned(),
            nic_id: id,
            mac_address: "52:54:00:12:34:56".into(),
            ip_address: Some(format!("10.77.0.{}", n % 250)),
            lease_address: Some(format!("10.77.0.{}", n % 250 + 1)),
        }],
        dnsmasq_pid: Some(4242),
        events: vec![NetworkEvent {
            at: "2026-01-01T00:00:01Z".into(),
            kind: "dnsmasq-restarted".into(),
            reason: format!("{name}: dnsmasq exited with status 1"),
        }],
    }
}

pub fn sample_stats(name: &str, id: i64, n: u64) -> VmStats {
    let figure = Figure(n as f64 / 3.0);
    VmStats {
        sampled_at: Some(format!("2026-12-01T00:00:{:02}Z", n % 60)),
        interval_secs: Some(figure),
        pid: Some(n as u32),
        uptime_secs: Some(n),
        cpu: Some(CpuStats {
            seconds: figure,
            user_seconds: figure,
            system_seconds: Figure(f64::NAN),
            percent: None,
            vcpus: vec![VcpuStats {
                index: 0,
                thread_id: n as u32,
                seconds: figure,
                percent: Some(figure),
            }],
            vcpus_unavailable: Some(name.to_owned()),
        }),
        memory: Some(MemoryStats {
            rss_bytes: n,
            balloon_bytes: Some(n),
        }),
        block: BlockSection {
            drives: vec![DriveStats {
                drive_id: Some(id),
                device: name.to_owned(),
                rd_bytes: n,
                wr_bytes: n,
                rd_operations: n,
                wr_operations: n,
                flush_operations: n,
                rd_total_time_ns: n,
                wr_total_time_ns: n,
                flush_total_time_ns: n,
                rd_bytes_per_sec: Some(figure),
                wr_bytes_per_sec: None,
                rd_ops_per_sec: Some(figure),
                wr_ops_per_sec: None,
            }],
            unavailable: None,
        },
        net: vec![NicStats {
            nic_id: id,
            nic_type: NicType::Tap,
            ifname: Some(name.to_owned()),
            counters: Some(NetCounters {
                rx_bytes: n,
                tx_bytes: n,
                rx_packets: n,
                tx_packets: n,
                rx_bytes_per_sec: Some(figure),
                tx_bytes_per_sec: None,
            }),
            unavailable: Some(name.to_owned()),
        }],
        ..VmStats::idle(id, name.to_owned(), VmState::Running, n)
    }
}

pub fn sample_disk(name: &str, id: i64, n: u64) -> DiskInfo {
    DiskInfo {
        id,
        name: name.to_owned(),
        path: format!("/var/lib/corvus/disks/{id}.qcow2"),
        format: DiskFormat::Qcow2,
        virtual_size: n,
        actual_size: Some(n / 2),
        managed: true,
        backing_disk_id: Some(id + 1),
        backing_chain: vec!["base".into()],
        created_at: "2026-01-01T00:00:00Z".into(),
        snapshots: vec![DiskSnapshotInfo {
            id: "1".into(),
            name: name.to_owned(),
            created_at: "2026-01-01T00:00:00Z".into(),
            vm_state_size: 0,
        }],
        used_by: vec![DiskUser {
            vm_id: id,
            vm_name: name.to_owned(),
            direct: false,
        }],
        problem: Some(format!("{name} is missing")),
        node: Some("a".into()),
    }
}
