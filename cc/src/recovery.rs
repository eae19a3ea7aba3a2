//! The recovery period shared by loss-based controllers (RFC 9002 §7.3.2): a window is reduced
//! at most once per round trip, and the period ends when a packet sent after it began is
//! acknowledged.

use crate::Instant;

/// Tracks the current recovery period of one controller.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RecoveryPeriod {
    /// When the last reduction happened.
    start: Option<Instant>,
    /// True until a packet sent after `start` is acknowledged.
    active: bool,
}

impl RecoveryPeriod {
    /// Whether a packet sent at `sent_time` belongs to the current recovery period (and so must
    /// not grow the window or trigger another reduction).
    pub(crate) fn covers(&self, sent_time: Instant) -> bool {
        self.start.is_some_and(|start| sent_time <= start)
    }

    /// A reduction happened at `now`.
    pub(crate) fn enter(&mut self, now: Instant) {
        self.start = Some(now);
        self.active = true;
    }

    /// A packet sent at `time_sent` was acknowledged.
    pub(crate) fn on_acked(&mut self, time_sent: Instant) {
        if !self.covers(time_sent) {
            self.active = false;
        }
    }

    /// Forget the period (persistent congestion, undo).
    pub(crate) fn reset(&mut self) {
        *self = Self::default();
    }

    /// True while in a recovery period (for metrics).
    pub(crate) fn is_active(&self) -> bool {
        self.active
    }
}
