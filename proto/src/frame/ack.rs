//! ACK (RFC 9000 §19.3) and PATH_ACK (RFC 10069 §4.1) frames.
//!
//! Decoding does not allocate: the ACK Range section stays a [`Bytes`] slice of the packet
//! payload, validated once at decode time, and [`Ack::iter`] walks it. Encoding writes straight
//! from a [`RangeSet`] of received packet numbers, newest ranges first, within a range and byte
//! budget.

use core::ops::Range;

use bytes::{BufMut, Bytes};

use super::types::MultipathVersion;
use crate::shared::FrameType;
use super::Sink;
use crate::coding::{get_varint, put_varint, varint_size, BufExt, UnexpectedEnd};
use crate::range_set::RangeSet;
use crate::shared::EcnCounts;
use mpquic_core::PathId;

/// ACK ranges written per ACK frame at most.
pub const MAX_ACK_RANGES: usize = 64;

/// An ACK or PATH_ACK frame. For ACK, `path_id` is [`PathId::ZERO`] (RFC 9000's ACK always
/// acknowledges path 0's application space, RFC 10069 §4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// Path whose packet number space is acknowledged (0 for a plain ACK).
    pub path_id: PathId,
    /// Largest Acknowledged.
    pub largest: u64,
    /// ACK Delay as on the wire: microseconds scaled down by the peer's ack_delay_exponent.
    pub delay: u64,
    /// ECN counts, for frame types 0x03 / PATH_ACK with ECN.
    pub ecn: Option<EcnCounts>,
    /// First ACK Range.
    first_range: u64,
    /// Number of (Gap, ACK Range) pairs in `additional`.
    additional_count: u64,
    /// The raw (Gap, ACK Range) pairs, validated.
    additional: Bytes,
}

/// Why an ACK frame body is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AckDecodeError {
    Truncated,
    /// RFC 9000 §19.3.1: a range would go below packet number 0.
    Underflow,
}

impl From<UnexpectedEnd> for AckDecodeError {
    fn from(_: UnexpectedEnd) -> Self {
        Self::Truncated
    }
}

impl Ack {
    /// Decodes the body of an ACK frame (after the type and, for PATH_ACK, the path ID).
    pub(super) fn decode_body(buf: &mut Bytes, path_id: PathId, with_ecn: bool) -> Result<Self, AckDecodeError> {
        let largest = get_varint(buf)?;
        let delay = get_varint(buf)?;
        let additional_count = get_varint(buf)?;
        let first_range = get_varint(buf)?;
        // RFC 9000 §19.3.1: smallest = largest - first_range must not be negative.
        let mut smallest = largest.checked_sub(first_range).ok_or(AckDecodeError::Underflow)?;
        // Validation pass over the pairs, measuring their length without copying.
        let mut probe = &buf[..];
        let before = probe.len();
        for _ in 0..additional_count {
            let gap = get_varint(&mut probe)?;
            let len = get_varint(&mut probe)?;
            // RFC 9000 §19.3.1: largest = previous smallest - gap - 2; smallest = largest - len.
            let next_largest =
                smallest.checked_sub(gap).and_then(|x| x.checked_sub(2)).ok_or(AckDecodeError::Underflow)?;
            smallest = next_largest.checked_sub(len).ok_or(AckDecodeError::Underflow)?;
        }
        let consumed = before - probe.len();
        let additional = buf.split_to(consumed);
        let ecn = if with_ecn {
            Some(EcnCounts { ect0: buf.get_var()?, ect1: buf.get_var()?, ce: buf.get_var()? })
        } else {
            None
        };
        Ok(Self { path_id, largest, delay, ecn, first_range, additional_count, additional })
    }

    /// Builds an ACK for `ranges` (all ranges, allocating: meant for tests and tools; the send
    /// path uses `encode_ack` instead). `None` if `ranges` is empty.
    pub fn from_ranges(path_id: PathId, ranges: &RangeSet, delay: u64, ecn: Option<EcnCounts>) -> Option<Self> {
        let mut buf = Vec::new();
        encode_ack_body(&mut buf, ranges, ranges.len(), delay)?;
        let mut bytes = Bytes::from(buf);
        let mut ack = Self::decode_body(&mut bytes, path_id, false).ok()?;
        ack.ecn = ecn;
        Some(ack)
    }

    /// Number of ACK ranges (at least one).
    pub fn range_count(&self) -> u64 {
        self.additional_count + 1
    }

    /// The first (highest) range: the contiguous run of acknowledged packet numbers ending at
    /// `largest`.
    pub fn first_range(&self) -> Range<u64> {
        self.largest.saturating_sub(self.first_range)..self.largest.saturating_add(1)
    }

