//! CUBIC (RFC 9438), with HyStart++ (RFC 9406) as an option, and the emulation of N
//! connections of Chromium's QUIC CUBIC (and so of quic-go's, which ported it) as another.
//!
//! The RFC counts windows in segments; QUIC counts bytes. We keep every window in bytes and
//! convert each formula by one factor of the maximum datagram size (MSS below): W_cubic(t) in
//! bytes is `C·MSS·(t−K)³ + W_max`, `K = ∛((W_max − cwnd_epoch)/(C·MSS))`, and a per-segment
//! increase `Δ/cwnd` becomes `Δ·bytes_acked/cwnd` for a batch of `bytes_acked` bytes. Fractions
//! of a byte are carried over between ACKs so that small increases are not lost to rounding.

use std::sync::Arc;

use crate::controller::{
    initial_window, minimum_window, AckedPacket, CongestionEvent, Controller, ControllerFactory, Metrics, PathInfo,
    Paths, RttEstimates, SentPacket,
};
use crate::hystart::{HyStart, HyStartAction, HyStartPhase};
use crate::recovery::RecoveryPeriod;
use crate::Instant;
use core::time::Duration;

/// C (RFC 9438 §5.1), in segments per second³.
pub const C: f64 = 0.4;
/// β_cubic (RFC 9438 §4.6).
pub const BETA_CUBIC: f64 = 0.7;
/// α_cubic = 3·(1 − β_cubic)/(1 + β_cubic) (RFC 9438 §4.3).
pub const ALPHA_CUBIC: f64 = 3.0 * (1.0 - BETA_CUBIC) / (1.0 + BETA_CUBIC);

/// The state a reduction replaces, kept for undo after a spurious congestion event
/// (RFC 9438 §4.9).
#[derive(Debug, Clone, Copy)]
struct Saved {
    cwnd: u64,
    ssthresh: u64,
    w_max: f64,
    k: f64,
    epoch_start: Option<Instant>,
    cwnd_epoch: f64,
    w_est: f64,
    cwnd_prior: f64,
}

/// A CUBIC controller (RFC 9438) for one path.
#[derive(Debug, Clone)]
pub struct Cubic {
    max_datagram_size: u64,
    cwnd: u64,
    ssthresh: u64,
    /// Fractional bytes of window increase not yet applied.
    cwnd_carry: f64,
    /// W_max (RFC 9438 §4.2), bytes: the window just before the last reduction.
    w_max: f64,
    /// K (RFC 9438 §4.2), seconds.
    k: f64,
    /// Start of the current congestion-avoidance epoch (RFC 9438 §4.2), if one began.
    epoch_start: Option<Instant>,
    /// cwnd at the start of the epoch, bytes.
    cwnd_epoch: f64,
    /// W_est (RFC 9438 §4.3), bytes.
    w_est: f64,
    /// cwnd_prior (RFC 9438 §4.6): the window before the last reduction, bytes.
    cwnd_prior: f64,
    recovery: RecoveryPeriod,
    /// Set while application-limited: the window does not grow (RFC 9438 §5.8, RFC 9002 §7.8).
    app_limited_since: Option<Instant>,
    undo: Option<Saved>,
    hystart: Option<HyStart>,
    /// How many CUBIC flows this one emulates (1: RFC 9438).
    emulated_flows: u32,
}

impl Cubic {
    /// A CUBIC controller for a path whose maximum datagram size is `max_datagram_size`.
    pub fn new(max_datagram_size: u64) -> Self {
        let cwnd = initial_window(max_datagram_size);
        Self {
            max_datagram_size,
            cwnd,
            ssthresh: u64::MAX,
            cwnd_carry: 0.0,
            w_max: 0.0,
            k: 0.0,
            epoch_start: None,
            cwnd_epoch: cwnd as f64,
            w_est: cwnd as f64,
            cwnd_prior: cwnd as f64,
            recovery: RecoveryPeriod::default(),
            app_limited_since: None,
            undo: None,
            hystart: None,
            emulated_flows: 1,
        }
    }

