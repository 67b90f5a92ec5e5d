//! Every message type survives encode → frame → decode, and garbage never panics.

use bytes::BytesMut;
use corvus_protocol::*;
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};

fn sample_vm(name: &str, id: i64, n: u64) -> VmInfo {
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
    }
}

fn sample_event(name: &str, id: i64, n: u64, cause: EventCause) -> VmEvent {
    VmEvent {
        seq: n,
        at: "2026-01-01T00:00:00.123Z".into(),
        vm_id: id,
        vm_name: name.to_owned(),
        from: VmState::Running,
        to: VmState::Error,
        reason: format!("reason {name}"),
        cause,
    }
}

fn every_request(name: &str, id: i64, n: u64) -> Vec<Request> {
    let vm = || VmRef::Name(name.to_owned());
    vec![
        Request::Ping,
        Request::Status,
        Request::Shutdown,
        Request::ListVms,
        Request::ShowVm { vm: VmRef::Id(id) },
        Request::CreateVm {
            spec: Box::new(VmSpec {
                name: name.to_owned(),
                cpu_count: n as u32,
                ram_mb: n,
                description: None,
                display: DisplayKind::None,
                cpu_model: None,
                stop_timeout_secs: Some(3),
                restart_policy: RestartPolicy::Always,
                max_restarts: Some(2),
                restart_window_secs: None,
                autostart: false,
                kernel: None,
                initrd: Some(name.to_owned()),
                cmdline: None,
                guest_agent: Some(true),
                cloud_init: Some(CloudInitSpec {
                    user: Some(name.to_owned()),
                    ssh_keys: vec!["ssh-rsa AAAA".into()],
                    ..CloudInitSpec::default()
                }),
                forwards: vec![forward(n)],
            }),
        },
        Request::EditVm {
            vm: vm(),
            changes: VmChanges {
                ram_mb: Some(n),
                description: Some(String::new()),
                ..VmChanges::default()
            },
        },
        Request::DeleteVm { vm: vm() },
        Request::AddDrive {
            vm: vm(),
            drive: DriveSpec {
                file_path: name.to_owned(),
                interface: DriveInterface::Pflash,
                format: DriveFormat::Raw,
                media: DriveMedia::Cdrom,
                read_only: true,
                cache: None,
                discard: false,
                disk: Some(VmRef::Name("root".into())),
            },
        },
        Request::RemoveDrive {
            vm: vm(),
            drive_id: id,
        },
        Request::AddNic {
            vm: vm(),
            nic: NicSpec {
                nic_type: NicType::Vde,
                host_device: Some(name.to_owned()),
                mac_address: None,
                forwards: vec![forward(n)],
                network: Some(name.to_owned()),
                ip_address: Some("10.77.0.9".into()),
            },
        },
        Request::RemoveNic {
            vm: vm(),
            nic_id: id,
        },
        Request::AddShare {
            vm: vm(),
            share: ShareSpec {
                path: name.to_owned(),
                tag: name.to_owned(),
                cache: ShareCache::Auto,
                read_only: true,
            },
        },
        Request::RemoveShare {
            vm: vm(),
            share_id: id,
        },
        Request::StartVm { vm: vm() },
        Request::StopVm {
            vm: vm(),
            timeout_secs: Some(n as u32),
        },
        Request::PauseVm { vm: vm() },
        Request::ResetVm { vm: vm() },
        Request::History {
            vm: vm(),
            limit: None,
        },
        Request::Subscribe {
            filter: SubscribeFilter {
                vms: vec![vm(), VmRef::Id(id)],
                since: Some(n),
            },
        },
        Request::Attach {
            vm: vm(),
            channel: Channel::Serial,
        },
        Request::SpiceUri { vm: vm() },
        Request::ListDisks,
        Request::ShowDisk { disk: vm() },
        Request::CreateDisk {
            name: name.to_owned(),
            size: n,
            format: DiskFormat::Raw,
        },
        Request::ImportDisk {
            spec: ImportSpec {
                name: name.to_owned(),
                source: format!("https://example.invalid/{name}.qcow2.xz"),
                format: DiskFormat::Qcow2,
                sha256: Some("ab".repeat(32)),
                flatten: n.is_multiple_of(2),
            },
        },
        Request::RegisterDisk {
            name: name.to_owned(),
            path: format!("/srv/{name}"),
            format: None,
        },
        Request::OverlayDisk {
            name: name.to_owned(),
            backing: VmRef::Id(id),
        },
        Request::CloneDisk {
            name: name.to_owned(),
            source: vm(),
        },
        Request::ResizeDisk {
            disk: vm(),
            size: n,
            shrink: true,
        },
        Request::DiskSnapshot {
            spec: SnapshotSpec {
                disk: vm(),
                action: SnapshotAction::Revert,
                snapshot: Some(name.to_owned()),
            },
        },
        Request::DeleteDisk {
            disk: vm(),
            keep_file: true,
        },
        Request::CreateVmFromImage {
            spec: Box::new(ImageVmSpec {
                spec: VmSpec {
                    name: name.to_owned(),
                    cpu_count: 1,
                    ram_mb: n,
                    description: None,
                    display: DisplayKind::Spice,
                    cpu_model: None,
                    stop_timeout_secs: None,
                    restart_policy: RestartPolicy::Never,
                    max_restarts: None,
                    restart_window_secs: None,
                    autostart: true,
                    kernel: None,
                    initrd: None,
                    cmdline: None,
                    guest_agent: None,
                    cloud_init: None,
                    forwards: Vec::new(),
                },
                image: VmRef::Name("base".into()),
                disk_size: Some(n),
            }),
        },
        Request::DeleteVmWithDisks { vm: vm() },
        Request::VmStats { vm: vm() },
        Request::AllStats,
        Request::ReloadRevocations,
        Request::WebLogin,
        Request::SetCloudInit {
            vm: vm(),
            changes: CloudInitChanges {
                ssh_keys: Some(vec![format!("ssh-ed25519 {name}")]),
                hostname: Some(String::new()),
                ..CloudInitChanges::default()
            },
        },
        Request::ClearCloudInit { vm: vm() },
        Request::GuestExec {
            vm: vm(),
            spec: ExecSpec {
                command: vec!["sh".into(), "-c".into(), name.to_owned()],
                input: Some(vec![0, 255, n as u8]),
                timeout_secs: Some(n as u32),
            },
        },
        Request::GuestInterfaces {
            vm: vm(),
            timeout_secs: None,
        },
        Request::CreateNetwork {
            spec: NetworkSpec {
                name: name.to_owned(),
                subnet: "10.77.0.0/24".into(),
                mode: NetworkMode::Isolated,
                dhcp_range: Some("10.77.0.10-10.77.0.20".into()),
                dns_domain: None,
            },
        },
        Request::ListNetworks,
        Request::ShowNetwork { network: vm() },
        Request::DeleteNetwork {
            network: VmRef::Id(id),
        },
    ]
}

