//! Out-of-order reassembly of received stream (or CRYPTO) data.
//!
//! The [`Assembler`] keeps the received pieces as [`Bytes`] slices of the packets they arrived
//! in (no copy), sorted by offset and never overlapping: a piece that overlaps data already held
//! is trimmed to the gaps it fills, and data below the read head is dropped (RFC 9000 §2.2: data
//! at a given offset MUST NOT change, so the first copy wins). Data is delivered strictly in
//! order. The caller bounds how far ahead of the read head data may arrive (flow control for
//! streams, RFC 9000 §4.1; the CRYPTO buffer limit for CRYPTO frames, §7.5), so the bytes held
//! never exceed that bound.
//!
//! A slice keeps its whole packet buffer alive. A peer that sends one byte per packet could make
//! us pin a full datagram per byte, so once more than [`COMPACT_THRESHOLD`] small pieces that
//! borrow foreign buffers are held, the pieces are copied into buffers of their own.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

/// Pieces shorter than this that borrow a packet buffer count as "small" for compaction.
const SMALL_PIECE_BYTES: usize = 256;
/// Compaction runs once this many small borrowed pieces are held.
pub const COMPACT_THRESHOLD: usize = 32;

/// One held piece of data.
#[derive(Debug, Clone)]
struct Piece {
    offset: u64,
    data: Bytes,
    /// Small and still pointing into a buffer we do not own exclusively.
    small_borrowed: bool,
}

impl Piece {
    fn end(&self) -> u64 {
        self.offset + self.data.len() as u64
    }
}

/// Reassembles data received at arbitrary offsets into an ordered byte stream.
#[derive(Debug, Default)]
pub struct Assembler {
    /// Sorted by offset, non-overlapping, non-empty, all at or above `bytes_read`.
    pieces: VecDeque<Piece>,
    /// Offset of the next byte to deliver.
    bytes_read: u64,
    /// Sum of the lengths of `pieces`.
    buffered: u64,
    /// Number of pieces with `small_borrowed` set.
    small_borrowed: usize,
}

impl Assembler {
    /// An empty assembler whose read head is at offset 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Offset of the next byte [`Assembler::read`] returns: everything below has been delivered.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Bytes held and not yet delivered.
    #[cfg(any(test, feature = "internals"))]
    pub fn buffered(&self) -> u64 {
        self.buffered
    }

    /// Bytes [`Assembler::read`] could return now: the contiguous run at the read head.
    pub fn readable_bytes(&self) -> u64 {
        let mut end = self.bytes_read;
        for p in self.pieces.iter() {
            if p.offset != end {
                break;
            }
            end = p.end();
        }
        end - self.bytes_read
    }

    /// Whether [`Assembler::read`] would return data now.
    pub fn is_readable(&self) -> bool {
        self.pieces.front().is_some_and(|p| p.offset == self.bytes_read)
    }

    /// Whether every byte of `[bytes_read, end)` is held (true for an empty range).
    pub fn is_complete_up_to(&self, end: u64) -> bool {
        // Pieces are disjoint and at or above the read head, so holding exactly
        // `end - bytes_read` bytes below `end` means there is no gap.
        end <= self.bytes_read
            || (self.pieces.back().is_some_and(|p| p.end() <= end) && self.bytes_read + self.buffered == end)
    }

    /// Stores `data` received at `offset`; returns how many bytes were new. Bytes already held or
    /// already delivered are ignored.
    pub fn insert(&mut self, offset: u64, data: Bytes) -> u64 {
        let end = offset.saturating_add(data.len() as u64);
        if end <= self.bytes_read || data.is_empty() {
            return 0;
        }
        let base = offset;
        let start = offset.max(self.bytes_read);
        // Fast path for in-order arrival: after everything held.
        let added = if self.pieces.back().is_none_or(|p| p.end() <= start) {
            let piece = data.slice((start - base) as usize..);
            self.push_at(self.pieces.len(), start, piece)
        } else {
            self.insert_between(base, start, end, &data)
        };
        if self.small_borrowed > COMPACT_THRESHOLD {
            self.compact();
        }
        added
    }

