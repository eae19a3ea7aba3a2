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

use super::PathId;
use crate::shared::StreamId;

/// A copy of stream data waiting to go out on `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PendingCopy {
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
pub(crate) struct Copies {
    /// The copies, in the order they go out.
    pub queue: VecDeque<PendingCopy>,
}

impl Copies {
    /// Whether a copy waits for `to`.
    pub fn has_for(&self, to: PathId) -> bool {
        self.queue.iter().any(|c| c.to == to)
    }

    /// Drops the copies for paths that can no longer carry them (they were only copies).
    pub fn retain_for(&mut self, table: &super::PathTable) {
        self.queue.retain(|c| table.get(&c.to).is_some_and(|p| p.abandoned_at.is_none()));
    }

    /// Whether any copy waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Queues a copy.
    pub fn push(&mut self, copy: PendingCopy) {
        self.queue.push_back(copy);
    }

    /// Queues a duplicate of `range` of stream `id` for `to`, extending that path's last
    /// duplicate when the range continues it. A path that lags behind (its window was full) thus
    /// holds one range per stretch of in-order data rather than one entry per packet, and the
    /// queue stays short however far it lags.
    pub fn push_duplicate(&mut self, to: PathId, id: StreamId, range: Range<u64>, fin: bool) {
        let last_for_path = self.queue.iter_mut().rev().find(|c| c.to == to);
        if let Some(last) = last_for_path {
            if last.kind == SentKind::Duplicate && last.id == id && last.range.end == range.start && !last.fin {
                last.range.end = range.end;
                last.fin = fin;
                return;
            }
        }
        self.queue.push_back(PendingCopy { to, id, range, fin, kind: SentKind::Duplicate });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contiguous_duplicates_merge_per_path() {
        let mut c = Copies::default();
        let s = StreamId(0);
        c.push_duplicate(PathId(1), s, 0..1000, false);
        c.push_duplicate(PathId(2), s, 0..1000, false);
        c.push_duplicate(PathId(1), s, 1000..2000, false);
        c.push_duplicate(PathId(2), s, 1000..2000, true);
        // A gap (a retransmission elsewhere in the stream) starts a new entry.
        c.push_duplicate(PathId(1), s, 5000..6000, false);
        let got: Vec<_> = c.queue.iter().map(|c| (c.to, c.range.clone(), c.fin)).collect();
        assert_eq!(got, vec![(PathId(1), 0..2000, false), (PathId(2), 0..2000, true), (PathId(1), 5000..6000, false)]);
        // Nothing continues past a FIN.
        c.push_duplicate(PathId(2), s, 2000..2000, true);
        assert_eq!(c.queue.len(), 4);
    }
}
