//! A framed, typed connection over any byte stream (Unix or TCP), with the
//! daemon's guards against clients that hold it open for nothing: a memory
//! budget for half-received frames and deadlines on slow frames and idleness.

use crate::budget::FrameBudget;
use crate::codec::{Expiry, FrameCodec, FrameError};
use crate::error::WireError;
use crate::message::{ClientMessage, Response, ServerMessage};
use crate::request::Request;
use futures::stream::{SplitSink, SplitStream};
use futures::{Sink, SinkExt, Stream, StreamExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, Sleep};
use tokio_util::codec::Framed;

/// What the daemon allows one connection; a client uses none of it.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    /// Shared by every connection: memory for frames still being received.
    pub budget: Option<FrameBudget>,
    /// How long a frame may take from its first byte to its last.
    pub frame_timeout: Option<Duration>,
    /// How long a connection may wait for its next frame.
    pub idle_timeout: Option<Duration>,
}

/// Receives `In` and sends `Out`. The client side is
/// `Connection<S, ServerMessage, ClientMessage>`, the daemon side the reverse.
pub struct Connection<S, In, Out> {
    framed: Guarded<S, In, Out>,
}

pub type Sender<S, In, Out> = SplitSink<Guarded<S, In, Out>, Out>;
pub type Receiver<S, In, Out> = SplitStream<Guarded<S, In, Out>>;

impl<S, In, Out> Connection<S, In, Out>
where
    S: AsyncRead + AsyncWrite + Unpin,
    In: DeserializeOwned,
    Out: Serialize,
{
    pub fn new(stream: S) -> Self {
        Connection::with_limits(stream, Limits::default())
    }

    pub fn with_limits(stream: S, limits: Limits) -> Self {
        let codec = match limits.budget {
            Some(budget) => FrameCodec::with_budget(budget),
            None => FrameCodec::default(),
        };
        Connection {
            framed: Guarded {
                framed: Framed::new(stream, codec),
                frame_timeout: limits.frame_timeout,
                idle_timeout: limits.idle_timeout,
                waiting_since: None,
                timer: None,
            },
        }
    }

    pub async fn send(&mut self, message: Out) -> Result<(), FrameError> {
        self.framed.send(message).await
    }

    /// The next message, or `None` when the peer closed the connection cleanly.
    pub async fn recv(&mut self) -> Result<Option<In>, FrameError> {
        self.framed.next().await.transpose()
    }

    /// Waiting for a frame no longer counts as idle (the connection became
    /// a stream, where silence is normal); slow frames are still timed.
    pub fn never_idle(&mut self) {
        self.framed.idle_timeout = None;
    }

    /// Separate halves, for streams where both sides talk at once.
    pub fn split(self) -> (Sender<S, In, Out>, Receiver<S, In, Out>) {
        let (sink, stream) = self.framed.split();
        (sink, stream)
    }

    pub fn get_ref(&self) -> &S {
        self.framed.framed.get_ref()
    }

    /// The underlying stream; bytes already read into the buffer are lost.
    pub fn into_inner(self) -> S {
        self.framed.framed.into_inner()
    }
}

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("the daemon refused: {0}")]
    Refused(WireError),
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("the daemon closed the connection before answering")]
    Closed,
    #[error("unexpected frame from the daemon: {0}")]
    Unexpected(String),
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S, ServerMessage, ClientMessage> {
    /// Sends one request and returns its answer, joining one sent in parts.
    pub async fn call(&mut self, request: Request) -> Result<Response, CallError> {
        self.send(ClientMessage::Request(request)).await?;
        let mut parts: Option<Response> = None;
        loop {
            let last = match self.recv().await? {
                Some(ServerMessage::ReplyPart(part)) => {
                    join(&mut parts, part)?;
                    continue;
                }
                Some(ServerMessage::Reply(Ok(response))) => response,
                Some(ServerMessage::Reply(Err(err))) => return Err(CallError::Refused(err)),
                Some(other) => return Err(CallError::Unexpected(format!("{other:?}"))),
                None => return Err(CallError::Closed),
            };
            join(&mut parts, last)?;
            return parts.ok_or(CallError::Closed);
        }
    }
}

fn join(parts: &mut Option<Response>, next: Response) -> Result<(), CallError> {
    match parts {
        None => *parts = Some(next),
        Some(whole) => whole.append(next).map_err(|other| {
            CallError::Unexpected(format!("a part of another kind of answer: {other:?}"))
        })?,
    }
    Ok(())
}

