//! Coupled multipath congestion control: LIA (RFC 6356), OLIA (Khalili et al.) and BALIA
//! (Peng et al.), formulas as collected in the project's `spec/papers.md` §5.
//!
//! All three keep Reno's slow start, recovery period and (for LIA and OLIA) halving, and
//! differ only in the congestion-avoidance increase and (BALIA) the decrease. That shared
//! skeleton is [`Coupled`]; an algorithm is a [`CoupledRule`] plugged into it, so a researcher
//! can add a fourth coupled algorithm by writing one rule.
//!
//! Each path has its own controller. A controller never touches another path's state: it sees
//! the other paths through the read-only [`Paths`] view handed to every hook.
//!
//! # Bytes, not segments
//! The papers count windows in segments and increase "per ACK" of one segment. QUIC counts
//! bytes, and one ACK frame may acknowledge many packets. Every path's window is turned into
//! segments with that path's own maximum datagram size (`w_p = W_p/MSS_p`, as the Linux kernel
//! counts each subflow's `snd_cwnd` in its own segments), the formula gives the increase `Δw_r`
//! in segments per acknowledged segment of path r, and `bytes_acked` bytes are `bytes_acked/MSS_r`
//! segments, each worth `Δw_r·MSS_r` bytes of window, so the change in bytes is
//! `ΔW_r = bytes_acked·Δw_r`:
//! OLIA `ΔW_r = bytes_acked·[(w_r/rtt_r²)/(Σ w_p/rtt_p)² + α_r/w_r]`,
//! BALIA `ΔW_r = bytes_acked·x_r/(rtt_r·(Σ x_k)²)·((1+α_r)/2)·((4+α_r)/5)` with `x = w/rtt`.
//! LIA is specified in bytes (RFC 6356 §3) and is used as written. The increase of one ACK
//! frame is computed once, at the window before it, for all its newly acknowledged bytes.

mod balia;
mod lia;
mod olia;

use core::fmt;
use core::time::Duration;
use std::sync::Arc;

pub use balia::{Balia, BaliaRule};
pub use lia::{Lia, LiaRule};
pub use olia::{Olia, OliaMpQuic, OliaMpQuicRule, OliaRule, OliaSets};

use crate::controller::{
    initial_window, minimum_window, AckedPacket, CongestionEvent, Controller, ControllerFactory, Metrics, PathInfo,
    Paths, RttEstimates, SentPacket,
};
use crate::recovery::RecoveryPeriod;
use crate::{Instant, PathId};

/// The smallest RTT used in the formulas, so that a zero estimate cannot divide by zero.
const MIN_RTT: Duration = Duration::from_micros(1);

/// Float error tolerated when splitting a window change into whole bytes and a carry, bytes.
const CARRY_ROUNDING: f64 = 1e-6;

/// One path as a coupled formula sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PathRate {
    /// The path's identifier.
    pub path_id: PathId,
    /// Congestion window, bytes.
    pub window: f64,
    /// Smoothed RTT, seconds (at least 1 µs).
    pub rtt: f64,
    /// OLIA's ℓ_r in bytes (see [`Controller::loss_interval_bytes`]).
    pub loss_interval: f64,
    /// The path's maximum datagram size (its segment size), bytes (at least 1).
    pub max_datagram_size: f64,
}

impl PathRate {
    /// `window / rtt`, bytes per second.
    pub fn rate(&self) -> f64 {
        self.window / self.rtt
    }

    /// The window in segments of this path's own size, `w = W/MSS` (module docs).
    pub fn segments(&self) -> f64 {
        self.window / self.max_datagram_size
    }

    /// `w / rtt`, segments per second.
    pub fn segment_rate(&self) -> f64 {
        self.segments() / self.rtt
    }
}

/// The coupled view of the connection for one hook call: this path (with the controller's own,
/// current values) and the other active paths (from their snapshots).
#[derive(Debug, Clone, Copy)]
pub struct CoupledView<'a> {
    /// This path.
    pub this: PathRate,
    others: Paths<'a>,
}

impl<'a> CoupledView<'a> {
    /// Builds the view; `this` overrides the snapshot of `paths.this_path`.
    pub fn new(this: PathRate, paths: Paths<'a>) -> Self {
        let this = PathRate { max_datagram_size: this.max_datagram_size.max(1.0), ..this };
        Self { this, others: paths }
    }

    /// This path's maximum datagram size, bytes.
    pub fn max_datagram_size(&self) -> f64 {
        self.this.max_datagram_size
    }

