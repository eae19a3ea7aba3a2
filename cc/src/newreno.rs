//! NewReno as specified in RFC 9002 §7 and its Appendix B.

use std::sync::Arc;

use crate::controller::{
    initial_window, minimum_window, AckedPacket, CongestionEvent, Controller, ControllerFactory, Metrics, PathInfo,
    Paths, RttEstimates,
};
use crate::hystart::{HyStart, HyStartAction};
use crate::Instant;

/// NewReno (RFC 9002 §7.3): slow start, congestion avoidance of one datagram per window, halving
/// (kLossReductionFactor = 0.5) once per recovery period.
#[derive(Debug, Clone)]
pub struct NewReno {
    max_datagram_size: u64,
    window: u64,
    ssthresh: u64,
    /// Start of the current recovery period (RFC 9002 §7.3.2), if one was ever entered.
    recovery_start_time: Option<Instant>,
    /// Bytes acknowledged in congestion avoidance toward the next one-datagram increase.
    bytes_acked: u64,
    /// True while the sender is application-limited: the window does not grow (RFC 9002 §7.8).
    app_limited: bool,
    /// The window and threshold before the last reduction, for undo after a spurious loss.
    before_reduction: Option<(u64, u64)>,
    /// True from a reduction until a packet sent after it is acknowledged (RFC 9002 §7.3.2).
    in_recovery_period: bool,
    /// HyStart++ (RFC 9406), when enabled.
    hystart: Option<HyStart>,
}

impl NewReno {
    /// kLossReductionFactor (RFC 9002 §7.3.2).
    pub const LOSS_REDUCTION_FACTOR: f64 = 0.5;

    /// A controller for a path whose maximum datagram size is `max_datagram_size`.
    pub fn new(max_datagram_size: u64) -> Self {
        Self {
            max_datagram_size,
            window: initial_window(max_datagram_size),
            ssthresh: u64::MAX,
            recovery_start_time: None,
            bytes_acked: 0,
            app_limited: false,
            before_reduction: None,
            in_recovery_period: false,
            hystart: None,
        }
    }

    /// Enables or disables HyStart++ (RFC 9406) in slow start.
    pub fn with_hystart(mut self, enabled: bool) -> Self {
        self.hystart = enabled.then(HyStart::new);
        self
    }

    /// A factory building NewReno with HyStart++ for every path.
    pub fn factory_with_hystart() -> Arc<dyn ControllerFactory> {
        Arc::new(NewRenoHyStartFactory)
    }

    /// A factory building NewReno for every path.
    pub fn factory() -> Arc<dyn ControllerFactory> {
        Arc::new(NewRenoFactory)
    }

    fn in_recovery(&self, sent_time: Instant) -> bool {
        self.recovery_start_time.is_some_and(|start| sent_time <= start)
    }

    fn in_slow_start(&self) -> bool {
        self.window < self.ssthresh
    }
}

impl Controller for NewReno {
    fn on_ack(&mut self, _now: Instant, acked: &[AckedPacket], rtt: &RttEstimates, _paths: Paths<'_>) {
        // RFC 9406 §4.2: HyStart++ looks at one RTT sample per ACK while in slow start.
        let mut divisor = 1;
        if let (Some(hystart), Some(largest)) = (self.hystart.as_mut(), acked.last()) {
            if self.window < self.ssthresh && !self.app_limited {
                match hystart.on_ack(largest.packet_number, rtt.latest) {
                    HyStartAction::Grow { divisor: d } => divisor = d,
                    HyStartAction::EnterCongestionAvoidance => self.ssthresh = self.window,
                }
            }
        }
        for packet in acked {
            if self.recovery_start_time.is_some_and(|start| packet.time_sent > start) {
                self.in_recovery_period = false;
            }
            // RFC 9002 §7.3.2: no increase for packets sent during recovery.
            if self.in_recovery(packet.time_sent) {
                continue;
            }
            // RFC 9002 §7.8: do not grow while application-limited.
            if self.app_limited {
                continue;
            }
            if self.in_slow_start() {
                self.window = self.window.saturating_add(packet.bytes / divisor);
            } else {
                // RFC 9002 §7.3.3: one maximum datagram size per window of acknowledged bytes.
                self.bytes_acked = self.bytes_acked.saturating_add(packet.bytes);
                if self.bytes_acked >= self.window {
                    self.bytes_acked -= self.window;
                    self.window = self.window.saturating_add(self.max_datagram_size);
                }
            }
        }
    }

    fn on_congestion_event(&mut self, now: Instant, event: &CongestionEvent, _rtt: &RttEstimates, _paths: Paths<'_>) {
        // RFC 9002 §7.3.2: one reduction per recovery period.
        if self.in_recovery(event.sent_time) {
            return;
        }
        self.recovery_start_time = Some(now);
        self.in_recovery_period = true;
        if let Some(h) = self.hystart.as_mut() {
            h.on_congestion();
        }
        self.before_reduction = Some((self.window, self.ssthresh));
        let reduced = (self.window as f64 * Self::LOSS_REDUCTION_FACTOR) as u64;
        self.ssthresh = reduced.max(minimum_window(self.max_datagram_size));
        self.window = self.ssthresh;
        self.bytes_acked = 0;
    }

