//! Packet headers (RFC 9000 §17, RFC 8999): parsing before header protection is removed, and
//! writing with a Length field patched once the payload is known.
//!
//! Receiving is two steps. [`PartialDecode::new`] reads everything header protection does not
//! cover (form, version, connection IDs, token, Length), validates lengths, splits a coalesced
//! datagram (RFC 9000 §12.2) and says where the packet number starts. After the crypto layer has
//! removed header protection from [`PartialDecode::packet_mut`], [`PartialDecode::finish`]
//! reads the packet number length, the packet number, the key phase and the reserved bits.
//!
//! Sending: [`encode_long_header`] / [`encode_short_header`] write a header and return a
//! [`HeaderLayout`]; after the payload and AEAD tag are written, [`HeaderLayout::set_length`]
//! fills in the Length field.

use core::ops::Range;

use bytes::{Buf, BufMut, BytesMut};
use thiserror::Error;

use super::{number, LongType, PacketType, SpaceId, VERSION_1};
use crate::coding::{get_varint, put_varint, put_varint_with_len, BufExt};
use crate::shared::{ConnectionId, MAX_CID_SIZE};

/// Size of the Length field written by [`encode_long_header`]: 2 bytes, enough for packets up
/// to 16383 bytes.
pub const LENGTH_FIELD_LEN: usize = 2;

/// Size of the Retry Integrity Tag (RFC 9001 §5.8).
pub const RETRY_TAG_LEN: usize = 16;

const LONG_HEADER_FORM: u8 = 0x80;
const FIXED_BIT: u8 = 0x40;
const SPIN_BIT: u8 = 0x20;
const KEY_PHASE_BIT: u8 = 0x04;
/// RFC 9000 §17.2: reserved bits of long headers (protected).
const LONG_RESERVED_BITS: u8 = 0x0c;
/// RFC 9000 §17.3.1: reserved bits of short headers (protected).
const SHORT_RESERVED_BITS: u8 = 0x18;
const PN_LEN_MASK: u8 = 0x03;

/// Why a packet header could not be parsed. The endpoint drops such packets (RFC 9000 §12.2:
/// a malformed coalesced packet does not affect the packets before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum HeaderError {
    /// The datagram ended inside the header or before the end announced by Length.
    #[error("packet truncated")]
    Truncated,
    /// RFC 9000 §17.2, §17.3.1: the Fixed Bit is 0.
    #[error("fixed bit is zero")]
    FixedBitZero,
    /// RFC 9000 §17.2: a version 1 connection ID longer than 20 bytes.
    #[error("connection ID longer than 20 bytes")]
    CidTooLong,
    /// A Version Negotiation packet whose version list is not a multiple of 4 bytes.
    #[error("malformed version negotiation packet")]
    InvalidVersionNegotiation,
    /// A packet too long for its Length field.
    #[error("packet too long for the Length field")]
    TooLong,
}

impl From<crate::coding::UnexpectedEnd> for HeaderError {
    fn from(_: crate::coding::UnexpectedEnd) -> Self {
        Self::Truncated
    }
}

/// Header fields readable before header protection is removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtectedHeader {
    /// A QUIC v1 long-header packet: Initial, 0-RTT, Handshake or Retry. The token of Initial
    /// and Retry packets is [`PartialDecode::token`].
    Long {
        /// The packet type.
        ty: LongType,
        /// The version ([`VERSION_1`]).
        version: u32,
        /// Destination Connection ID.
        dst_cid: ConnectionId,
        /// Source Connection ID.
        src_cid: ConnectionId,
    },
    /// A short-header (1-RTT) packet.
    Short {
        /// The spin bit (RFC 9000 §17.4), not covered by header protection.
        spin: bool,
        /// Destination Connection ID, of the local length given to [`PartialDecode::new`].
        dst_cid: ConnectionId,
    },
    /// A Version Negotiation packet (RFC 9000 §17.2.1); connection IDs are
    /// [`PartialDecode::dst_cid`] / [`PartialDecode::src_cid`], the versions are
    /// [`PartialDecode::supported_versions`].
    VersionNegotiation,
    /// A long header of a version we do not speak (RFC 8999 §5.1): only the version and the
    /// connection IDs (up to 255 bytes each) are known, enough to answer with Version
    /// Negotiation.
    UnsupportedVersion {
        /// The version the peer asked for.
        version: u32,
    },
}

