//! The sending part of one stream (RFC 9000 §3.1): buffered data until it is acknowledged,
//! what to send next (lost data first, then new data), acknowledgement and loss tracking, the
//! FIN, RESET_STREAM, and the send-side state machine.
//!
//! Data is kept as the [`Bytes`] chunks the application handed over, so sending is slicing:
//! no copy, no allocation per packet once the chunk queue has grown to its working size.

use core::ops::Range;
use std::collections::VecDeque;

use bytes::{Buf, Bytes};

use super::flow_control::SendCredit;
use crate::frame::stream_header_len;
use crate::range_set::RangeSet;
use crate::shared::StreamId;

/// Send-side stream states (RFC 9000 §3.1, Figure 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendState {
    /// Created; nothing sent yet.
    Ready,
    /// Sending data.
    Send,
    /// All data and the FIN were sent; waiting for acknowledgements.
    DataSent,
    /// RESET_STREAM sent; waiting for its acknowledgement.
    ResetSent,
    /// All data and the FIN were acknowledged (terminal).
    DataRecvd,
    /// RESET_STREAM was acknowledged (terminal).
    ResetRecvd,
}

/// Where the FIN of the stream stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fin {
    /// The application has not finished the stream.
    NotSet,
    /// Finished, FIN never sent.
    Pending,
    /// FIN sent, not acknowledged.
    Sent,
    /// The packet carrying the FIN was lost.
    Lost,
    /// FIN acknowledged.
    Acked,
}

/// A piece of stream data to put in a STREAM frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendChunk {
    /// Offset of the first byte.
    pub offset: u64,
    /// The bytes (may be empty for a FIN-only frame).
    pub data: Bytes,
    /// Whether the frame carries the FIN bit.
    pub fin: bool,
}

/// The sending part of one stream.
#[derive(Debug)]
pub struct SendStream {
    state: SendState,
    /// Unacknowledged data, contiguous from `buf_offset` to `write_offset`, each chunk with its
    /// offset.
    buf: VecDeque<(u64, Bytes)>,
    /// Chunks ever removed from the front of `buf`.
    popped: u64,
    /// The chunk the last [`SendStream::slice`] read, counted as `popped` + index: new data is
    /// read in order, so the next read is usually in that chunk or the one after, and the
    /// binary search over `buf` (thousands of chunks when the application writes small pieces)
    /// is skipped.
    slice_hint: core::cell::Cell<u64>,
    /// Everything below this offset is acknowledged and freed.
    buf_offset: u64,
    /// End of the data written by the application.
    write_offset: u64,
    /// Everything below this offset was sent at least once.
    unsent: u64,
    /// Acknowledged ranges above `buf_offset`.
    acked: RangeSet,
    /// Lost ranges waiting to be sent again.
    retransmits: RangeSet,
    /// Ranges already chosen for re-injection on another path, so none is chosen twice.
    reinjected: RangeSet,
    /// The FIN was chosen for re-injection.
    fin_reinjected: bool,
    fin: Fin,
    /// The peer's stream-level limit (MAX_STREAM_DATA, RFC 9000 §4.1).
    pub(super) credit: SendCredit,
    /// Error code and final size of our RESET_STREAM.
    reset: Option<(u64, u64)>,
    /// Error code of the peer's STOP_SENDING.
    stop_code: Option<u64>,
}

/// Room for data in a STREAM frame for `id` at `offset` of at most `max_frame_len` bytes, with
/// an explicit Length field; `None` when not even the header fits.
pub fn stream_frame_room(id: StreamId, offset: u64, max_frame_len: usize) -> Option<usize> {
    max_frame_len.checked_sub(stream_header_len(id, offset, Some(max_frame_len)))
}

impl SendStream {
    /// A new stream the peer lets us send `max_stream_data` bytes on.
    pub fn new(max_stream_data: u64) -> Self {
        Self {
            state: SendState::Ready,
            buf: VecDeque::new(),
            popped: 0,
            slice_hint: core::cell::Cell::new(0),
            buf_offset: 0,
            write_offset: 0,
            unsent: 0,
            acked: RangeSet::new(),
            retransmits: RangeSet::new(),
            reinjected: RangeSet::new(),
            fin_reinjected: false,
            fin: Fin::NotSet,
            credit: SendCredit::new(max_stream_data),
            reset: None,
            stop_code: None,
        }
    }

