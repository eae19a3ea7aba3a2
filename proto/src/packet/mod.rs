//! QUIC packets on the wire (RFC 9000 §12, §17; RFC 8999): packet types, packet number
//! spaces, packet number encoding ([`number`]) and header parsing/writing ([`header`]).
//!
//! Header protection and AEAD are not done here (see the crypto module); the header codec
//! returns the offsets that packet protection needs.

pub mod header;
pub mod number;

pub use header::{
    encode_long_header, encode_retry, encode_short_header, encode_version_negotiation, HeaderLayout, PartialDecode,
    ProtectedHeader,
};

/// QUIC version 1 (RFC 9000 §15).
pub const VERSION_1: u32 = 1;

/// The type of a long-header packet (RFC 9000 §17.2, Table 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LongType {
    /// 0x00: Initial.
    Initial,
    /// 0x01: 0-RTT.
    ZeroRtt,
    /// 0x02: Handshake.
    Handshake,
    /// 0x03: Retry.
    Retry,
}

impl LongType {
    /// The two type bits of the first byte (bits 0x30) for QUIC v1.
    pub fn bits(self) -> u8 {
        match self {
            Self::Initial => 0,
            Self::ZeroRtt => 1,
            Self::Handshake => 2,
            Self::Retry => 3,
        }
    }

    /// The type with these two bits.
    pub fn from_bits(bits: u8) -> Self {
        match bits & 3 {
            0 => Self::Initial,
            1 => Self::ZeroRtt,
            2 => Self::Handshake,
            _ => Self::Retry,
        }
    }

    /// The packet number space of packets of this type (`None` for Retry, which has no packet
    /// number).
    pub fn space(self) -> Option<SpaceId> {
        match self {
            Self::Initial => Some(SpaceId::Initial),
            Self::ZeroRtt => Some(SpaceId::Data),
            Self::Handshake => Some(SpaceId::Handshake),
            Self::Retry => None,
        }
    }
}

/// A packet number space (RFC 9000 §12.3). With multipath, each path has its own `Data`
/// space (RFC 10069 §4); the connection keys those by [`crate::PathId`].
/// Only path 0 has the Initial and Handshake spaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SpaceId {
    /// Initial packets.
    Initial = 0,
    /// Handshake packets.
    Handshake = 1,
    /// 0-RTT and 1-RTT packets (application data).
    Data = 2,
}

impl SpaceId {
    /// The three spaces in the order RFC 9002 Appendix A iterates them.
    pub const ALL: [SpaceId; 3] = [SpaceId::Initial, SpaceId::Handshake, SpaceId::Data];

    /// Position in per-space arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl core::fmt::Display for SpaceId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            SpaceId::Initial => "initial",
            SpaceId::Handshake => "handshake",
            SpaceId::Data => "application_data",
        })
    }
}

/// The kind of a packet that carries frames, for the frame-placement rules of RFC 9000 §12.4
/// Table 3 (`FrameKind::allowed_in` in the frame module).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// Initial (long header).
    Initial,
    /// 0-RTT (long header).
    ZeroRtt,
    /// Handshake (long header).
    Handshake,
    /// 1-RTT (short header).
    OneRtt,
}

impl PacketType {
    /// The packet number space of this packet type.
    pub fn space(self) -> SpaceId {
        match self {
            Self::Initial => SpaceId::Initial,
            Self::Handshake => SpaceId::Handshake,
            Self::ZeroRtt | Self::OneRtt => SpaceId::Data,
        }
    }
}

impl TryFrom<LongType> for PacketType {
    type Error = ();
    /// Retry packets carry no frames, so they have no `PacketType`.
    fn try_from(ty: LongType) -> Result<Self, ()> {
        match ty {
            LongType::Initial => Ok(Self::Initial),
            LongType::ZeroRtt => Ok(Self::ZeroRtt),
            LongType::Handshake => Ok(Self::Handshake),
            LongType::Retry => Err(()),
        }
    }
}