/// A packet whose header has been parsed up to the protected part. Owns the packet's bytes
/// (a zero-copy split of the datagram).
#[derive(Debug)]
pub struct PartialDecode {
    packet: BytesMut,
    header: ProtectedHeader,
    dst_cid: Range<usize>,
    src_cid: Range<usize>,
    /// Initial token, Retry token, or the version list of Version Negotiation.
    token: Range<usize>,
    pn_offset: usize,
}

/// Header fields read after header protection has been removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unprotected {
    /// The unprotected first byte.
    pub first_byte: u8,
    /// Length of the packet number field, 1 to 4.
    pub pn_len: usize,
    /// The packet number as sent; recover it with [`Unprotected::full_pn`].
    pub truncated_pn: u32,
    /// RFC 9000 §17.2, §17.3.1: non-zero reserved bits are a PROTOCOL_VIOLATION, to be raised only
    /// after the packet has been authenticated.
    pub reserved_bits_zero: bool,
    /// Key Phase bit of short headers (RFC 9001 §6); false for long headers.
    pub key_phase: bool,
    /// Bytes of header, packet number included: the AEAD associated data is
    /// `packet[..header_len]`, the ciphertext `packet[header_len..]`.
    pub header_len: usize,
}

impl Unprotected {
    /// The full packet number, given the largest packet number processed in its space
    /// (RFC 9000 Appendix A.3).
    pub fn full_pn(&self, largest_pn: Option<u64>) -> u64 {
        number::decode(self.truncated_pn, self.pn_len, largest_pn)
    }
}

fn get_cid_range(buf: &mut &[u8], total: usize, limit: usize) -> Result<Range<usize>, HeaderError> {
    let len = usize::from(BufExt::try_get_u8(buf)?);
    if len > limit {
        return Err(HeaderError::CidTooLong);
    }
    if buf.len() < len {
        return Err(HeaderError::Truncated);
    }
    let start = total - buf.len();
    buf.advance(len);
    Ok(start..start + len)
}

impl PartialDecode {
    /// Parses the first packet of `datagram`. `local_cid_len` is the length of the connection IDs
    /// this endpoint issues (short headers do not carry it). Returns the packet and the rest of
    /// the datagram when more coalesced packets follow (RFC 9000 §12.2).
    pub fn new(mut datagram: BytesMut, local_cid_len: usize) -> Result<(Self, Option<BytesMut>), HeaderError> {
        let total = datagram.len();
        let mut buf: &[u8] = &datagram;
        let first = BufExt::try_get_u8(&mut buf)?;
        if first & LONG_HEADER_FORM == 0 {
            // RFC 9000 §17.3.1: 1-RTT packet; it runs to the end of the datagram.
            if first & FIXED_BIT == 0 {
                return Err(HeaderError::FixedBitZero);
            }
            if local_cid_len > MAX_CID_SIZE {
                return Err(HeaderError::CidTooLong);
            }
            if buf.len() < local_cid_len {
                return Err(HeaderError::Truncated);
            }
            let dst_cid = ConnectionId::new(&buf[..local_cid_len]).ok_or(HeaderError::CidTooLong)?;
            let pn_offset = 1 + local_cid_len;
            let header = ProtectedHeader::Short { spin: first & SPIN_BIT != 0, dst_cid };
            let packet =
                Self { packet: datagram, header, dst_cid: 1..pn_offset, src_cid: 0..0, token: 0..0, pn_offset };
            return Ok((packet, None));
        }

        // RFC 8999 §5.1: version-independent long header.
        let version = BufExt::try_get_u32(&mut buf)?;
        let cid_limit = if version == VERSION_1 { MAX_CID_SIZE } else { 255 };
        let dst_cid = get_cid_range(&mut buf, total, cid_limit)?;
        let src_cid = get_cid_range(&mut buf, total, cid_limit)?;
        let after_cids = total - buf.len();

        if version == 0 {
            // RFC 9000 §17.2.1: Version Negotiation; a list of 32-bit versions fills the datagram.
            if buf.is_empty() || buf.len() % 4 != 0 {
                return Err(HeaderError::InvalidVersionNegotiation);
            }
            let packet = Self {
                packet: datagram,
                header: ProtectedHeader::VersionNegotiation,
                dst_cid,
                src_cid,
                token: after_cids..total,
                pn_offset: total,
            };
            return Ok((packet, None));
        }
        if version != VERSION_1 {
            let header = ProtectedHeader::UnsupportedVersion { version };
            let packet = Self { packet: datagram, header, dst_cid, src_cid, token: 0..0, pn_offset: total };
            return Ok((packet, None));
        }
        // RFC 9000 §17.2: in version 1 the Fixed Bit must be 1.
        if first & FIXED_BIT == 0 {
            return Err(HeaderError::FixedBitZero);
        }
        let ty = LongType::from_bits(first >> 4);
        let header = ProtectedHeader::Long {
            ty,
            version,
            dst_cid: ConnectionId::new(&datagram[dst_cid.clone()]).ok_or(HeaderError::CidTooLong)?,
            src_cid: ConnectionId::new(&datagram[src_cid.clone()]).ok_or(HeaderError::CidTooLong)?,
        };
        let mut token = 0..0;
        match ty {
            LongType::Retry => {
                // RFC 9000 §17.2.5: Retry Token, then the 16-byte Retry Integrity Tag; no Length,
                // so the packet fills the datagram.
                if buf.len() < RETRY_TAG_LEN {
                    return Err(HeaderError::Truncated);
                }
                let token = after_cids..total - RETRY_TAG_LEN;
                let packet = Self { packet: datagram, header, dst_cid, src_cid, token, pn_offset: total };
                return Ok((packet, None));
            }
            LongType::Initial => {
                // RFC 9000 §17.2.2: Token Length and Token.
                let len = get_varint(&mut buf)?;
                if len > buf.len() as u64 {
                    return Err(HeaderError::Truncated);
                }
                let start = total - buf.len();
                token = start..start + len as usize;
                buf.advance(len as usize);
            }
            LongType::ZeroRtt | LongType::Handshake => {}
        }
        // RFC 9000 §17.2: Length covers the packet number and the payload.
        let len = get_varint(&mut buf)?;
        if len > buf.len() as u64 {
            return Err(HeaderError::Truncated);
        }
        let pn_offset = total - buf.len();
        let end = pn_offset + len as usize;
        let rest = if end < total { Some(datagram.split_off(end)) } else { None };
        Ok((Self { packet: datagram, header, dst_cid, src_cid, token, pn_offset }, rest))
    }

