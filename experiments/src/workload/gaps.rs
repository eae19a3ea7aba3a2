//! The longest delivery gap of a client application: the longest time, while a request was
//! open, without new response bytes reaching the application (from a request's start to its
//! first bytes, or between two deliveries). A failover's stall shows up here.

use crate::sim::Nanos;

/// Tracks delivery gaps; times are ns since the run began.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryGaps {
    /// Start of the current gap: the last delivery, or a request's start with none open before;
    /// `None` while no request is open.
    progress_at: Option<Nanos>,
    /// Longest gap so far, ns.
    pub longest_ns: Nanos,
    /// When the longest gap ended.
    pub longest_end_ns: Nanos,
}

impl DeliveryGaps {
    /// A request starts at `now`, `open_before` requests being open then.
    pub fn request_started(&mut self, now: Nanos, open_before: usize) {
        if open_before == 0 {
            self.progress_at = Some(now);
        }
    }

    /// Response bytes reached the application, or a request ended, at `now`.
    pub fn progressed(&mut self, now: Nanos) {
        if let Some(since) = self.progress_at {
            let gap = now.saturating_sub(since);
            if gap > self.longest_ns {
                self.longest_ns = gap;
                self.longest_end_ns = now;
            }
        }
        self.progress_at = Some(now);
    }

    /// No request is open any more: waiting for the next one is no gap.
    pub fn idle(&mut self) {
        self.progress_at = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_count_only_while_a_request_is_open() {
        let mut g = DeliveryGaps::default();
        g.request_started(100, 0);
        g.progressed(150);
        g.progressed(400);
        g.idle();
        // Idle time between requests is not a gap.
        g.request_started(1000, 0);
        g.request_started(1010, 1);
        g.progressed(1200);
        assert_eq!((g.longest_ns, g.longest_end_ns), (250, 400));
        g.progressed(1500);
        assert_eq!((g.longest_ns, g.longest_end_ns), (300, 1500));
    }
}