    /// The current state.
    pub fn state(&self) -> SendState {
        self.state
    }

    /// Bytes written by the application so far (the final size once finished).
    pub fn write_offset(&self) -> u64 {
        self.write_offset
    }

    /// Everything below this offset is acknowledged.
    pub fn acked_offset(&self) -> u64 {
        self.buf_offset
    }

    /// Bytes held until acknowledged.
    pub fn buffered(&self) -> u64 {
        self.write_offset - self.buf_offset
    }

    /// Whether the application may still write or finish.
    pub fn is_writable(&self) -> bool {
        matches!(self.state, SendState::Ready | SendState::Send) && self.fin == Fin::NotSet
    }

    /// The error code of the peer's STOP_SENDING, if it sent one.
    pub fn stop_code(&self) -> Option<u64> {
        self.stop_code
    }

    /// Error code and final size of our RESET_STREAM, if we reset the stream.
    pub fn reset_info(&self) -> Option<(u64, u64)> {
        self.reset
    }

    /// Whether the send side reached a terminal state.
    pub fn is_done(&self) -> bool {
        matches!(self.state, SendState::DataRecvd | SendState::ResetRecvd)
    }

    /// Appends data; the caller limited it to the available credit and buffer room.
    pub fn write(&mut self, data: Bytes) {
        debug_assert!(self.is_writable());
        let len = data.len() as u64;
        if len == 0 {
            return;
        }
        self.credit.consume(len);
        self.buf.push_back((self.write_offset, data));
        self.write_offset += len;
    }

    /// The application finished the stream: a FIN follows the data written so far.
    pub fn finish(&mut self) {
        debug_assert!(self.is_writable());
        self.fin = Fin::Pending;
    }

    /// Abandons the stream with `error_code` (RFC 9000 §3.1: Ready/Send/DataSent -> ResetSent).
    /// Returns the bytes freed from the buffer, or `None` when the stream cannot be reset any
    /// more (already reset, or all data acknowledged).
    pub fn reset(&mut self, error_code: u64) -> Option<u64> {
        if !matches!(self.state, SendState::Ready | SendState::Send | SendState::DataSent) {
            return None;
        }
        // RFC 9000 §4.5: the final size is the credit we consumed. Connection credit is taken
        // when data is first sent, so it is the end of the data sent; later bytes were never
        // sent and are dropped.
        self.reset = Some((error_code, self.unsent));
        self.state = SendState::ResetSent;
        let freed = self.buffered();
        self.popped += self.buf.len() as u64;
        self.buf.clear();
        self.buf_offset = self.write_offset;
        self.acked.clear();
        self.retransmits.clear();
        self.reinjected.clear();
        Some(freed)
    }

    /// The peer sent STOP_SENDING (RFC 9000 §3.5): answer with RESET_STREAM carrying its code.
    /// Returns the freed bytes when the stream is reset now.
    pub fn on_stop_sending(&mut self, error_code: u64) -> Option<u64> {
        if self.stop_code.is_none() {
            self.stop_code = Some(error_code);
        }
        self.reset(error_code)
    }

    /// Our RESET_STREAM was acknowledged: ResetSent -> ResetRecvd.
    pub fn on_reset_acked(&mut self) {
        if self.state == SendState::ResetSent {
            self.state = SendState::ResetRecvd;
        }
    }

    /// Whether lost data (or a lost FIN) waits to be sent again.
    pub fn has_retransmits(&self) -> bool {
        self.state != SendState::ResetSent && (!self.retransmits.is_empty() || self.fin == Fin::Lost)
    }

    /// Whether data never sent (or a FIN never sent) waits.
    pub fn has_new_data(&self) -> bool {
        matches!(self.state, SendState::Ready | SendState::Send)
            && (self.unsent < self.write_offset || self.fin == Fin::Pending)
    }