    /// The acknowledged packet numbers as ranges, largest first.
    pub fn iter(&self) -> AckIter<'_> {
        AckIter {
            first: Some(self.first_range()),
            smallest: self.largest.saturating_sub(self.first_range),
            remaining: self.additional_count,
            data: &self.additional,
        }
    }

    /// Whether this frame carries ECN counts (type 0x03 / PATH_ACK with ECN).
    pub fn has_ecn(&self) -> bool {
        self.ecn.is_some()
    }

    /// The frame type this frame is written with under `mp`.
    pub fn frame_type(&self, is_path_ack: bool, mp: MultipathVersion) -> FrameType {
        match (is_path_ack, self.ecn.is_some()) {
            (false, false) => FrameType::ACK,
            (false, true) => FrameType::ACK_ECN,
            (true, false) => mp.codes().path_ack,
            (true, true) => mp.codes().path_ack_ecn,
        }
    }

    /// Writes the body (everything after the type and path ID).
    pub(super) fn encode_body(&self, s: &mut impl Sink) {
        s.var(self.largest);
        s.var(self.delay);
        s.var(self.additional_count);
        s.var(self.first_range);
        s.slice(&self.additional);
        if let Some(ecn) = &self.ecn {
            s.var(ecn.ect0);
            s.var(ecn.ect1);
            s.var(ecn.ce);
        }
    }
}

/// Iterator over the ranges of an [`Ack`], largest first.
#[derive(Debug, Clone)]
pub struct AckIter<'a> {
    first: Option<Range<u64>>,
    smallest: u64,
    remaining: u64,
    data: &'a [u8],
}

impl Iterator for AckIter<'_> {
    type Item = Range<u64>;
    fn next(&mut self) -> Option<Range<u64>> {
        if let Some(first) = self.first.take() {
            return Some(first);
        }
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        // Validated at decode time; checked arithmetic anyway so that a hand-built value cannot
        // panic.
        let gap = get_varint(&mut self.data).ok()?;
        let len = get_varint(&mut self.data).ok()?;
        let largest = self.smallest.checked_sub(gap)?.checked_sub(2)?;
        let smallest = largest.checked_sub(len)?;
        self.smallest = smallest;
        Some(smallest..largest + 1)
    }
}

fn ecn_len(ecn: &EcnCounts) -> usize {
    varint_size(ecn.ect0) + varint_size(ecn.ect1) + varint_size(ecn.ce)
}

fn put_ecn<B: BufMut + ?Sized>(buf: &mut B, ecn: &EcnCounts) {
    put_varint(buf, ecn.ect0);
    put_varint(buf, ecn.ect1);
    put_varint(buf, ecn.ce);
}

/// Size of the (Gap, ACK Range) pair that encodes `range` after a range starting at `prev_smallest`.
fn pair_len(prev_smallest: u64, range: &Range<u64>) -> usize {
    let gap = prev_smallest - range.end - 1;
    let len = range.end - 1 - range.start;
    varint_size(gap) + varint_size(len)
}

/// Writes Largest Acknowledged, ACK Delay, ACK Range Count, First ACK Range and the first
/// `additional` further ranges of `ranges`, newest first. `None` if `ranges` is empty.
fn encode_ack_body<B: BufMut + ?Sized>(buf: &mut B, ranges: &RangeSet, total_ranges: usize, delay: u64) -> Option<()> {
    let mut iter = ranges.iter().rev();
    let first = iter.next()?;
    let additional = total_ranges.saturating_sub(1);
    put_varint(buf, first.end - 1);
    put_varint(buf, delay);
    put_varint(buf, additional as u64);
    put_varint(buf, first.end - 1 - first.start);
    let mut prev_smallest = first.start;
    for range in iter.take(additional) {
        // RFC 9000 §19.3.1: Gap = previous smallest - this largest - 2.
        put_varint(buf, prev_smallest - range.end - 1);
        put_varint(buf, range.end - 1 - range.start);
        prev_smallest = range.start;
    }
    Some(())
}

/// What [`encode_ack`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckWritten {
    /// Bytes written, type included.
    pub len: usize,
    /// Ranges written (newest first), at least one.
    pub ranges: usize,
    /// Largest acknowledged packet number.
    pub largest: u64,
    /// Smallest packet number covered by the written ranges: everything the frame acknowledges
    /// is at or above it.
    pub smallest: u64,
}

