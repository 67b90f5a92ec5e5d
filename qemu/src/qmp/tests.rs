//! The client against a fake QEMU speaking QMP on a Unix socket.

use super::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};

const DEADLINE: Duration = Duration::from_secs(5);

struct FakeQemu {
    lines: Lines<BufReader<OwnedReadHalf>>,
    write: OwnedWriteHalf,
}

impl FakeQemu {
    /// Accepts one client, greets it and answers its `qmp_capabilities`.
    async fn accept(listener: &UnixListener) -> FakeQemu {
        let (stream, _) = listener.accept().await.expect("accept");
        let mut qemu = FakeQemu::greet(stream).await;
        let negotiation = qemu.command().await;
        assert_eq!(negotiation["execute"], "qmp_capabilities");
        qemu.reply(&negotiation, json!({})).await;
        qemu
    }

    async fn greet(stream: UnixStream) -> FakeQemu {
        let (read, write) = stream.into_split();
        let mut qemu = FakeQemu {
            lines: BufReader::new(read).lines(),
            write,
        };
        qemu.send(json!({"QMP": {
            "version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "test"},
            "capabilities": ["oob"]
        }}))
        .await;
        qemu
    }

    async fn command(&mut self) -> Value {
        let line = self
            .lines
            .next_line()
            .await
            .expect("read")
            .expect("a command");
        serde_json::from_str(&line).expect("JSON command")
    }

    async fn send(&mut self, message: Value) {
        let mut line = message.to_string();
        line.push('\n');
        self.write.write_all(line.as_bytes()).await.expect("write");
    }

    async fn reply(&mut self, command: &Value, value: Value) {
        self.send(json!({"return": value, "id": command["id"]}))
            .await;
    }

    async fn event(&mut self, name: &str, data: Value) {
        self.send(json!({
            "event": name,
            "data": data,
            "timestamp": {"seconds": 1, "microseconds": 2}
        }))
        .await;
    }
}

fn socket_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("qmp.sock")
}

fn listen(path: &Path) -> UnixListener {
    UnixListener::bind(path).expect("bind")
}

#[tokio::test]
async fn unknown_events_do_not_break_the_session() {
    let dir = tempfile::tempdir().expect("tempdir");
    let listener = listen(&socket_path(&dir));
    let server = tokio::spawn(async move {
        let mut qemu = FakeQemu::accept(&listener).await;
        qemu.event(
            "RDMA_GID_STATUS_CHANGED",
            json!({"netdev": "n", "gid-status": true}),
        )
        .await;
        qemu.event("STOP", json!({})).await;
        let query = qemu.command().await;
        assert_eq!(query["execute"], "query-status");
        qemu.reply(
            &query,
            json!({"running": false, "singlestep": false, "status": "paused"}),
        )
        .await;
        qemu
    });
    let (commands, mut events) = connect(&socket_path(&dir), DEADLINE)
        .await
        .expect("connect");
    assert_eq!(
        commands.qemu_version(),
        QemuVersion {
            major: 7,
            minor: 2,
            micro: 22
        }
    );
    // The command goes out before anyone reads events: they must wait.
    let status = commands.query_status().await.expect("query-status");
    assert_eq!(
        status,
        RunStatus {
            running: false,
            status: "paused".into()
        }
    );
    assert_eq!(
        events.next().await,
        Some(QmpEvent::Other {
            name: "RDMA_GID_STATUS_CHANGED".into()
        })
    );
    assert_eq!(events.next().await, Some(QmpEvent::Stop));
    drop(server.await.expect("server"));
    assert_eq!(events.next().await, None);
}

#[tokio::test]
async fn an_error_reply_is_a_refusal_and_the_session_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let listener = listen(&socket_path(&dir));
    let server = tokio::spawn(async move {
        let mut qemu = FakeQemu::accept(&listener).await;
        let cont = qemu.command().await;
        assert_eq!(cont["execute"], "cont");
        qemu.send(json!({
            "error": {"class": "GenericError", "desc": "Resetting the Virtual Machine is required"},
            "id": cont["id"]
        }))
        .await;
        let hmp = qemu.command().await;
        assert_eq!(hmp["arguments"]["command-line"], "info name");
        qemu.reply(&hmp, json!("web\r\n")).await;
        qemu
    });
    let (commands, _events) = connect(&socket_path(&dir), DEADLINE)
        .await
        .expect("connect");
    match commands.cont().await {
        Err(QmpError::Refused { class, desc }) => {
            assert_eq!(class, "GenericError");
            assert_eq!(desc, "Resetting the Virtual Machine is required");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let output = commands
        .human_monitor_command("info name")
        .await
        .expect("hmp");
    assert_eq!(output, "web\r\n");
    drop(server.await.expect("server"));
}

#[tokio::test]
async fn a_closed_connection_ends_events_and_fails_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let listener = listen(&socket_path(&dir));
    let server = tokio::spawn(async move {
        let mut qemu = FakeQemu::accept(&listener).await;
        qemu.event("SHUTDOWN", json!({"guest": false, "reason": "host-signal"}))
            .await;
        let quit = qemu.command().await;
        assert_eq!(quit["execute"], "stop");
        // QEMU dies without answering.
    });
    let (commands, mut events) = connect(&socket_path(&dir), DEADLINE)
        .await
        .expect("connect");
    assert!(matches!(commands.stop().await, Err(QmpError::Closed)));
    server.await.expect("server");
    assert_eq!(
        events.next().await,
        Some(QmpEvent::Shutdown {
            guest: false,
            reason: "host-signal".into()
        })
    );
    assert_eq!(events.next().await, None);
    assert!(matches!(
        commands.query_status().await,
        Err(QmpError::Closed)
    ));
    // `quit` wants QEMU gone, and it is.
    assert!(commands.quit().await.is_ok());
}