    /// The fields read so far.
    pub fn header(&self) -> &ProtectedHeader {
        &self.header
    }

    /// The packet type, for packets that carry frames (not Retry, Version Negotiation or an
    /// unsupported version).
    pub fn packet_type(&self) -> Option<PacketType> {
        match self.header {
            ProtectedHeader::Long { ty, .. } => PacketType::try_from(ty).ok(),
            ProtectedHeader::Short { .. } => Some(PacketType::OneRtt),
            _ => None,
        }
    }

    /// The packet number space, for packets that have one.
    pub fn space(&self) -> Option<SpaceId> {
        self.packet_type().map(PacketType::space)
    }

    /// Whether this packet has a packet number and protected payload (Initial, 0-RTT,
    /// Handshake, 1-RTT).
    #[cfg(any(test, feature = "internals"))]
    pub fn is_protected(&self) -> bool {
        self.packet_type().is_some()
    }

    /// The Destination Connection ID (up to 255 bytes for unsupported versions).
    pub fn dst_cid(&self) -> &[u8] {
        &self.packet[self.dst_cid.clone()]
    }

    /// The Source Connection ID; empty for short headers.
    pub fn src_cid(&self) -> &[u8] {
        &self.packet[self.src_cid.clone()]
    }

    /// The token of an Initial or Retry packet; empty otherwise.
    pub fn token(&self) -> &[u8] {
        match self.header {
            ProtectedHeader::VersionNegotiation => &[],
            _ => &self.packet[self.token.clone()],
        }
    }

