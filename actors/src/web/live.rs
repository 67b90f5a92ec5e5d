//! The two WebSockets: the event stream (`/api/events?since=N`, a wire
//! subscription with its replay) and a VM's serial console
//! (`/api/vms/{vm}/console`, a wire attachment: one client at a time, the
//! last 64 KiB replayed first). Each is a wire stream relayed frame by
//! frame; refusals arrive as a JSON text message before the close, so the
//! page can show the daemon's words.

use super::SharedWeb;
use super::auth::Authed;
use crate::gateway::InProcess;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use corvus_protocol::{
    Channel, ClientMessage, Request, Response as WireResponse, ServerMessage, SubscribeFilter,
    VmRef, WireError,
};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::debug;

#[derive(Deserialize)]
pub struct EventsQuery {
    since: Option<u64>,
}

/// `GET /api/events?since=N` (WebSocket): every VM's events, those after
/// `since` replayed first, as `{"event": …}`, `{"lagged": n}`, `{"end": why}`.
pub async fn events(
    authed: Authed,
    State(web): State<SharedWeb>,
    Query(query): Query<EventsQuery>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let request = Request::Subscribe {
        filter: SubscribeFilter {
            vms: Vec::new(),
            since: query.since,
        },
    };
    upgrade.on_upgrade(move |socket| async move {
        let opened = open(&web, &authed, request).await;
        relay(socket, opened, |_| None).await
    })
}

/// `GET /api/vms/{vm}/console` (WebSocket): the serial console's bytes as
/// binary messages both ways, like `crv vm console`.
pub async fn console(
    authed: Authed,
    State(web): State<SharedWeb>,
    Path(vm): Path<String>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let request = Request::Attach {
        vm: VmRef::parse(&vm),
        channel: Channel::Serial,
    };
    upgrade.on_upgrade(move |socket| async move {
        let opened = open(&web, &authed, request).await;
        relay(socket, opened, Some).await
    })
}

/// Sends the stream's request; the connection once the daemon accepted it,
/// with the replay an attachment starts with.
async fn open(
    web: &SharedWeb,
    authed: &Authed,
    request: Request,
) -> Result<(InProcess, Vec<u8>), WireError> {
    let mut conn = authed.connect(web).await?;
    let broken = |err: &dyn std::fmt::Display| {
        WireError::internal(format!("the in-process connection failed: {err}"))
    };
    conn.send(ClientMessage::Request(request))
        .await
        .map_err(|err| broken(&err))?;
    match conn.recv().await {
        Ok(Some(ServerMessage::Reply(Ok(WireResponse::Subscribed)))) => Ok((conn, Vec::new())),
        Ok(Some(ServerMessage::Reply(Ok(WireResponse::Attached { replay })))) => Ok((conn, replay)),
        Ok(Some(ServerMessage::Reply(Err(err)))) => Err(err),
        Ok(other) => Err(WireError::internal(format!(
            "the stream opened with {other:?}"
        ))),
        Err(err) => Err(broken(&err)),
    }
}

/// Relays until either side ends; `replay` says what to do with an
/// attachment's replay (events have none).
async fn relay(
    socket: WebSocket,
    opened: Result<(InProcess, Vec<u8>), WireError>,
    replay: impl FnOnce(Vec<u8>) -> Option<Vec<u8>>,
) {
    let (mut to_page, mut from_page) = socket.split();
    let (conn, replayed) = match opened {
        Ok(opened) => opened,
        Err(err) => {
            let refusal = json!({ "error": err.message, "kind": err.kind });
            let _ = to_page.send(text(&refusal)).await;
            let _ = to_page.close().await;
            return;
        }
    };
    if let Some(bytes) = replay(replayed)
        && to_page.send(Message::Binary(bytes.into())).await.is_err()
    {
        return;
    }
    let (mut to_daemon, mut from_daemon) = conn.split();
    loop {
        tokio::select! {
            message = from_daemon.next() => {
                let (out, last) = match message {
                    Some(Ok(ServerMessage::Event(event))) => (text(&json!({ "event": event })), false),
                    Some(Ok(ServerMessage::Lagged { missed })) => (text(&json!({ "lagged": missed })), false),
                    Some(Ok(ServerMessage::Output(bytes))) => (Message::Binary(bytes.into()), false),
                    Some(Ok(ServerMessage::StreamEnd { reason })) => (text(&json!({ "end": reason })), true),
                    Some(Ok(
                        other @ (ServerMessage::Welcome { .. }
                        | ServerMessage::Reply(_)
                        | ServerMessage::ReplyPart(_)
                        | ServerMessage::Progress(_)),
                    )) => {
                        // A stream carries none of these once it is open.
                        debug!(?other, "ignoring an unexpected frame on a web stream");
                        continue;
                    }
                    Some(Err(err)) => (text(&json!({ "end": format!("the stream broke: {err}") })), true),
                    None => (text(&json!({ "end": "the daemon closed the stream" })), true),
                };
                if to_page.send(out).await.is_err() || last {
                    let _ = to_page.close().await;
                    return;
                }
            }
            message = from_page.next() => match message {
                Some(Ok(Message::Binary(bytes))) => {
                    if to_daemon.send(ClientMessage::Input(bytes.to_vec())).await.is_err() {
                        return;
                    }
                }
                Some(Ok(Message::Text(typed))) => {
                    let bytes = typed.as_bytes().to_vec();
                    if to_daemon.send(ClientMessage::Input(bytes)).await.is_err() {
                        return;
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_)) | Err(_)) | None => {
                    // Frees the console at once for the next client.
                    let _ = to_daemon.send(ClientMessage::Detach).await;
                    return;
                }
            },
        }
    }
}

fn text(value: &Value) -> Message {
    Message::Text(value.to_string().into())
}
