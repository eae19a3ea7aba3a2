//! Frame type code points: the single table that maps wire values to frame kinds.
//!
//! RFC 9000 and RFC 9221 code points are fixed. The multipath extension changed its code points
//! between drafts, so every multipath code point (frames, the transport parameter and the
//! PATH_ABANDON error codes) lives in one [`MultipathCodes`] table selected by a
//! [`MultipathVersion`]: speaking another draft means switching that value, nothing else.


use crate::packet::PacketType;
use crate::shared::FrameType;

impl FrameType {
    /// RFC 9000 §19.1.
    pub const PADDING: Self = Self(0x00);
    /// RFC 9000 §19.2.
    pub const PING: Self = Self(0x01);
    /// RFC 9000 §19.3, without ECN counts.
    pub const ACK: Self = Self(0x02);
    /// RFC 9000 §19.3, with ECN counts.
    pub const ACK_ECN: Self = Self(0x03);
    /// RFC 9000 §19.4.
    pub const RESET_STREAM: Self = Self(0x04);
    /// RFC 9000 §19.5.
    pub const STOP_SENDING: Self = Self(0x05);
    /// RFC 9000 §19.6.
    pub const CRYPTO: Self = Self(0x06);
    /// RFC 9000 §19.7.
    pub const NEW_TOKEN: Self = Self(0x07);
    /// RFC 9000 §19.8: the lowest STREAM type; 0x08..=0x0f carry OFF/LEN/FIN bits.
    pub const STREAM: Self = Self(0x08);
    /// RFC 9000 §19.8: the highest STREAM type.
    pub const STREAM_MAX: Self = Self(0x0f);
    /// RFC 9000 §19.9.
    pub const MAX_DATA: Self = Self(0x10);
    /// RFC 9000 §19.10.
    pub const MAX_STREAM_DATA: Self = Self(0x11);
    /// RFC 9000 §19.11, bidirectional.
    pub const MAX_STREAMS_BIDI: Self = Self(0x12);
    /// RFC 9000 §19.11, unidirectional.
    pub const MAX_STREAMS_UNI: Self = Self(0x13);
    /// RFC 9000 §19.12.
    pub const DATA_BLOCKED: Self = Self(0x14);
    /// RFC 9000 §19.13.
    pub const STREAM_DATA_BLOCKED: Self = Self(0x15);
    /// RFC 9000 §19.14, bidirectional.
    pub const STREAMS_BLOCKED_BIDI: Self = Self(0x16);
    /// RFC 9000 §19.14, unidirectional.
    pub const STREAMS_BLOCKED_UNI: Self = Self(0x17);
    /// RFC 9000 §19.15.
    pub const NEW_CONNECTION_ID: Self = Self(0x18);
    /// RFC 9000 §19.16.
    pub const RETIRE_CONNECTION_ID: Self = Self(0x19);
    /// RFC 9000 §19.17.
    pub const PATH_CHALLENGE: Self = Self(0x1a);
    /// RFC 9000 §19.18.
    pub const PATH_RESPONSE: Self = Self(0x1b);
    /// RFC 9000 §19.19, transport error (carries a frame type).
    pub const CONNECTION_CLOSE: Self = Self(0x1c);
    /// RFC 9000 §19.19, application error.
    pub const APPLICATION_CLOSE: Self = Self(0x1d);
    /// RFC 9000 §19.20.
    pub const HANDSHAKE_DONE: Self = Self(0x1e);
    /// RFC 9221 §4, without a Length field.
    pub const DATAGRAM: Self = Self(0x30);
    /// RFC 9221 §4, with a Length field.
    pub const DATAGRAM_LEN: Self = Self(0x31);

    /// The frame kind of this code point under multipath version `mp` (`None`: multipath not
    /// negotiated, so multipath code points are unknown). `None` for unknown types.
    pub fn kind(self, mp: Option<MultipathVersion>) -> Option<FrameKind> {
        use FrameKind as K;
        Some(match self.0 {
            0x00 => K::Padding,
            0x01 => K::Ping,
            0x02 | 0x03 => K::Ack,
            0x04 => K::ResetStream,
            0x05 => K::StopSending,
            0x06 => K::Crypto,
            0x07 => K::NewToken,
            0x08..=0x0f => K::Stream,
            0x10 => K::MaxData,
            0x11 => K::MaxStreamData,
            0x12 | 0x13 => K::MaxStreams,
            0x14 => K::DataBlocked,
            0x15 => K::StreamDataBlocked,
            0x16 | 0x17 => K::StreamsBlocked,
            0x18 => K::NewConnectionId,
            0x19 => K::RetireConnectionId,
            0x1a => K::PathChallenge,
            0x1b => K::PathResponse,
            0x1c => K::ConnectionClose,
            0x1d => K::ApplicationClose,
            0x1e => K::HandshakeDone,
            0x30 | 0x31 => K::Datagram,
            _ => return mp?.codes().kind(self),
        })
    }
}

