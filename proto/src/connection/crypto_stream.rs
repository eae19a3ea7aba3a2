//! The CRYPTO data of one encryption level (RFC 9000 §19.6, RFC 9001 §4): outgoing TLS bytes with
//! their retransmission state, and incoming bytes reassembled in order for TLS.
//!
//! Handshake data is small (a few kilobytes), so outgoing bytes are simply kept until
//! acknowledged; losses put their range back in a retransmission set.

use bytes::Bytes;

use crate::coding::varint_size;
use crate::range_set::RangeSet;
use crate::stream::Assembler;

/// Most CRYPTO bytes we buffer out of order per level (RFC 9000 §7.5: at least 4096).
pub const MAX_CRYPTO_BUFFER: u64 = 64 * 1024;

/// One level's CRYPTO stream.
#[derive(Debug, Default)]
pub struct CryptoStream {
    /// Every byte written so far (offset 0 onward).
    sent_data: Vec<u8>,
    /// Offset of the next never-sent byte.
    next_offset: u64,
    /// Ranges declared lost and not yet resent.
    retransmit: RangeSet,
    /// Ranges acknowledged.
    acked: RangeSet,
    /// Incoming data.
    pub recv: Assembler,
}

impl CryptoStream {
    /// Queues TLS bytes to send.
    pub fn write(&mut self, data: &[u8]) {
        self.sent_data.extend_from_slice(data);
    }

    /// Whether anything waits to be (re)sent.
    pub fn has_pending(&self) -> bool {
        !self.retransmit.is_empty() || self.next_offset < self.sent_data.len() as u64
    }

    /// Takes the next piece to send that fits in a CRYPTO frame of at most `max_frame_len`
    /// bytes: retransmissions first. Returns (offset, data).
    pub fn poll(&mut self, max_frame_len: usize) -> Option<(u64, Bytes)> {
        let (start, end) = if let Some(r) = self.retransmit.peek_min() {
            (r.start, r.end)
        } else if self.next_offset < self.sent_data.len() as u64 {
            (self.next_offset, self.sent_data.len() as u64)
        } else {
            return None;
        };
        // Type byte + offset + length field (at most 2 bytes for handshake-sized data).
        let overhead = 1 + varint_size(start) + varint_size((end - start).min(16383));
        let room = max_frame_len.checked_sub(overhead).filter(|r| *r > 0)? as u64;
        let end = end.min(start + room);
        self.retransmit.remove(start..end);
        self.next_offset = self.next_offset.max(end);
        Some((start, Bytes::copy_from_slice(&self.sent_data[start as usize..end as usize])))
    }

    /// A CRYPTO frame we sent was acknowledged.
    pub fn on_acked(&mut self, offset: u64, len: u64) {
        self.acked.insert(offset..offset + len);
        self.retransmit.remove(offset..offset + len);
    }

    /// A CRYPTO frame we sent was lost: resend what of it is not acknowledged.
    pub fn on_lost(&mut self, offset: u64, len: u64) {
        let gaps: smallvec::SmallVec<[core::ops::Range<u64>; 4]> = self.acked.gaps_in(offset..offset + len).collect();
        for gap in gaps {
            self.retransmit.insert(gap);
        }
    }

    /// Whether some data sent is not acknowledged yet.
    pub fn has_unacked(&self) -> bool {
        self.next_offset > 0 && self.acked.gaps_in(0..self.next_offset).next().is_some()
    }

    /// Resends everything not acknowledged (PTO probes before the handshake completes,
    /// RFC 9002 §6.2.4).
    pub fn requeue_unacked(&mut self) {
        let sent = self.next_offset;
        if sent == 0 {
            return;
        }
        let gaps: smallvec::SmallVec<[core::ops::Range<u64>; 4]> = self.acked.gaps_in(0..sent).collect();
        for gap in gaps {
            self.retransmit.insert(gap);
        }
    }

    /// Forgets everything sent (after a Retry the client starts its Initial over, RFC 9000 §17.2.5.2).
    pub fn restart(&mut self) {
        self.next_offset = 0;
        self.retransmit.clear();
        self.acked.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_ranges_are_resent_once() {
        let mut s = CryptoStream::default();
        s.write(&[7; 3000]);
        let (o1, d1) = s.poll(1000).unwrap();
        let (o2, d2) = s.poll(1000).unwrap();
        assert_eq!(o1, 0);
        assert_eq!(o2, d1.len() as u64);
        s.on_acked(o2, d2.len() as u64);
        s.on_lost(0, 3000);
        let (o, d) = s.poll(5000).unwrap();
        assert_eq!((o, d.len() as u64), (0, o2));
        let (o, _) = s.poll(5000).unwrap();
        assert_eq!(o, o2 + d2.len() as u64);
        assert!(s.poll(5000).is_none());
    }
}
