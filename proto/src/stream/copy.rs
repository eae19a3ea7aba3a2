//! Copies of stream data already in flight, for another path: re-injection (a scheduler asks
//! for the data of a slow or failing path to be sent again elsewhere, XLINK-style) and
//! duplication (`Decision::Duplicate`). The connection decides which ranges and where; this
//! module says which parts of them are still worth copying and hands out the bytes.
//!
//! A copy is not a retransmission: nothing was lost, so congestion control is not told and the
//! original stays in flight. Whichever copy is acknowledged first frees the data; the loss of
//! either is handled like any loss (the data is sent again if still unacknowledged).

use core::ops::Range;

use super::{SendChunk, Streams};
use crate::shared::StreamId;

impl Streams {
    /// The parts of `[offset, offset + len)` of `id` a copy would still be useful for, lowest
    /// first (see [`super::SendStream::copyable`]); `fin` asks about the FIN too, which comes
    /// back as a final empty range at the end of the stream when its copy is useful.
    pub fn copyable(&self, id: StreamId, range: Range<u64>, fin: bool, reinjection: bool) -> Vec<Range<u64>> {
        let Some(send) = self.streams.get(&id).and_then(|s| s.send.as_ref()) else { return Vec::new() };
        let mut out: Vec<Range<u64>> = send.copyable(range.clone(), reinjection).collect();
        let end = send.write_offset();
        if fin && range.end == end && send.fin_copyable(reinjection) && out.last().is_none_or(|r| r.end < end) {
            out.push(end..end);
        }
        out
    }

    /// Records that `range` of `id` (and its FIN when `fin`) was chosen for re-injection, so it
    /// is not chosen again.
    pub fn mark_reinjected(&mut self, id: StreamId, range: Range<u64>, fin: bool) {
        if let Some(send) = self.streams.get_mut(&id).and_then(|s| s.send.as_mut()) {
            send.mark_reinjected(range, fin);
        }
    }

    /// The next piece of a copy of `range` of `id` for a STREAM frame of at most `max_frame_len`
    /// bytes (see [`super::SendStream::poll_copy`]); `None` when nothing of it is left to copy.
    pub fn poll_copy(&self, id: StreamId, range: Range<u64>, fin: bool, max_frame_len: usize) -> Option<SendChunk> {
        self.streams.get(&id).and_then(|s| s.send.as_ref())?.poll_copy(id, range, fin, max_frame_len)
    }

    /// Whether new data is held back by flow control or the send buffer rather than by the
    /// application: the connection credit is used up with data still unsent, or a write was
    /// refused and its stream has not been told it may write again.
    pub fn send_blocked(&self) -> bool {
        (self.send_credit.available() == 0 && self.unsent_bytes() > 0) || !self.write_blocked.is_empty()
    }
}
