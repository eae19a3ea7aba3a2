//! CONNECTION_CLOSE frames (RFC 9000 §19.19): type 0x1c for transport errors, 0x1d for
//! application errors.

use bytes::Bytes;

use super::data::take;
use super::{FrameErrorKind, FrameType, Sink};
use crate::coding::get_varint;
use crate::error::{TransportError, TransportErrorCode};

/// CONNECTION_CLOSE of type 0x1c: the connection closes because of a transport error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionClose {
    /// The transport error code.
    pub error_code: TransportErrorCode,
    /// Type of the frame that caused the error; 0 when unknown (RFC 9000 §19.19).
    pub frame_type: FrameType,
    /// Reason Phrase, meant to be UTF-8 but not guaranteed to be.
    pub reason: Bytes,
}

impl ConnectionClose {
    /// The frame that reports `error` to the peer. The reason is truncated to `max_reason_len`
    /// bytes (so the frame fits into the packet); this allocates once for the reason.
    pub fn from_error(error: &TransportError, max_reason_len: usize) -> Self {
        let reason = error.reason.as_bytes();
        let reason = &reason[..reason.len().min(max_reason_len)];
        Self {
            error_code: error.code,
            frame_type: error.frame.unwrap_or(FrameType::PADDING),
            reason: Bytes::copy_from_slice(reason),
        }
    }

    pub(super) fn decode(buf: &mut Bytes) -> Result<Self, FrameErrorKind> {
        let error_code = TransportErrorCode(get_varint(buf)?);
        let frame_type = FrameType(get_varint(buf)?);
        let len = get_varint(buf)?;
        Ok(Self { error_code, frame_type, reason: take(buf, len)? })
    }

    pub(super) fn encode_body(&self, s: &mut impl Sink) {
        s.var(self.error_code.0);
        s.var(self.frame_type.0);
        s.var(self.reason.len() as u64);
        s.slice(&self.reason);
    }
}

/// CONNECTION_CLOSE of type 0x1d: the application closes the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationClose {
    /// Application protocol error code.
    pub error_code: u64,
    /// Reason Phrase, meant to be UTF-8 but not guaranteed to be.
    pub reason: Bytes,
}

impl ApplicationClose {
    pub(super) fn decode(buf: &mut Bytes) -> Result<Self, FrameErrorKind> {
        let error_code = get_varint(buf)?;
        let len = get_varint(buf)?;
        Ok(Self { error_code, reason: take(buf, len)? })
    }

    pub(super) fn encode_body(&self, s: &mut impl Sink) {
        s.var(self.error_code);
        s.var(self.reason.len() as u64);
        s.slice(&self.reason);
    }
}