    /// Every path taking part: this one first, then the other active paths with a window.
    pub fn all(&self) -> impl Iterator<Item = PathRate> + 'a {
        let this = self.this;
        core::iter::once(this).chain(
            self.others.paths.iter().filter(move |p| p.active && p.path_id != this.path_id && p.window > 0).map(|p| {
                PathRate {
                    path_id: p.path_id,
                    window: p.window as f64,
                    rtt: p.smoothed_rtt.max(MIN_RTT).as_secs_f64(),
                    loss_interval: p.bytes_acked_since_loss as f64,
                    max_datagram_size: p.max_datagram_size.max(1) as f64,
                }
            }),
        )
    }
}

/// The algorithm-specific part of a coupled controller: the congestion-avoidance increase and
/// the window after a congestion event.
pub trait CoupledRule: Send + Sync + Clone + Default + fmt::Debug + 'static {
    /// A short name ("lia", "olia", "balia").
    const NAME: &'static str;

    /// The window increase in bytes (may be negative for OLIA) for `bytes_acked` newly
    /// acknowledged bytes in congestion avoidance.
    fn increase(&self, view: &CoupledView<'_>, bytes_acked: u64) -> f64;

    /// The window in bytes after a congestion event (before the minimum-window floor).
    fn reduced_window(&self, view: &CoupledView<'_>) -> f64 {
        // RFC 6356 §3: standard TCP halving.
        view.this.window / 2.0
    }
}

/// A coupled controller: Reno's slow start and recovery (RFC 9002 §7) with the increase and
/// decrease of the rule `R`.
#[derive(Debug, Clone)]
pub struct Coupled<R: CoupledRule> {
    rule: R,
    max_datagram_size: u64,
    window: u64,
    ssthresh: u64,
    /// Fractional bytes of change not yet applied (signed: OLIA can decrease).
    carry: f64,
    recovery: RecoveryPeriod,
    app_limited: bool,
    before_reduction: Option<(u64, u64, u64, u64)>,
    /// Bytes acknowledged since the last congestion event.
    bytes_acked_since_loss: u64,
    /// Bytes acknowledged between the last two congestion events.
    bytes_acked_between_losses: u64,
}

impl<R: CoupledRule> Coupled<R> {
    /// A controller for a path whose maximum datagram size is `max_datagram_size`.
    pub fn new(max_datagram_size: u64) -> Self {
        Self {
            rule: R::default(),
            max_datagram_size,
            window: initial_window(max_datagram_size),
            ssthresh: u64::MAX,
            carry: 0.0,
            recovery: RecoveryPeriod::default(),
            app_limited: false,
            before_reduction: None,
            bytes_acked_since_loss: 0,
            bytes_acked_between_losses: 0,
        }
    }

    /// A factory building this controller for every path.
    pub fn factory() -> Arc<dyn ControllerFactory> {
        Arc::new(CoupledFactory::<R>::default())
    }

    /// The coupled view for a hook call.
    pub fn view<'a>(&self, rtt: &RttEstimates, paths: Paths<'a>) -> CoupledView<'a> {
        let this = PathRate {
            path_id: paths.this_path,
            window: self.window as f64,
            rtt: rtt.smoothed.max(MIN_RTT).as_secs_f64(),
            loss_interval: self.loss_interval() as f64,
            max_datagram_size: self.max_datagram_size as f64,
        };
        CoupledView::new(this, paths)
    }

    fn loss_interval(&self) -> u64 {
        // OLIA's ℓ_r (papers.md §5.2).
        self.bytes_acked_since_loss.max(self.bytes_acked_between_losses)
    }

    fn min_window(&self) -> u64 {
        minimum_window(self.max_datagram_size)
    }

    fn apply(&mut self, change: f64) {
        if !change.is_finite() {
            return;
        }
        let total = self.carry + change;
        // Whole bytes now, the fraction later; a change that is a whole number of bytes up to
        // float rounding (249.999_999_9 for 5000 · 0.05) counts as that whole number.
        let whole = (total + CARRY_ROUNDING.copysign(total)).trunc();
        self.carry = total - whole;
        if whole >= 0.0 {
            self.window = self.window.saturating_add(whole.min(u64::MAX as f64 / 2.0) as u64);
        } else {
            self.window = self.window.saturating_sub((-whole).min(u64::MAX as f64 / 2.0) as u64).max(self.min_window());
        }
    }
}

impl<R: CoupledRule> Controller for Coupled<R> {
    fn on_packet_sent(&mut self, _now: Instant, packet: &SentPacket) {
        self.app_limited = packet.app_limited && packet.bytes_in_flight < self.window;
    }

