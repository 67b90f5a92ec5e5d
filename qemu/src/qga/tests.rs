//! The agent's framing against a scripted agent on a real Unix socket:
//! stale replies are skipped by the sync, errors are typed, silence times out.

use super::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;

/// Answers each request line as `answer` says (None: stays silent),
/// echoing every guest-sync-delimited id after a delimiter, first sending
/// `stale` (what an earlier client left unread).
fn agent(
    listener: UnixListener,
    stale: &'static str,
    answer: fn(&Value) -> Option<String>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let (read, mut write) = stream.into_split();
        write.write_all(stale.as_bytes()).await.expect("stale");
        let mut lines = BufReader::new(read);
        loop {
            let mut raw = Vec::new();
            if lines.read_until(b'\n', &mut raw).await.expect("read") == 0 {
                return;
            }
            let text = String::from_utf8_lossy(&raw).replace('\u{FFFD}', "");
            let request: Value = serde_json::from_str(text.trim()).expect("json request");
            if request["execute"] == "guest-sync-delimited" {
                let id = &request["arguments"]["id"];
                let echo = format!("{{\"return\": {id}}}\n");
                write.write_all(&[DELIMITER]).await.expect("delimiter");
                write.write_all(echo.as_bytes()).await.expect("echo");
                continue;
            }
            if let Some(reply) = answer(&request) {
                write.write_all(reply.as_bytes()).await.expect("reply");
            }
        }
    })
}

fn listener() -> (tempfile::TempDir, std::path::PathBuf, UnixListener) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("qga.sock");
    let listener = UnixListener::bind(&path).expect("bind");
    (dir, path, listener)
}

#[tokio::test]
async fn a_reply_left_by_an_earlier_client_is_skipped() {
    let (_dir, path, listener) = listener();
    let server =
        agent(
            listener,
            "{\"return\": {\"pid\": 999}}\n",
            |request| match request["execute"].as_str() {
                Some("guest-exec") => Some("{\"return\": {\"pid\": 42}}\n".into()),
                _ => None,
            },
        );
    let mut channel = QgaChannel::connect(&path, Duration::from_secs(2))
        .await
        .expect("connect");
    let started = channel
        .execute(
            qapi::qga::guest_exec {
                path: "true".into(),
                arg: None,
                env: None,
                input_data: None,
                capture_output: Some(qapi::qga::GuestExecCaptureOutput::flag(true)),
            },
            Duration::from_secs(2),
        )
        .await
        .expect("exec");
    assert_eq!(started.pid, 42);
    drop(channel);
    server.await.expect("agent");
}

#[tokio::test]
async fn an_agent_error_is_refused_and_silence_is_a_timeout() {
    let (_dir, path, listener) = listener();
    let _server = agent(listener, "", |request| match request["execute"].as_str() {
        Some("guest-network-get-interfaces") => {
            Some("{\"error\": {\"class\": \"GenericError\", \"desc\": \"no getifaddrs\"}}\n".into())
        }
        _ => None,
    });
    let mut channel = QgaChannel::connect(&path, Duration::from_secs(2))
        .await
        .expect("connect");
    let err = channel
        .execute(
            qapi::qga::guest_network_get_interfaces {},
            Duration::from_secs(2),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, QgaError::Refused { desc, .. } if desc == "no getifaddrs"),
        "{err:?}"
    );
    let started = Instant::now();
    let err = channel
        .execute(
            qapi::qga::guest_exec_status { pid: 1 },
            Duration::from_millis(300),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, QgaError::Timeout), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    // The channel is still usable, and silence after guest-shutdown means yes.
    channel
        .execute_unanswered(
            qapi::qga::guest_shutdown { mode: None },
            Duration::from_secs(2),
            Duration::from_millis(200),
        )
        .await
        .expect("shutdown taken");
}

#[tokio::test]
async fn an_absent_agent_never_syncs() {
    let (_dir, path, listener) = listener();
    // A chardev with nobody behind it: QEMU accepts, the guest never answers.
    let _held = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(stream);
    });
    let mut channel = QgaChannel::connect(&path, Duration::from_secs(2))
        .await
        .expect("connect");
    let err = channel.sync(Duration::from_millis(200)).await.unwrap_err();
    assert!(matches!(err, QgaError::Timeout), "{err:?}");
}