/// Which edition of draft-ietf-quic-multipath's code points to speak. Frame layouts are the same
/// in all listed versions; only code points differ (see `/work/shared/spec/multipath-draft.md` §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MultipathVersion {
    /// RFC 10069 (and -19/-20): the IANA-suggested short code points.
    #[default]
    Draft21,
    /// draft-ietf-quic-multipath-13 … -18: the experimental 0x15228cXX code points.
    Draft13To18,
}

/// Every multipath code point of one draft version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MultipathCodes {
    /// Transport parameter `initial_max_path_id` (RFC 10069 §2.1).
    pub initial_max_path_id_tp: u64,
    /// PATH_ACK without ECN counts; the type with ECN counts is this value + 1.
    pub path_ack: FrameType,
    /// PATH_ACK with ECN counts.
    pub path_ack_ecn: FrameType,
    /// PATH_ABANDON.
    pub path_abandon: FrameType,
    /// PATH_STATUS_BACKUP.
    pub path_status_backup: FrameType,
    /// PATH_STATUS_AVAILABLE.
    pub path_status_available: FrameType,
    /// PATH_NEW_CONNECTION_ID.
    pub path_new_connection_id: FrameType,
    /// PATH_RETIRE_CONNECTION_ID.
    pub path_retire_connection_id: FrameType,
    /// MAX_PATH_ID.
    pub max_path_id: FrameType,
    /// PATHS_BLOCKED.
    pub paths_blocked: FrameType,
    /// PATH_CIDS_BLOCKED (with the Next Sequence Number field, draft-13 and later).
    pub path_cids_blocked: FrameType,
    /// Error code APPLICATION_ABANDON_PATH (RFC 10069 §7).
    pub application_abandon_path: u64,
    /// Error code PATH_RESOURCE_LIMIT_REACHED.
    pub path_resource_limit_reached: u64,
    /// Error code PATH_UNSTABLE_OR_POOR.
    pub path_unstable_or_poor: u64,
    /// Error code NO_CID_AVAILABLE_FOR_PATH.
    pub no_cid_available_for_path: u64,
}

/// RFC 10069 §9 (IANA, "suggested" values).
const DRAFT21: MultipathCodes = MultipathCodes {
    initial_max_path_id_tp: 0x3e,
    path_ack: FrameType(0x3e),
    path_ack_ecn: FrameType(0x3f),
    path_abandon: FrameType(0x3e75),
    path_status_backup: FrameType(0x3e76),
    path_status_available: FrameType(0x3e77),
    path_new_connection_id: FrameType(0x3e78),
    path_retire_connection_id: FrameType(0x3e79),
    max_path_id: FrameType(0x3e7a),
    paths_blocked: FrameType(0x3e7b),
    path_cids_blocked: FrameType(0x3e7c),
    application_abandon_path: 0x3e,
    path_resource_limit_reached: 0x3e75,
    path_unstable_or_poor: 0x3e76,
    no_cid_available_for_path: 0x3e77,
};

/// draft-ietf-quic-multipath-13 … -18 experimental code points.
const DRAFT13: MultipathCodes = MultipathCodes {
    initial_max_path_id_tp: 0x0f73_9bbc_1b66_6d0d,
    path_ack: FrameType(0x1522_8c00),
    path_ack_ecn: FrameType(0x1522_8c01),
    path_abandon: FrameType(0x1522_8c05),
    path_status_backup: FrameType(0x1522_8c07),
    path_status_available: FrameType(0x1522_8c08),
    path_new_connection_id: FrameType(0x1522_8c09),
    path_retire_connection_id: FrameType(0x1522_8c0a),
    max_path_id: FrameType(0x1522_8c0c),
    paths_blocked: FrameType(0x1522_8c0d),
    path_cids_blocked: FrameType(0x1522_8c0e),
    application_abandon_path: 0x0041_5050_4142_414e,
    path_resource_limit_reached: 0x0052_534c_494d_4954,
    path_unstable_or_poor: 0x0055_4e5f_494e_5446,
    no_cid_available_for_path: 0x004e_4f5f_4349_445f,
};

