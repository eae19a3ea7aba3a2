//! Unreliable datagrams (RFC 9221): bounded queues in both directions.

use std::collections::VecDeque;

use bytes::Bytes;
use thiserror::Error;

/// Why a datagram could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SendDatagramError {
    /// The peer did not advertise max_datagram_frame_size (RFC 9221 §3).
    #[error("the peer does not accept datagrams")]
    UnsupportedByPeer,
    /// Datagrams are disabled in our configuration.
    #[error("datagrams are disabled locally")]
    Disabled,
    /// The datagram is larger than the peer accepts or than fits in a packet.
    #[error("datagram too large: {size} bytes, at most {max}")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The largest that fits.
        max: usize,
    },
}

/// Queues of outgoing and incoming datagrams, bounded in bytes. When the outgoing queue is full
/// the oldest datagram is dropped (datagrams are unreliable; fresh data matters more).
#[derive(Debug, Default)]
pub struct DatagramQueues {
    outgoing: VecDeque<Bytes>,
    outgoing_bytes: usize,
    incoming: VecDeque<Bytes>,
    incoming_bytes: usize,
    /// Outgoing datagrams dropped because the queue was full.
    pub dropped_outgoing: u64,
    /// Incoming datagrams dropped because the application did not read them.
    pub dropped_incoming: u64,
}

impl DatagramQueues {
    /// Queues `data`, dropping the oldest queued datagrams beyond `limit_bytes`.
    pub fn push_outgoing(&mut self, data: Bytes, limit_bytes: usize) {
        self.outgoing_bytes += data.len();
        self.outgoing.push_back(data);
        while self.outgoing_bytes > limit_bytes {
            match self.outgoing.pop_front() {
                Some(d) => {
                    self.outgoing_bytes -= d.len();
                    self.dropped_outgoing += 1;
                }
                None => break,
            }
        }
    }

    /// The next datagram to send if it fits in `max_len` bytes of payload; a datagram that can
    /// never fit stays until the caller decides (it is the head of line only until the MTU grows).
    pub fn pop_outgoing_if(&mut self, fits: impl FnOnce(&Bytes) -> bool) -> Option<Bytes> {
        if self.outgoing.front().is_some_and(fits) {
            let d = self.outgoing.pop_front()?;
            self.outgoing_bytes -= d.len();
            Some(d)
        } else {
            None
        }
    }

    /// Whether datagrams wait to be sent.
    pub fn has_outgoing(&self) -> bool {
        !self.outgoing.is_empty()
    }

    /// Stores a received datagram, dropping the oldest beyond `limit_bytes`.
    pub fn push_incoming(&mut self, data: Bytes, limit_bytes: usize) {
        self.incoming_bytes += data.len();
        self.incoming.push_back(data);
        while self.incoming_bytes > limit_bytes {
            match self.incoming.pop_front() {
                Some(d) => {
                    self.incoming_bytes -= d.len();
                    self.dropped_incoming += 1;
                }
                None => break,
            }
        }
    }

    /// The oldest received datagram.
    pub fn pop_incoming(&mut self) -> Option<Bytes> {
        let d = self.incoming.pop_front()?;
        self.incoming_bytes -= d.len();
        Some(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_are_bounded() {
        let mut q = DatagramQueues::default();
        for i in 0..10u8 {
            q.push_outgoing(Bytes::from(vec![i; 100]), 350);
        }
        assert_eq!(q.dropped_outgoing, 7);
        assert_eq!(q.pop_outgoing_if(|_| true).unwrap()[0], 7);
        assert!(q.pop_outgoing_if(|d| d.len() < 50).is_none());
        q.push_incoming(Bytes::from_static(b"abc"), 2);
        assert_eq!(q.dropped_incoming, 1);
        assert!(q.pop_incoming().is_none());
    }
}
