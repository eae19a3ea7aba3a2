//! A token-bucket pacer for one path (RFC 9002 §7.7).
//!
//! Tokens are bytes. They refill at the pacing rate, `N * congestion_window / smoothed_rtt`
//! with N = 1.25 (RFC 9002 §7.7) unless the congestion controller asks for its own rate, and
//! accumulate up to a burst of about ten datagrams (never more than the window), so that a
//! sender idle for a while may send a short burst but not a whole window at once.

use core::time::Duration;

use crate::Instant;

/// Packets allowed back to back after an idle period.
pub const BURST_PACKETS: u64 = 10;

/// RFC 9002 §7.7: N = 1.25, as a fraction.
const PACING_GAIN_NUM: u128 = 5;
const PACING_GAIN_DEN: u128 = 4;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Token bucket pacing one path's packets.
#[derive(Debug, Clone)]
pub struct Pacer {
    /// Bytes that may be sent now.
    tokens: u64,
    /// Last time tokens were added.
    last_refill: Option<Instant>,
}

impl Default for Pacer {
    fn default() -> Self {
        Self::new()
    }
}

impl Pacer {
    /// A pacer with an empty history; the first packets go out as a burst.
    pub fn new() -> Self {
        Self { tokens: u64::MAX, last_refill: None }
    }

    /// The pacing rate in bytes per second: `rate` if the controller set one, else
    /// 1.25 * `window` / `smoothed_rtt` (RFC 9002 §7.7).
    pub fn rate(window: u64, smoothed_rtt: Duration, rate: Option<u64>) -> u64 {
        if let Some(r) = rate {
            return r;
        }
        let rtt_nanos = smoothed_rtt.as_nanos().max(1);
        let r = u128::from(window) * NANOS_PER_SEC * PACING_GAIN_NUM / (PACING_GAIN_DEN * rtt_nanos);
        u64::try_from(r).unwrap_or(u64::MAX)
    }

    fn capacity(window: u64, max_datagram_size: u64) -> u64 {
        (BURST_PACKETS * max_datagram_size).min(window).max(max_datagram_size)
    }

    fn refill(&mut self, now: Instant, capacity: u64, rate: u64) {
        let Some(last) = self.last_refill else {
            self.tokens = capacity;
            self.last_refill = Some(now);
            return;
        };
        let elapsed = now.saturating_duration_since(last).as_nanos();
        let added = u128::from(rate) * elapsed / NANOS_PER_SEC;
        if added > 0 || self.tokens >= capacity {
            // Fractions of a byte are dropped; at the rates QUIC uses this is noise.
            self.tokens = u64::try_from(u128::from(self.tokens) + added).unwrap_or(u64::MAX).min(capacity);
            self.last_refill = Some(now);
        }
    }

    /// When a packet of `bytes` may be sent: `None` for now, else the time enough tokens will
    /// have accumulated. `window` and `max_datagram_size` size the burst; `rate` is from
    /// [`Pacer::rate`].
    pub fn delay(
        &mut self,
        now: Instant,
        bytes: u64,
        window: u64,
        max_datagram_size: u64,
        rate: u64,
    ) -> Option<Instant> {
        let capacity = Self::capacity(window, max_datagram_size);
        self.refill(now, capacity, rate);
        let needed = bytes.min(capacity);
        if self.tokens >= needed {
            return None;
        }
        if rate == 0 {
            return Some(Instant::from_nanos(u64::MAX));
        }
        let missing = u128::from(needed - self.tokens);
        let wait_nanos = (missing * NANOS_PER_SEC).div_ceil(u128::from(rate));
        let since_refill = now.saturating_duration_since(self.last_refill.unwrap_or(now)).as_nanos();
        let wait = u64::try_from(wait_nanos.saturating_sub(since_refill)).unwrap_or(u64::MAX);
        Some(now + Duration::from_nanos(wait.max(1)))
    }

    /// A packet of `bytes` was sent at `now`.
    pub fn on_sent(&mut self, bytes: u64) {
        self.tokens = self.tokens.saturating_sub(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_rate_is_five_quarters_of_window_per_rtt() {
        // 12000 bytes per 100 ms -> 120 kB/s, * 1.25 = 150 kB/s.
        assert_eq!(Pacer::rate(12_000, Duration::from_millis(100), None), 150_000);
        assert_eq!(Pacer::rate(12_000, Duration::from_millis(100), Some(7)), 7);
    }

    #[test]
    fn burst_then_paced() {
        let mut p = Pacer::new();
        let mds = 1200;
        let window = 100 * mds;
        let rate = 1_200_000; // one datagram per millisecond
        let now = Instant::from_nanos(1_000_000_000);
        for _ in 0..BURST_PACKETS {
            assert_eq!(p.delay(now, mds, window, mds, rate), None);
            p.on_sent(mds);
        }
        let next = p.delay(now, mds, window, mds, rate).expect("bucket empty");
        assert_eq!(next, now + Duration::from_millis(1));
        // Half a millisecond later the wait is shorter, then the packet is allowed.
        let half = now + Duration::from_micros(500);
        assert_eq!(p.delay(half, mds, window, mds, rate), Some(now + Duration::from_millis(1)));
        assert_eq!(p.delay(next, mds, window, mds, rate), None);
        p.on_sent(mds);
        // After a long idle time the bucket holds at most the burst.
        let later = next + Duration::from_secs(10);
        for _ in 0..BURST_PACKETS {
            assert_eq!(p.delay(later, mds, window, mds, rate), None);
            p.on_sent(mds);
        }
        assert!(p.delay(later, mds, window, mds, rate).is_some());
    }
}
