//! Small types used across the protocol: endpoint side, stream direction, stream IDs,
//! connection IDs and ECN codepoints.

use core::fmt;

use crate::coding::VarInt;

/// Which end of the connection we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The endpoint that sent the first Initial.
    Client,
    /// The endpoint that answered it.
    Server,
}

impl Side {
    /// True for [`Side::Client`].
    pub fn is_client(self) -> bool {
        self == Side::Client
    }
    /// True for [`Side::Server`].
    pub fn is_server(self) -> bool {
        self == Side::Server
    }
}

impl core::ops::Not for Side {
    type Output = Side;
    fn not(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
}

/// Whether a stream carries data in one or both directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    /// Both endpoints send.
    Bi,
    /// Only the initiator sends.
    Uni,
}

/// A stream ID (RFC 9000 §2.1): the two low bits give initiator and direction.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId(pub u64);

impl StreamId {
    /// The `index`-th stream of `initiator` in direction `dir`.
    pub fn new(initiator: Side, dir: Dir, index: u64) -> Self {
        let initiator_bit = match initiator {
            Side::Client => 0,
            Side::Server => 1,
        };
        let dir_bit = match dir {
            Dir::Bi => 0,
            Dir::Uni => 2,
        };
        Self(index << 2 | dir_bit | initiator_bit)
    }
    /// Which side opened the stream.
    pub fn initiator(self) -> Side {
        if self.0 & 1 == 0 {
            Side::Client
        } else {
            Side::Server
        }
    }
    /// The stream's direction.
    pub fn dir(self) -> Dir {
        if self.0 & 2 == 0 {
            Dir::Bi
        } else {
            Dir::Uni
        }
    }
    /// The stream's position among the streams of the same initiator and direction.
    pub fn index(self) -> u64 {
        self.0 >> 2
    }
}

impl fmt::Debug for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = match self.initiator() {
            Side::Client => "client",
            Side::Server => "server",
        };
        let dir = match self.dir() {
            Dir::Bi => "bi",
            Dir::Uni => "uni",
        };
        write!(f, "{who} {dir} stream {}", self.index())
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<StreamId> for VarInt {
    fn from(x: StreamId) -> VarInt {
        VarInt::from_u64_saturating(x.0)
    }
}

/// The longest connection ID QUIC v1 allows (RFC 9000 §17.2).
pub const MAX_CID_SIZE: usize = 20;

/// A connection ID of up to 20 bytes, stored inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId {
    len: u8,
    bytes: [u8; MAX_CID_SIZE],
}

impl ConnectionId {
    /// The zero-length connection ID.
    pub const EMPTY: Self = Self { len: 0, bytes: [0; MAX_CID_SIZE] };

    /// A connection ID with the given bytes, or `None` if longer than 20 bytes.
    pub fn new(bytes: &[u8]) -> Option<Self> {
        if bytes.len() > MAX_CID_SIZE {
            return None;
        }
        let mut out = Self::EMPTY;
        out.len = bytes.len() as u8;
        out.bytes[..bytes.len()].copy_from_slice(bytes);
        Some(out)
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True for the zero-length connection ID.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl core::ops::Deref for ConnectionId {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

impl fmt::Debug for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.iter() {
            write!(f, "{b:02x}")?;
        }
        if self.is_empty() {
            f.write_str("<empty>")?;
        }
        Ok(())
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The ECN codepoint of an IP packet (RFC 3168), as QUIC uses it (RFC 9000 §13.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EcnCodepoint {
    /// ECT(0).
    Ect0 = 0b10,
    /// ECT(1).
    Ect1 = 0b01,
    /// Congestion experienced.
    Ce = 0b11,
}

impl EcnCodepoint {
    /// The codepoint of the two low bits of an IP TOS / traffic class byte, if any.
    pub fn from_bits(bits: u8) -> Option<Self> {
        match bits & 0b11 {
            0b10 => Some(Self::Ect0),
            0b01 => Some(Self::Ect1),
            0b11 => Some(Self::Ce),
            _ => None,
        }
    }
    /// The two bits.
    pub fn bits(self) -> u8 {
        self as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_id_bits() {
        // RFC 9000 §2.1 Table 1.
        assert_eq!(StreamId::new(Side::Client, Dir::Bi, 0).0, 0);
        assert_eq!(StreamId::new(Side::Server, Dir::Bi, 0).0, 1);
        assert_eq!(StreamId::new(Side::Client, Dir::Uni, 0).0, 2);
        assert_eq!(StreamId::new(Side::Server, Dir::Uni, 3).0, 15);
        let id = StreamId(15);
        assert_eq!((id.initiator(), id.dir(), id.index()), (Side::Server, Dir::Uni, 3));
    }

    #[test]
    fn cid_length_limit() {
        assert!(ConnectionId::new(&[0; 21]).is_none());
        assert_eq!(ConnectionId::new(&[1, 2]).unwrap().len(), 2);
        assert_eq!(EcnCodepoint::from_bits(0b1110), Some(EcnCodepoint::Ect0));
        assert_eq!(EcnCodepoint::from_bits(0), None);
    }
}

/// ECN counts as carried in ACK frames of type 0x03 (RFC 9000 §19.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct EcnCounts {
    /// Packets received with ECT(0).
    pub ect0: u64,
    /// Packets received with ECT(1).
    pub ect1: u64,
    /// Packets received with CE.
    pub ce: u64,
}

impl EcnCounts {
    /// Counts one more packet received with `codepoint`.
    pub fn count(&mut self, codepoint: EcnCodepoint) {
        match codepoint {
            EcnCodepoint::Ect0 => self.ect0 += 1,
            EcnCodepoint::Ect1 => self.ect1 += 1,
            EcnCodepoint::Ce => self.ce += 1,
        }
    }
}

/// A frame type as it appears on the wire (RFC 9000 §12.4).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameType(pub u64);

impl fmt::Debug for FrameType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "frame type {:#x}", self.0)
    }
}

/// Length of a stateless reset token (RFC 9000 §10.3).
pub const RESET_TOKEN_SIZE: usize = 16;

/// A stateless reset token (RFC 9000 §10.3): 16 bytes bound to one connection ID.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ResetToken(pub [u8; RESET_TOKEN_SIZE]);

impl ResetToken {
    /// Compares with `other` in time independent of where they differ, for matching the tail of
    /// a received datagram against known tokens (RFC 9000 §10.3.1).
    pub fn constant_time_eq(&self, other: &[u8]) -> bool {
        other.len() == RESET_TOKEN_SIZE && self.0.iter().zip(other).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

impl AsRef<[u8]> for ResetToken {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for ResetToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}