    /// Inserts the parts of `data` (which starts at `base`) in `[start, end)` that fill gaps.
    fn insert_between(&mut self, base: u64, mut start: u64, end: u64, data: &Bytes) -> u64 {
        let mut added = 0;
        // First piece that ends after `start`.
        let mut idx = self.pieces.partition_point(|p| p.end() <= start);
        while start < end {
            match self.pieces.get(idx) {
                Some(p) if p.offset <= start => {
                    start = p.end();
                    idx += 1;
                }
                Some(p) if p.offset < end => {
                    let gap_end = p.offset;
                    let next_end = p.end();
                    let piece = data.slice((start - base) as usize..(gap_end - base) as usize);
                    added += self.push_at(idx, start, piece);
                    // Skip the piece we inserted and the one that bounded the gap.
                    idx += 2;
                    start = next_end;
                }
                _ => {
                    let piece = data.slice((start - base) as usize..(end - base) as usize);
                    added += self.push_at(idx, start, piece);
                    break;
                }
            }
        }
        added
    }

    fn push_at(&mut self, idx: usize, offset: u64, data: Bytes) -> u64 {
        let len = data.len();
        let small_borrowed = len < SMALL_PIECE_BYTES;
        self.small_borrowed += usize::from(small_borrowed);
        self.buffered += len as u64;
        self.pieces.insert(idx, Piece { offset, data, small_borrowed });
        len as u64
    }

    /// Copies runs of adjacent pieces that contain small borrowed pieces into owned buffers, so
    /// the packet buffers they pointed into can be freed.
    fn compact(&mut self) {
        let old = core::mem::take(&mut self.pieces);
        let mut out: VecDeque<Piece> = VecDeque::with_capacity(old.len());
        let mut run: Vec<Piece> = Vec::new();
        let flush = |run: &mut Vec<Piece>, out: &mut VecDeque<Piece>| {
            if run.len() == 1 && !run[0].small_borrowed {
                out.extend(run.drain(..));
                return;
            }
            if let Some(first) = run.first() {
                let offset = first.offset;
                let total: usize = run.iter().map(|p| p.data.len()).sum();
                let mut buf = BytesMut::with_capacity(total);
                for p in run.drain(..) {
                    buf.extend_from_slice(&p.data);
                }
                out.push_back(Piece { offset, data: buf.freeze(), small_borrowed: false });
            }
        };
        for piece in old {
            if run.last().is_some_and(|last| last.end() != piece.offset) {
                flush(&mut run, &mut out);
            }
            run.push(piece);
        }
        flush(&mut run, &mut out);
        self.pieces = out;
        self.small_borrowed = 0;
    }

    /// Takes up to `max_len` bytes at the read head, if any are held. Returns their offset.
    pub fn read(&mut self, max_len: usize) -> Option<(u64, Bytes)> {
        if max_len == 0 || !self.is_readable() {
            return None;
        }
        let front = self.pieces.front_mut()?;
        let offset = front.offset;
        let data = if front.data.len() <= max_len {
            let piece = self.pieces.pop_front()?;
            self.small_borrowed -= usize::from(piece.small_borrowed);
            piece.data
        } else {
            let data = front.data.split_to(max_len);
            front.offset += max_len as u64;
            data
        };
        self.bytes_read += data.len() as u64;
        self.buffered -= data.len() as u64;
        Some((offset, data))
    }

    /// Drops everything held (stream reset or STOP_SENDING); returns how many bytes were held.
    pub fn clear(&mut self) -> u64 {
        let held = self.buffered;
        self.pieces.clear();
        self.buffered = 0;
        self.small_borrowed = 0;
        held
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn read_all(a: &mut Assembler) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some((off, data)) = a.read(7) {
            assert_eq!(off as usize, out.len());
            out.extend_from_slice(&data);
        }
        out
    }