fn forward(n: u64) -> Forward {
    Forward {
        protocol: ForwardProtocol::Udp,
        host_address: "127.0.0.1".into(),
        host_port: n as u16,
        guest_port: 22,
    }
}

fn sample_network(name: &str, id: i64, n: u64) -> NetworkInfo {
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
        }],
    }
}

fn sample_stats(name: &str, id: i64, n: u64) -> VmStats {
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

fn sample_disk(name: &str, id: i64, n: u64) -> DiskInfo {
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
    }
}

fn every_error_kind(n: u64) -> Vec<ErrorKind> {
    vec![
        ErrorKind::NotFound,
        ErrorKind::InvalidTransition {
            state: VmState::Stopping,
        },
        ErrorKind::InvalidArgument,
        ErrorKind::Conflict,
        ErrorKind::QemuFailed,
        ErrorKind::Busy,
        ErrorKind::Unavailable,
        ErrorKind::Internal,
        ErrorKind::ProtocolMismatch {
            daemon: 1,
            client: n as u32,
        },
        ErrorKind::FrameTooLarge { limit: n },
        ErrorKind::MalformedFrame,
        ErrorKind::TooManyConnections { limit: n },
        ErrorKind::FrameBudgetExhausted { budget: n },
        ErrorKind::ConnectionTimeout { secs: n },
        ErrorKind::PermissionDenied {
            needed: Role::Operator,
        },
    ]
}

fn every_cause(name: &str, n: u64) -> Vec<EventCause> {
    vec![
        EventCause::Operator {
            connection: n,
            command: name.to_owned(),
            client: format!("{name}-client"),
        },
        EventCause::Guest,
        EventCause::QemuEvent {
            event: name.to_owned(),
        },
        EventCause::QemuExit {
            code: Some(1),
            signal: None,
        },
        EventCause::QemuExit {
            code: None,
            signal: Some(9),
        },
        EventCause::RestartPolicy { attempt: n as u32 },
        EventCause::TimeoutEscalation,
        EventCause::Readoption,
        EventCause::Autostart,
        EventCause::Daemon,
    ]
}