    /// Emulates `flows` CUBIC connections (at least 1), as Chromium's QUIC CUBIC does with its
    /// `num_connections` and quic-go (2017, the stack of the CoNEXT'17 paper) with 2: the window
    /// is multiplied by β_N = (N − 1 + β_cubic)/N on loss (0.85 for two flows, 0.7 for one),
    /// fast convergence keeps (N − 1 + 0.85)/N of it (RFC 9438 §4.7's (1 + β)/2 for one), and
    /// the Reno-friendly estimate grows by α_N = 3·N²·(1 − β_N)/(1 + β_N) (RFC 9438 §4.3 for
    /// N flows), or by N segments per round trip once it passed the old window.
    pub fn with_emulated_flows(mut self, flows: u32) -> Self {
        self.emulated_flows = flows.max(1);
        self
    }

    /// β for the emulated flows: β_cubic for one (RFC 9438 §4.6).
    pub fn beta(&self) -> f64 {
        let n = f64::from(self.emulated_flows);
        (n - 1.0 + BETA_CUBIC) / n
    }

    /// The share of the window that fast convergence keeps as W_max (RFC 9438 §4.7).
    fn beta_last_max(&self) -> f64 {
        let n = f64::from(self.emulated_flows);
        (n - 1.0 + (1.0 + BETA_CUBIC) / 2.0) / n
    }

    /// Enables or disables HyStart++ (RFC 9406) in slow start.
    pub fn with_hystart(mut self, enabled: bool) -> Self {
        self.hystart = enabled.then(HyStart::new);
        self
    }

    /// A factory building CUBIC controllers (HyStart++ when `hystart`).
    pub fn factory(hystart: bool) -> Arc<dyn ControllerFactory> {
        Arc::new(CubicFactory { hystart, ..CubicFactory::default() })
    }

    /// W_cubic(t) in bytes (RFC 9438 §4.2, Figure 1), `t` after the start of the epoch.
    pub fn w_cubic(&self, t: Duration) -> f64 {
        let d = t.as_secs_f64() - self.k;
        C * self.max_datagram_size as f64 * d * d * d + self.w_max
    }

    /// K in seconds (RFC 9438 §4.2, Figure 2).
    pub fn k(&self) -> f64 {
        self.k
    }

    /// W_max in bytes.
    pub fn w_max(&self) -> f64 {
        self.w_max
    }

    /// W_est in bytes (RFC 9438 §4.3).
    pub fn w_est(&self) -> f64 {
        self.w_est
    }

    fn min_window(&self) -> u64 {
        minimum_window(self.max_datagram_size)
    }

    fn in_slow_start(&self) -> bool {
        self.cwnd < self.ssthresh
    }

    fn alpha(&self) -> f64 {
        let n = f64::from(self.emulated_flows);
        // RFC 9438 §4.3: once W_est reaches cwnd_prior, grow like Reno (α = 1 per flow).
        if self.w_est >= self.cwnd_prior {
            n
        } else if self.emulated_flows == 1 {
            ALPHA_CUBIC
        } else {
            let beta = self.beta();
            3.0 * n * n * (1.0 - beta) / (1.0 + beta)
        }
    }

    fn add_bytes(&mut self, increase: f64) {
        let total = self.cwnd_carry + increase.max(0.0);
        let whole = total.floor();
        self.cwnd_carry = total - whole;
        self.cwnd = self.cwnd.saturating_add(whole.min(u64::MAX as f64 / 2.0) as u64);
    }