    #[test]
    fn in_order_and_out_of_order() {
        let mut a = Assembler::new();
        assert_eq!(a.insert(5, Bytes::from_static(b"fghij")), 5);
        assert!(!a.is_readable());
        assert_eq!(a.insert(0, Bytes::from_static(b"abcde")), 5);
        assert!(a.is_complete_up_to(10));
        assert_eq!(read_all(&mut a), b"abcdefghij");
        assert_eq!(a.bytes_read(), 10);
        // Duplicate of delivered data is ignored.
        assert_eq!(a.insert(0, Bytes::from_static(b"abc")), 0);
        assert_eq!(a.buffered(), 0);
    }

    #[test]
    fn readable_bytes_is_the_run_at_the_read_head() {
        let mut a = Assembler::new();
        a.insert(5, Bytes::from_static(b"fg"));
        assert_eq!(a.readable_bytes(), 0);
        a.insert(0, Bytes::from_static(b"abc"));
        a.insert(3, Bytes::from_static(b"d"));
        assert_eq!(a.readable_bytes(), 4, "abcd; fg waits behind the hole at 4");
        a.insert(4, Bytes::from_static(b"e"));
        assert_eq!(a.readable_bytes(), 7);
        a.read(2);
        assert_eq!(a.readable_bytes(), 5);
    }

    #[test]
    fn overlaps_are_trimmed() {
        let mut a = Assembler::new();
        a.insert(2, Bytes::from_static(b"cd"));
        a.insert(6, Bytes::from_static(b"gh"));
        // Covers both held pieces and the gaps around them.
        assert_eq!(a.insert(0, Bytes::from_static(b"abXXefYYij")), 6);
        assert_eq!(a.buffered(), 10);
        // The first copy wins.
        assert_eq!(read_all(&mut a), b"abcdefghij");
    }

    #[test]
    fn compaction_keeps_data() {
        let mut a = Assembler::new();
        let packet = Bytes::from(vec![7u8; 1500]);
        // Every other byte, so nothing is contiguous.
        for i in 0..(COMPACT_THRESHOLD as u64 * 2) {
            a.insert(1 + 2 * i, packet.slice(0..1));
        }
        assert!(a.small_borrowed <= COMPACT_THRESHOLD);
        assert!(!a.is_complete_up_to(10));
        for i in 0..(COMPACT_THRESHOLD as u64 * 2) {
            a.insert(2 * i, packet.slice(0..1));
        }
        let n = COMPACT_THRESHOLD * 4;
        assert!(a.is_complete_up_to(n as u64));
        assert_eq!(read_all(&mut a), vec![7u8; n]);
    }

    proptest! {
        /// Any pattern of (possibly overlapping, duplicated, reordered) pieces of one byte string,
        /// interleaved with reads, yields exactly that string.
        #[test]
        fn reassembles_any_order(
            len in 1usize..400,
            pieces in proptest::collection::vec((0usize..400, 1usize..50, any::<bool>()), 1..120),
        ) {
            let source: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let source = Bytes::from(source);
            let mut a = Assembler::new();
            let mut out = Vec::new();
            let mut covered = crate::RangeSet::new();
            for (start, l, read_now) in pieces {
                let start = start % len;
                let end = (start + l).min(len);
                a.insert(start as u64, source.slice(start..end));
                covered.insert(start as u64..end as u64);
                prop_assert!(a.buffered() + a.bytes_read() <= len as u64);
                if read_now {
                    while let Some((off, data)) = a.read(13) {
                        prop_assert_eq!(off as usize, out.len());
                        out.extend_from_slice(&data);
                    }
                }
            }
            a.insert(0, source.clone());
            out.extend(read_all_from(&mut a, out.len()));
            prop_assert_eq!(&out[..], &source[..]);
        }
    }

    fn read_all_from(a: &mut Assembler, mut at: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some((off, data)) = a.read(usize::MAX) {
            assert_eq!(off as usize, at);
            at += data.len();
            out.extend_from_slice(&data);
        }
        out
    }
}
