//! Connection exhaustion (issue 12, defect 7): file descriptors, the
//! connection cap, the memory of half-received frames, slow and idle
//! clients, and TCP keepalive. crv's own deadline is in handshake.rs.

use corvus_protocol::{
    ClientMessage, Connection, ErrorKind, MAX_FRAME_LEN, PROTOCOL_VERSION, ServerMessage,
};
use harness::access::{Via, free_port};
use harness::postgres::wait_until;
use harness::prereq::{require, which};
use harness::{Daemon, DaemonOptions, Db};
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;

type Client<S = UnixStream> = Connection<S, ServerMessage, ClientMessage>;

fn with_args(args: &[&str]) -> DaemonOptions {
    DaemonOptions {
        extra_args: args.iter().map(|a| a.to_string()).collect(),
        ..DaemonOptions::default()
    }
}

async fn hello<S>(stream: S) -> Client<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut conn = Client::new(stream);
    conn.send(ClientMessage::Hello {
        protocol_version: PROTOCOL_VERSION,
        client: "limits test".into(),
    })
    .await
    .unwrap();
    match conn.recv().await.unwrap() {
        Some(ServerMessage::Welcome { .. }) => conn,
        other => panic!("no Welcome: {other:?}"),
    }
}

async fn connect(daemon: &Daemon) -> Client {
    hello(UnixStream::connect(&daemon.socket).await.unwrap()).await
}

/// The next frame within `timeout`, as an error kind, and whether the
/// daemon then closed the connection.
async fn refusal<S>(conn: &mut Client<S>, timeout: Duration) -> (Option<ErrorKind>, bool)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let kind = match tokio::time::timeout(timeout, conn.recv()).await {
        Ok(Ok(Some(ServerMessage::Reply(Err(err))))) => Some(err.kind),
        _ => None,
    };
    let closed = matches!(
        tokio::time::timeout(Duration::from_secs(5), conn.recv()).await,
        Ok(Ok(None)) | Ok(Err(_))
    );
    (kind, closed)
}

/// `crv ping`, and how long it took.
fn timed_ping(daemon: &Daemon) -> (bool, Duration) {
    let started = Instant::now();
    let ok = daemon.crv(&["ping"]).output.status.success();
    (ok, started.elapsed())
}

fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

#[tokio::test]
async fn idle_clients_do_not_stall_accept_under_a_low_soft_fd_limit() {
    let options = DaemonOptions {
        nofile: Some((128, 4096)),
        ..DaemonOptions::default()
    };
    let daemon = Daemon::start_with(Db::Sqlite, options).unwrap();
    let mut idle = Vec::new();
    for n in 0..200 {
        match tokio::time::timeout(Duration::from_secs(5), connect(&daemon)).await {
            Ok(conn) => idle.push(conn),
            Err(_) => panic!("client {n} was not served within 5 s: accept stalled"),
        }
    }
    let (ok, took) = timed_ping(&daemon);
    assert!(
        ok && took < Duration::from_secs(1),
        "ping: {ok} in {took:?}"
    );

    let pid = daemon.pid().unwrap();
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    assert_eq!(
        open_files.split_whitespace().collect::<Vec<_>>()[3..5],
        ["4096", "4096"],
        "the soft limit is raised to the hard one: {open_files}"
    );
    assert!(
        daemon
            .log()
            .contains("raised the file descriptor limit to the hard limit from=128 to=4096"),
        "{}",
        daemon.log()
    );
}

#[tokio::test]
async fn past_max_connections_a_client_is_told_the_limit() {
    let daemon = Daemon::start_with(Db::Sqlite, with_args(&["--max-connections", "4"])).unwrap();
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(connect(&daemon).await);
    }
    daemon.crv(&["ping"]).fails(
        1,
        "already serves 4 connections, its maximum (--max-connections)",
    );
    // The refusal is the first frame, before any Hello.
    let mut raw = Client::new(UnixStream::connect(&daemon.socket).await.unwrap());
    assert_eq!(
        refusal(&mut raw, Duration::from_secs(5)).await,
        (Some(ErrorKind::TooManyConnections { limit: 4 }), true)
    );
    let warnings = daemon.log().matches("refusing clients").count();
    assert_eq!(warnings, 1, "one warning, not one per refused client");
    held.pop();
    assert!(
        wait_until(Duration::from_secs(5), || timed_ping(&daemon).0),
        "a freed place serves the next client"
    );
}

#[tokio::test]
async fn half_received_frames_share_a_bounded_memory_budget() {
    let daemon = Daemon::start(Db::Sqlite).unwrap();
    let pid = daemon.pid().unwrap();
    let header = (MAX_FRAME_LEN as u64).to_be_bytes();
    let half = vec![7u8; MAX_FRAME_LEN / 2];
    let (mut holding, mut refused) = (Vec::new(), Vec::new());
    for _ in 0..50 {
        let mut conn = connect(&daemon).await;
        let mut stream = conn.into_inner();
        stream.write_all(&header).await.unwrap();
        conn = Client::new(stream);
        match tokio::time::timeout(Duration::from_millis(300), conn.recv()).await {
            Err(_) => {
                let mut stream = conn.into_inner();
                stream.write_all(&half).await.unwrap();
                holding.push(stream);
            }
            Ok(answer) => refused.push(answer.unwrap()),
        }
    }
    // What the daemon holds: the sixteen halves, not fifty.
    let rss_mib = proc_status_kib(pid, "VmRSS:") / 1024;
    assert!(rss_mib < 256, "daemon RSS {rss_mib} MiB");
    // 256 MiB hold sixteen 16 MiB frames; the others are refused at once.
    assert_eq!((holding.len(), refused.len()), (16, 34));
    for answer in &refused {
        match answer {
            Some(ServerMessage::Reply(Err(err))) => {
                assert_eq!(
                    err.kind,
                    ErrorKind::FrameBudgetExhausted {
                        budget: 256 * 1024 * 1024
                    }
                );
                assert!(err.message.contains("--frame-budget"), "{}", err.message);
            }
            other => panic!("expected a budget refusal, got {other:?}"),
        }
    }

    // Clients that leave give their share back: a whole frame fits again.
    drop(holding);
    let mut whole = connect(&daemon).await;
    let frame = ClientMessage::Input(vec![0; MAX_FRAME_LEN - 5]);
    let answered = wait_until_async(Duration::from_secs(10), async || {
        whole.send(frame.clone()).await.unwrap();
        match whole.recv().await.unwrap() {
            Some(ServerMessage::Reply(Err(err))) if err.kind == ErrorKind::InvalidArgument => true,
            Some(ServerMessage::Reply(Err(err))) => {
                assert!(matches!(err.kind, ErrorKind::FrameBudgetExhausted { .. }));
                whole = connect(&daemon).await;
                false
            }
            other => panic!("unexpected answer to a whole frame: {other:?}"),
        }
    })
    .await;
    assert!(answered, "the budget was never given back");
}