    /// Congestion avoidance for `bytes` newly acknowledged (RFC 9438 §4.2-4.5).
    fn congestion_avoidance(&mut self, now: Instant, bytes: u64, rtt: &RttEstimates) {
        let mss = self.max_datagram_size as f64;
        let epoch_start = match self.epoch_start {
            Some(t) => t,
            None => {
                // RFC 9438 §4.2: a new epoch starts with the first ACK in avoidance.
                self.epoch_start = Some(now);
                self.cwnd_epoch = self.cwnd as f64;
                self.w_est = self.cwnd as f64;
                if self.w_max <= 0.0 {
                    // No congestion event yet (e.g. HyStart++ ended slow start): the plateau
                    // is where we stand.
                    self.w_max = self.cwnd as f64;
                }
                self.k = ((self.w_max - self.cwnd_epoch) / (C * mss)).cbrt();
                now
            }
        };
        let cwnd = self.cwnd as f64;
        let t = now.saturating_duration_since(epoch_start);
        // RFC 9438 §4.3: W_est grows by α_cubic segments per window of acknowledged segments.
        self.w_est += self.alpha() * bytes as f64 * mss / cwnd;
        let w_cubic_now = self.w_cubic(t);
        if w_cubic_now < self.w_est {
            // RFC 9438 §4.3: Reno-friendly region.
            let target = self.w_est.min(1.5 * cwnd);
            if target > cwnd {
                self.add_bytes(target - cwnd);
            }
            return;
        }
        // RFC 9438 §4.4-4.5: target = W_cubic(t + RTT), clamped to [cwnd, 1.5·cwnd].
        let target = self.w_cubic(t + rtt.smoothed).clamp(cwnd, 1.5 * cwnd);
        self.add_bytes((target - cwnd) * bytes as f64 / cwnd);
    }

    fn save(&self) -> Saved {
        Saved {
            cwnd: self.cwnd,
            ssthresh: self.ssthresh,
            w_max: self.w_max,
            k: self.k,
            epoch_start: self.epoch_start,
            cwnd_epoch: self.cwnd_epoch,
            w_est: self.w_est,
            cwnd_prior: self.cwnd_prior,
        }
    }
}

impl Controller for Cubic {
    fn on_packet_sent(&mut self, now: Instant, packet: &SentPacket) {
        if let Some(h) = self.hystart.as_mut() {
            h.on_packet_sent(packet.packet_number);
        }
        let limited = packet.app_limited && packet.bytes_in_flight < self.cwnd;
        if limited {
            self.on_app_limited(now, packet.bytes_in_flight);
        } else if let Some(since) = self.app_limited_since.take() {
            // RFC 9438 §5.8: the idle time must not count as growth time, so the epoch moves
            // forward by the application-limited period.
            if let Some(start) = self.epoch_start.as_mut() {
                *start += now.saturating_duration_since(since);
            }
        }
    }

    fn on_app_limited(&mut self, now: Instant, bytes_in_flight: u64) {
        if bytes_in_flight < self.cwnd {
            self.app_limited_since.get_or_insert(now);
        }
    }

    fn on_ack(&mut self, now: Instant, acked: &[AckedPacket], rtt: &RttEstimates, _paths: Paths<'_>) {
        let mut divisor = 1;
        if let (Some(hystart), Some(largest)) = (self.hystart.as_mut(), acked.last()) {
            if self.cwnd < self.ssthresh && self.app_limited_since.is_none() {
                match hystart.on_ack(largest.packet_number, rtt.latest) {
                    HyStartAction::Grow { divisor: d } => divisor = d,
                    // RFC 9406 §4.2: ssthresh = cwnd; avoidance starts a CUBIC epoch.
                    HyStartAction::EnterCongestionAvoidance => self.ssthresh = self.cwnd,
                }
            }
        }
        for packet in acked {
            self.recovery.on_acked(packet.time_sent);
            if self.recovery.covers(packet.time_sent) || self.app_limited_since.is_some() {
                continue;
            }
            if self.in_slow_start() {
                self.cwnd = self.cwnd.saturating_add(packet.bytes / divisor);
            } else {
                self.congestion_avoidance(now, packet.bytes, rtt);
            }
        }
    }

    fn on_congestion_event(&mut self, now: Instant, event: &CongestionEvent, _rtt: &RttEstimates, _paths: Paths<'_>) {
        if self.recovery.covers(event.sent_time) {
            return;
        }
        self.undo = Some(self.save());
        self.recovery.enter(now);
        if let Some(h) = self.hystart.as_mut() {
            h.on_congestion();
        }
        let cwnd = self.cwnd as f64;
        // RFC 9438 §4.7: fast convergence releases bandwidth when the plateau keeps dropping.
        self.w_max = if cwnd < self.w_max { cwnd * self.beta_last_max() } else { cwnd };
        self.cwnd_prior = cwnd;
        // RFC 9438 §4.6: ssthresh = cwnd·β_cubic, never below the minimum window.
        self.ssthresh = ((cwnd * self.beta()) as u64).max(self.min_window());
        self.cwnd = self.ssthresh;
        self.cwnd_carry = 0.0;
        self.epoch_start = None;
    }