    fn on_app_limited(&mut self, _now: Instant, bytes_in_flight: u64) {
        self.app_limited = bytes_in_flight < self.window;
    }

    fn on_ack(&mut self, _now: Instant, acked: &[AckedPacket], rtt: &RttEstimates, paths: Paths<'_>) {
        let mut avoidance_bytes = 0u64;
        for packet in acked {
            self.bytes_acked_since_loss = self.bytes_acked_since_loss.saturating_add(packet.bytes);
            self.recovery.on_acked(packet.time_sent);
            // RFC 9002 §7.3.2 and §7.8: no growth in recovery or while application-limited.
            if self.recovery.covers(packet.time_sent) || self.app_limited {
                continue;
            }
            if self.window < self.ssthresh {
                // RFC 6356 §3: slow start is unchanged.
                self.window = self.window.saturating_add(packet.bytes);
            } else {
                avoidance_bytes = avoidance_bytes.saturating_add(packet.bytes);
            }
        }
        if avoidance_bytes > 0 {
            let view = self.view(rtt, paths);
            let change = self.rule.increase(&view, avoidance_bytes);
            self.apply(change);
        }
    }

    fn on_congestion_event(&mut self, now: Instant, event: &CongestionEvent, rtt: &RttEstimates, paths: Paths<'_>) {
        if self.recovery.covers(event.sent_time) {
            return;
        }
        self.recovery.enter(now);
        self.before_reduction =
            Some((self.window, self.ssthresh, self.bytes_acked_since_loss, self.bytes_acked_between_losses));
        let reduced = self.rule.reduced_window(&self.view(rtt, paths));
        let reduced = if reduced.is_finite() { reduced.max(0.0) as u64 } else { self.window / 2 };
        self.ssthresh = reduced.min(self.window).max(self.min_window());
        self.window = self.ssthresh;
        self.carry = 0.0;
        self.bytes_acked_between_losses = self.bytes_acked_since_loss;
        self.bytes_acked_since_loss = 0;
    }

    fn on_restart_after_idle(&mut self, _now: Instant, restart_window: u64) {
        // RFC 5681 §4.1 and RFC 2861 §3, as for Reno.
        self.ssthresh = self.ssthresh.max(self.window / 4 * 3);
        self.window = self.window.min(restart_window).max(self.min_window());
        self.carry = 0.0;
        self.before_reduction = None;
    }

    fn on_persistent_congestion(&mut self, _now: Instant, _rtt: &RttEstimates) {
        self.window = self.min_window();
        self.carry = 0.0;
        self.recovery.reset();
        self.before_reduction = None;
    }

    fn on_spurious_congestion(&mut self, _now: Instant) {
        if let Some((window, ssthresh, since, between)) = self.before_reduction.take() {
            self.window = self.window.max(window);
            self.ssthresh = ssthresh;
            self.bytes_acked_since_loss = self.bytes_acked_since_loss.saturating_add(since);
            self.bytes_acked_between_losses = between;
            self.recovery.reset();
        }
    }

    fn on_mtu_update(&mut self, max_datagram_size: u64) {
        self.max_datagram_size = max_datagram_size.max(1);
        self.window = self.window.max(self.min_window());
    }

    fn window(&self) -> u64 {
        self.window
    }