    /// The versions listed by a Version Negotiation packet (nothing for other packets).
    pub fn supported_versions(&self) -> impl Iterator<Item = u32> + '_ {
        let list: &[u8] = match self.header {
            ProtectedHeader::VersionNegotiation => &self.packet[self.token.clone()],
            _ => &[],
        };
        list.chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }

    /// The Retry Integrity Tag of a Retry packet (RFC 9001 §5.8).
    #[cfg(any(test, feature = "internals"))]
    pub fn retry_integrity_tag(&self) -> Option<&[u8]> {
        match self.header {
            ProtectedHeader::Long { ty: LongType::Retry, .. } => Some(&self.packet[self.token.end..]),
            _ => None,
        }
    }

    /// A Retry packet without its tag, to build the pseudo-packet of RFC 9001 §5.8 with
    /// [`encode_retry_pseudo_packet`].
    #[cfg(any(test, feature = "internals"))]
    pub fn retry_without_tag(&self) -> Option<&[u8]> {
        match self.header {
            ProtectedHeader::Long { ty: LongType::Retry, .. } => Some(&self.packet[..self.token.end]),
            _ => None,
        }
    }

    /// Offset of the (protected) packet number field in [`PartialDecode::packet`].
    pub fn pn_offset(&self) -> usize {
        self.pn_offset
    }

    /// RFC 9001 §5.4.2: the header protection sample starts 4 bytes after the start of the
    /// packet number field. `None` when the packet is too short to hold a sample of
    /// `sample_len` bytes (such packets are dropped) or has no packet number.
    #[cfg(any(test, feature = "internals"))]
    pub fn sample_range(&self, sample_len: usize) -> Option<Range<usize>> {
        if !self.is_protected() {
            return None;
        }
        let start = self.pn_offset + 4;
        let end = start.checked_add(sample_len)?;
        (end <= self.packet.len()).then_some(start..end)
    }

    /// The whole packet (header, protected packet number and payload).
    pub fn packet(&self) -> &[u8] {
        &self.packet
    }

    /// The whole packet, for removing header protection and decrypting in place.
    pub fn packet_mut(&mut self) -> &mut [u8] {
        &mut self.packet
    }

    /// Takes the packet's bytes.
    pub fn into_packet(self) -> BytesMut {
        self.packet
    }

    /// Reads the fields that header protection covered; call after it has been removed from
    /// [`PartialDecode::packet_mut`]. Fails for packets without a packet number, and when the
    /// packet number runs past the end of the packet.
    pub fn finish(&self) -> Result<Unprotected, HeaderError> {
        let long = match self.header {
            ProtectedHeader::Long { ty, .. } if ty != LongType::Retry => true,
            ProtectedHeader::Short { .. } => false,
            _ => return Err(HeaderError::Truncated),
        };
        let first_byte = self.packet.first().copied().ok_or(HeaderError::Truncated)?;
        let pn_len = usize::from(first_byte & PN_LEN_MASK) + 1;
        let header_len = self.pn_offset + pn_len;
        let pn_bytes = self.packet.get(self.pn_offset..header_len).ok_or(HeaderError::Truncated)?;
        let truncated_pn = pn_bytes.iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b));
        let reserved = if long { LONG_RESERVED_BITS } else { SHORT_RESERVED_BITS };
        Ok(Unprotected {
            first_byte,
            pn_len,
            truncated_pn,
            reserved_bits_zero: first_byte & reserved == 0,
            key_phase: !long && first_byte & KEY_PHASE_BIT != 0,
            header_len,
        })
    }
}

/// Offsets in a header just written, relative to the header's first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderLayout {
    /// Header length, packet number included (the AEAD associated data).
    pub header_len: usize,
    /// Offset of the packet number field (for header protection, RFC 9001 §5.4.2).
    pub pn_offset: usize,
    /// Length of the packet number field.
    pub pn_len: usize,
    /// Offset of the [`LENGTH_FIELD_LEN`]-byte Length field of long headers.
    pub length_offset: Option<usize>,
}

impl HeaderLayout {
    /// Fills in the Length field once the payload and AEAD tag are written. `packet` runs from
    /// the header's first byte to the end of the packet. No-op for short headers.
    pub fn set_length(&self, packet: &mut [u8]) -> Result<(), HeaderError> {
        let Some(offset) = self.length_offset else { return Ok(()) };
        if packet.len() < self.header_len {
            return Err(HeaderError::Truncated);
        }
        let len = (packet.len() - self.pn_offset) as u64;
        if len >= 1 << (8 * LENGTH_FIELD_LEN - 2) {
            return Err(HeaderError::TooLong);
        }
        put_varint_with_len(&mut packet[offset..], len, LENGTH_FIELD_LEN);
        Ok(())
    }
}

fn put_cid<B: BufMut + ?Sized>(buf: &mut B, cid: &[u8]) {
    buf.put_u8(cid.len() as u8);
    buf.put_slice(cid);
}

