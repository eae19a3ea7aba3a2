//! Copies of in-flight stream data on another path: re-injection and duplication.
//!
//! ARCHITECTURE.md: "Re-injection of data from a failing or slow path onto another path is a
//! proto mechanism the scheduler can ask for". When nothing new can be sent, the connection asks
//! the scheduler ([`mpquic_scheduler::SchedulerHandle::poll_reinjection`], bounded by the
//! redundancy cap of [`crate::TransportConfig::redundancy_cap`]) whether to copy data in flight
//! on a slow path onto a faster one (XLINK, Zheng et al. SIGCOMM'21: re-inject the tail of a
//! transfer; Raiciu et al. NSDI'12: opportunistic retransmission when the receive window is what
//! blocks). The scheduler names the paths and the byte budget; the connection picks the bytes:
//!
//! - *oldest first* while flow control or the send buffer holds new data back: the oldest
//!   unacknowledged bytes are what the peer's window waits for (head-of-line blocking);
//! - *newest first* otherwise (the tail: everything is sent): the slow path delivers its queue
//!   from the oldest end, the copies fill it in from the newest end, and the transfer ends where
//!   the two meet instead of when the slow path's queue has drained.
//!
//! A range is chosen for re-injection once. A `Decision::Duplicate` queues a copy of every
//! packet's stream data for the other paths it names. Copies go out on their path before new
//! data; what was acknowledged meanwhile is skipped. Copied bytes are counted in the path's
//! [`crate::PathStats`] and in the scheduler's redundancy budget.

use core::ops::Range;
use std::collections::VecDeque;

use mpquic_scheduler::SentKind;

use super::sent::StreamRange;
use super::{Connection, SentFrames};
use crate::frame::encode_stream_header;
use crate::packet::SpaceId;
use crate::path::PathId;
use crate::shared::StreamId;
use crate::Instant;

/// A copy of stream data waiting to go out on `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PendingCopy {
    /// The path that carries the copy.
    pub to: PathId,
    /// The stream.
    pub id: StreamId,
    /// The bytes still to copy.
    pub range: Range<u64>,
    /// The copied frame carried the FIN.
    pub fin: bool,
    /// Re-injected or duplicated.
    pub kind: SentKind,
}

/// Copies waiting for their path, in the order they go out.
#[derive(Debug, Default)]
pub(super) struct Copies {
    queue: VecDeque<PendingCopy>,
}

impl Copies {
    /// Whether a copy waits for `to`.
    pub fn has_for(&self, to: PathId) -> bool {
        self.queue.iter().any(|c| c.to == to)
    }

    /// Whether any copy waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    fn push(&mut self, copy: PendingCopy) {
        self.queue.push_back(copy);
    }
}

impl Connection {
    /// Asks the scheduler for a re-injection when nothing new can be sent and no copy is waiting,
    /// and queues the bytes chosen for it. Called once per [`Connection::poll_transmit`].
    pub(super) fn plan_reinjection(&mut self, now: Instant) {
        if self.multipath.is_none() || self.paths.len() < 2 || !self.handshake_confirmed {
            return;
        }
        // Copies for a path that can no longer carry them are dropped: they were only copies.
        let paths = &self.paths;
        self.copies.queue.retain(|c| paths.get(&c.to).is_some_and(|p| p.abandoned_at.is_none()));
        if !self.copies.is_empty() || self.streams.has_stream_data() {
            return;
        }
        let (views, conn) = self.scheduler_inputs(now);
        let request = self.scheduler.poll_reinjection(&views, &conn);
        self.path_views = views;
        let Some(r) = request else { return };
        let (from, to) = (PathId(r.from), PathId(r.to));
        let Some(path) = self.paths.get(&from) else { return };
        let oldest_first = self.streams.send_blocked() || path.failed_since.is_some();
        let mut in_flight: Vec<StreamRange> = path
            .recovery
            .outstanding(SpaceId::Data)
            .filter(|p| p.in_flight)
            .flat_map(|p| p.frames.stream.iter().copied())
            .collect();
        if !oldest_first {
            in_flight.reverse();
        }
        let mut budget = r.max_bytes;
        for s in in_flight {
            if budget == 0 {
                break;
            }
            let end = s.offset + s.len;
            let mut pieces = self.streams.copyable(s.id, s.offset..end, s.fin, true);
            if !oldest_first {
                pieces.reverse();
            }
            for piece in pieces {
                if budget == 0 {
                    break;
                }
                let take = (piece.end - piece.start).min(budget);
                let range = if oldest_first { piece.start..piece.start + take } else { piece.end - take..piece.end };
                let fin = s.fin && range.end == end;
                budget -= take;
                self.streams.mark_reinjected(s.id, range.clone(), fin);
                self.copies.push(PendingCopy { to, id: s.id, range, fin, kind: SentKind::Reinjected });
            }
        }
    }

    /// Queues copies of the stream data in `stream` (just sent on one path) for each path of
    /// `to`: the scheduler's `Decision::Duplicate`.
    pub(super) fn queue_duplicates(&mut self, to: &[u32], stream: &[StreamRange]) {
        for &q in to {
            for s in stream {
                self.copies.push(PendingCopy {
                    to: PathId(q),
                    id: s.id,
                    range: s.offset..s.offset + s.len,
                    fin: s.fin,
                    kind: SentKind::Duplicate,
                });
            }
        }
    }

    /// Writes the copies waiting for `path_id` into the packet (up to `limit`), records them in
    /// `frames` and counts them; returns whether any was written.
    pub(super) fn write_copies(
        &mut self,
        path_id: PathId,
        buf: &mut Vec<u8>,
        limit: usize,
        frames: &mut SentFrames,
    ) -> bool {
        let (mut reinjected, mut duplicated) = (0u64, 0u64);
        let mut wrote = false;
        let mut i = 0;
        while i < self.copies.queue.len() {
            let room = limit.saturating_sub(buf.len());
            if room < 8 {
                break;
            }
            let c = &self.copies.queue[i];
            if c.to != path_id {
                i += 1;
                continue;
            }
            let Some(chunk) = self.streams.poll_copy(c.id, c.range.clone(), c.fin, room) else {
                if self.streams.copyable(c.id, c.range.clone(), c.fin, false).is_empty() {
                    // Acknowledged (or retransmitted) meanwhile: nothing left to copy.
                    self.copies.queue.remove(i);
                    continue;
                }
                // Not even a frame header fits: the next packet.
                break;
            };
            wrote = true;
            let len = chunk.data.len() as u64;
            encode_stream_header(buf, c.id, chunk.offset, Some(chunk.data.len()), chunk.fin);
            buf.extend_from_slice(&chunk.data);
            frames.stream.push(StreamRange { id: c.id, offset: chunk.offset, len, fin: chunk.fin });
            match c.kind {
                SentKind::Duplicate => duplicated += len,
                _ => reinjected += len,
            }
            let done = chunk.offset + len >= c.range.end;
            if done {
                self.copies.queue.remove(i);
            } else if let Some(c) = self.copies.queue.get_mut(i) {
                c.range.start = chunk.offset + len;
            }
        }
        if let Some(path) = self.paths.get_mut(&path_id) {
            path.stats.stream_bytes_sent += reinjected + duplicated;
            path.stats.stream_bytes_reinjected += reinjected;
            path.stats.stream_bytes_duplicated += duplicated;
        }
        if reinjected > 0 {
            self.scheduler.on_sent(reinjected, SentKind::Reinjected);
        }
        if duplicated > 0 {
            self.scheduler.on_sent(duplicated, SentKind::Duplicate);
        }
        wrote
    }
}
