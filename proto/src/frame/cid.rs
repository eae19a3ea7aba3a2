//! Connection ID frames: NEW_CONNECTION_ID (RFC 9000 §19.15), RETIRE_CONNECTION_ID (§19.16) and
//! their per-path forms PATH_NEW_CONNECTION_ID / PATH_RETIRE_CONNECTION_ID
//! (RFC 10069 §4.5, §4.6).

use bytes::{Buf, Bytes};

use super::{FrameErrorKind, Sink};
use crate::coding::{get_varint, BufExt};
use crate::shared::{ConnectionId, MAX_CID_SIZE};
use mpquic_core::PathId;

/// A NEW_CONNECTION_ID or PATH_NEW_CONNECTION_ID frame. For NEW_CONNECTION_ID, `path_id` is
/// [`PathId::ZERO`] (RFC 10069 §4.5: it only issues CIDs for path 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewConnectionId {
    /// Path the connection ID belongs to.
    pub path_id: PathId,
    /// Sequence Number (per path with multipath).
    pub sequence: u64,
    /// Retire Prior To; never above `sequence`.
    pub retire_prior_to: u64,
    /// The new connection ID, 1 to 20 bytes.
    pub id: ConnectionId,
    /// Stateless Reset Token.
    pub reset_token: [u8; 16],
}

impl NewConnectionId {
    pub(super) fn decode(buf: &mut Bytes, path_id: PathId) -> Result<Self, FrameErrorKind> {
        let sequence = get_varint(buf)?;
        let retire_prior_to = get_varint(buf)?;
        // RFC 9000 §19.15: Retire Prior To greater than Sequence Number is a FRAME_ENCODING_ERROR.
        if retire_prior_to > sequence {
            return Err(FrameErrorKind::Invalid("retire_prior_to > sequence number"));
        }
        let len = usize::from(BufExt::try_get_u8(buf)?);
        // RFC 9000 §19.15: lengths below 1 or above 20 are a FRAME_ENCODING_ERROR.
        if len == 0 || len > MAX_CID_SIZE {
            return Err(FrameErrorKind::Invalid("connection ID length not in 1..=20"));
        }
        if buf.remaining() < len {
            return Err(FrameErrorKind::Truncated);
        }
        let id = ConnectionId::new(&buf[..len]).ok_or(FrameErrorKind::Truncated)?;
        buf.advance(len);
        let reset_token = buf.try_get_array::<16>()?;
        Ok(Self { path_id, sequence, retire_prior_to, id, reset_token })
    }

    pub(super) fn encode_body(&self, s: &mut impl Sink) {
        s.var(self.sequence);
        s.var(self.retire_prior_to);
        s.u8(self.id.len() as u8);
        s.slice(&self.id);
        s.slice(&self.reset_token);
    }
}

/// A RETIRE_CONNECTION_ID or PATH_RETIRE_CONNECTION_ID frame (`path_id` 0 for the former).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetireConnectionId {
    /// Path whose connection ID sequence space `sequence` belongs to.
    pub path_id: PathId,
    /// Sequence number of the retired connection ID.
    pub sequence: u64,
}
