//! Clients that misbehave on the wire: each gets a typed error or a closed
//! connection, and the daemon keeps serving everyone else.

use corvus_protocol::{
    ClientMessage, Connection, ErrorKind, MAX_FRAME_LEN, PROTOCOL_VERSION, Request, Response,
    ServerMessage,
};
use harness::{Daemon, Db};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

type Client = Connection<UnixStream, ServerMessage, ClientMessage>;

async fn hello(daemon: &Daemon) -> Client {
    let stream = UnixStream::connect(&daemon.socket).await.unwrap();
    let mut conn = Client::new(stream);
    conn.send(ClientMessage::Hello {
        protocol_version: PROTOCOL_VERSION,
        client: "test".into(),
    })
    .await
    .unwrap();
    assert!(matches!(
        conn.recv().await.unwrap(),
        Some(ServerMessage::Welcome { .. })
    ));
    conn
}

/// Reads what the daemon answers to raw bytes, then whether it closed.
async fn answer_to_raw(
    daemon: &Daemon,
    bytes: &[u8],
    greet: bool,
) -> (Option<ServerMessage>, bool) {
    let stream = if greet {
        hello(daemon).await.into_inner()
    } else {
        UnixStream::connect(&daemon.socket).await.unwrap()
    };
    let mut stream = stream;
    stream.write_all(bytes).await.unwrap();
    let mut conn = Client::new(stream);
    let first = tokio::time::timeout(Duration::from_secs(5), conn.recv())
        .await
        .expect("the daemon answers or closes")
        .ok()
        .flatten();
    let closed = matches!(
        tokio::time::timeout(Duration::from_secs(5), conn.recv()).await,
        Ok(Ok(None)) | Ok(Err(_))
    );
    (first, closed)
}

fn error_kind(message: Option<ServerMessage>) -> Option<ErrorKind> {
    match message {
        Some(ServerMessage::Reply(Err(err))) => Some(err.kind),
        _ => None,
    }
}

async fn still_serving(daemon: &Daemon) {
    let mut conn = hello(daemon).await;
    conn.send(ClientMessage::Request(Request::Ping))
        .await
        .unwrap();
    assert_eq!(
        conn.recv().await.unwrap(),
        Some(ServerMessage::Reply(Ok(Response::Pong)))
    );
}

#[tokio::test]
async fn an_oversized_length_is_refused_with_a_typed_error() {
    let daemon = Daemon::start(Db::Sqlite).unwrap();
    let header = (MAX_FRAME_LEN as u64 + 1).to_be_bytes();
    let (answer, closed) = answer_to_raw(&daemon, &header, true).await;
    assert_eq!(
        error_kind(answer),
        Some(ErrorKind::FrameTooLarge {
            limit: MAX_FRAME_LEN as u64
        })
    );
    assert!(closed);
    // A huge length before the handshake is refused the same way.
    let (answer, closed) = answer_to_raw(&daemon, &u64::MAX.to_be_bytes(), false).await;
    assert!(matches!(
        error_kind(answer),
        Some(ErrorKind::FrameTooLarge { .. })
    ));
    assert!(closed);
    still_serving(&daemon).await;
}

#[tokio::test]
async fn garbage_gets_a_typed_error_and_a_closed_connection() {
    let daemon = Daemon::start(Db::Sqlite).unwrap();
    let mut garbage = 5u64.to_be_bytes().to_vec();
    garbage.extend_from_slice(&[0xff, 0xfe, 0x13, 0x37, 0x00]);
    for greet in [false, true] {
        let (answer, closed) = answer_to_raw(&daemon, &garbage, greet).await;
        assert_eq!(
            error_kind(answer),
            Some(ErrorKind::MalformedFrame),
            "greeted first: {greet}"
        );
        assert!(closed);
    }
    still_serving(&daemon).await;
}

#[tokio::test]
async fn a_request_before_hello_is_refused() {
    let daemon = Daemon::start(Db::Sqlite).unwrap();
    let mut conn = Client::new(UnixStream::connect(&daemon.socket).await.unwrap());
    conn.send(ClientMessage::Request(Request::Ping))
        .await
        .unwrap();
    assert_eq!(
        error_kind(conn.recv().await.unwrap()),
        Some(ErrorKind::MalformedFrame)
    );
    still_serving(&daemon).await;
}

#[tokio::test]
async fn a_protocol_version_mismatch_is_typed() {
    let daemon = Daemon::start(Db::Sqlite).unwrap();
    let mut conn = Client::new(UnixStream::connect(&daemon.socket).await.unwrap());
    conn.send(ClientMessage::Hello {
        protocol_version: 999,
        client: "future".into(),
    })
    .await
    .unwrap();
    assert_eq!(
        error_kind(conn.recv().await.unwrap()),
        Some(ErrorKind::ProtocolMismatch {
            daemon: PROTOCOL_VERSION,
            client: 999
        })
    );
}

#[tokio::test]
async fn a_client_that_disconnects_mid_frame_does_not_hurt_others() {
    let daemon = Daemon::start(Db::Sqlite).unwrap();
    let waiting = hello(&daemon).await;
    for _ in 0..20 {
        let mut stream = hello(&daemon).await.into_inner();
        // A header announcing 1000 bytes, then only 10 of them, then gone.
        stream.write_all(&1000u64.to_be_bytes()).await.unwrap();
        stream.write_all(&[1; 10]).await.unwrap();
        drop(stream);
    }
    // A client that stalls mid-frame does not block anyone either.
    let mut stalled = UnixStream::connect(&daemon.socket).await.unwrap();
    stalled.write_all(&[0, 0, 0]).await.unwrap();
    still_serving(&daemon).await;
    let mut waiting = waiting;
    waiting
        .send(ClientMessage::Request(Request::Ping))
        .await
        .unwrap();
    assert_eq!(
        waiting.recv().await.unwrap(),
        Some(ServerMessage::Reply(Ok(Response::Pong)))
    );
    let status = daemon.crv(&["--json", "status"]).json();
    assert!(
        status["connections"].as_u64().unwrap() <= 4,
        "dropped clients are not counted: {status}"
    );
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_millis(100), stalled.read_to_end(&mut rest)).await;
}
