//! Framing: an 8-byte big-endian length, then a postcard payload.
//!
//! The decoder is a two-step machine (header, then body) of its own rather
//! than tokio-util's `LengthDelimitedCodec`, because the daemon needs to know
//! when a frame starts and ends: it charges each announced length to a
//! shared [`FrameBudget`] before reserving the buffer, and times frames that
//! arrive too slowly (see `connection.rs`).

use crate::budget::{FrameBudget, OverBudget, Reservation, UNCHARGED_FRAME_LEN};
use bytes::{Buf, BufMut, BytesMut};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io;
use std::marker::PhantomData;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::codec::{Decoder, Encoder};

/// The largest payload either side accepts. A longer frame is refused from
/// its header alone, before any buffer of that size is allocated.
pub const MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

const HEADER_LEN: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("connection failed")]
    Io(#[from] io::Error),
    #[error("frame of {len} bytes exceeds the limit of {MAX_FRAME_LEN} bytes")]
    TooLarge { len: u64 },
    #[error("frame does not decode as a message")]
    Malformed(#[source] postcard::Error),
    #[error(
        "frame of {} bytes refused: frames still being received hold {} of the {} bytes the daemon allows them",
        .0.len, .0.total - .0.available, .0.total
    )]
    OverBudget(OverBudget),
    #[error("{0}")]
    TimedOut(Expiry),
}

/// Why a connection's wait for a frame ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// A frame was started and not finished within this long.
    SlowFrame(Duration),
    /// Nothing arrived for this long between requests.
    Idle(Duration),
}

impl std::fmt::Display for Expiry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expiry::SlowFrame(limit) => write!(
                f,
                "a frame was still incomplete {} s after it began",
                limit.as_secs()
            ),
            Expiry::Idle(limit) => write!(f, "the connection was idle for {} s", limit.as_secs()),
        }
    }
}

impl Expiry {
    pub fn limit(self) -> Duration {
        match self {
            Expiry::SlowFrame(limit) | Expiry::Idle(limit) => limit,
        }
    }
}

/// Decodes `In` frames and encodes `Out` frames.
pub struct FrameCodec<In, Out> {
    /// The body length once the header is in.
    body_len: Option<usize>,
    budget: Option<FrameBudget>,
    /// The current frame's share of the budget.
    held: Option<Reservation>,
    /// When the first byte of the frame being received arrived.
    partial_since: Option<Instant>,
    _messages: PhantomData<fn(Out) -> In>,
}

impl<In, Out> Default for FrameCodec<In, Out> {
    fn default() -> Self {
        FrameCodec {
            body_len: None,
            budget: None,
            held: None,
            partial_since: None,
            _messages: PhantomData,
        }
    }
}

impl<In, Out> FrameCodec<In, Out> {
    /// A codec whose frames draw on `budget` while they are received.
    pub fn with_budget(budget: FrameBudget) -> Self {
        FrameCodec {
            budget: Some(budget),
            ..FrameCodec::default()
        }
    }

    /// When the frame being received began, if one is under way.
    pub fn partial_since(&self) -> Option<Instant> {
        self.partial_since
    }

    /// The next whole payload in `src`, or `None` until more bytes come.
    fn next_payload(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
        let len = match self.body_len {
            Some(len) => len,
            None => {
                let Some(header) = src.get(..HEADER_LEN) else {
                    return Ok(None);
                };
                let mut announced = [0u8; HEADER_LEN];
                announced.copy_from_slice(header);
                let announced = u64::from_be_bytes(announced);
                if announced > MAX_FRAME_LEN as u64 {
                    return Err(FrameError::TooLarge { len: announced });
                }
                if let Some(budget) = self
                    .budget
                    .as_ref()
                    .filter(|_| announced > UNCHARGED_FRAME_LEN)
                {
                    self.held = Some(budget.reserve(announced).map_err(FrameError::OverBudget)?);
                }
                let len = announced as usize;
                src.advance(HEADER_LEN);
                src.reserve(len.saturating_sub(src.len()));
                self.body_len = Some(len);
                len
            }
        };
        if src.len() < len {
            return Ok(None);
        }
        self.body_len = None;
        self.held = None;
        Ok(Some(src.split_to(len)))
    }
}

