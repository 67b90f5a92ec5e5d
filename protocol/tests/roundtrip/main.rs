//! Every message type survives encode → frame → decode, and garbage never panics.

mod requests;
mod responses;
mod samples;

use bytes::BytesMut;
use corvus_protocol::*;
use proptest::prelude::*;
use responses::{every_client_message, every_server_message};
use samples::sample_event;
use tokio_util::codec::{Decoder, Encoder};

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
