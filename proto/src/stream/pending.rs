//! Cheap "is anything owed?" checks the connection asks before building a packet.

use super::Streams;
use crate::shared::StreamId;

impl Streams {
    /// Bytes written by the application and never sent yet (a scheduler's queue length).
    pub fn unsent_bytes(&self) -> u64 {
        self.written_total.saturating_sub(self.send_credit.used())
    }

    /// Connection-level credit left for new data (the peer's MAX_DATA minus what we sent).
    pub fn send_credit_available(&self) -> u64 {
        self.send_credit.available()
    }

    /// The send window that data in flight on slow paths can exhaust (BLEST's |M|): the peer's
    /// MAX_DATA minus the bytes it acknowledged, or, when smaller, the same for the stream whose
    /// data goes next (its MAX_STREAM_DATA minus its lowest unacknowledged offset): with few
    /// streams the stream window is the one that binds (RFC 9000 §4.1: both limits apply).
    pub fn send_window(&self) -> u64 {
        let acked = self.written_total.saturating_sub(self.unacked_buffered);
        let connection = self.send_credit.max_data().saturating_sub(acked);
        let stream = self
            .next_send_stream()
            .and_then(|id| self.streams.get(&id))
            .and_then(|s| s.send.as_ref())
            .map_or(u64::MAX, |send| send.credit.max_data().saturating_sub(send.acked_offset()));
        connection.min(stream)
    }

    /// The stream [`Streams::next_stream_chunk`] would take data from next, if any.
    pub fn next_send_stream(&self) -> Option<StreamId> {
        let has = |id: &&StreamId, retransmit: bool| {
            self.streams.get(id).and_then(|s| s.send.as_ref()).is_some_and(|s| {
                if retransmit {
                    s.has_retransmits()
                } else {
                    s.has_new_data()
                }
            })
        };
        self.retransmit_queue
            .iter()
            .find(|id| has(id, true))
            .or_else(|| self.levels.iter().find_map(|(_, q)| q.iter().find(|id| has(id, false))))
            .copied()
    }

    /// Whether [`Streams::poll_control`] would return a frame.
    pub fn has_pending_control(&self) -> bool {
        self.max_data_pending
            || self.data_blocked_pending
            || self.max_streams_pending.iter().any(|p| *p)
            || self.streams_blocked_pending.iter().any(|p| *p)
            || !self.control_queue.is_empty()
    }
}
