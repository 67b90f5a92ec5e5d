//! crv against something that is not a working daemon (issue 12, defect
//! 7): a listener that accepts and never answers makes it give up after
//! 10 s with exit 3, while a daemon that answers the handshake and then
//! takes its time over a request is waited for.

use corvus_protocol::{ClientMessage, Connection, PROTOCOL_VERSION, Request, ServerMessage};
use harness::postgres::wait_until;
use harness::prereq::binary;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn crv_gives_up_on_a_listener_that_never_answers_but_waits_for_slow_answers() {
    let dir = tempfile::tempdir().unwrap();
    let silent = dir.path().join("silent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&silent).unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    let slow = dir.path().join("slow.sock");
    // Bound here, before any crv runs, so that none can find it missing.
    let slow_listener = std::os::unix::net::UnixListener::bind(&slow).unwrap();
    slow_listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || slow_daemon(slow_listener));
    let crv = |socket: &std::path::Path| {
        Command::new(binary("crv"))
            .arg("--socket")
            .arg(socket)
            .arg("ping")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let started = Instant::now();
    let (silent_crv, slow_crv) = (crv(&silent), crv(&slow));
    let silent_out = wait_output(silent_crv, Duration::from_secs(20));
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&silent_out.stderr);
    assert_eq!(silent_out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("accepted the connection but did not answer within 10 s"),
        "{stderr}"
    );
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(15),
        "{took:?}"
    );

    // A daemon that answers the handshake but takes 12 s over a request
    // (as a `vm start` may) is waited for.
    let slow_out = wait_output(slow_crv, Duration::from_secs(30));
    assert!(
        slow_out.status.success(),
        "{}",
        String::from_utf8_lossy(&slow_out.stderr)
    );
    assert!(started.elapsed() >= Duration::from_secs(12));
}

/// Answers the handshake at once and every request 12 s later.
fn slow_daemon(listener: std::os::unix::net::UnixListener) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = tokio::net::UnixListener::from_std(listener).unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        let mut conn = Connection::<_, ClientMessage, ServerMessage>::new(stream);
        assert!(matches!(
            conn.recv().await.unwrap(),
            Some(ClientMessage::Hello { .. })
        ));
        conn.send(ServerMessage::Welcome {
            protocol_version: PROTOCOL_VERSION,
            daemon_version: "slow".into(),
        })
        .await
        .unwrap();
        if let Ok(Some(ClientMessage::Request(Request::Ping))) = conn.recv().await {
            tokio::time::sleep(Duration::from_secs(12)).await;
            let pong = ServerMessage::Reply(Ok(corvus_protocol::Response::Pong));
            let _ = conn.send(pong).await;
        }
    });
}

fn wait_output(mut child: std::process::Child, deadline: Duration) -> std::process::Output {
    let ended = wait_until(deadline, || child.try_wait().ok().flatten().is_some());
    if !ended {
        let _ = child.kill();
        panic!("crv did not end within {deadline:?}");
    }
    child.wait_with_output().unwrap()
}
