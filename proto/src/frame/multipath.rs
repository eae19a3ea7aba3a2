//! Multipath control frames of RFC 10069 §4 other than PATH_ACK (see
//! `ack.rs`) and the per-path CID frames (see `cid.rs`): PATH_ABANDON, PATH_STATUS_BACKUP,
//! PATH_STATUS_AVAILABLE, MAX_PATH_ID, PATHS_BLOCKED and PATH_CIDS_BLOCKED.

use bytes::Bytes;

use super::FrameErrorKind;
use crate::coding::get_varint;
use mpquic_core::PathId;

/// Reads a Path Identifier. RFC 10069 §2: path IDs are at most 2^32 - 1, so a larger value is
/// above any limit we can have advertised, which §4 makes a PROTOCOL_VIOLATION.
pub(super) fn get_path_id(buf: &mut Bytes) -> Result<PathId, FrameErrorKind> {
    let raw = get_varint(buf)?;
    u32::try_from(raw).map(PathId).map_err(|_| FrameErrorKind::PathIdTooLarge)
}

/// PATH_ABANDON (RFC 10069 §4.2): asks the peer to close a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathAbandon {
    /// The path to abandon.
    pub path_id: PathId,
    /// NO_ERROR or one of the multipath error codes (RFC 10069 §7).
    pub error_code: u64,
}

/// PATH_STATUS_BACKUP / PATH_STATUS_AVAILABLE (RFC 10069 §4.3, §4.4): the sender's preference for
/// the peer's use of a path. Which of the two it is, is given by the [`super::Frame`] variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathStatus {
    /// The path the status applies to.
    pub path_id: PathId,
    /// Path Status Sequence Number: only a frame with a higher number than the last one seen for
    /// this path counts.
    pub sequence: u64,
}

/// PATH_CIDS_BLOCKED (RFC 10069 §4.9): the sender has no unused connection ID for a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathCidsBlocked {
    /// The path lacking connection IDs.
    pub path_id: PathId,
    /// The next connection ID sequence number the sender expects for that path.
    pub next_sequence: u64,
}