impl<In: DeserializeOwned, Out> Decoder for FrameCodec<In, Out> {
    type Item = In;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<In>, FrameError> {
        let payload = self.next_payload(src)?;
        // Bytes left over belong to a frame that began now (or earlier, if
        // it was already under way).
        self.partial_since = match (&payload, src.is_empty() && self.body_len.is_none()) {
            (_, true) => None,
            (Some(_), false) => Some(Instant::now()),
            (None, false) => Some(self.partial_since.unwrap_or_else(Instant::now)),
        };
        payload.map(|payload| decode_payload(&payload)).transpose()
    }
}

impl<In, Out: Serialize> Encoder<Out> for FrameCodec<In, Out> {
    type Error = FrameError;

    fn encode(&mut self, message: Out, dst: &mut BytesMut) -> Result<(), FrameError> {
        let payload = postcard::to_stdvec(&message).map_err(FrameError::Malformed)?;
        if payload.len() > MAX_FRAME_LEN {
            return Err(FrameError::TooLarge {
                len: payload.len() as u64,
            });
        }
        dst.reserve(HEADER_LEN + payload.len());
        dst.put_u64(payload.len() as u64);
        dst.extend_from_slice(&payload);
        Ok(())
    }
}

/// Decodes one payload, refusing trailing bytes so that a corrupted frame
/// is never half-understood.
pub fn decode_payload<T: DeserializeOwned>(payload: &[u8]) -> Result<T, FrameError> {
    let (message, rest) = postcard::take_from_bytes(payload).map_err(FrameError::Malformed)?;
    if rest.is_empty() {
        Ok(message)
    } else {
        Err(FrameError::Malformed(
            postcard::Error::DeserializeBadEncoding,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClientMessage, Request};

    type ServerSide = FrameCodec<ClientMessage, ClientMessage>;

    fn frame(payload: &[u8]) -> BytesMut {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&(payload.len() as u64).to_be_bytes());
        buf.extend_from_slice(payload);
        buf
    }

    #[test]
    fn a_frame_of_exactly_the_limit_is_read_and_one_byte_more_is_refused() {
        let mut codec = ServerSide::default();
        // A valid message padded to the limit: one byte of variant tag and a
        // four-byte varint length before the Input bytes.
        let message = ClientMessage::Input(vec![7; MAX_FRAME_LEN - 5]);
        let payload = postcard::to_stdvec(&message).unwrap();
        assert_eq!(payload.len(), MAX_FRAME_LEN);
        let mut buf = frame(&payload);
        assert_eq!(codec.decode(&mut buf).unwrap(), Some(message));

        let mut codec = ServerSide::default();
        let mut header = BytesMut::new();
        header.extend_from_slice(&(MAX_FRAME_LEN as u64 + 1).to_be_bytes());
        match codec.decode(&mut header) {
            Err(FrameError::TooLarge { len }) => assert_eq!(len, MAX_FRAME_LEN as u64 + 1),
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }

    #[test]
    fn an_oversized_header_is_refused_before_the_body_arrives() {
        let mut codec = ServerSide::default();
        let mut header = BytesMut::new();
        header.extend_from_slice(&u64::MAX.to_be_bytes());
        let capacity_before = header.capacity();
        assert!(matches!(
            codec.decode(&mut header),
            Err(FrameError::TooLarge { len: u64::MAX })
        ));
        assert_eq!(
            header.capacity(),
            capacity_before,
            "no allocation for the body"
        );
    }

    #[test]
    fn a_truncated_frame_waits_for_more_bytes() {
        let payload = postcard::to_stdvec(&ClientMessage::Request(Request::Ping)).unwrap();
        let whole = frame(&payload);
        for cut in 0..whole.len() {
            let mut codec = ServerSide::default();
            let mut part = BytesMut::from(&whole[..cut]);
            assert!(codec.decode(&mut part).unwrap().is_none(), "cut at {cut}");
        }
        // At end of stream, a partial frame is an error, not a message.
        let mut codec = ServerSide::default();
        let mut part = BytesMut::from(&whole[..whole.len() - 1]);
        assert!(codec.decode_eof(&mut part).is_err());
    }

    #[test]
    fn trailing_bytes_make_a_frame_malformed() {
        let mut codec = ServerSide::default();
        let mut payload = postcard::to_stdvec(&ClientMessage::Request(Request::Ping)).unwrap();
        payload.push(0);
        let mut buf = frame(&payload);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(FrameError::Malformed(_))
        ));
    }

    #[test]
    fn an_announced_length_is_charged_to_the_budget_until_the_frame_is_complete() {
        let budget = FrameBudget::new(200_000);
        let payload = postcard::to_stdvec(&ClientMessage::Input(vec![1; 120_000])).unwrap();
        let whole = frame(&payload);
        let mut first = ServerSide::with_budget(budget.clone());
        let mut part = BytesMut::from(&whole[..20]);
        assert!(first.decode(&mut part).unwrap().is_none());
        assert_eq!(budget.available(), 200_000 - payload.len() as u64);
        // A second frame of the same size does not fit beside the first.
        let mut second = ServerSide::with_budget(budget.clone());
        match second.decode(&mut frame(&payload)) {
            Err(FrameError::OverBudget(over)) => assert_eq!(over.len, payload.len() as u64),
            other => panic!("expected OverBudget, got {other:?}"),
        }
        part.extend_from_slice(&whole[20..]);
        assert!(first.decode(&mut part).unwrap().is_some());
        assert_eq!(budget.available(), 200_000, "released when complete");
        // A connection that ends mid-frame gives its share back too.
        let mut third = ServerSide::with_budget(budget.clone());
        assert!(
            third
                .decode(&mut BytesMut::from(&whole[..9]))
                .unwrap()
                .is_none()
        );
        assert!(budget.available() < 200_000);
        drop(third);
        assert_eq!(budget.available(), 200_000);
        // Small frames are never charged, so they pass however full it is.
        let _hog = budget.reserve(200_000).unwrap();
        let ping = postcard::to_stdvec(&ClientMessage::Request(Request::Ping)).unwrap();
        let mut small = ServerSide::with_budget(budget.clone());
        assert!(small.decode(&mut frame(&ping)).unwrap().is_some());
    }

    #[test]
    fn a_partial_frame_is_timed_from_its_first_byte() {
        let payload = postcard::to_stdvec(&ClientMessage::Request(Request::Ping)).unwrap();
        let whole = frame(&payload);
        let mut codec = ServerSide::default();
        let mut buf = BytesMut::new();
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert_eq!(codec.partial_since(), None, "nothing under way");
        buf.extend_from_slice(&whole[..3]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        let started = codec.partial_since().expect("a frame under way");
        buf.extend_from_slice(&whole[3..whole.len() - 1]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert_eq!(codec.partial_since(), Some(started), "still the same frame");
        buf.extend_from_slice(&whole[whole.len() - 1..]);
        assert!(codec.decode(&mut buf).unwrap().is_some());
        assert_eq!(codec.partial_since(), None);
    }

    #[test]
    fn encoding_a_message_over_the_limit_fails_without_writing() {
        let mut codec = FrameCodec::<ClientMessage, ClientMessage>::default();
        let mut dst = BytesMut::new();
        let message = ClientMessage::Input(vec![0; MAX_FRAME_LEN]);
        assert!(matches!(
            codec.encode(message, &mut dst),
            Err(FrameError::TooLarge { .. })
        ));
        assert!(dst.is_empty());
    }
}
