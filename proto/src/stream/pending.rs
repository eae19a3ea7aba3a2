//! Cheap "is anything owed?" checks the connection asks before building a packet.

use super::Streams;

impl Streams {
    /// Whether [`Streams::poll_control`] would return a frame.
    pub fn has_pending_control(&self) -> bool {
        self.max_data_pending
            || self.data_blocked_pending
            || self.max_streams_pending.iter().any(|p| *p)
            || self.streams_blocked_pending.iter().any(|p| *p)
            || !self.control_queue.is_empty()
    }
}
