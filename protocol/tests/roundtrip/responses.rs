//! One of every response, error kind, event cause and frame each side sends.

use super::requests::every_request;
use super::samples::*;
use corvus_protocol::*;

pub fn every_error_kind(n: u64) -> Vec<ErrorKind> {
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
        ErrorKind::OwnedByNode {
            node: format!("node-{n}"),
            live: n.is_multiple_of(2),
        },
        ErrorKind::NodeLost {
            node: format!("node-{n}"),
        },
    ]
}

pub fn every_cause(name: &str, n: u64) -> Vec<EventCause> {
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
        EventCause::Node {
            node: name.to_owned(),
        },
    ]
}

pub fn every_response(name: &str, id: i64, n: u64, bytes: &[u8]) -> Vec<Response> {
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
            node: name.to_owned(),
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
        Response::VmSnapshots {
            vm: name.to_owned(),
            snapshots: vec![VmSnapshotInfo {
                name: name.to_owned(),
                created_at: "2026-12-07T09:00:00Z".into(),
                with_ram: n.is_multiple_of(2),
                size: n,
                problem: Some(format!("drive {id} lacks it")),
            }],
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
        Response::Nodes(vec![NodeInfo {
            name: name.to_owned(),
            address: Some(name.to_owned()),
            state: NodeState::Live,
            cpus: n as u32,
            ram_mib: n,
            free_ram_mib: -(n as i64 / 2),
            vm_count: n,
            heartbeat_age_secs: n,
            this_node: true,
            cordoned: n.is_multiple_of(2),
        }]),
        Response::Drained(vec![DrainedVm {
            vm: name.to_owned(),
            moved_to: Some(name.to_owned()),
            note: name.to_owned(),
        }]),
    ]
}

pub fn every_server_message(name: &str, id: i64, n: u64, bytes: &[u8]) -> Vec<ServerMessage> {
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

pub fn every_client_message(name: &str, id: i64, n: u64, bytes: &[u8]) -> Vec<ClientMessage> {
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