fn every_response(name: &str, id: i64, n: u64, bytes: &[u8]) -> Vec<Response> {
    vec![
        Response::Pong,
        Response::Status(Box::new(DaemonStatus {
            daemon_version: name.to_owned(),
            protocol_version: PROTOCOL_VERSION,
            pid: n as u32,
            uptime_secs: n,
            connections: n,
            vm_count: n,
            vms_by_state: vec![StateCount {
                state: VmState::Running,
                count: n,
            }],
            database: "sqlite".into(),
            accel: "tcg".into(),
            persistence_backlog: n,
            socket: name.to_owned(),
            tcp: None,
            database_error: Some(format!("database refuses writes: {name}")),
            tls: Some(name.to_owned()),
            client: name.to_owned(),
            role: Role::Operator,
        })),
        Response::ShuttingDown,
        Response::Vms(vec![
            std::sync::Arc::new(sample_vm(name, id, n)),
            std::sync::Arc::new(sample_vm("b", id + 1, n)),
        ]),
        Response::Vm(Box::new(sample_vm(name, id, n))),
        Response::Deleted {
            id,
            name: name.to_owned(),
        },
        Response::History(
            every_cause(name, n)
                .into_iter()
                .map(|c| sample_event(name, id, n, c))
                .collect(),
        ),
        Response::Subscribed,
        Response::Attached {
            replay: bytes.to_vec(),
        },
        Response::SpiceUri {
            uri: format!("spice+unix://{name}"),
            socket: name.to_owned(),
        },
        Response::Disks(vec![sample_disk(name, id, n), sample_disk("b", id + 1, n)]),
        Response::Disk(Box::new(sample_disk(name, id, n))),
        Response::DiskDeleted {
            id,
            name: name.to_owned(),
            file_removed: !n.is_multiple_of(2),
        },
        Response::DiskSnapshots {
            disk: name.to_owned(),
            snapshots: sample_disk(name, id, n).snapshots,
        },
        Response::VmDeletedWithDisks {
            id,
            name: name.to_owned(),
            disks: vec![format!("{name}-root")],
        },
        Response::VmStats(Box::new(sample_stats(name, id, n))),
        Response::AllStats(vec![
            sample_stats(name, id, n),
            VmStats::idle(id, name.to_owned(), VmState::Stopped, n),
        ]),
        Response::RevocationsReloaded {
            revoked: n,
            closed: n,
        },
        Response::WebLogin {
            url: format!("http://127.0.0.1:8080/login?token={name}"),
            expires_in_secs: n,
        },
        Response::Exec(ExecOutput {
            exit_code: 3,
            stdout: name.as_bytes().to_vec(),
            stderr: vec![0xff],
            truncated: false,
        }),
        Response::GuestInterfaces(vec![GuestInterface {
            name: "eth0".into(),
            mac_address: Some("52:54:00:12:34:56".into()),
            addresses: vec!["10.0.2.15/24".into(), "fec0::5054:ff:fe12:3456/64".into()],
        }]),
        Response::Networks(vec![
            sample_network(name, id, n),
            sample_network("b", id + 1, n),
        ]),
        Response::Network(Box::new(sample_network(name, id, n))),
        Response::NetworkDeleted {
            id,
            name: name.to_owned(),
        },
    ]
}

fn every_server_message(name: &str, id: i64, n: u64, bytes: &[u8]) -> Vec<ServerMessage> {
    let mut messages = vec![
        ServerMessage::Welcome {
            protocol_version: PROTOCOL_VERSION,
            daemon_version: name.into(),
        },
        ServerMessage::Event(sample_event(name, id, n, EventCause::Guest)),
        ServerMessage::Lagged { missed: n },
        ServerMessage::Output(bytes.to_vec()),
        ServerMessage::StreamEnd {
            reason: name.to_owned(),
        },
        ServerMessage::Progress(JobProgress {
            job: n,
            phase: name.to_owned(),
            done: n,
            total: Some(n.wrapping_mul(2)),
        }),
    ];
    messages.extend(
        every_response(name, id, n, bytes)
            .into_iter()
            .map(|r| ServerMessage::Reply(Ok(r))),
    );
    messages.extend(
        every_response(name, id, n, bytes)
            .into_iter()
            .map(ServerMessage::ReplyPart),
    );
    messages.extend(
        every_error_kind(n)
            .into_iter()
            .map(|kind| ServerMessage::Reply(Err(WireError::new(kind, name)))),
    );
    messages
}