/// Writes an Initial (with `token`), 0-RTT or Handshake header with a placeholder Length field
/// and packet number `pn` in `pn_len` bytes (see [`number::encoded_len`]). Reserved bits are 0.
/// `token` is ignored for other types than Initial. Retry has its own [`encode_retry`].
#[allow(clippy::too_many_arguments)]
pub fn encode_long_header<B: BufMut + ?Sized>(
    buf: &mut B,
    ty: LongType,
    version: u32,
    dst_cid: &ConnectionId,
    src_cid: &ConnectionId,
    token: &[u8],
    pn: u64,
    pn_len: usize,
) -> HeaderLayout {
    debug_assert!(ty != LongType::Retry, "use encode_retry");
    let pn_len = pn_len.clamp(1, 4);
    buf.put_u8(LONG_HEADER_FORM | FIXED_BIT | ty.bits() << 4 | (pn_len - 1) as u8);
    buf.put_u32(version);
    put_cid(buf, dst_cid);
    put_cid(buf, src_cid);
    let mut len = 7 + dst_cid.len() + src_cid.len();
    if ty == LongType::Initial {
        put_varint(buf, token.len() as u64);
        buf.put_slice(token);
        len += crate::coding::varint_size(token.len() as u64) + token.len();
    }
    let length_offset = len;
    buf.put_slice(&[0; LENGTH_FIELD_LEN]);
    let pn_offset = length_offset + LENGTH_FIELD_LEN;
    number::encode(buf, pn, pn_len);
    HeaderLayout { header_len: pn_offset + pn_len, pn_offset, pn_len, length_offset: Some(length_offset) }
}

/// Writes a short (1-RTT) header (RFC 9000 §17.3.1). Reserved bits are 0.
pub fn encode_short_header<B: BufMut + ?Sized>(
    buf: &mut B,
    spin: bool,
    key_phase: bool,
    dst_cid: &ConnectionId,
    pn: u64,
    pn_len: usize,
) -> HeaderLayout {
    let pn_len = pn_len.clamp(1, 4);
    let mut first = FIXED_BIT | (pn_len - 1) as u8;
    if spin {
        first |= SPIN_BIT;
    }
    if key_phase {
        first |= KEY_PHASE_BIT;
    }
    buf.put_u8(first);
    buf.put_slice(dst_cid);
    let pn_offset = 1 + dst_cid.len();
    number::encode(buf, pn, pn_len);
    HeaderLayout { header_len: pn_offset + pn_len, pn_offset, pn_len, length_offset: None }
}

/// Writes a Retry packet without its integrity tag (RFC 9000 §17.2.5); the caller appends the
/// [`RETRY_TAG_LEN`]-byte tag computed over [`encode_retry_pseudo_packet`].
pub fn encode_retry<B: BufMut + ?Sized>(
    buf: &mut B,
    version: u32,
    dst_cid: &ConnectionId,
    src_cid: &ConnectionId,
    token: &[u8],
) {
    // The low four bits are unused in Retry; we send zeros.
    buf.put_u8(LONG_HEADER_FORM | FIXED_BIT | LongType::Retry.bits() << 4);
    buf.put_u32(version);
    put_cid(buf, dst_cid);
    put_cid(buf, src_cid);
    buf.put_slice(token);
}

/// Writes the Retry pseudo-packet of RFC 9001 §5.8 (ODCID Length, Original Destination
/// Connection ID, then the Retry packet without its tag), the AEAD input of the integrity tag.
#[cfg(any(test, feature = "internals"))]
pub fn encode_retry_pseudo_packet<B: BufMut + ?Sized>(
    buf: &mut B,
    original_dst_cid: &ConnectionId,
    retry_without_tag: &[u8],
) {
    put_cid(buf, original_dst_cid);
    buf.put_slice(retry_without_tag);
}

/// Writes a Version Negotiation packet (RFC 9000 §17.2.1) answering a packet whose
/// Destination/Source Connection IDs were `their_dst_cid` / `their_src_cid`: the IDs are swapped.
/// `unused` supplies the 7 arbitrary low bits of the first byte (from the caller's RNG); the 0x40
/// bit is always set, as RFC 9000 §17.2.1 recommends.
pub fn encode_version_negotiation<B: BufMut + ?Sized>(
    buf: &mut B,
    their_dst_cid: &[u8],
    their_src_cid: &[u8],
    versions: &[u32],
    unused: u8,
) {
    buf.put_u8(LONG_HEADER_FORM | FIXED_BIT | (unused & 0x7f));
    buf.put_u32(0);
    put_cid(buf, &their_src_cid[..their_src_cid.len().min(255)]);
    put_cid(buf, &their_dst_cid[..their_dst_cid.len().min(255)]);
    for v in versions {
        buf.put_u32(*v);
    }
}

#[cfg(test)]
mod tests;