/// Writes an ACK frame (or, with `path_id = Some(..)`, a PATH_ACK frame in the code points of
/// `mp`) acknowledging the newest ranges of `ranges` without allocating.
///
/// `ack_delay` is already scaled by the local ack_delay_exponent (RFC 9000 §19.3). At most
/// `max_ranges` ranges and `max_bytes` bytes are written; older ranges are dropped first
/// (RFC 9000 §13.2.4). Returns `None` and writes nothing when `ranges` is empty or not even
/// one range fits.
#[allow(clippy::too_many_arguments)]
pub fn encode_ack<B: BufMut + ?Sized>(
    buf: &mut B,
    path_id: Option<PathId>,
    mp: MultipathVersion,
    ranges: &RangeSet,
    ack_delay: u64,
    ecn: Option<&EcnCounts>,
    max_ranges: usize,
    max_bytes: usize,
) -> Option<AckWritten> {
    let first = ranges.iter().next_back()?;
    if max_ranges == 0 {
        return None;
    }
    let largest = first.end - 1;
    let ty = match (path_id.is_some(), ecn.is_some()) {
        (false, false) => FrameType::ACK,
        (false, true) => FrameType::ACK_ECN,
        (true, false) => mp.codes().path_ack,
        (true, true) => mp.codes().path_ack_ecn,
    };
    let fixed = varint_size(ty.0)
        + path_id.map_or(0, |p| varint_size(p.as_u64()))
        + varint_size(largest)
        + varint_size(ack_delay)
        + varint_size(largest - first.start)
        + ecn.map_or(0, ecn_len);
    // Choose the number of additional ranges: the count field's size depends on it.
    let mut best = None;
    let mut pairs = 0usize;
    let mut prev_smallest = first.start;
    let mut smallest = first.start;
    let mut best_smallest = first.start;
    let mut k = 0usize;
    let mut iter = ranges.iter().rev().skip(1);
    loop {
        let total = fixed + varint_size(k as u64) + pairs;
        // The size only grows with k, so the first k that does not fit ends the search.
        if total > max_bytes {
            break;
        }
        best = Some((k, total));
        best_smallest = smallest;
        if k + 1 >= max_ranges {
            break;
        }
        let Some(range) = iter.next() else { break };
        pairs += pair_len(prev_smallest, &range);
        prev_smallest = range.start;
        smallest = range.start;
        k += 1;
    }
    let (additional, len) = best?;
    put_varint(buf, ty.0);
    if let Some(p) = path_id {
        put_varint(buf, p.as_u64());
    }
    encode_ack_body(buf, ranges, additional + 1, ack_delay)?;
    if let Some(ecn) = ecn {
        put_ecn(buf, ecn);
    }
    Some(AckWritten { len, ranges: additional + 1, largest, smallest: best_smallest })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ranges: &[Range<u64>]) -> RangeSet {
        let mut s = RangeSet::new();
        for r in ranges {
            s.insert(r.clone());
        }
        s
    }

    #[test]
    fn iter_descends() {
        let s = set(&[0..3, 5..6, 10..20]);
        let ack = Ack::from_ranges(PathId::ZERO, &s, 7, None).unwrap();
        assert_eq!(ack.largest, 19);
        assert_eq!(ack.range_count(), 3);
        assert_eq!(ack.iter().collect::<Vec<_>>(), vec![10..20, 5..6, 0..3]);
    }

    #[test]
    fn underflow_is_rejected() {
        // largest 5, first range 6: smallest would be -1.
        let mut b = Bytes::from_static(&[5, 0, 0, 6]);
        assert_eq!(Ack::decode_body(&mut b, PathId::ZERO, false), Err(AckDecodeError::Underflow));
        // largest 5, first range 2 (smallest 3), gap 1: next largest = 3 - 1 - 2 = 0, len 1 -> -1.
        let mut b = Bytes::from_static(&[5, 0, 1, 2, 1, 1]);
        assert_eq!(Ack::decode_body(&mut b, PathId::ZERO, false), Err(AckDecodeError::Underflow));
        // Same with len 0 is fine: ranges 3..6 and 0..1.
        let mut b = Bytes::from_static(&[5, 0, 1, 2, 1, 0]);
        let ack = Ack::decode_body(&mut b, PathId::ZERO, false).unwrap();
        assert_eq!(ack.iter().collect::<Vec<_>>(), vec![3..6, 0..1]);
        let mut b = Bytes::from_static(&[5, 0, 1, 2, 1]);
        assert_eq!(Ack::decode_body(&mut b, PathId::ZERO, false), Err(AckDecodeError::Truncated));
    }

    #[test]
    fn encoder_respects_limits() {
        let s = set(&[0..1, 2..3, 4..5, 6..7, 8..9]);
        let mut buf = Vec::new();
        let w = encode_ack(&mut buf, None, MultipathVersion::Draft21, &s, 0, None, 2, 1000).unwrap();
        assert_eq!((w.ranges, w.largest, w.smallest, w.len), (2, 8, 6, buf.len()));
        // type, largest, delay, count, first: 5 bytes; each pair 2 bytes.
        for max_bytes in 0..20 {
            let mut buf = Vec::new();
            let w = encode_ack(&mut buf, None, MultipathVersion::Draft21, &s, 0, None, 100, max_bytes);
            match w {
                None => assert!(max_bytes < 5 && buf.is_empty()),
                Some(w) => {
                    assert!(buf.len() <= max_bytes);
                    assert_eq!(w.len, buf.len());
                    assert_eq!(w.ranges, ((max_bytes - 5) / 2 + 1).min(5));
                }
            }
        }
        assert!(
            encode_ack(&mut Vec::new(), None, MultipathVersion::Draft21, &RangeSet::new(), 0, None, 9, 99).is_none()
        );
    }
}