#[tokio::test]
async fn connect_waits_for_a_socket_that_appears_late() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = socket_path(&dir);
    // First a socket file nobody listens on (refused), as QEMU's is between
    // bind and listen or after a crash; then no file at all; then QEMU.
    drop(std::os::unix::net::UnixListener::bind(&path).expect("stale socket"));
    let server_path = path.clone();
    let server = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        std::fs::remove_file(&server_path).expect("remove stale socket");
        tokio::time::sleep(Duration::from_millis(100)).await;
        let listener = listen(&server_path);
        FakeQemu::accept(&listener).await
    });
    let (commands, _events) = connect(&path, DEADLINE).await.expect("connect");
    assert_eq!(commands.qemu_version().major, 7);
    drop(server.await.expect("server"));
}

#[tokio::test]
async fn a_socket_that_never_appears_is_a_connect_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let started = std::time::Instant::now();
    let result = connect(&socket_path(&dir), Duration::from_millis(100)).await;
    match result {
        Err(QmpError::Connect(err)) => assert_eq!(err.kind(), std::io::ErrorKind::NotFound),
        other => panic!("expected a connect error, got {other:?}"),
    }
    assert!(started.elapsed() >= Duration::from_millis(90));
}

#[tokio::test]
async fn something_that_is_not_qmp_is_a_protocol_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let listener = listen(&socket_path(&dir));
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        stream
            .write_all(b"SSH-2.0-OpenSSH\r\n")
            .await
            .expect("write");
        tokio::time::sleep(Duration::from_secs(1)).await;
    });
    let result = connect(&socket_path(&dir), DEADLINE).await;
    assert!(matches!(result, Err(QmpError::Protocol(_))), "{result:?}");
}

#[tokio::test]
async fn replies_find_their_command_by_id_and_silence_times_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let listener = listen(&socket_path(&dir));
    let server = tokio::spawn(async move {
        let mut qemu = FakeQemu::accept(&listener).await;
        let first = qemu.command().await;
        let second = qemu.command().await;
        qemu.reply(&second, json!("second\r\n")).await;
        qemu.reply(&first, json!("first\r\n")).await;
        let ignored = qemu.command().await;
        assert_eq!(ignored["execute"], "stop");
        qemu
    });
    let (commands, _events) = connect(&socket_path(&dir), DEADLINE)
        .await
        .expect("connect");
    let (first, second) = tokio::join!(commands.human_monitor_command("one"), async {
        // Make sure "one" is written first.
        tokio::time::sleep(Duration::from_millis(20)).await;
        commands.human_monitor_command("two").await
    });
    assert_eq!(first.expect("first"), "first\r\n");
    assert_eq!(second.expect("second"), "second\r\n");
    let impatient = commands.clone().with_timeout(Duration::from_millis(50));
    assert!(matches!(impatient.stop().await, Err(QmpError::Timeout)));
    drop(server.await.expect("server"));
}

