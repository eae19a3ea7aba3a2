//! Round-trip time estimation (RFC 9002 §5): `latest_rtt`, `min_rtt`, `smoothed_rtt` and
//! `rttvar` of one path, and the probe timeout base derived from them.

use core::time::Duration;

use crate::Instant;

/// RFC 9002 §6.1.2: kGranularity, the system timer granularity.
pub const GRANULARITY: Duration = Duration::from_millis(1);

/// RFC 9002 §6.2.2: kInitialRtt, the RTT assumed before any sample.
pub const INITIAL_RTT: Duration = Duration::from_millis(333);

/// The RTT estimates of one path (RFC 9002 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RttEstimator {
    latest_rtt: Duration,
    min_rtt: Duration,
    smoothed_rtt: Duration,
    rttvar: Duration,
    /// When the first sample was taken (RFC 9002 §7.6.2: persistent congestion only counts
    /// packets sent after it). `None` before any sample.
    first_sample_time: Option<Instant>,
}

impl Default for RttEstimator {
    fn default() -> Self {
        Self::new(INITIAL_RTT)
    }
}

impl RttEstimator {
    /// An estimator without samples (RFC 9002 §5.3: smoothed_rtt = kInitialRtt,
    /// rttvar = kInitialRtt / 2).
    pub fn new(initial_rtt: Duration) -> Self {
        Self {
            latest_rtt: Duration::ZERO,
            min_rtt: Duration::ZERO,
            smoothed_rtt: initial_rtt,
            rttvar: initial_rtt / 2,
            first_sample_time: None,
        }
    }

    /// Adds one RTT sample `latest_rtt` (= ack time - send time of the largest newly acknowledged
    /// packet), taken at `now`, with the peer-reported `ack_delay`.
    ///
    /// RFC 9002 §5.3: before the handshake is confirmed the peer's `max_ack_delay` is ignored;
    /// after it, `ack_delay` is capped by `max_ack_delay`. The delay is subtracted only when the
    /// result is not below `min_rtt`. `min_rtt` itself never includes the adjustment (§5.2).
    pub fn update(
        &mut self,
        now: Instant,
        latest_rtt: Duration,
        ack_delay: Duration,
        handshake_confirmed: bool,
        max_ack_delay: Duration,
    ) {
        self.latest_rtt = latest_rtt;
        if self.first_sample_time.is_none() {
            // RFC 9002 §5.3: the first sample resets the estimator.
            self.first_sample_time = Some(now);
            self.min_rtt = latest_rtt;
            self.smoothed_rtt = latest_rtt;
            self.rttvar = latest_rtt / 2;
            return;
        }
        // RFC 9002 §5.2: min_rtt is the minimum of unadjusted samples.
        self.min_rtt = self.min_rtt.min(latest_rtt);
        let ack_delay = if handshake_confirmed { ack_delay.min(max_ack_delay) } else { ack_delay };
        let adjusted_rtt = match latest_rtt.checked_sub(ack_delay) {
            Some(adjusted) if adjusted >= self.min_rtt => adjusted,
            _ => latest_rtt,
        };
        let deviation = self.smoothed_rtt.abs_diff(adjusted_rtt);
        self.rttvar = (3 * self.rttvar + deviation) / 4;
        self.smoothed_rtt = (7 * self.smoothed_rtt + adjusted_rtt) / 8;
    }

    /// Persistent congestion was established: RFC 9002 §5.2, min_rtt SHOULD be set to the
    /// newest RTT sample, since the path may have changed (a route, a queue that will not
    /// drain) and an old minimum would stay below every RTT from now on.
    pub fn on_persistent_congestion(&mut self) {
        if self.has_sample() {
            self.min_rtt = self.latest_rtt;
        }
    }

    /// Sets every estimate at once (tests reproducing RFC examples with round numbers).
    #[cfg(test)]
    pub(crate) fn force(&mut self, smoothed: Duration, rttvar: Duration, latest: Duration, first_sample_time: Instant) {
        self.smoothed_rtt = smoothed;
        self.rttvar = rttvar;
        self.latest_rtt = latest;
        self.min_rtt = self.min_rtt.min(latest);
        self.first_sample_time = Some(first_sample_time);
    }

    /// The most recent sample (zero before any).
    pub fn latest(&self) -> Duration {
        self.latest_rtt
    }

    /// `min_rtt` (zero before any sample).
    pub fn min(&self) -> Duration {
        self.min_rtt
    }

    /// `smoothed_rtt`.
    pub fn smoothed(&self) -> Duration {
        self.smoothed_rtt
    }

    /// `rttvar`.
    pub fn rttvar(&self) -> Duration {
        self.rttvar
    }

    /// Whether at least one sample was taken.
    pub fn has_sample(&self) -> bool {
        self.first_sample_time.is_some()
    }

    /// When the first sample was taken.
    pub fn first_sample_time(&self) -> Option<Instant> {
        self.first_sample_time
    }

    /// RFC 9002 §6.2.1: `smoothed_rtt + max(4 * rttvar, kGranularity)`, the probe timeout
    /// before `max_ack_delay` and exponential backoff are added.
    pub fn pto_base(&self) -> Duration {
        self.smoothed_rtt + (4 * self.rttvar).max(GRANULARITY)
    }

