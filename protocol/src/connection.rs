//! A framed, typed connection over any byte stream (Unix or TCP).

use crate::codec::{FrameCodec, FrameError};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::Framed;

/// Receives `In` and sends `Out`. The client side is
/// `Connection<S, ServerMessage, ClientMessage>`, the daemon side the reverse.
pub struct Connection<S, In, Out> {
    framed: Framed<S, FrameCodec<In, Out>>,
}

pub type Sender<S, In, Out> = SplitSink<Framed<S, FrameCodec<In, Out>>, Out>;
pub type Receiver<S, In, Out> = SplitStream<Framed<S, FrameCodec<In, Out>>>;

impl<S, In, Out> Connection<S, In, Out>
where
    S: AsyncRead + AsyncWrite + Unpin,
    In: DeserializeOwned,
    Out: Serialize,
{
    pub fn new(stream: S) -> Self {
        Connection {
            framed: Framed::new(stream, FrameCodec::default()),
        }
    }

    pub async fn send(&mut self, message: Out) -> Result<(), FrameError> {
        self.framed.send(message).await
    }

    /// The next message, or `None` when the peer closed the connection cleanly.
    pub async fn recv(&mut self) -> Result<Option<In>, FrameError> {
        self.framed.next().await.transpose()
    }

    /// Separate halves, for streams where both sides talk at once.
    pub fn split(self) -> (Sender<S, In, Out>, Receiver<S, In, Out>) {
        let (sink, stream) = self.framed.split();
        (sink, stream)
    }

    pub fn get_ref(&self) -> &S {
        self.framed.get_ref()
    }

    /// The underlying stream; bytes already read into the buffer are lost.
    pub fn into_inner(self) -> S {
        self.framed.into_inner()
    }
}