/// The framed stream with its deadlines: a frame begun and not finished in
/// `frame_timeout`, or no frame at all in `idle_timeout` (counted from when
/// the reader started waiting, so a long request is not idleness), ends the
/// stream with `FrameError::TimedOut`.
pub struct Guarded<S, In, Out> {
    framed: Framed<S, FrameCodec<In, Out>>,
    frame_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    waiting_since: Option<Instant>,
    timer: Option<Pin<Box<Sleep>>>,
}

impl<S, In, Out> Guarded<S, In, Out> {
    fn deadline(&self) -> Option<(Instant, Expiry)> {
        match self.framed.codec().partial_since() {
            Some(started) => self
                .frame_timeout
                .map(|limit| (started + limit, Expiry::SlowFrame(limit))),
            None => self
                .idle_timeout
                .zip(self.waiting_since)
                .map(|(limit, since)| (since + limit, Expiry::Idle(limit))),
        }
    }
}

impl<S, In, Out> Stream for Guarded<S, In, Out>
where
    S: AsyncRead + Unpin,
    In: DeserializeOwned,
{
    type Item = Result<In, FrameError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Poll::Ready(item) = this.framed.poll_next_unpin(cx) {
            this.waiting_since = None;
            this.timer = None;
            return Poll::Ready(item);
        }
        this.waiting_since.get_or_insert_with(Instant::now);
        let Some((deadline, expiry)) = this.deadline() else {
            this.timer = None;
            return Poll::Pending;
        };
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.timer = None;
                Poll::Ready(Some(Err(FrameError::TimedOut(expiry))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S, In, Out> Sink<Out> for Guarded<S, In, Out>
where
    S: AsyncWrite + Unpin,
    Out: Serialize,
{
    type Error = FrameError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), FrameError>> {
        self.get_mut().framed.poll_ready_unpin(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Out) -> Result<(), FrameError> {
        self.get_mut().framed.start_send_unpin(item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), FrameError>> {
        self.get_mut().framed.poll_flush_unpin(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), FrameError>> {
        self.get_mut().framed.poll_close_unpin(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    type Daemon = Connection<tokio::io::DuplexStream, ClientMessage, ServerMessage>;

    fn limits() -> Limits {
        Limits {
            budget: None,
            frame_timeout: Some(Duration::from_secs(30)),
            idle_timeout: Some(Duration::from_secs(300)),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_frame_sent_halfway_times_out_after_the_frame_timeout_not_the_idle_one() {
        let (mut client, daemon) = tokio::io::duplex(1024);
        let mut daemon = Daemon::with_limits(daemon, limits());
        client.write_all(&100u64.to_be_bytes()).await.unwrap();
        client.write_all(&[1; 10]).await.unwrap();
        let started = Instant::now();
        match daemon.recv().await {
            Err(FrameError::TimedOut(Expiry::SlowFrame(limit))) => {
                assert_eq!(limit, Duration::from_secs(30))
            }
            other => panic!("expected a slow-frame timeout, got {other:?}"),
        }
        assert_eq!(started.elapsed().as_secs(), 30);
    }

    #[tokio::test(start_paused = true)]
    async fn idleness_counts_from_when_the_reader_starts_waiting() {
        let (client, daemon) = tokio::io::duplex(1024);
        let mut daemon = Daemon::with_limits(daemon, limits());
        let mut client = Connection::<_, ServerMessage, ClientMessage>::new(client);
        client
            .send(ClientMessage::Request(Request::Ping))
            .await
            .unwrap();
        assert!(daemon.recv().await.unwrap().is_some());
        // A request that takes longer than the idle timeout is not idleness.
        tokio::time::sleep(Duration::from_secs(400)).await;
        let waited = Instant::now();
        assert!(matches!(
            daemon.recv().await,
            Err(FrameError::TimedOut(Expiry::Idle(_)))
        ));
        assert_eq!(waited.elapsed().as_secs(), 300);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_is_never_idle_but_its_frames_are_still_timed() {
        let (mut client, daemon) = tokio::io::duplex(1024);
        let mut daemon = Daemon::with_limits(daemon, limits());
        daemon.never_idle();
        let (_sink, mut incoming) = daemon.split();
        let quiet = tokio::time::timeout(Duration::from_secs(3600), incoming.next()).await;
        assert!(quiet.is_err(), "an hour of silence ends nothing");
        client.write_all(&[0, 0]).await.unwrap();
        assert!(matches!(
            incoming.next().await,
            Some(Err(FrameError::TimedOut(Expiry::SlowFrame(_))))
        ));
    }
}