    /// RFC 9002 §6.1.2: the time threshold loss delay, `max(kTimeThreshold * max(smoothed_rtt,
    /// latest_rtt), kGranularity)` with kTimeThreshold = `time_threshold_num / time_threshold_den`.
    pub fn loss_delay(&self, time_threshold_num: u32, time_threshold_den: u32) -> Duration {
        let rtt = self.smoothed_rtt.max(self.latest_rtt);
        (rtt * time_threshold_num / time_threshold_den.max(1)).max(GRANULARITY)
    }

    /// The estimates in the form congestion controllers take. Before any sample, `latest` and
    /// `min` report the initial RTT.
    pub fn to_estimates(self) -> mpquic_cc::RttEstimates {
        if !self.has_sample() {
            return mpquic_cc::RttEstimates::initial(self.smoothed_rtt);
        }
        mpquic_cc::RttEstimates {
            latest: self.latest_rtt,
            smoothed: self.smoothed_rtt,
            rttvar: self.rttvar,
            min: self.min_rtt,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(x: u64) -> Duration {
        Duration::from_millis(x)
    }

    #[test]
    fn initial_values() {
        let rtt = RttEstimator::default();
        assert_eq!(rtt.smoothed(), ms(333));
        assert_eq!(rtt.rttvar(), Duration::from_micros(166_500));
        assert!(!rtt.has_sample());
        // 333 + 4 * 166.5 = 999 ms.
        assert_eq!(rtt.pto_base(), ms(999));
        assert_eq!(rtt.to_estimates().min, ms(333));
    }

    #[test]
    fn first_sample_ignores_ack_delay() {
        let mut rtt = RttEstimator::default();
        rtt.update(Instant::from_nanos(7), ms(100), ms(20), true, ms(25));
        assert_eq!((rtt.latest(), rtt.min(), rtt.smoothed(), rtt.rttvar()), (ms(100), ms(100), ms(100), ms(50)));
        assert_eq!(rtt.first_sample_time(), Some(Instant::from_nanos(7)));
        assert_eq!(rtt.pto_base(), ms(300));
    }

    #[test]
    fn hand_computed_sequence() {
        let mut rtt = RttEstimator::default();
        rtt.update(Instant::ZERO, ms(100), ms(0), true, ms(25));
        // Second sample 140 ms with ack_delay 20 ms: adjusted = 120 (>= min 100).
        // rttvar = 3/4 * 50 + 1/4 * |100 - 120| = 37.5 + 5 = 42.5
        // smoothed = 7/8 * 100 + 1/8 * 120 = 102.5
        rtt.update(Instant::ZERO, ms(140), ms(20), true, ms(25));
        assert_eq!(rtt.smoothed(), Duration::from_micros(102_500));
        assert_eq!(rtt.rttvar(), Duration::from_micros(42_500));
        assert_eq!(rtt.min(), ms(100));
        // Third sample 90 ms: new min 90, ack_delay 10 would give 80 < min, so unadjusted 90.
        // rttvar = 3/4 * 42.5 + 1/4 * 12.5 = 31.875 + 3.125 = 35
        // smoothed = 7/8 * 102.5 + 1/8 * 90 = 89.6875 + 11.25 = 100.9375
        rtt.update(Instant::ZERO, ms(90), ms(10), true, ms(25));
        assert_eq!(rtt.min(), ms(90));
        assert_eq!(rtt.rttvar(), Duration::from_micros(35_000));
        assert_eq!(rtt.smoothed(), Duration::from_nanos(100_937_500));
    }

    #[test]
    fn ack_delay_capped_only_after_confirmation() {
        let mut a = RttEstimator::default();
        a.update(Instant::ZERO, ms(100), ms(0), false, ms(25));
        let mut b = a;
        // Sample 200 ms with ack_delay 60 ms and max_ack_delay 25 ms.
        a.update(Instant::ZERO, ms(200), ms(60), false, ms(25)); // adjusted 140
        b.update(Instant::ZERO, ms(200), ms(60), true, ms(25)); // adjusted 175
        assert_eq!(a.smoothed(), Duration::from_micros(105_000)); // 87.5 + 17.5
        assert_eq!(b.smoothed(), Duration::from_micros(109_375)); // 87.5 + 21.875
    }

    #[test]
    fn loss_delay_and_granularity() {
        let mut rtt = RttEstimator::default();
        rtt.update(Instant::ZERO, ms(80), ms(0), true, ms(25));
        assert_eq!(rtt.loss_delay(9, 8), ms(90));
        rtt.update(Instant::ZERO, Duration::from_micros(1), ms(0), true, ms(25));
        let mut tiny = RttEstimator::new(Duration::from_micros(10));
        tiny.update(Instant::ZERO, Duration::from_micros(10), ms(0), true, ms(0));
        assert_eq!(tiny.loss_delay(9, 8), GRANULARITY);
        assert_eq!(tiny.pto_base(), Duration::from_micros(10) + GRANULARITY);
    }
}
