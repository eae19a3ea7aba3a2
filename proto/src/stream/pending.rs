//! Cheap "is anything owed?" checks the connection asks before building a packet.

use super::Streams;

impl Streams {
    /// Bytes written by the application and never sent yet (a scheduler's queue length).
    pub fn unsent_bytes(&self) -> u64 {
        self.written_total.saturating_sub(self.send_credit.used())
    }

    /// Connection-level credit left for new data (the peer's MAX_DATA minus what we sent).
    pub fn send_credit_available(&self) -> u64 {
        self.send_credit.available()
    }

    /// The peer's MAX_DATA minus the bytes it acknowledged: the connection-level send window
    /// that data in flight on slow paths can exhaust (BLEST's |M|).
    pub fn send_window(&self) -> u64 {
        let acked = self.written_total.saturating_sub(self.unacked_buffered);
        self.send_credit.max_data().saturating_sub(acked)
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
