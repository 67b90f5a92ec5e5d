//! Framing: an 8-byte big-endian length, then a postcard payload.
//!
//! The buffer handling is tokio-util's `LengthDelimitedCodec`; this type only
//! adds the typed payload and a precise error for each way a frame can be bad.

use bytes::{Bytes, BytesMut};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io;
use std::marker::PhantomData;
use tokio_util::codec::length_delimited::LengthDelimitedCodecError;
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec};

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
}

/// Decodes `In` frames and encodes `Out` frames.
pub struct FrameCodec<In, Out> {
    frames: LengthDelimitedCodec,
    _messages: PhantomData<fn(Out) -> In>,
}

impl<In, Out> Default for FrameCodec<In, Out> {
    fn default() -> Self {
        FrameCodec {
            frames: LengthDelimitedCodec::builder()
                .length_field_length(HEADER_LEN)
                .big_endian()
                .max_frame_length(MAX_FRAME_LEN)
                .new_codec(),
            _messages: PhantomData,
        }
    }
}

impl<In: DeserializeOwned, Out> Decoder for FrameCodec<In, Out> {
    type Item = In;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<In>, FrameError> {
        let announced = announced_len(src);
        match self.frames.decode(src) {
            Ok(Some(payload)) => decode_payload(&payload).map(Some),
            Ok(None) => Ok(None),
            Err(err) => Err(classify(err, announced)),
        }
    }
}

impl<In, Out: Serialize> Encoder<Out> for FrameCodec<In, Out> {
    type Error = FrameError;

    fn encode(&mut self, message: Out, dst: &mut BytesMut) -> Result<(), FrameError> {
        let payload = postcard::to_stdvec(&message).map_err(FrameError::Malformed)?;
        let len = payload.len() as u64;
        self.frames
            .encode(Bytes::from(payload), dst)
            .map_err(|err| classify(err, Some(len)))
    }
}

fn announced_len(src: &BytesMut) -> Option<u64> {
    let header: [u8; HEADER_LEN] = src.get(..HEADER_LEN)?.try_into().ok()?;
    Some(u64::from_be_bytes(header))
}

fn classify(err: io::Error, announced: Option<u64>) -> FrameError {
    let too_large = err
        .get_ref()
        .is_some_and(|inner| inner.is::<LengthDelimitedCodecError>());
    match (too_large, announced) {
        (true, Some(len)) => FrameError::TooLarge { len },
        (true, None) => FrameError::TooLarge {
            len: MAX_FRAME_LEN as u64 + 1,
        },
        (false, _) => FrameError::Io(err),
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
