//! What each sent packet carried, so that its acknowledgement or loss can be applied to the
//! streams, the CRYPTO streams and the control frames (RFC 9000 §13.3: retransmit information,
//! not packets).

use smallvec::SmallVec;

use crate::shared::StreamId;
use crate::stream::ControlFrame;
use mpquic_core::PathId;

/// A range of stream data carried in a STREAM frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamRange {
    /// The stream.
    pub id: StreamId,
    /// Offset of the first byte.
    pub offset: u64,
    /// Bytes carried.
    pub len: u64,
    /// Whether the frame had the FIN bit.
    pub fin: bool,
}

/// The retransmittable content of one packet. Inline storage keeps the common cases (one or two
/// stream ranges, no control frame) free of heap allocation.
#[derive(Debug, Clone, Default)]
pub struct SentFrames {
    /// STREAM frames.
    pub stream: SmallVec<[StreamRange; 2]>,
    /// A CRYPTO frame: (offset, length).
    pub crypto: Option<(u64, u64)>,
    /// Flow-control and stream-management frames.
    pub control: SmallVec<[ControlFrame; 1]>,
    /// HANDSHAKE_DONE.
    pub handshake_done: bool,
    /// (PATH_)NEW_CONNECTION_ID frames: (path, sequence).
    pub new_cids: SmallVec<[(PathId, u64); 1]>,
    /// (PATH_)RETIRE_CONNECTION_ID frames: (path, sequence).
    pub retire_cids: SmallVec<[(PathId, u64); 1]>,
    /// PATH_ACK frames for other paths' spaces: (path, largest acknowledged), to prune their
    /// receive state once this packet is acknowledged (RFC 9000 §13.2.4).
    pub path_acks: SmallVec<[(PathId, u64); 1]>,
    /// Multipath control frames to resend if lost.
    pub mp_control: SmallVec<[MpControl; 1]>,
    /// NEW_TOKEN.
    pub new_token: bool,
}

impl SentFrames {
    /// Empties the record, keeping allocated capacity.
    pub fn clear(&mut self) {
        self.stream.clear();
        self.crypto = None;
        self.control.clear();
        self.handshake_done = false;
        self.new_cids.clear();
        self.retire_cids.clear();
        self.path_acks.clear();
        self.mp_control.clear();
        self.new_token = false;
    }
}

/// Multipath control frames that are retransmitted when lost (RFC 10069 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MpControl {
    /// PATH_ABANDON for a path, with its error code.
    Abandon(PathId, u64),
    /// PATH_STATUS_BACKUP / PATH_STATUS_AVAILABLE with its sequence number.
    Status {
        /// The path.
        path: PathId,
        /// True for BACKUP.
        backup: bool,
        /// Path Status Sequence Number.
        sequence: u64,
    },
    /// MAX_PATH_ID.
    MaxPathId(PathId),
}