/// Replies as QEMU 7.2 sends them (trimmed), plus a field no QEMU sends
/// yet: the typed queries read what they need and ignore the rest.
#[tokio::test]
async fn stats_queries_read_qemu_replies_and_a_missing_balloon_is_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    let listener = listen(&socket_path(&dir));
    let server = tokio::spawn(async move {
        let mut qemu = FakeQemu::accept(&listener).await;
        let cpus = qemu.command().await;
        assert_eq!(cpus["execute"], "query-cpus-fast");
        qemu.reply(
            &cpus,
            json!([
                {"thread-id": 9251, "props": {"core-id": 0, "thread-id": 0, "socket-id": 0},
                 "qom-path": "/machine/unattached/device[0]", "cpu-index": 0, "target": "x86_64"},
                {"thread-id": 9252, "cpu-index": 1, "target": "x86_64", "added-later": {"x": 1}}
            ]),
        )
        .await;
        let block = qemu.command().await;
        assert_eq!(block["execute"], "query-blockstats");
        qemu.reply(
            &block,
            json!([
                {"device": "drive7", "node-name": "#block108",
                 "qdev": "/machine/peripheral-anon/device[0]/virtio-backend",
                 "stats": {"rd_bytes": 512, "wr_bytes": 4096, "rd_operations": 1,
                           "wr_operations": 2, "flush_operations": 3, "rd_total_time_ns": 10,
                           "wr_total_time_ns": 20, "flush_total_time_ns": 30,
                           "timed_stats": [], "account_invalid": true, "zoned_append_bytes": 9}},
                {"qdev": "/machine/unattached/device[9]", "stats": {"rd_bytes": 1}},
                {"device": "", "node-name": "drive9", "qdev": "/machine/peripheral/disk9",
                 "stats": {"rd_bytes": 2}}
            ]),
        )
        .await;
        let balloon = qemu.command().await;
        assert_eq!(balloon["execute"], "query-balloon");
        qemu.send(json!({"error": {"class": "DeviceNotActive",
            "desc": "No balloon device has been activated"}, "id": balloon["id"]}))
            .await;
        let balloon = qemu.command().await;
        qemu.reply(&balloon, json!({"actual": 268435456})).await;
        qemu
    });
    let (commands, _events) = connect(&socket_path(&dir), DEADLINE)
        .await
        .expect("connect");
    assert_eq!(
        commands.query_cpus_fast().await.expect("query-cpus-fast"),
        vec![
            VcpuThread {
                cpu_index: 0,
                thread_id: 9251
            },
            VcpuThread {
                cpu_index: 1,
                thread_id: 9252
            }
        ]
    );
    let block = commands.query_blockstats().await.expect("query-blockstats");
    assert_eq!(block.len(), 3);
    assert_eq!(block[0].device, "drive7");
    // A -blockdev drive has no backend name: its top node names it.
    assert_eq!(block[2].device, "drive9");
    assert_eq!(
        block[0].stats,
        BlockCounters {
            rd_bytes: 512,
            wr_bytes: 4096,
            rd_operations: 1,
            wr_operations: 2,
            flush_operations: 3,
            rd_total_time_ns: 10,
            wr_total_time_ns: 20,
            flush_total_time_ns: 30,
        }
    );
    assert_eq!(block[1].device, "");
    assert_eq!(block[1].stats.rd_bytes, 1);
    assert_eq!(commands.query_balloon().await.expect("no balloon"), None);
    assert_eq!(
        commands.query_balloon().await.expect("a balloon"),
        Some(BalloonInfo {
            actual: 268_435_456
        })
    );
    drop(server.await.expect("server"));
}

/// A snapshot job: an earlier concluded job of the same id is dismissed
/// first, the job is followed until it concluded, and QEMU's error in the
/// concluded job is the refusal.
#[tokio::test]
async fn a_snapshot_job_is_followed_to_its_end_and_its_error_returned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let listener = listen(&socket_path(&dir));
    let server = tokio::spawn(async move {
        let mut qemu = FakeQemu::accept(&listener).await;
        let answer = async |qemu: &mut FakeQemu, execute: &str, value: Value| {
            let command = qemu.command().await;
            assert_eq!(command["execute"], execute, "{command}");
            qemu.reply(&command, value).await;
            command
        };
        let stale = json!([{"id": "snap-1", "status": "concluded", "type": "snapshot-save"}]);
        answer(&mut qemu, "query-jobs", stale).await;
        answer(&mut qemu, "job-dismiss", json!({})).await;
        let save = answer(&mut qemu, "snapshot-save", json!({})).await;
        assert_eq!(save["arguments"]["vmstate"], "drive1");
        assert_eq!(save["arguments"]["devices"], json!(["drive1", "drive2"]));
        let running = json!([{"id": "snap-1", "status": "running", "type": "snapshot-save"}]);
        answer(&mut qemu, "query-jobs", running).await;
        let failed = json!([{"id": "snap-1", "status": "concluded", "type": "snapshot-save",
                             "error": "Device 'drive2' is writable but does not support snapshots"}]);
        answer(&mut qemu, "query-jobs", failed).await;
        answer(&mut qemu, "job-dismiss", json!({})).await;
        qemu
    });
    let (commands, _events) = connect(&socket_path(&dir), DEADLINE)
        .await
        .expect("connect");
    let devices = ["drive1".to_owned(), "drive2".to_owned()];
    let result = commands
        .snapshot_job(
            SnapshotJob::Save { vmstate: "drive1" },
            "snap-1",
            "s1",
            &devices,
            DEADLINE,
        )
        .await;
    match result {
        Err(QmpError::Refused { desc, .. }) => {
            assert!(desc.contains("does not support snapshots"), "{desc}")
        }
        other => panic!("expected QEMU's refusal, got {other:?}"),
    }
    drop(server.await.expect("server"));
}
