//! A pacer: a token bucket in bytes that spreads a controller's window over the round trip
//! (RFC 9002 §7.7) while allowing a bounded burst.
//!
//! The pacer never reads a clock. The transport asks [`Pacer::next_send_time`] before sending a
//! packet and reports the packet with [`Pacer::on_sent`]; both take `now`. Credit is kept in
//! byte-nanoseconds (bytes × 10⁹) so that refilling at any rate is exact integer arithmetic.

use core::time::Duration;

use crate::Instant;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// A token-bucket pacer: `rate` bytes per second, with at most `burst` bytes sent back to back.
#[derive(Debug, Clone)]
pub struct Pacer {
    /// Bytes per second; `None` means "do not pace".
    rate: Option<u64>,
    /// Bucket capacity in bytes.
    burst: u64,
    /// Current credit in bytes × 10⁹.
    credit: u128,
    /// When `credit` was last brought up to date.
    last_update: Instant,
}

impl Pacer {
    /// A pacer sending at `rate` bytes per second (`None`: unpaced) with bursts of at most
    /// `burst` bytes. The bucket starts full, so the first `burst` bytes leave at once.
    pub fn new(now: Instant, rate: Option<u64>, burst: u64) -> Self {
        let burst = burst.max(1);
        Self { rate: rate.map(|r| r.max(1)), burst, credit: u128::from(burst) * NANOS_PER_SEC, last_update: now }
    }

    /// A burst size fit for `max_datagram_size`: RFC 9002 §7.7 suggests limiting bursts to the
    /// initial window; we use ten datagrams (the initial window of RFC 9002 §7.2).
    pub fn default_burst(max_datagram_size: u64) -> u64 {
        10 * max_datagram_size
    }

    /// The pacing rate in bytes per second, if pacing.
    pub fn rate(&self) -> Option<u64> {
        self.rate
    }

    /// The burst limit in bytes.
    pub fn burst(&self) -> u64 {
        self.burst
    }

    /// Changes the rate (bytes per second, `None` to stop pacing). Credit earned so far at the
    /// old rate is kept.
    pub fn set_rate(&mut self, now: Instant, rate: Option<u64>) {
        self.refill(now);
        self.rate = rate.map(|r| r.max(1));
    }

    /// Changes the burst limit in bytes (e.g. after an MTU change); credit above it is dropped.
    pub fn set_burst(&mut self, now: Instant, burst: u64) {
        self.refill(now);
        self.burst = burst.max(1);
        self.credit = self.credit.min(self.capacity());
    }

    /// When a packet of `bytes` may be sent: `None` if it may leave now, or the earliest instant
    /// it may leave. A packet larger than the burst limit leaves once the bucket is full.
    pub fn next_send_time(&self, now: Instant, bytes: u64) -> Option<Instant> {
        let rate = u128::from(self.rate?);
        let credit = self.credit_at(now);
        let needed = (u128::from(bytes) * NANOS_PER_SEC).min(self.capacity());
        if credit >= needed {
            return None;
        }
        // Credit grows by `rate` byte-nanoseconds per nanosecond.
        let wait_nanos = (needed - credit).div_ceil(rate);
        let wait = Duration::from_nanos(u64::try_from(wait_nanos).unwrap_or(u64::MAX));
        Some(now + wait)
    }

    /// A packet of `bytes` was sent at `now`.
    pub fn on_sent(&mut self, now: Instant, bytes: u64) {
        self.refill(now);
        self.credit = self.credit.saturating_sub(u128::from(bytes) * NANOS_PER_SEC);
    }

    fn capacity(&self) -> u128 {
        u128::from(self.burst) * NANOS_PER_SEC
    }

    fn credit_at(&self, now: Instant) -> u128 {
        let Some(rate) = self.rate else { return self.capacity() };
        let elapsed = now.saturating_duration_since(self.last_update).as_nanos();
        self.credit.saturating_add(elapsed.saturating_mul(u128::from(rate))).min(self.capacity())
    }

    fn refill(&mut self, now: Instant) {
        self.credit = self.credit_at(now);
        if now > self.last_update {
            self.last_update = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(m: u64) -> Instant {
        Instant::from_nanos(m * 1_000_000)
    }

    #[test]
    fn burst_then_paced() {
        // 1.2 MB/s: one 1200-byte packet per millisecond; burst of two packets.
        let mut p = Pacer::new(ms(0), Some(1_200_000), 2400);
        assert_eq!(p.next_send_time(ms(0), 1200), None);
        p.on_sent(ms(0), 1200);
        assert_eq!(p.next_send_time(ms(0), 1200), None);
        p.on_sent(ms(0), 1200);
        assert_eq!(p.next_send_time(ms(0), 1200), Some(ms(1)));
        assert_eq!(p.next_send_time(ms(1), 1200), None);
        p.on_sent(ms(1), 1200);
        // Half a millisecond later, half a packet of credit: wait another half.
        assert_eq!(p.next_send_time(Instant::from_nanos(1_500_000), 1200), Some(ms(2)));
        // Long idle: the bucket holds at most the burst.
        assert_eq!(p.next_send_time(ms(100), 2400), None);
        p.on_sent(ms(100), 2400);
        assert_eq!(p.next_send_time(ms(100), 1200), Some(ms(101)));
    }

    #[test]
    fn unpaced_and_oversized() {
        let mut p = Pacer::new(ms(0), None, 1000);
        p.on_sent(ms(0), 50_000);
        assert_eq!(p.next_send_time(ms(0), 50_000), None);
        p.set_rate(ms(0), Some(1_000_000));
        p.on_sent(ms(0), 1000);
        // Larger than the burst: leaves once the bucket is full (1 ms at 1 MB/s).
        assert_eq!(p.next_send_time(ms(0), 5000), Some(ms(1)));
    }

    #[test]
    fn rate_change_keeps_credit() {
        let mut p = Pacer::new(ms(0), Some(1_000_000), 1000);
        p.on_sent(ms(0), 1000);
        p.set_rate(Instant::from_nanos(500_000), Some(2_000_000));
        // 500 bytes earned at the old rate, the other 500 at 2 MB/s take 0.25 ms.
        assert_eq!(p.next_send_time(Instant::from_nanos(500_000), 1000), Some(Instant::from_nanos(750_000)));
        p.set_rate(ms(1), Some(0));
        assert_eq!(p.rate(), Some(1));
    }
}