    fn metrics(&self) -> Metrics {
        let state = if self.recovery.is_active() {
            "recovery"
        } else if self.app_limited {
            "application_limited"
        } else if self.window < self.ssthresh {
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

    fn loss_interval_bytes(&self) -> Option<u64> {
        Some(self.loss_interval())
    }
}

/// Builds [`Coupled`] controllers with rule `R` for every path.
#[derive(Debug, Clone, Copy)]
pub struct CoupledFactory<R>(core::marker::PhantomData<fn() -> R>);

impl<R> Default for CoupledFactory<R> {
    fn default() -> Self {
        Self(core::marker::PhantomData)
    }
}

impl<R: CoupledRule> ControllerFactory for CoupledFactory<R> {
    fn build(&self, _now: Instant, path: PathInfo) -> Box<dyn Controller> {
        Box::new(Coupled::<R>::new(path.max_datagram_size))
    }

    fn name(&self) -> &str {
        R::NAME
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::PathSnapshot;

    /// Snapshots of paths with (window bytes, rtt ms, ℓ bytes), 1000-byte datagrams.
    pub(crate) fn snapshots(paths: &[(u64, u64, u64)]) -> Vec<PathSnapshot> {
        let with_mss: Vec<_> = paths.iter().map(|&(w, rtt, l)| (w, rtt, l, 1000)).collect();
        snapshots_mss(&with_mss)
    }

    /// Snapshots of paths with (window bytes, rtt ms, ℓ bytes, maximum datagram size).
    pub(crate) fn snapshots_mss(paths: &[(u64, u64, u64, u64)]) -> Vec<PathSnapshot> {
        paths
            .iter()
            .enumerate()
            .map(|(i, &(window, rtt_ms, l, mss))| PathSnapshot {
                path_id: PathId(i as u32),
                window,
                smoothed_rtt: Duration::from_millis(rtt_ms),
                bytes_in_flight: 0,
                max_datagram_size: mss,
                bytes_acked: 0,
                bytes_acked_since_loss: l,
                active: true,
            })
            .collect()
    }

    /// The view of path `this` among `snaps`.
    pub(crate) fn view_of(snaps: &[PathSnapshot], this: u32) -> CoupledView<'_> {
        let s = snaps[this as usize];
        let this = PathId(this);
        let rate = PathRate {
            path_id: this,
            window: s.window as f64,
            rtt: s.smoothed_rtt.as_secs_f64(),
            loss_interval: s.bytes_acked_since_loss as f64,
            max_datagram_size: s.max_datagram_size as f64,
        };
        CoupledView::new(rate, Paths { paths: snaps, this_path: this })
    }

    #[test]
    fn view_skips_inactive_and_this_path_snapshot() {
        let mut snaps = snapshots(&[(10_000, 10, 0), (20_000, 20, 0), (30_000, 30, 0)]);
        snaps[2].active = false;
        let v = view_of(&snaps, 1);
        let ids: Vec<PathId> = v.all().map(|p| p.path_id).collect();
        assert_eq!(ids, vec![PathId(1), PathId(0)]);
    }

    #[test]
    fn avoidance_increase_counts_every_acknowledged_segment() {
        use crate::test_util::{ack_round_on, loss, single};
        let ms = |m: u64| Instant::from_nanos(m * 1_000_000);
        let mut cc = Olia::new(1000);
        let r = RttEstimates::initial(Duration::from_millis(100));
        // A loss ends slow start: window = ssthresh = 10_000 / 2.
        cc.on_congestion_event(ms(20), &loss(ms(15)), &r, single());
        assert_eq!(cc.window(), 5000);
        // The other path: also 5 segments and 100 ms. Equal windows put both paths in M, so
        // B∖M = ∅ and α = 0; Σ w/rtt = 100 segments/s and (w_r/rtt_r²)/(Σ w/rtt)² =
        // (5/0.01)/100² = 0.05 segments per acknowledged segment.
        let snaps = snapshots(&[(5000, 100, 0), (5000, 100, 0)]);
        let paths = Paths { paths: &snaps, this_path: PathId(0) };
        // One ACK frame for five 1000-byte packets sent after the recovery period began: five
        // segments' worth, 5 · 0.05 · 1000 = 250 bytes (not one ACK's 50).
        let mut pn = 100;
        ack_round_on(&mut cc, ms(30), &mut pn, 5000, &r, paths);
        assert_eq!(cc.window(), 5250);
        assert_eq!(cc.metrics().state, "congestion_avoidance");
    }

    #[test]
    fn view_carries_each_paths_own_datagram_size() {
        let snaps = snapshots_mss(&[(12_000, 10, 0, 1200), (14_520, 10, 0, 1452)]);
        let v = view_of(&snaps, 0);
        let segments: Vec<f64> = v.all().map(|p| p.segments()).collect();
        assert_eq!(segments, vec![10.0, 10.0]);
        assert_eq!(v.max_datagram_size(), 1200.0);
    }

    #[test]
    fn slow_start_unchanged_and_halving() {
        use crate::test_util::{ack_round, loss, single};
        let mut cc = Lia::new(1000);
        let mut pn = 0;
        let r = RttEstimates::initial(Duration::from_millis(100));
        ack_round(&mut cc, Instant::from_nanos(10), &mut pn, 5000, &r);
        assert_eq!(cc.window(), 15_000);
        cc.on_congestion_event(Instant::from_nanos(20), &loss(Instant::from_nanos(15)), &r, single());
        assert_eq!(cc.window(), 7_500);
        assert_eq!(cc.loss_interval_bytes(), Some(5000));
        cc.on_spurious_congestion(Instant::from_nanos(30));
        assert_eq!(cc.window(), 15_000);
    }
}