    fn on_restart_after_idle(&mut self, _now: Instant, restart_window: u64) {
        // RFC 5681 §4.1 and RFC 2861 §3: restart from min(IW, cwnd), ssthresh keeps 3/4 of the
        // old window; slow start then climbs back and a new epoch (RFC 9438 §4.2) begins when it
        // ends.
        self.ssthresh = self.ssthresh.max(self.cwnd / 4 * 3);
        self.cwnd = self.cwnd.min(restart_window).max(self.min_window());
        self.cwnd_carry = 0.0;
        self.epoch_start = None;
        self.undo = None;
    }

    fn on_persistent_congestion(&mut self, _now: Instant, _rtt: &RttEstimates) {
        // RFC 9438 §4.8 with RFC 9002 §7.6.2: collapse to the minimum window and start a new
        // epoch after slow start.
        self.ssthresh = ((self.cwnd as f64 * self.beta()) as u64).max(self.min_window());
        self.cwnd = self.min_window();
        self.cwnd_carry = 0.0;
        self.epoch_start = None;
        self.recovery.reset();
        self.undo = None;
    }

    fn on_spurious_congestion(&mut self, _now: Instant) {
        // RFC 9438 §4.9: restore the state before the reduction.
        if let Some(s) = self.undo.take() {
            self.cwnd = self.cwnd.max(s.cwnd);
            self.ssthresh = s.ssthresh;
            self.w_max = s.w_max;
            self.k = s.k;
            self.epoch_start = s.epoch_start;
            self.cwnd_epoch = s.cwnd_epoch;
            self.w_est = s.w_est;
            self.cwnd_prior = s.cwnd_prior;
            self.recovery.reset();
        }
    }

    fn on_mtu_update(&mut self, max_datagram_size: u64) {
        self.max_datagram_size = max_datagram_size.max(1);
        self.cwnd = self.cwnd.max(self.min_window());
        self.ssthresh = self.ssthresh.max(self.min_window());
    }

    fn window(&self) -> u64 {
        self.cwnd
    }

    fn metrics(&self) -> Metrics {
        let state = if self.recovery.is_active() {
            "recovery"
        } else if self.app_limited_since.is_some() {
            "application_limited"
        } else if self.in_slow_start() {
            match self.hystart.as_ref().map(HyStart::phase) {
                Some(HyStartPhase::ConservativeSlowStart) => "conservative_slow_start",
                _ => "slow_start",
            }
        } else {
            "congestion_avoidance"
        };
        Metrics {
            window: self.cwnd,
            ssthresh: (self.ssthresh != u64::MAX).then_some(self.ssthresh),
            state,
            ..Metrics::default()
        }
    }
}

/// Builds [`Cubic`] controllers.
#[derive(Debug, Clone, Copy, Default)]
pub struct CubicFactory {
    /// Enable HyStart++ (RFC 9406) in every controller built.
    pub hystart: bool,
    /// Emulate this many flows ([`Cubic::with_emulated_flows`]); 0 and 1 mean one (RFC 9438).
    pub emulated_flows: u32,
}

impl CubicFactory {
    /// quic-go's CUBIC as of 2017, the single-path baseline of the CoNEXT'17 MPQUIC paper:
    /// Chromium's CUBIC emulating two connections (backoff 0.85), with a delay-based slow-start
    /// exit (Chromium's HybridSlowStart there, HyStart++ here).
    pub const QUIC_GO: Self = Self { hystart: true, emulated_flows: 2 };
}

impl ControllerFactory for CubicFactory {
    fn build(&self, _now: Instant, path: PathInfo) -> Box<dyn Controller> {
        Box::new(Cubic::new(path.max_datagram_size).with_hystart(self.hystart).with_emulated_flows(self.emulated_flows))
    }

