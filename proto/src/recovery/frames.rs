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

/// The retransmittable content of one packet. The frames most packets carry (one or two stream
/// ranges, a CRYPTO range, the PATH_ACKs riding along) are inline; the rarer ones are boxed in
/// [`RareFrames`], allocated for the packets that carry them. Every sent packet is stored, and
/// moved several times between sending and its acknowledgement: with everything inline a
/// `SentPacket` took 288 bytes, 184 with the rare frames boxed.
#[derive(Debug, Clone, Default)]
pub struct SentFrames {
    /// STREAM frames.
    pub stream: SmallVec<[StreamRange; 2]>,
    /// A CRYPTO frame: (offset, length).
    pub crypto: Option<(u64, u64)>,
    /// HANDSHAKE_DONE.
    pub handshake_done: bool,
    /// NEW_TOKEN.
    pub new_token: bool,
    /// PATH_ACK frames for other paths' spaces: (path, largest acknowledged), to prune their
    /// receive state once this packet is acknowledged (RFC 9000 §13.2.4).
    pub path_acks: SmallVec<[(PathId, u64); 1]>,
    /// Flow control, stream management, CID and multipath control frames, when any.
    pub rare: Option<Box<RareFrames>>,
}

/// The frames of [`SentFrames`] that few packets carry.
#[derive(Debug, Clone, Default)]
pub struct RareFrames {
    /// Flow-control and stream-management frames.
    pub control: SmallVec<[ControlFrame; 1]>,
    /// (PATH_)NEW_CONNECTION_ID frames: (path, sequence).
    pub new_cids: SmallVec<[(PathId, u64); 1]>,
    /// (PATH_)RETIRE_CONNECTION_ID frames: (path, sequence).
    pub retire_cids: SmallVec<[(PathId, u64); 1]>,
    /// Multipath control frames to resend if lost.
    pub mp_control: SmallVec<[MpControl; 1]>,
}

impl SentFrames {
    /// The rare frames, to add to (allocated on first use).
    pub fn rare_mut(&mut self) -> &mut RareFrames {
        self.rare.get_or_insert_with(Box::default)
    }

    /// Flow-control and stream-management frames.
    pub fn control(&self) -> &[ControlFrame] {
        self.rare.as_ref().map_or(&[], |r| &r.control)
    }

    /// (PATH_)NEW_CONNECTION_ID frames: (path, sequence).
    pub fn new_cids(&self) -> &[(PathId, u64)] {
        self.rare.as_ref().map_or(&[], |r| &r.new_cids)
    }

    /// (PATH_)RETIRE_CONNECTION_ID frames: (path, sequence).
    pub fn retire_cids(&self) -> &[(PathId, u64)] {
        self.rare.as_ref().map_or(&[], |r| &r.retire_cids)
    }

    /// Multipath control frames to resend if lost.
    pub fn mp_control(&self) -> &[MpControl] {
        self.rare.as_ref().map_or(&[], |r| &r.mp_control)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recovery::SentPacket;

    /// A packet with only stream data and ACKs allocates nothing; the rare frames are read back
    /// through the accessors once added. The record stays small: every
    /// sent packet is stored and moved several times (288 bytes before the rare frames were
    /// boxed).
    #[test]
    fn rare_frames_are_boxed_on_demand() {
        let mut f = SentFrames::default();
        f.stream.push(StreamRange { id: StreamId(0), offset: 0, len: 1200, fin: false });
        f.path_acks.push((PathId(1), 7));
        assert!(f.rare.is_none());
        assert!(f.control().is_empty() && f.new_cids().is_empty() && f.retire_cids().is_empty());
        assert!(f.mp_control().is_empty());
        f.rare_mut().new_cids.push((PathId(2), 3));
        f.rare_mut().mp_control.push(MpControl::MaxPathId(PathId(4)));
        assert_eq!(f.new_cids(), [(PathId(2), 3)]);
        assert_eq!(f.mp_control(), [MpControl::MaxPathId(PathId(4))]);
        let size = core::mem::size_of::<SentPacket<SentFrames>>();
        assert!(size <= 192, "SentPacket grew to {size} bytes (184 when the rare frames were boxed)");
    }
}
