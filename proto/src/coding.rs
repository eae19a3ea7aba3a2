//! Variable-length integers (RFC 9000 §16) and bounds-checked reading helpers.
//!
//! Every reader returns [`UnexpectedEnd`] instead of panicking when the input is short.

use bytes::{Buf, BufMut};
use thiserror::Error;

/// The input ended before a complete value could be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("unexpected end of input")]
pub struct UnexpectedEnd;

/// A value was too large to be encoded as a variable-length integer (over 2^62 - 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("value too large for a QUIC variable-length integer")]
pub struct VarIntBoundsExceeded;

/// An integer below 2^62, encodable as a QUIC variable-length integer (RFC 9000 §16).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct VarInt(u64);

impl VarInt {
    /// The largest representable value, 2^62 - 1.
    pub const MAX: Self = Self((1 << 62) - 1);
    /// Zero.
    pub const ZERO: Self = Self(0);

    /// Any `u32` fits.
    pub const fn from_u32(x: u32) -> Self {
        Self(x as u64)
    }

    /// `x`, if it is below 2^62.
    pub fn from_u64(x: u64) -> Result<Self, VarIntBoundsExceeded> {
        if x <= Self::MAX.0 {
            Ok(Self(x))
        } else {
            Err(VarIntBoundsExceeded)
        }
    }

    /// `x` without checking; values over 2^62 - 1 are clamped to [`VarInt::MAX`].
    pub const fn from_u64_saturating(x: u64) -> Self {
        if x > Self::MAX.0 {
            Self::MAX
        } else {
            Self(x)
        }
    }

    /// The value.
    pub const fn into_inner(self) -> u64 {
        self.0
    }

    /// Bytes needed to encode this value.
    pub const fn size(self) -> usize {
        varint_size(self.0)
    }

    /// Reads one variable-length integer.
    pub fn decode<B: Buf>(buf: &mut B) -> Result<Self, UnexpectedEnd> {
        get_varint(buf).map(Self)
    }

    /// Writes the value in its shortest encoding.
    pub fn encode<B: BufMut>(self, buf: &mut B) {
        put_varint(buf, self.0)
    }
}

impl From<u8> for VarInt {
    fn from(x: u8) -> Self {
        Self(x.into())
    }
}
impl From<u16> for VarInt {
    fn from(x: u16) -> Self {
        Self(x.into())
    }
}
impl From<u32> for VarInt {
    fn from(x: u32) -> Self {
        Self(x.into())
    }
}
impl TryFrom<u64> for VarInt {
    type Error = VarIntBoundsExceeded;
    fn try_from(x: u64) -> Result<Self, Self::Error> {
        Self::from_u64(x)
    }
}
impl From<VarInt> for u64 {
    fn from(x: VarInt) -> u64 {
        x.0
    }
}

impl core::fmt::Display for VarInt {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.0.fmt(f)
    }
}

/// Bytes needed to encode `x` as a varint (values over 2^62 - 1 count as 8).
pub const fn varint_size(x: u64) -> usize {
    if x < 1 << 6 {
        1
    } else if x < 1 << 14 {
        2
    } else if x < 1 << 30 {
        4
    } else {
        8
    }
}

/// Reads one varint as a `u64`.
pub fn get_varint<B: Buf + ?Sized>(buf: &mut B) -> Result<u64, UnexpectedEnd> {
    if !buf.has_remaining() {
        return Err(UnexpectedEnd);
    }
    let first = buf.chunk()[0];
    let len = 1usize << (first >> 6);
    if buf.remaining() < len {
        return Err(UnexpectedEnd);
    }
    Ok(match len {
        1 => u64::from(buf.get_u8()),
        2 => u64::from(buf.get_u16() & 0x3fff),
        4 => u64::from(buf.get_u32() & 0x3fff_ffff),
        _ => buf.get_u64() & 0x3fff_ffff_ffff_ffff,
    })
}