    fn name(&self) -> &str {
        match (self.hystart, self.emulated_flows) {
            (false, 0 | 1) => "cubic",
            (true, 0 | 1) => "cubic+hystart",
            (true, 2) => "cubic-quicgo",
            _ => "cubic-emulating-flows",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{ack_round, loss, secs, single};

    const MDS: u64 = 1000;

    fn rtt(ms: u64) -> RttEstimates {
        RttEstimates::initial(Duration::from_millis(ms))
    }

    /// A CUBIC controller that just reduced from `w` segments.
    fn after_loss_at(w: u64) -> Cubic {
        let mut cc = Cubic::new(MDS);
        cc.cwnd = w * MDS;
        cc.ssthresh = w * MDS;
        cc.on_congestion_event(Instant::from_nanos(1), &loss(Instant::ZERO), &rtt(100), single());
        cc
    }

    /// Chromium's N-connection emulation, as quic-go (2017) ran it with N = 2: backoff 0.85,
    /// fast convergence to 0.925 of the window, and a Reno-friendly α of 3·4·0.15/1.85.
    #[test]
    fn two_emulated_flows_back_off_by_0_85() {
        let mut cc = Cubic::new(MDS).with_emulated_flows(2);
        cc.cwnd = 100 * MDS;
        cc.ssthresh = 100 * MDS;
        cc.on_congestion_event(Instant::from_nanos(1), &loss(Instant::ZERO), &rtt(100), single());
        assert_eq!(cc.window(), 85 * MDS, "β = (2 - 1 + 0.7) / 2");
        assert_eq!(cc.w_max(), 100.0 * MDS as f64);
        cc.on_congestion_event(secs(1), &loss(Instant::from_nanos(5)), &rtt(100), single());
        assert!((cc.w_max() - 85.0 * 0.925 * MDS as f64).abs() < 1.0, "fast convergence: {}", cc.w_max());
        assert!((cc.alpha() - 3.0 * 4.0 * 0.15 / 1.85).abs() < 1e-9);
        // One flow is RFC 9438's CUBIC.
        let one = after_loss_at(100).with_emulated_flows(1);
        assert_eq!((one.beta(), one.alpha()), (BETA_CUBIC, ALPHA_CUBIC));
    }

    #[test]
    fn reduction_factor_and_fast_convergence() {
        let mut cc = after_loss_at(100);
        assert_eq!(cc.window(), 70 * MDS, "β_cubic = 0.7");
        assert_eq!(cc.w_max(), 100.0 * MDS as f64);
        // A second loss below W_max: fast convergence sets W_max = cwnd·(1+β)/2.
        cc.on_congestion_event(secs(1), &loss(Instant::from_nanos(5)), &rtt(100), single());
        assert_eq!(cc.window(), 49 * MDS);
        assert!((cc.w_max() - 70.0 * 1.7 / 2.0 * MDS as f64).abs() < 1e-6);
        assert!((ALPHA_CUBIC - 0.529_411_76).abs() < 1e-6);
    }

    #[test]
    fn w_cubic_values() {
        let mut cc = after_loss_at(100);
        // The first avoidance ACK starts the epoch and computes K = ∛((100 − 70)/0.4) = ∛75 s.
        let now = secs(1);
        let mut pn = 0;
        ack_round(&mut cc, now, &mut pn, MDS, &rtt(100));
        assert!((cc.k() - 75f64.cbrt()).abs() < 1e-9, "K = {}", cc.k());
        let seg = |x: f64| x * MDS as f64;
        assert!((cc.w_cubic(Duration::ZERO) - seg(70.0)).abs() < 1e-6);
        let k = Duration::from_secs_f64(cc.k());
        assert!((cc.w_cubic(k) - seg(100.0)).abs() < 1e-3);
        assert!((cc.w_cubic(k + Duration::from_secs(1)) - seg(100.4)).abs() < 1e-3);
        assert!((cc.w_cubic(k + Duration::from_secs(2)) - seg(103.2)).abs() < 1e-3);
        // Concave below W_max: 1 s before K the curve is 0.4 segments below it.
        assert!((cc.w_cubic(k - Duration::from_secs(1)) - seg(99.6)).abs() < 1e-3);
    }

    #[test]
    fn cubic_region_tracks_w_cubic() {
        // Long RTT, large window: W_cubic is above W_est, so cwnd follows the cubic curve.
        let mut cc = after_loss_at(100);
        let r = rtt(100);
        let start = secs(1);
        let mut pn = 0;
        let mut now = start;
        while now - start < Duration::from_secs(4) {
            let w = cc.window();
            ack_round(&mut cc, now, &mut pn, w, &r);
            now += Duration::from_millis(100);
        }
        // After ~4 s (a round later than the epoch start), cwnd ≈ W_cubic(t + RTT).
        let expected = cc.w_cubic(now - start);
        let got = cc.window() as f64;
        assert!((got - expected).abs() < 0.03 * expected, "cwnd {got} vs W_cubic {expected}");
        assert!(cc.w_est() < got, "not in the Reno-friendly region");
    }

    #[test]
    fn reno_friendly_region() {
        // Short RTT: Reno's estimate grows α_cubic segments per RTT, faster than the cubic curve.
        let mut cc = after_loss_at(20);
        let r = rtt(1);
        let start = secs(1);
        let mut pn = 0;
        let mut now = start;
        for _ in 0..10 {
            let w = cc.window();
            ack_round(&mut cc, now, &mut pn, w, &r);
            now += Duration::from_millis(1);
        }
        let growth = (cc.window() - 14 * MDS) as f64 / MDS as f64;
        assert!((growth - 10.0 * ALPHA_CUBIC).abs() < 0.6, "grew {growth} segments");
        assert!(cc.w_cubic(now - start) < cc.w_est(), "W_cubic below W_est");
    }

    #[test]
    fn increase_clamped_to_one_and_a_half() {
        let mut cc = after_loss_at(100);
        let mut pn = 0;
        // Start the epoch, then jump 60 s ahead: W_cubic is far above cwnd.
        ack_round(&mut cc, secs(1), &mut pn, MDS, &rtt(100));
        let before = cc.window();
        ack_round(&mut cc, secs(61), &mut pn, before, &rtt(100));
        assert!(cc.window() <= before * 3 / 2 + 1, "{} > 1.5 × {}", cc.window(), before);
        assert!(cc.window() >= before * 3 / 2 - MDS);
    }

    #[test]
    fn spurious_congestion_is_undone() {
        let mut cc = Cubic::new(MDS);
        cc.cwnd = 50 * MDS;
        cc.ssthresh = 40 * MDS;
        cc.on_congestion_event(Instant::from_nanos(10), &loss(Instant::from_nanos(5)), &rtt(10), single());
        assert_eq!(cc.window(), 35 * MDS);
        cc.on_spurious_congestion(Instant::from_nanos(20));
        assert_eq!(cc.window(), 50 * MDS);
        assert_eq!(cc.metrics().ssthresh, Some(40 * MDS));
        assert_eq!(cc.w_max(), 0.0);
    }

    #[test]
    fn no_growth_while_app_limited_and_epoch_shifts() {
        let mut cc = after_loss_at(100);
        let mut pn = 0;
        let t1 = secs(1);
        ack_round(&mut cc, t1, &mut pn, MDS, &rtt(100));
        let w = cc.window();
        let sent = |pn, app_limited| SentPacket { packet_number: pn, bytes: MDS, bytes_in_flight: MDS, app_limited };
        cc.on_packet_sent(t1, &sent(1000, true));
        ack_round(&mut cc, secs(2), &mut pn, 10 * MDS, &rtt(100));
        assert_eq!(cc.window(), w);
        assert_eq!(cc.metrics().state, "application_limited");
        // 10 s idle: the epoch moves by 10 s, so W_cubic does not jump.
        cc.on_packet_sent(secs(11), &sent(1001, false));
        assert_eq!(cc.epoch_start, Some(secs(11)));
    }

    #[test]
    fn slow_start_and_hystart_option() {
        let mut cc = Cubic::new(MDS).with_hystart(true);
        let mut pn = 0;
        ack_round(&mut cc, Instant::from_nanos(10), &mut pn, 5 * MDS, &rtt(50));
        assert_eq!(cc.window(), initial_window(MDS) + 5 * MDS);
        assert_eq!(cc.metrics().state, "slow_start");
        assert_eq!(CubicFactory { hystart: true, emulated_flows: 1 }.name(), "cubic+hystart");
        assert_eq!(CubicFactory::QUIC_GO.name(), "cubic-quicgo");
    }
}