async fn wait_until_async(deadline: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let end = Instant::now() + deadline;
    while Instant::now() < end {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn a_frame_sent_halfway_is_closed_after_the_frame_timeout() {
    let daemon = Daemon::start_with(Db::Sqlite, with_args(&["--frame-timeout", "2"])).unwrap();
    let mut stream = connect(&daemon).await.into_inner();
    stream.write_all(&100u64.to_be_bytes()).await.unwrap();
    stream.write_all(&[1; 10]).await.unwrap();
    let started = Instant::now();
    let mut conn = Client::new(stream);
    let answer = refusal(&mut conn, Duration::from_secs(10)).await;
    assert_eq!(
        answer,
        (Some(ErrorKind::ConnectionTimeout { secs: 2 }), true)
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(4),
        "{took:?}"
    );
    assert!(timed_ping(&daemon).0);
}

#[tokio::test]
async fn idle_connections_are_closed_but_streams_are_not() {
    let Some(daemon) = Daemon::start_with(Db::Sqlite, with_args(&["--idle-timeout", "2"])) else {
        return;
    };
    daemon.create_firmware_vm("fw", &[]);
    daemon.crv(&["vm", "start", "fw"]).ok();
    let events = daemon.crv_background(Via::Unix, &["--json", "events"]);
    let mut monitor = daemon.crv_background(Via::Unix, &["vm", "monitor", "fw"]);
    monitor.wait_for_stdout("the monitor's banner", Duration::from_secs(10), |out| {
        out.contains("QEMU")
    });

    let mut idle = connect(&daemon).await;
    let started = Instant::now();
    assert_eq!(
        refusal(&mut idle, Duration::from_secs(10)).await,
        (Some(ErrorKind::ConnectionTimeout { secs: 2 }), true)
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );

    // Well past the idle timeout, the event stream and the relay still work.
    tokio::time::sleep(Duration::from_secs(5)).await;
    daemon.crv(&["vm", "pause", "fw"]).ok();
    events.wait_for_stdout("the pause event", Duration::from_secs(10), |out| {
        out.contains(r#""to":"paused""#)
    });
    monitor.write("info status\n");
    monitor.wait_for_stdout("the monitor's answer", Duration::from_secs(10), |out| {
        out.contains("VM status: paused")
    });
    daemon.crv(&["vm", "reset", "fw"]).ok();
}

#[tokio::test]
async fn accept_backs_off_quietly_when_out_of_file_descriptors() {
    let options = DaemonOptions {
        nofile: Some((64, 64)),
        ..with_args(&["--max-connections", "1000"])
    };
    let daemon = Daemon::start_with(Db::Sqlite, options).unwrap();
    let pid = daemon.pid().unwrap();
    let mut flood = Vec::new();
    for _ in 0..80 {
        flood.push(UnixStream::connect(&daemon.socket).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cpu_before = cpu_ticks(pid);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let busy = cpu_ticks(pid) - cpu_before;
    // 100 ticks a second; a spinning accept loop would use about 300.
    assert!(
        busy < 50,
        "the daemon used {busy} ticks in 3 s while out of fds"
    );
    let log = daemon.log();
    let complaints = log
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("accept"))
        .count();
    assert!(
        (1..=2).contains(&complaints),
        "one warning per episode, not one per retry ({complaints}):\n{log}"
    );
    assert!(
        log.contains("Too many open files"),
        "the log says why: {log}"
    );
    drop(flood);
    assert!(
        wait_until(Duration::from_secs(15), || timed_ping(&daemon).0),
        "the daemon serves again once descriptors are free"
    );
    assert!(daemon.log().contains("accepting clients again"));
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) start at "state".
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 here.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[tokio::test]
async fn tcp_connections_are_kept_alive() {
    if !require(which("ss").is_some(), "ss (iproute2)") {
        return;
    }
    let port = free_port();
    let options = DaemonOptions {
        tcp_port: Some(port),
        ..DaemonOptions::default()
    };
    let daemon = Daemon::start_with(Db::Sqlite, options).unwrap();
    let conn = hello(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap(),
    )
    .await;
    let ss = Command::new("ss")
        .args(["-tnoH", "state", "established"])
        .arg(format!("( sport = :{port} )"))
        .output()
        .unwrap();
    let sockets = String::from_utf8_lossy(&ss.stdout);
    assert!(
        sockets.contains("timer:(keepalive"),
        "no keepalive on the daemon's side: {sockets}"
    );
    drop(conn);
    drop(daemon);
}