    /// The data starting at `offset`, up to `max_len` bytes and the end of its chunk.
    fn slice(&self, offset: u64, max_len: usize) -> Bytes {
        let idx = self.chunk_index(offset);
        match self.buf.get(idx) {
            Some((o, b)) if *o <= offset => {
                let start = (offset - o) as usize;
                let end = b.len().min(start + max_len);
                b.slice(start..end)
            }
            _ => Bytes::new(),
        }
    }

    /// The index in `buf` of the chunk holding `offset` (or where it would be): the hinted chunk
    /// or the one after when either holds it, else a binary search.
    fn chunk_index(&self, offset: u64) -> usize {
        let holds = |i: usize| self.buf.get(i).is_some_and(|(o, b)| *o <= offset && offset < o + b.len() as u64);
        let hint = self.slice_hint.get().checked_sub(self.popped).map(|h| h as usize);
        let idx = match hint {
            Some(h) if holds(h) => h,
            Some(h) if holds(h + 1) => h + 1,
            _ => self.buf.partition_point(|(o, b)| o + b.len() as u64 <= offset),
        };
        self.slice_hint.set(self.popped + idx as u64);
        idx
    }

    /// The next lost data to send again, sized for a frame of at most `max_frame_len` bytes.
    pub fn poll_retransmit(&mut self, id: StreamId, max_frame_len: usize) -> Option<SendChunk> {
        if self.state == SendState::ResetSent {
            return None;
        }
        if let Some(range) = self.retransmits.peek_min() {
            let room = stream_frame_room(id, range.start, max_frame_len)?;
            let want = usize::try_from(range.end - range.start).unwrap_or(usize::MAX).min(room);
            if want == 0 {
                return None;
            }
            let data = self.slice(range.start, want);
            if data.is_empty() {
                // Cannot happen: lost ranges are above `buf_offset`. Drop the range defensively.
                self.retransmits.remove(range);
                return None;
            }
            let end = range.start + data.len() as u64;
            self.retransmits.remove(range.start..end);
            let fin = end == self.write_offset && self.fin == Fin::Lost;
            if fin {
                self.fin = Fin::Sent;
            }
            return Some(SendChunk { offset: range.start, data, fin });
        }
        if self.fin == Fin::Lost {
            stream_frame_room(id, self.write_offset, max_frame_len)?;
            self.fin = Fin::Sent;
            return Some(SendChunk { offset: self.write_offset, data: Bytes::new(), fin: true });
        }
        None
    }

    /// The next new data to send, sized for a frame of at most `max_frame_len` bytes and at
    /// most `connection_credit` bytes of data; carries the FIN when it reaches the end of a
    /// finished stream. The caller charges the returned length to the connection credit.
    pub fn poll_new(&mut self, id: StreamId, max_frame_len: usize, connection_credit: u64) -> Option<SendChunk> {
        if !self.has_new_data() {
            return None;
        }
        let offset = self.unsent;
        let room = stream_frame_room(id, offset, max_frame_len)?;
        let data = if offset < self.write_offset {
            let room = usize::try_from(connection_credit).unwrap_or(usize::MAX).min(room);
            if room == 0 {
                return None;
            }
            self.slice(offset, room)
        } else {
            Bytes::new()
        };
        self.unsent += data.len() as u64;
        let fin = self.unsent == self.write_offset && self.fin == Fin::Pending;
        if data.is_empty() && !fin {
            return None;
        }
        // RFC 9000 §3.1: sending the first STREAM frame moves Ready to Send; all data and the FIN
        // sent moves Send to DataSent.
        self.state = SendState::Send;
        if fin {
            self.fin = Fin::Sent;
            self.state = SendState::DataSent;
        }
        Some(SendChunk { offset, data, fin })
    }