impl MultipathVersion {
    /// The code points of this version.
    pub(crate) const fn codes(self) -> &'static MultipathCodes {
        match self {
            Self::Draft21 => &DRAFT21,
            Self::Draft13To18 => &DRAFT13,
        }
    }
}

impl MultipathCodes {
    /// The multipath frame kind of `ty`, if `ty` is one of this table's frame types.
    pub fn kind(&self, ty: FrameType) -> Option<FrameKind> {
        use FrameKind as K;
        Some(if ty == self.path_ack || ty == self.path_ack_ecn {
            K::PathAck
        } else if ty == self.path_abandon {
            K::PathAbandon
        } else if ty == self.path_status_backup {
            K::PathStatusBackup
        } else if ty == self.path_status_available {
            K::PathStatusAvailable
        } else if ty == self.path_new_connection_id {
            K::PathNewConnectionId
        } else if ty == self.path_retire_connection_id {
            K::PathRetireConnectionId
        } else if ty == self.max_path_id {
            K::MaxPathId
        } else if ty == self.paths_blocked {
            K::PathsBlocked
        } else if ty == self.path_cids_blocked {
            K::PathCidsBlocked
        } else {
            return None;
        })
    }
}

/// What a frame is, independent of its exact code point (STREAM flag bits, ACK with or without
/// ECN, bidi or uni stream limits all map to one kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // one variant per frame, named as in the RFCs
pub enum FrameKind {
    Padding,
    Ping,
    Ack,
    ResetStream,
    StopSending,
    Crypto,
    NewToken,
    Stream,
    MaxData,
    MaxStreamData,
    MaxStreams,
    DataBlocked,
    StreamDataBlocked,
    StreamsBlocked,
    NewConnectionId,
    RetireConnectionId,
    PathChallenge,
    PathResponse,
    ConnectionClose,
    ApplicationClose,
    HandshakeDone,
    Datagram,
    PathAck,
    PathAbandon,
    PathStatusBackup,
    PathStatusAvailable,
    PathNewConnectionId,
    PathRetireConnectionId,
    MaxPathId,
    PathsBlocked,
    PathCidsBlocked,
}

impl FrameKind {
    /// RFC 9002 §2: every frame except ACK, PADDING and CONNECTION_CLOSE elicits an ACK;
    /// PATH_ACK is an ACK frame (RFC 10069 §4.1).
    pub fn is_ack_eliciting(self) -> bool {
        !matches!(self, Self::Ack | Self::PathAck | Self::Padding | Self::ConnectionClose | Self::ApplicationClose)
    }

    /// RFC 9000 §9.1: PATH_CHALLENGE, PATH_RESPONSE, NEW_CONNECTION_ID and PADDING are probing
    /// frames; a packet with only these does not cause migration. The multipath draft does not
    /// extend the list, so PATH_NEW_CONNECTION_ID is not a probing frame.
    pub fn is_probing(self) -> bool {
        matches!(self, Self::PathChallenge | Self::PathResponse | Self::NewConnectionId | Self::Padding)
    }

    /// RFC 9002 §2: a packet counts in flight when it is ack-eliciting or carries PADDING.
    pub fn counts_in_flight(self) -> bool {
        self.is_ack_eliciting() || self == Self::Padding
    }