    fn on_restart_after_idle(&mut self, _now: Instant, restart_window: u64) {
        // RFC 5681 §4.1 and RFC 2861 §3: ssthresh keeps 3/4 of the old window.
        self.ssthresh = self.ssthresh.max(self.window / 4 * 3);
        self.window = self.window.min(restart_window).max(minimum_window(self.max_datagram_size));
        self.bytes_acked = 0;
    }

    fn on_persistent_congestion(&mut self, _now: Instant, _rtt: &RttEstimates) {
        // RFC 9002 §7.6.2: collapse to the minimum window; recovery ends.
        self.window = minimum_window(self.max_datagram_size);
        self.recovery_start_time = None;
        self.in_recovery_period = false;
        self.before_reduction = None;
        self.bytes_acked = 0;
    }

    fn on_spurious_congestion(&mut self, _now: Instant) {
        if let Some((window, ssthresh)) = self.before_reduction.take() {
            self.window = self.window.max(window);
            self.ssthresh = ssthresh;
            self.recovery_start_time = None;
            self.in_recovery_period = false;
        }
    }

    fn on_mtu_update(&mut self, max_datagram_size: u64) {
        self.max_datagram_size = max_datagram_size;
        self.window = self.window.max(minimum_window(max_datagram_size));
    }

    fn on_packet_sent(&mut self, _now: Instant, packet: &crate::SentPacket) {
        if let Some(h) = self.hystart.as_mut() {
            h.on_packet_sent(packet.packet_number);
        }
        self.app_limited = packet.app_limited && packet.bytes_in_flight < self.window;
    }

    fn on_app_limited(&mut self, _now: Instant, bytes_in_flight: u64) {
        self.app_limited = bytes_in_flight < self.window;
    }

    fn window(&self) -> u64 {
        self.window
    }

    fn metrics(&self) -> Metrics {
        // qlog congestion_state_updated: recovery wins over the growth phase; application-limited
        // is reported when the window is frozen by RFC 9002 §7.8.
        let state = if self.in_recovery_period {
            "recovery"
        } else if self.app_limited {
            "application_limited"
        } else if self.in_slow_start() {
            "slow_start"
        } else {
            "congestion_avoidance"
        };
        Metrics {
            window: self.window,
            ssthresh: (self.ssthresh != u64::MAX).then_some(self.ssthresh),
            state,
            ..Metrics::default()
        }
    }
}

/// Builds [`NewReno`] controllers.
#[derive(Debug, Clone, Copy, Default)]
pub struct NewRenoFactory;

impl ControllerFactory for NewRenoFactory {
    fn build(&self, _now: Instant, path: PathInfo) -> Box<dyn Controller> {
        Box::new(NewReno::new(path.max_datagram_size))
    }

    fn name(&self) -> &str {
        "newreno"
    }
}

/// Builds [`NewReno`] controllers with HyStart++ (RFC 9406) enabled.
#[derive(Debug, Clone, Copy, Default)]
pub struct NewRenoHyStartFactory;

impl ControllerFactory for NewRenoHyStartFactory {
    fn build(&self, _now: Instant, path: PathInfo) -> Box<dyn Controller> {
        Box::new(NewReno::new(path.max_datagram_size).with_hystart(true))
    }

