//! Frames that carry bytes: STREAM (RFC 9000 §19.8), CRYPTO (§19.6), NEW_TOKEN (§19.7) and
//! DATAGRAM (RFC 9221 §4). Their data fields are [`Bytes`] slices of the packet payload.

use bytes::{Buf, Bytes};

use super::{FrameErrorKind, Sink};
use crate::coding::{get_varint, VarInt};
use crate::shared::StreamId;

/// Takes `len` bytes from `buf` without copying.
pub(super) fn take(buf: &mut Bytes, len: u64) -> Result<Bytes, FrameErrorKind> {
    if len > buf.remaining() as u64 {
        return Err(FrameErrorKind::Truncated);
    }
    Ok(buf.split_to(len as usize))
}

/// RFC 9000 §19.6, §19.8: offset + length must not exceed 2^62 - 1.
fn check_end(offset: u64, len: usize) -> Result<(), FrameErrorKind> {
    match offset.checked_add(len as u64) {
        Some(end) if end <= VarInt::MAX.into_inner() => Ok(()),
        _ => Err(FrameErrorKind::Invalid("offset + length exceeds 2^62 - 1")),
    }
}

/// A STREAM frame (RFC 9000 §19.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    /// The stream.
    pub id: StreamId,
    /// Offset of the first byte of `data` in the stream.
    pub offset: u64,
    /// Whether this frame ends the stream.
    pub fin: bool,
    /// The stream data.
    pub data: Bytes,
}

impl Stream {
    /// Decodes the body of a STREAM frame of type `ty` (0x08..=0x0f).
    pub(super) fn decode(buf: &mut Bytes, ty: u64) -> Result<Self, FrameErrorKind> {
        let id = StreamId(get_varint(buf)?);
        let offset = if ty & u64::from(super::STREAM_OFF_BIT) != 0 { get_varint(buf)? } else { 0 };
        // Without LEN the data runs to the end of the packet.
        let len = if ty & u64::from(super::STREAM_LEN_BIT) != 0 { get_varint(buf)? } else { buf.remaining() as u64 };
        let data = take(buf, len)?;
        check_end(offset, data.len())?;
        Ok(Self { id, offset, fin: ty & u64::from(super::STREAM_FIN_BIT) != 0, data })
    }

    /// Writes the frame with a Length field, or without one (`with_len == false`) when it is the
    /// last frame of the packet.
    pub fn encode<B: bytes::BufMut + ?Sized>(&self, buf: &mut B, with_len: bool) {
        super::encode_stream_header(buf, self.id, self.offset, with_len.then_some(self.data.len()), self.fin);
        buf.put_slice(&self.data);
    }

    /// Bytes taken by [`Stream::encode`].
    pub fn encoded_len(&self, with_len: bool) -> usize {
        super::stream_header_len(self.id, self.offset, with_len.then_some(self.data.len())) + self.data.len()
    }
}

/// A CRYPTO frame (RFC 9000 §19.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crypto {
    /// Offset of `data` in the crypto stream of this packet number space.
    pub offset: u64,
    /// The handshake bytes.
    pub data: Bytes,
}

impl Crypto {
    pub(super) fn decode(buf: &mut Bytes) -> Result<Self, FrameErrorKind> {
        let offset = get_varint(buf)?;
        let len = get_varint(buf)?;
        let data = take(buf, len)?;
        check_end(offset, data.len())?;
        Ok(Self { offset, data })
    }

    pub(super) fn encode_body(&self, s: &mut impl Sink) {
        s.var(self.offset);
        s.var(self.data.len() as u64);
        s.slice(&self.data);
    }
}

/// A NEW_TOKEN frame (RFC 9000 §19.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    /// The opaque token, never empty.
    pub token: Bytes,
}

impl NewToken {
    pub(super) fn decode(buf: &mut Bytes) -> Result<Self, FrameErrorKind> {
        let len = get_varint(buf)?;
        let token = take(buf, len)?;
        // RFC 9000 §19.7: an empty token is a FRAME_ENCODING_ERROR.
        if token.is_empty() {
            return Err(FrameErrorKind::Invalid("empty NEW_TOKEN"));
        }
        Ok(Self { token })
    }

    pub(super) fn encode_body(&self, s: &mut impl Sink) {
        s.var(self.token.len() as u64);
        s.slice(&self.token);
    }
}

/// A DATAGRAM frame (RFC 9221 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// The application datagram.
    pub data: Bytes,
}

impl Datagram {
    pub(super) fn decode(buf: &mut Bytes, with_len: bool) -> Result<Self, FrameErrorKind> {
        let len = if with_len { get_varint(buf)? } else { buf.remaining() as u64 };
        Ok(Self { data: take(buf, len)? })
    }

    /// Writes the frame, with a Length field (type 0x31) or, as the last frame of a packet,
    /// without (type 0x30).
    pub fn encode<B: bytes::BufMut + ?Sized>(&self, buf: &mut B, with_len: bool) {
        let mut s = super::BufSink(buf);
        self.encode_to(&mut s, with_len);
    }

    /// Bytes taken by [`Datagram::encode`].
    pub fn encoded_len(&self, with_len: bool) -> usize {
        let mut c = super::Counter(0);
        self.encode_to(&mut c, with_len);
        c.0
    }

    pub(super) fn encode_to(&self, s: &mut impl Sink, with_len: bool) {
        if with_len {
            s.var(super::FrameType::DATAGRAM_LEN.0);
            s.var(self.data.len() as u64);
        } else {
            s.var(super::FrameType::DATAGRAM.0);
        }
        s.slice(&self.data);
    }
}