    /// The parts of `range` a copy on another path would still be useful for, lowest first: sent
    /// before, not acknowledged, not waiting for retransmission (that sends them anyway) and, for
    /// a re-injection, not chosen for one before.
    pub fn copyable(&self, range: Range<u64>, reinjection: bool) -> impl Iterator<Item = Range<u64>> + '_ {
        let range = range.start.max(self.buf_offset)..range.end.min(self.unsent);
        let live = matches!(self.state, SendState::Send | SendState::DataSent);
        let mut start = range.start;
        core::iter::from_fn(move || {
            if !live {
                return None;
            }
            let sets: [&RangeSet; 3] = [&self.acked, &self.retransmits, &self.reinjected];
            let sets = if reinjection { &sets[..] } else { &sets[..2] };
            let free = first_free(start..range.end, sets)?;
            start = free.end;
            Some(free)
        })
    }

    /// Whether a copy of the FIN would still be useful: it was sent, is not acknowledged nor
    /// waiting for retransmission and, for a re-injection, was not chosen for one before.
    pub fn fin_copyable(&self, reinjection: bool) -> bool {
        self.fin == Fin::Sent && !(reinjection && self.fin_reinjected)
    }

    /// Records that `range` (and the FIN when `fin`) was chosen for re-injection.
    pub fn mark_reinjected(&mut self, range: Range<u64>, fin: bool) {
        if !range.is_empty() {
            self.reinjected.insert(range);
        }
        self.fin_reinjected |= fin;
    }

    /// The next piece of `range` to copy onto another path, sized for a frame of at most
    /// `max_frame_len` bytes; carries the FIN when `fin` (the copied frame had it) and the piece
    /// reaches the end of the stream while the FIN is unacknowledged. Only what
    /// [`SendStream::copyable`] allows (without the re-injection filter: the range was chosen
    /// already). `None` when nothing of `range` is left to copy or no data fits.
    pub fn poll_copy(&self, id: StreamId, range: Range<u64>, fin: bool, max_frame_len: usize) -> Option<SendChunk> {
        let end = range.end;
        if let Some(piece) = self.copyable(range, false).next() {
            let room = stream_frame_room(id, piece.start, max_frame_len)?;
            let want = usize::try_from(piece.end - piece.start).unwrap_or(usize::MAX).min(room);
            let data = self.slice(piece.start, want);
            if data.is_empty() {
                return None;
            }
            let piece_end = piece.start + data.len() as u64;
            let fin = fin && piece_end == end && piece_end == self.write_offset && self.fin == Fin::Sent;
            return Some(SendChunk { offset: piece.start, data, fin });
        }
        // A FIN-only copy.
        (fin && end == self.write_offset
            && self.fin == Fin::Sent
            && stream_frame_room(id, end, max_frame_len).is_some())
        .then(|| SendChunk { offset: end, data: Bytes::new(), fin: true })
    }

    /// A frame carrying `[offset, offset + len)` (and the FIN when `fin`) was acknowledged.
    /// Returns the bytes freed from the buffer and whether this moved the stream to DataRecvd.
    pub fn on_ack(&mut self, offset: u64, len: u64, fin: bool) -> (u64, bool) {
        if matches!(self.state, SendState::ResetSent | SendState::ResetRecvd | SendState::DataRecvd) {
            return (0, false);
        }
        let end = offset.saturating_add(len).min(self.unsent);
        let start = offset.max(self.buf_offset);
        if start < end {
            self.acked.insert(start..end);
            self.retransmits.remove(start..end);
        }
        if fin && self.fin != Fin::NotSet && self.fin != Fin::Pending {
            self.fin = Fin::Acked;
        }
        let mut freed = 0;
        if let Some(first) = self.acked.peek_min().filter(|r| r.start == self.buf_offset) {
            self.acked.pop_min();
            let new_front = first.end;
            freed = new_front - self.buf_offset;
            while let Some((o, b)) = self.buf.front_mut() {
                let chunk_end = *o + b.len() as u64;
                if chunk_end <= new_front {
                    self.buf.pop_front();
                    self.popped += 1;
                } else {
                    if *o < new_front {
                        let skip = (new_front - *o) as usize;
                        b.advance(skip);
                        *o = new_front;
                    }
                    break;
                }
            }
            self.buf_offset = new_front;
            self.reinjected.remove_below(new_front);
        }
        let done = self.state == SendState::DataSent && self.buf_offset == self.write_offset && self.fin == Fin::Acked;
        if done {
            self.state = SendState::DataRecvd;
        }
        (freed, done)
    }

    /// A frame carrying `[offset, offset + len)` (and the FIN when `fin`) was declared lost:
    /// queue whatever of it is not acknowledged yet. Returns whether anything was queued.
    pub fn on_lost(&mut self, offset: u64, len: u64, fin: bool) -> bool {
        if !matches!(self.state, SendState::Send | SendState::DataSent) {
            return false;
        }
        let end = offset.saturating_add(len).min(self.unsent);
        let start = offset.max(self.buf_offset);
        let mut queued = false;
        if start < end {
            for gap in self.acked.gaps_in(start..end) {
                queued |= self.retransmits.insert(gap);
            }
        }
        if fin && self.fin == Fin::Sent {
            self.fin = Fin::Lost;
            queued = true;
        }
        queued
    }
}