    fn name(&self) -> &str {
        "newreno+hystart"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PathSnapshot;
    use core::time::Duration;

    const MDS: u64 = 1200;

    fn rtt() -> RttEstimates {
        RttEstimates::initial(Duration::from_millis(100))
    }

    fn snap() -> PathSnapshot {
        PathSnapshot {
            path_id: crate::PathId(0),
            window: 0,
            smoothed_rtt: Duration::from_millis(100),
            bytes_in_flight: 0,
            max_datagram_size: MDS,
            bytes_acked: 0,
            bytes_acked_since_loss: 0,
            active: true,
        }
    }

    fn ack(cc: &mut NewReno, t: u64, pn: u64, bytes: u64) {
        let s = snap();
        let p = AckedPacket { packet_number: pn, bytes, time_sent: Instant::from_nanos(t) };
        cc.on_ack(Instant::from_nanos(t + 1), &[p], &rtt(), Paths::single(&s));
    }

    #[test]
    fn slow_start_then_halving_then_linear_growth() {
        let mut cc = NewReno::new(MDS);
        assert_eq!(cc.window(), 12_000);
        ack(&mut cc, 10, 0, 1200);
        assert_eq!(cc.window(), 13_200, "slow start adds acked bytes");
        let s = snap();
        let ev =
            CongestionEvent { sent_time: Instant::from_nanos(20), lost_bytes: 1200, ecn: false, bytes_in_flight: 0 };
        cc.on_congestion_event(Instant::from_nanos(30), &ev, &rtt(), Paths::single(&s));
        assert_eq!(cc.window(), 6_600);
        // A second loss from before recovery started does not reduce again.
        cc.on_congestion_event(Instant::from_nanos(31), &ev, &rtt(), Paths::single(&s));
        assert_eq!(cc.window(), 6_600);
        // Packets sent during recovery do not grow the window.
        ack(&mut cc, 25, 1, 1200);
        assert_eq!(cc.window(), 6_600);
        // Congestion avoidance: one MDS per window acknowledged.
        for pn in 0..5 {
            ack(&mut cc, 100 + pn, 2 + pn, 1200);
        }
        assert_eq!(cc.window(), 6_600);
        ack(&mut cc, 200, 10, 1200);
        assert_eq!(cc.window(), 7_800);
    }

    #[test]
    fn metrics_state_follows_recovery_period() {
        let mut cc = NewReno::new(MDS);
        assert_eq!(cc.metrics().state, "slow_start");
        let s = snap();
        let ev =
            CongestionEvent { sent_time: Instant::from_nanos(20), lost_bytes: 1200, ecn: true, bytes_in_flight: 0 };
        cc.on_congestion_event(Instant::from_nanos(30), &ev, &rtt(), Paths::single(&s));
        assert_eq!(cc.metrics().state, "recovery");
        assert_eq!(cc.metrics().ssthresh, Some(6_000));
        ack(&mut cc, 25, 1, 1200);
        assert_eq!(cc.metrics().state, "recovery", "a packet sent before recovery does not end it");
        ack(&mut cc, 31, 2, 1200);
        assert_eq!(cc.metrics().state, "congestion_avoidance");
        cc.on_app_limited(Instant::from_nanos(40), 0);
        assert_eq!(cc.metrics().state, "application_limited");
    }

    #[test]
    fn hystart_leaves_slow_start_on_rtt_increase() {
        let mut cc = NewReno::new(MDS).with_hystart(true);
        let s = snap();
        let mut pn = 0u64;
        let mut t = 0u64;
        let mut grew_in_css = None;
        for round in 0..12u64 {
            let rtt_ms = if round < 3 { 50 } else { 80 };
            let r = RttEstimates { latest: Duration::from_millis(rtt_ms), ..rtt() };
            let first = pn;
            for _ in 0..8 {
                cc.on_packet_sent(
                    Instant::from_nanos(t),
                    &crate::SentPacket { packet_number: pn, bytes: MDS, bytes_in_flight: 0, app_limited: false },
                );
                pn += 1;
                t += 1;
            }
            for p in first..pn {
                let before = cc.window();
                let a = AckedPacket { packet_number: p, bytes: MDS, time_sent: Instant::from_nanos(t) };
                cc.on_ack(Instant::from_nanos(t + 1), &[a], &r, Paths::single(&s));
                if cc.hystart.as_ref().unwrap().phase() == crate::hystart::HyStartPhase::ConservativeSlowStart {
                    grew_in_css.get_or_insert(cc.window() - before);
                }
                t += 1;
            }
        }
        assert_eq!(grew_in_css, Some(MDS / 4), "CSS grows at a quarter of slow start");
        assert_eq!(cc.metrics().state, "congestion_avoidance");
        assert!(cc.metrics().ssthresh.is_some());
    }

    #[test]
    fn persistent_congestion_collapses_to_minimum() {
        let mut cc = NewReno::new(MDS);
        cc.on_persistent_congestion(Instant::from_nanos(5), &rtt());
        assert_eq!(cc.window(), 2 * MDS);
    }

    #[test]
    fn spurious_loss_is_undone() {
        let mut cc = NewReno::new(MDS);
        let s = snap();
        let ev =
            CongestionEvent { sent_time: Instant::from_nanos(1), lost_bytes: 1200, ecn: false, bytes_in_flight: 0 };
        cc.on_congestion_event(Instant::from_nanos(2), &ev, &rtt(), Paths::single(&s));
        assert_eq!(cc.window(), 6_000);
        cc.on_spurious_congestion(Instant::from_nanos(3));
        assert_eq!(cc.window(), 12_000);
    }

    #[test]
    fn window_never_below_minimum() {
        let mut cc = NewReno::new(MDS);
        let s = snap();
        for i in 0..50u64 {
            let ev = CongestionEvent {
                sent_time: Instant::from_nanos(i * 10 + 1),
                lost_bytes: 1200,
                ecn: false,
                bytes_in_flight: 0,
            };
            cc.on_congestion_event(Instant::from_nanos(i * 10 + 5), &ev, &rtt(), Paths::single(&s));
            assert!(cc.window() >= 2 * MDS);
        }
    }
}