    /// RFC 9000 §12.4 Table 3 (plus RFC 9221 §4 for DATAGRAM and RFC 10069
    /// §4 for multipath frames, which are 1-RTT only): whether this frame may appear in a packet
    /// of type `packet`. Receiving a frame where it is not allowed is a PROTOCOL_VIOLATION.
    pub fn allowed_in(self, packet: PacketType) -> bool {
        use PacketType as P;
        match self {
            // "IH01"
            Self::Padding | Self::Ping | Self::ConnectionClose => true,
            // "IH_1": not in 0-RTT.
            Self::Ack | Self::Crypto => packet != P::ZeroRtt,
            // "___1": 1-RTT only.
            Self::NewToken
            | Self::PathResponse
            | Self::HandshakeDone
            | Self::PathAck
            | Self::PathAbandon
            | Self::PathStatusBackup
            | Self::PathStatusAvailable
            | Self::PathNewConnectionId
            | Self::PathRetireConnectionId
            | Self::MaxPathId
            | Self::PathsBlocked
            | Self::PathCidsBlocked => packet == P::OneRtt,
            // "__01": 0-RTT and 1-RTT.
            Self::ResetStream
            | Self::StopSending
            | Self::Stream
            | Self::MaxData
            | Self::MaxStreamData
            | Self::MaxStreams
            | Self::DataBlocked
            | Self::StreamDataBlocked
            | Self::StreamsBlocked
            | Self::NewConnectionId
            | Self::RetireConnectionId
            | Self::PathChallenge
            | Self::ApplicationClose
            | Self::Datagram => matches!(packet, P::ZeroRtt | P::OneRtt),
        }
    }

    /// Whether this is a draft-ietf-quic-multipath frame.
    pub fn is_multipath(self) -> bool {
        matches!(
            self,
            Self::PathAck
                | Self::PathAbandon
                | Self::PathStatusBackup
                | Self::PathStatusAvailable
                | Self::PathNewConnectionId
                | Self::PathRetireConnectionId
                | Self::MaxPathId
                | Self::PathsBlocked
                | Self::PathCidsBlocked
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        for mp in [MultipathVersion::Draft21, MultipathVersion::Draft13To18] {
            let c = mp.codes();
            let all = [
                c.path_ack,
                c.path_ack_ecn,
                c.path_abandon,
                c.path_status_backup,
                c.path_status_available,
                c.path_new_connection_id,
                c.path_retire_connection_id,
                c.max_path_id,
                c.paths_blocked,
                c.path_cids_blocked,
            ];
            for ty in all {
                let kind = ty.kind(Some(mp)).expect("known");
                assert!(kind.is_multipath());
                assert!(kind.allowed_in(PacketType::OneRtt));
                assert!(!kind.allowed_in(PacketType::ZeroRtt));
                // Unknown when multipath is not negotiated.
                assert_eq!(ty.kind(None), None);
            }
            assert_eq!(c.path_ack_ecn.0, c.path_ack.0 + 1);
        }
        assert_eq!(FrameType(0x3e75).kind(Some(MultipathVersion::Draft21)), Some(FrameKind::PathAbandon));
        assert_eq!(FrameType(0x1522_8c0e).kind(Some(MultipathVersion::Draft13To18)), Some(FrameKind::PathCidsBlocked));
        assert_eq!(FrameType(0x3e75).kind(Some(MultipathVersion::Draft13To18)), None);
        assert_eq!(FrameType(0x1f).kind(Some(MultipathVersion::Draft21)), None);
    }

    #[test]
    fn rfc9000_table3() {
        use FrameKind as K;
        use PacketType as P;
        assert!(K::Ack.allowed_in(P::Initial) && !K::Ack.allowed_in(P::ZeroRtt));
        assert!(K::Crypto.allowed_in(P::Handshake) && !K::Crypto.allowed_in(P::ZeroRtt));
        assert!(K::ConnectionClose.allowed_in(P::Initial));
        assert!(!K::ApplicationClose.allowed_in(P::Handshake) && K::ApplicationClose.allowed_in(P::ZeroRtt));
        assert!(!K::Stream.allowed_in(P::Initial) && K::Stream.allowed_in(P::ZeroRtt));
        assert!(!K::HandshakeDone.allowed_in(P::ZeroRtt) && K::HandshakeDone.allowed_in(P::OneRtt));
        assert!(!K::PathResponse.allowed_in(P::ZeroRtt) && K::PathChallenge.allowed_in(P::ZeroRtt));
        assert!(!K::NewToken.allowed_in(P::ZeroRtt));
        assert!(K::Datagram.allowed_in(P::ZeroRtt) && !K::Datagram.allowed_in(P::Handshake));
        assert!(!K::Ack.is_ack_eliciting() && !K::PathAck.is_ack_eliciting() && !K::Padding.is_ack_eliciting());
        assert!(!K::ConnectionClose.is_ack_eliciting() && K::Ping.is_ack_eliciting());
        assert!(K::Padding.counts_in_flight() && !K::Ack.counts_in_flight());
        assert!(K::NewConnectionId.is_probing() && !K::PathNewConnectionId.is_probing() && !K::Ping.is_probing());
    }
}
