//! The windowed filters of BBR's model (draft-ietf-ccwg-bbr §5.5.4 and §5.3.2): a maximum over
//! the last two ProbeBW cycles for the bottleneck bandwidth, and a minimum over time for RTT.

use core::time::Duration;

use crate::Instant;

/// BBR.max_bw's filter: the maximum delivery rate over the last `MaxBwFilterLen` = 2 ProbeBW
/// cycles (draft-ietf-ccwg-bbr §5.5.4). Two slots: the current cycle and the previous one.
#[derive(Debug, Clone, Copy, Default)]
pub struct MaxBwFilter {
    /// `slots[0]`: the current cycle's maximum; `slots[1]`: the previous cycle's.
    slots: [f64; 2],
}

impl MaxBwFilter {
    /// Feeds one delivery-rate sample (bytes per second) and returns the filtered maximum.
    pub fn update(&mut self, sample: f64) -> f64 {
        if sample > self.slots[0] {
            self.slots[0] = sample;
        }
        self.get()
    }

    /// A new ProbeBW cycle began: the oldest cycle's maximum ages out.
    pub fn advance(&mut self) {
        self.slots[1] = self.slots[0];
        self.slots[0] = 0.0;
    }

    /// The maximum over the window.
    pub fn get(&self) -> f64 {
        self.slots[0].max(self.slots[1])
    }
}

/// BBR.min_rtt and the shorter-lived ProbeRTT minimum (draft-ietf-ccwg-bbr §5.3.2-5.3.3).
#[derive(Debug, Clone, Copy)]
pub struct MinRttFilter {
    /// BBR.min_rtt and when it was measured.
    pub min_rtt: Option<(Duration, Instant)>,
    /// BBR.probe_rtt_min_delay and BBR.probe_rtt_min_stamp.
    pub probe_rtt_min: Option<(Duration, Instant)>,
    /// MinRTTFilterLen.
    pub filter_len: Duration,
    /// ProbeRTTInterval.
    pub probe_rtt_interval: Duration,
}

impl MinRttFilter {
    /// An empty filter with the given window lengths.
    pub fn new(filter_len: Duration, probe_rtt_interval: Duration) -> Self {
        Self { min_rtt: None, probe_rtt_min: None, filter_len, probe_rtt_interval }
    }

    /// Whether the ProbeRTT minimum is older than ProbeRTTInterval.
    pub fn probe_rtt_expired(&self, now: Instant) -> bool {
        self.probe_rtt_min.is_some_and(|(_, stamp)| now > stamp + self.probe_rtt_interval)
    }

    /// BBRUpdateMinRTT (draft-ietf-ccwg-bbr §5.3.3) with one RTT sample.
    pub fn update(&mut self, now: Instant, rtt: Duration) {
        let expired = self.probe_rtt_expired(now);
        if self.probe_rtt_min.is_none_or(|(d, _)| rtt < d) || expired {
            self.probe_rtt_min = Some((rtt, now));
        }
        let min_rtt_expired = self.min_rtt.is_some_and(|(_, stamp)| now > stamp + self.filter_len);
        if let Some((probe_delay, probe_stamp)) = self.probe_rtt_min {
            if self.min_rtt.is_none_or(|(d, _)| probe_delay < d) || min_rtt_expired {
                self.min_rtt = Some((probe_delay, probe_stamp));
            }
        }
    }

    /// BBR.min_rtt.
    pub fn get(&self) -> Option<Duration> {
        self.min_rtt.map(|(d, _)| d)
    }

    /// ProbeRTT completed at `now`: the ProbeRTT minimum counts as fresh (§5.3.4.4).
    pub fn refresh_probe_rtt_stamp(&mut self, now: Instant) {
        if let Some((_, stamp)) = self.probe_rtt_min.as_mut() {
            *stamp = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_bw_ages_out_after_two_cycles() {
        let mut f = MaxBwFilter::default();
        assert_eq!(f.update(100.0), 100.0);
        assert_eq!(f.update(50.0), 100.0);
        f.advance();
        assert_eq!(f.update(60.0), 100.0, "previous cycle still counts");
        f.advance();
        assert_eq!(f.get(), 60.0, "two cycles later the old maximum is gone");
        assert_eq!(f.update(70.0), 70.0);
    }

    #[test]
    fn min_rtt_expires_after_filter_len() {
        let s = |x: u64| Instant::from_nanos(x * 1_000_000_000);
        let ms = Duration::from_millis;
        let mut f = MinRttFilter::new(Duration::from_secs(10), Duration::from_secs(5));
        f.update(s(0), ms(50));
        f.update(s(1), ms(80));
        assert_eq!(f.get(), Some(ms(50)));
        assert!(!f.probe_rtt_expired(s(5)));
        assert!(f.probe_rtt_expired(s(6)));
        // After 5 s the ProbeRTT minimum takes the new sample; after 10 s so does min_rtt.
        f.update(s(6), ms(80));
        assert_eq!(f.probe_rtt_min.map(|p| p.0), Some(ms(80)));
        assert_eq!(f.get(), Some(ms(50)));
        f.update(s(11), ms(90));
        assert_eq!(f.get(), Some(ms(80)));
        f.update(s(12), ms(40));
        assert_eq!(f.get(), Some(ms(40)));
    }
}
