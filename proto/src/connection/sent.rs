//! What each sent packet carried, so that its acknowledgement or loss can be applied to the
//! streams, the CRYPTO streams and the control frames (RFC 9000 §13.3: retransmit information,
//! not packets).

use smallvec::SmallVec;

use crate::shared::StreamId;
use crate::stream::ControlFrame;

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
    /// NEW_CONNECTION_ID sequence numbers.
    pub new_cids: SmallVec<[u64; 1]>,
    /// RETIRE_CONNECTION_ID sequence numbers.
    pub retire_cids: SmallVec<[u64; 1]>,
    /// NEW_TOKEN.
    pub new_token: bool,
    /// The packet was a DPLPMTUD probe of this size.
    pub mtu_probe: Option<u16>,
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
        self.new_token = false;
        self.mtu_probe = None;
    }
}