/// The lowest sub-range of `range` that is in none of `sets` (it starts at the first free value
/// and ends where the next set begins), or `None` when `sets` cover all of `range`.
fn first_free(range: Range<u64>, sets: &[&RangeSet]) -> Option<Range<u64>> {
    let mut start = range.start;
    'search: while start < range.end {
        let mut free = start..range.end;
        for set in sets {
            // Narrowing keeps `free` inside every earlier set's first gap, so it stays free of them.
            match set.gaps_in(free.clone()).next() {
                Some(gap) => free = gap,
                None => {
                    // This set covers what the earlier ones left: look past it.
                    start = free.end;
                    continue 'search;
                }
            }
        }
        return Some(free);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::{Dir, Side};

    const ID: StreamId = StreamId(0);

    fn stream_with(data: &'static [u8]) -> SendStream {
        let mut s = SendStream::new(1 << 20);
        s.write(Bytes::from_static(data));
        s
    }

    #[test]
    fn state_machine_data_path() {
        let mut s = stream_with(b"hello world");
        assert_eq!(s.state(), SendState::Ready);
        let c = s.poll_new(ID, 8, u64::MAX).unwrap();
        assert_eq!(s.state(), SendState::Send);
        // 8-byte frame: 1 type + 1 id + 1 length = 3 header bytes.
        assert_eq!((c.offset, &c.data[..], c.fin), (0, &b"hello"[..], false));
        s.finish();
        assert!(!s.is_writable());
        let c2 = s.poll_new(ID, 100, u64::MAX).unwrap();
        assert_eq!((c2.offset, &c2.data[..], c2.fin), (5, &b" world"[..], true));
        assert_eq!(s.state(), SendState::DataSent);
        assert!(s.poll_new(ID, 100, u64::MAX).is_none());
        assert_eq!(s.on_ack(5, 6, true), (0, false));
        assert_eq!(s.on_ack(0, 5, false), (11, true));
        assert_eq!(s.state(), SendState::DataRecvd);
        assert!(s.is_done());
        assert_eq!(s.buffered(), 0);
    }

    /// Data written in many small chunks comes out byte for byte in order, whether the read
    /// follows the previous one (the hinted chunk or the next), jumps back for a retransmission,
    /// or continues after acknowledged chunks left the front of the buffer.
    #[test]
    fn small_chunks_read_in_order_across_acks_and_retransmissions() {
        let mut s = SendStream::new(1 << 20);
        let data: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let (mut written, mut i) = (0, 0);
        while written < data.len() {
            i += 1;
            let end = (written + 1 + (i * 37) % 300).min(data.len());
            s.write(Bytes::copy_from_slice(&data[written..end]));
            written = end;
        }
        let mut sent = Vec::new();
        let check = |c: &SendChunk| {
            let o = c.offset as usize;
            assert_eq!(&c.data[..], &data[o..o + c.data.len()], "bytes at {o}");
        };
        while let Some(c) = s.poll_new(ID, 500, u64::MAX) {
            check(&c);
            sent.push((c.offset, c.data.len() as u64));
            if sent.len() % 10 == 0 {
                // Acknowledge everything sent but the last frame (chunks leave the front), and
                // lose an older frame still outstanding (the next read jumps back).
                let (o, l) = sent[sent.len() - 2];
                s.on_ack(0, o + l - 1, false);
                let (lo, ll) = sent[sent.len() - 1];
                s.on_lost(lo, ll, false);
                let r = s.poll_retransmit(ID, 500).expect("the lost frame goes again");
                check(&r);
                assert_eq!(r.offset, lo);
            }
        }
        assert_eq!(s.unsent, data.len() as u64, "everything was sent");
    }

    #[test]
    fn copies_skip_acked_retransmitted_and_reinjected_data() {
        let mut s = stream_with(b"0123456789");
        s.write(Bytes::from_static(b"abc"));
        // 0..10 sent, 10..13 not yet.
        assert_eq!(s.poll_new(ID, 13, u64::MAX).unwrap().data.len(), 10);
        s.on_ack(2, 2, false);
        s.on_lost(6, 1, false);
        let pieces = |s: &SendStream, reinjection| s.copyable(0..13, reinjection).collect::<Vec<_>>();
        assert_eq!(pieces(&s, false), vec![0..2, 4..6, 7..10], "acked, lost and unsent data are left out");
        s.mark_reinjected(4..6, false);
        assert_eq!(pieces(&s, true), vec![0..2, 7..10], "re-injected once only");
        assert_eq!(pieces(&s, false), vec![0..2, 4..6, 7..10], "duplicates do not care");
        let c = s.poll_copy(ID, 4..10, false, 100).unwrap();
        assert_eq!((c.offset, &c.data[..], c.fin), (4, &b"45"[..], false));
        let c = s.poll_copy(ID, 6..10, false, 100).unwrap();
        assert_eq!((c.offset, &c.data[..]), (7, &b"789"[..]), "skips the byte waiting for retransmission");
        // Acknowledged meanwhile: nothing left to copy.
        s.on_ack(7, 3, false);
        assert!(s.poll_copy(ID, 7..10, false, 100).is_none());
    }

    #[test]
    fn copies_carry_the_fin_while_it_is_unacknowledged() {
        let mut s = stream_with(b"0123");
        s.finish();
        assert!(s.poll_new(ID, 100, u64::MAX).unwrap().fin);
        let c = s.poll_copy(ID, 2..4, true, 100).unwrap();
        assert_eq!((c.offset, &c.data[..], c.fin), (2, &b"23"[..], true));
        assert!(s.fin_copyable(true));
        s.mark_reinjected(4..4, true);
        assert!(!s.fin_copyable(true) && s.fin_copyable(false));
        // The data is acknowledged, the FIN is not: a FIN-only copy.
        s.on_ack(0, 4, false);
        let c = s.poll_copy(ID, 4..4, true, 100).unwrap();
        assert_eq!((c.offset, c.data.len(), c.fin), (4, 0, true));
        s.on_ack(4, 0, true);
        assert!(s.poll_copy(ID, 4..4, true, 100).is_none());
    }

    #[test]
    fn loss_retransmits_only_unacked() {
        let mut s = stream_with(b"0123456789");
        s.finish();
        // Headers: 3 bytes at offset 0, 4 bytes at other offsets.
        let a = s.poll_new(ID, 7, u64::MAX).unwrap(); // 0..4
        let b = s.poll_new(ID, 7, u64::MAX).unwrap(); // 4..7
        let c = s.poll_new(ID, 7, u64::MAX).unwrap(); // 7..10 + FIN
        assert!(c.fin);
        s.on_ack(b.offset, b.data.len() as u64, false);
        // A whole-range loss report only queues the unacked parts.
        assert!(s.on_lost(0, 10, true));
        assert!(s.has_retransmits());
        let r1 = s.poll_retransmit(ID, 100).unwrap();
        assert_eq!((r1.offset, &r1.data[..], r1.fin), (a.offset, &b"0123"[..], false));
        let r2 = s.poll_retransmit(ID, 100).unwrap();
        assert_eq!((r2.offset, &r2.data[..], r2.fin), (7, &b"789"[..], true));
        assert!(!s.has_retransmits());
        // A spurious loss of acked data queues nothing.
        s.on_ack(0, 10, true);
        assert!(!s.on_lost(0, 10, true));
        assert_eq!(s.state(), SendState::DataRecvd);
    }

    #[test]
    fn fin_only_frame_lost_and_resent() {
        let mut s = stream_with(b"ab");
        let c = s.poll_new(ID, 100, u64::MAX).unwrap();
        assert!(!c.fin);
        s.finish();
        let f = s.poll_new(ID, 100, u64::MAX).unwrap();
        assert_eq!((f.offset, f.data.len(), f.fin), (2, 0, true));
        s.on_ack(0, 2, false);
        assert!(s.on_lost(2, 0, true));
        let f2 = s.poll_retransmit(ID, 100).unwrap();
        assert_eq!((f2.offset, f2.data.len(), f2.fin), (2, 0, true));
        assert_eq!(s.on_ack(2, 0, true), (0, true));
    }

    #[test]
    fn reset_state_machine() {
        let mut s = stream_with(b"abc");
        s.poll_new(ID, 100, u64::MAX);
        assert_eq!(s.reset(7), Some(3));
        assert_eq!(s.state(), SendState::ResetSent);
        assert_eq!(s.reset_info(), Some((7, 3)));
        assert!(s.reset(8).is_none());
        assert!(!s.on_lost(0, 3, false));
        assert!(s.poll_retransmit(ID, 100).is_none());
        s.on_reset_acked();
        assert_eq!(s.state(), SendState::ResetRecvd);
        assert!(s.is_done());
        // Fully acknowledged streams cannot be reset.
        let mut t = stream_with(b"x");
        t.finish();
        t.poll_new(ID, 100, u64::MAX);
        t.on_ack(0, 1, true);
        assert!(t.on_stop_sending(3).is_none());
        assert_eq!(t.stop_code(), Some(3));
    }

    #[test]
    fn connection_credit_limits_new_data_and_final_size() {
        let mut s = stream_with(b"0123456789");
        let c = s.poll_new(ID, 100, 4).unwrap();
        assert_eq!(&c.data[..], b"0123");
        // No credit: no data frame (a FIN-only frame would need none).
        assert!(s.poll_new(ID, 100, 0).is_none());
        assert!(s.has_new_data());
        // RFC 9000 §4.5: the final size is what was sent, the unsent rest is dropped.
        assert_eq!(s.reset(1), Some(10));
        assert_eq!(s.reset_info(), Some((1, 4)));
        assert!(!s.has_new_data());
    }

    #[test]
    fn fin_only_needs_no_credit() {
        let mut s = SendStream::new(0);
        s.finish();
        let f = s.poll_new(ID, 100, 0).unwrap();
        assert_eq!((f.offset, f.data.len(), f.fin), (0, 0, true));
        assert_eq!(s.state(), SendState::DataSent);
    }

    #[test]
    fn frame_too_small_for_header() {
        let mut s = stream_with(b"abc");
        let id = StreamId::new(Side::Client, Dir::Bi, 1000);
        assert!(s.poll_new(id, 3, u64::MAX).is_none());
        assert_eq!(s.state(), SendState::Ready);
        assert!(s.poll_new(id, 6, u64::MAX).is_some());
    }

    #[test]
    fn chunks_are_slices_across_writes() {
        let mut s = SendStream::new(100);
        s.write(Bytes::from_static(b"abc"));
        s.write(Bytes::from_static(b"defg"));
        let a = s.poll_new(ID, 100, u64::MAX).unwrap();
        let b = s.poll_new(ID, 100, u64::MAX).unwrap();
        assert_eq!((&a.data[..], &b.data[..]), (&b"abc"[..], &b"defg"[..]));
        // Partial ack inside the second chunk frees exactly that much.
        assert_eq!(s.on_ack(0, 5, false).0, 5);
        assert_eq!(s.buffered(), 2);
        s.on_lost(3, 4, false);
        assert_eq!(&s.poll_retransmit(ID, 100).unwrap().data[..], b"fg");
    }
}