fn every_client_message(name: &str, id: i64, n: u64, bytes: &[u8]) -> Vec<ClientMessage> {
    let mut messages = vec![
        ClientMessage::Hello {
            protocol_version: n as u32,
            client: name.to_owned(),
        },
        ClientMessage::Input(bytes.to_vec()),
        ClientMessage::Detach,
    ];
    messages.extend(
        every_request(name, id, n)
            .into_iter()
            .map(ClientMessage::Request),
    );
    messages
}

fn roundtrip<T>(message: T)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug + Clone,
{
    let mut codec = FrameCodec::<T, T>::default();
    let mut buf = BytesMut::new();
    codec.encode(message.clone(), &mut buf).expect("encode");
    let len = u64::from_be_bytes(buf[..8].try_into().unwrap());
    assert_eq!(
        len as usize,
        buf.len() - 8,
        "header holds the payload length"
    );
    let decoded = codec
        .decode(&mut buf)
        .expect("decode")
        .expect("a whole frame");
    assert_eq!(decoded, message);
    assert!(buf.is_empty());
}

proptest! {
    #[test]
    fn every_message_roundtrips(name in ".{0,40}", id in any::<i64>(), n in any::<u64>(), bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        for message in every_client_message(&name, id, n, &bytes) {
            roundtrip(message);
        }
        for message in every_server_message(&name, id, n, &bytes) {
            roundtrip(message);
        }
    }

    #[test]
    fn garbage_payloads_never_panic(payload in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&(payload.len() as u64).to_be_bytes());
        buf.extend_from_slice(&payload);
        let mut codec = FrameCodec::<ClientMessage, ClientMessage>::default();
        // Either a message or a typed error; both are fine, a panic is not.
        let _ = codec.decode(&mut buf);
        let mut codec = FrameCodec::<ServerMessage, ServerMessage>::default();
        let _ = codec.decode(&mut BytesMut::from(&payload[..]));
    }
}

#[test]
fn unknown_variant_tags_are_malformed() {
    let mut codec = FrameCodec::<ClientMessage, ClientMessage>::default();
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&1u64.to_be_bytes());
    buf.extend_from_slice(&[0x7f]);
    assert!(matches!(
        codec.decode(&mut buf),
        Err(FrameError::Malformed(_))
    ));
}

/// The daemon's side of `call`: the answer split into parts, as the gateway sends it.
async fn answer_in_parts(
    conn: &mut Connection<tokio::io::DuplexStream, ClientMessage, ServerMessage>,
    answer: Response,
) {
    assert!(matches!(
        conn.recv().await.unwrap(),
        Some(ClientMessage::Request(Request::History { .. }))
    ));
    let mut parts = answer.into_parts(4096);
    let last = parts.pop().unwrap();
    for part in parts {
        conn.send(ServerMessage::ReplyPart(part)).await.unwrap();
    }
    conn.send(ServerMessage::Reply(Ok(last))).await.unwrap();
}

#[tokio::test]
async fn call_joins_an_answer_sent_in_parts() {
    let events: Vec<VmEvent> = (0..500u64)
        .map(|seq| sample_event("web", 1, seq, EventCause::Guest))
        .collect();
    let (client, daemon) = tokio::io::duplex(64 * 1024);
    let mut client = Connection::<_, ServerMessage, ClientMessage>::new(client);
    let mut daemon = Connection::<_, ClientMessage, ServerMessage>::new(daemon);
    let request = Request::History {
        vm: VmRef::Id(1),
        limit: None,
    };
    let (answer, ()) = tokio::join!(
        client.call(request.clone()),
        answer_in_parts(&mut daemon, Response::History(events.clone()))
    );
    assert_eq!(answer.unwrap(), Response::History(events));

    // An error after some parts voids them.
    let (answer, ()) = tokio::join!(client.call(request), async {
        daemon.recv().await.unwrap();
        let part = Response::History(vec![sample_event("web", 1, 1, EventCause::Guest)]);
        daemon.send(ServerMessage::ReplyPart(part)).await.unwrap();
        let refused = WireError::unavailable("the database went away");
        daemon
            .send(ServerMessage::Reply(Err(refused)))
            .await
            .unwrap();
    });
    assert!(matches!(answer, Err(CallError::Refused(err)) if err.kind == ErrorKind::Unavailable));
}