/// Writes `x` as a varint in its shortest encoding.
///
/// # Panics
/// Never for values up to 2^62 - 1; larger values are a caller bug and are clamped in release
/// builds (debug builds assert).
pub fn put_varint<B: BufMut + ?Sized>(buf: &mut B, x: u64) {
    debug_assert!(x <= VarInt::MAX.0, "varint out of range: {x}");
    let x = x.min(VarInt::MAX.0);
    if x < 1 << 6 {
        buf.put_u8(x as u8);
    } else if x < 1 << 14 {
        buf.put_u16(0x4000 | x as u16);
    } else if x < 1 << 30 {
        buf.put_u32(0x8000_0000 | x as u32);
    } else {
        buf.put_u64(0xc000_0000_0000_0000 | x);
    }
}

/// Writes `x` as a varint using exactly `len` bytes (1, 2, 4 or 8), for length fields that are
/// filled in after the payload is written.
pub fn put_varint_with_len(buf: &mut [u8], x: u64, len: usize) {
    match len {
        1 => buf[0] = x as u8,
        2 => buf[..2].copy_from_slice(&(0x4000 | x as u16).to_be_bytes()),
        4 => buf[..4].copy_from_slice(&(0x8000_0000 | x as u32).to_be_bytes()),
        _ => buf[..8].copy_from_slice(&(0xc000_0000_0000_0000 | x).to_be_bytes()),
    }
}

/// Bounds-checked fixed-size reads.
pub trait BufExt: Buf {
    /// Reads a `u8`.
    fn try_get_u8(&mut self) -> Result<u8, UnexpectedEnd> {
        if self.remaining() < 1 {
            return Err(UnexpectedEnd);
        }
        Ok(self.get_u8())
    }
    /// Reads a big-endian `u32`.
    fn try_get_u32(&mut self) -> Result<u32, UnexpectedEnd> {
        if self.remaining() < 4 {
            return Err(UnexpectedEnd);
        }
        Ok(self.get_u32())
    }
    /// Reads a varint.
    fn get_var(&mut self) -> Result<u64, UnexpectedEnd> {
        get_varint(self)
    }
    /// Reads exactly `N` bytes.
    fn try_get_array<const N: usize>(&mut self) -> Result<[u8; N], UnexpectedEnd> {
        if self.remaining() < N {
            return Err(UnexpectedEnd);
        }
        let mut out = [0; N];
        self.copy_to_slice(&mut out);
        Ok(out)
    }
}

impl<B: Buf + ?Sized> BufExt for B {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc9000_appendix_a1_examples() {
        // RFC 9000 §A.1 sample encodings.
        let cases: [(&[u8], u64); 4] = [
            (&[0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c], 151_288_809_941_952_652),
            (&[0x9d, 0x7f, 0x3e, 0x7d], 494_878_333),
            (&[0x7b, 0xbd], 15_293),
            (&[0x25], 37),
        ];
        for (bytes, value) in cases {
            assert_eq!(get_varint(&mut &bytes[..]).unwrap(), value);
            let mut out = Vec::new();
            put_varint(&mut out, value);
            assert_eq!(out, bytes);
        }
        // A two-byte encoding of 37 is also valid.
        assert_eq!(get_varint(&mut &[0x40, 0x25][..]).unwrap(), 37);
    }

    #[test]
    fn short_input_is_an_error() {
        assert_eq!(get_varint(&mut &[][..]), Err(UnexpectedEnd));
        assert_eq!(get_varint(&mut &[0xc2, 0x19][..]), Err(UnexpectedEnd));
        assert!(VarInt::from_u64(1 << 62).is_err());
    }

    proptest! {
        #[test]
        fn roundtrip(x in 0u64..(1 << 62)) {
            let mut out = Vec::new();
            put_varint(&mut out, x);
            prop_assert_eq!(out.len(), varint_size(x));
            prop_assert_eq!(get_varint(&mut &out[..]).unwrap(), x);
            let mut fixed = [0u8; 8];
            put_varint_with_len(&mut fixed, x, 8);
            prop_assert_eq!(get_varint(&mut &fixed[..]).unwrap(), x);
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..10)) {
            let _ = get_varint(&mut &bytes[..]);
        }
    }
}
