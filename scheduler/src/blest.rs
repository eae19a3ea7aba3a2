//! BLEST, blocking estimation (Ferlin, Alay, Mehani, Boreli, IFIP Networking 2016, §V;
//! papers.md §3.1): before sending on a slower path, estimate how much the fastest path could send
//! while the slow packet is in flight; if that would not fit in the connection's send window, the
//! slow packet would block the fast path, so wait for the fast path instead.

use core::time::Duration;
use std::sync::Arc;

use crate::min_rtt::MinRtt;
use crate::scheduler::{Decision, Scheduler, SchedulerFactory, Wait, WaitReason};
use crate::view::{eligible, lowest_srtt, preferred_usable, ConnectionView, PathView};
use crate::{Instant, PathId};

/// BLEST's parameters. Defaults: λ starts at 1.0 (the paper) and adapts within [1.0, 1.3] by
/// +0.04 after a loss on a slower path and −0.01 otherwise, at most once per fast-path RTT (the
/// Linux `mptcp_blest.c` steps; the paper sweeps its step from 0.001 to 0.02).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlestConfig {
    /// Initial λ, the scaling of the fast path's estimated bytes.
    pub lambda_initial: f64,
    /// Lower bound of λ.
    pub lambda_min: f64,
    /// Upper bound of λ.
    pub lambda_max: f64,
    /// Added to λ after a head-of-line blocking event (a loss on a slower path).
    pub lambda_increase: f64,
    /// Taken from λ after a fast-path RTT without such an event.
    pub lambda_decrease: f64,
    /// Adapt λ at all; `false` keeps `lambda_initial` (the mp-quic port uses a fixed λ = 1).
    pub adaptive: bool,
}

impl Default for BlestConfig {
    fn default() -> Self {
        Self {
            lambda_initial: 1.0,
            lambda_min: 1.0,
            lambda_max: 1.3,
            lambda_increase: 0.04,
            lambda_decrease: 0.01,
            adaptive: true,
        }
    }
}

/// The BLEST scheduler.
#[derive(Debug, Clone)]
pub struct Blest {
    config: BlestConfig,
    lambda: f64,
    last_update: Option<Instant>,
    fast_path: Option<PathId>,
    hol_event: bool,
}

impl Blest {
    /// A scheduler with `config`.
    pub fn new(config: BlestConfig) -> Self {
        Self { config, lambda: config.lambda_initial, last_update: None, fast_path: None, hol_event: false }
    }

    /// The current λ.
    pub fn lambda(&self) -> f64 {
        self.lambda
    }

    /// A factory for the configuration.
    pub fn factory(config: BlestConfig) -> Arc<dyn SchedulerFactory> {
        Arc::new(BlestFactory { config })
    }

    /// X, the bytes the fast path `f` can send during one RTT of the slow path `s`, assuming its
    /// window grows by one packet per RTT_f: `rtts = RTT_s / RTT_f`,
    /// `X = MSS_f · (CWND_f + (rtts − 1) / 2) · rtts` (CWND in packets).
    pub fn fast_path_bytes(f: &PathView, s: &PathView) -> f64 {
        // Ratio of integer nanoseconds: exact for whole milliseconds, unlike seconds in f64.
        let rtts = s.srtt.as_nanos() as f64 / f.srtt.as_nanos().max(1) as f64;
        f64::from(f.mtu) * (f.cwnd_packets() + (rtts - 1.0) / 2.0) * rtts
    }

    /// The BLEST test: wait for the fast path when `λ·X > |M| − MSS_s·(inflight_s + 1)`, with
    /// `|M|` = `send_window` in bytes and `MSS_s·inflight_s` = the slow path's bytes in flight.
    pub fn would_block(f: &PathView, s: &PathView, send_window: u64, lambda: f64) -> bool {
        let space = send_window as f64 - (s.bytes_in_flight as f64 + f64::from(s.mtu));
        lambda * Self::fast_path_bytes(f, s) > space
    }

    fn update_lambda(&mut self, now: Instant, fast_srtt: Duration) {
        if !self.config.adaptive {
            return;
        }
        let Some(last) = self.last_update else {
            self.last_update = Some(now);
            return;
        };
        if now.saturating_duration_since(last) < fast_srtt {
            return;
        }
        self.lambda += if self.hol_event { self.config.lambda_increase } else { -self.config.lambda_decrease };
        self.lambda = self.lambda.clamp(self.config.lambda_min, self.config.lambda_max);
        self.hol_event = false;
        self.last_update = Some(now);
    }
}

impl Default for Blest {
    fn default() -> Self {
        Self::new(BlestConfig::default())
    }
}

impl Scheduler for Blest {
    /// Never re-injects: proto need not ask ([`Scheduler::reinjects`]).
    fn reinjects(&self) -> bool {
        false
    }

    fn name(&self) -> &str {
        "blest"
    }

    fn schedule(&mut self, paths: &[PathView], conn: &ConnectionView) -> Decision {
        let Some(fast) = lowest_srtt(preferred_usable(paths)) else {
            return Decision::no_path();
        };
        self.fast_path = Some(fast.path_id);
        if eligible(fast) {
            return Decision::Send(fast.path_id);
        }
        // The fast path is blocked by its window: the default (MinRTT) choice is a slower path.
        let Some(slow) = MinRtt::pick(paths) else {
            return Decision::no_path();
        };
        self.update_lambda(conn.now, fast.srtt);
        if Self::would_block(fast, slow, conn.send_window, self.lambda) {
            Decision::Wait(Wait { reason: WaitReason::FasterPath { path_id: fast.path_id }, retry_in: None })
        } else {
            Decision::Send(slow.path_id)
        }
    }

    fn on_loss(&mut self, path_id: PathId, _bytes: u64) {
        // A loss on a slower path is what leaves the receiver waiting: count it as head-of-line
        // blocking (the kernel looks at retransmissions on the slow subflow).
        if self.fast_path != Some(path_id) {
            self.hol_event = true;
        }
    }
}

/// Builds [`Blest`] schedulers.
#[derive(Debug, Clone, Default)]
pub struct BlestFactory {
    /// Their parameters.
    pub config: BlestConfig,
}

impl SchedulerFactory for BlestFactory {
    fn name(&self) -> &str {
        "blest"
    }
    fn build(&self) -> Box<dyn Scheduler> {
        Box::new(Blest::new(self.config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use crate::PathId;

    /// papers.md §3.2-like pair: WLAN fast path (25 ms, cwnd 20 × 1200 B, window full) and a 3G
    /// slow path (75 ms, 2 packets in flight).
    fn pair() -> (PathView, PathView) {
        let mut f = PathView::new(PathId(0));
        f.srtt = Duration::from_millis(25);
        f.cwnd = 24_000;
        f.bytes_in_flight = 24_000;
        let mut s = PathView::new(PathId(1));
        s.srtt = Duration::from_millis(75);
        s.cwnd = 12_000;
        s.bytes_in_flight = 2_400;
        (f, s)
    }

    #[test]
    fn fast_path_bytes_by_hand() {
        // rtts = 3; X = 1200 · (20 + (3 − 1)/2) · 3 = 75 600 bytes.
        let (f, s) = pair();
        assert_eq!(Blest::fast_path_bytes(&f, &s), 75_600.0);
    }

    #[test]
    fn inequality_boundary_by_hand() {
        // Wait iff λ·X > |M| − (inflight_s + MSS_s) = |M| − 3600, i.e. |M| < 79 200 at λ = 1.
        let (f, s) = pair();
        assert!(Blest::would_block(&f, &s, 79_199, 1.0));
        assert!(!Blest::would_block(&f, &s, 79_200, 1.0));
        // λ = 1.3: λ·X = 98 280, so the threshold moves to |M| < 101 880.
        assert!(Blest::would_block(&f, &s, 101_879, 1.3));
        assert!(!Blest::would_block(&f, &s, 101_880, 1.3));
        // A window smaller than what S already has in flight always waits.
        assert!(Blest::would_block(&f, &s, 1_000, 1.0));
    }

    #[test]
    fn scheduler_waits_or_uses_slow_path() {
        let (f, s) = pair();
        let paths = [f.clone(), s];
        let fixed = BlestConfig { adaptive: false, ..BlestConfig::default() };
        let mut b = Blest::new(fixed);
        let mut conn = ConnectionView::new(1_000_000);
        conn.send_window = 79_199;
        assert_eq!(
            b.schedule(&paths, &conn),
            Decision::Wait(Wait { reason: WaitReason::FasterPath { path_id: PathId(0) }, retry_in: None })
        );
        conn.send_window = 79_200;
        assert_eq!(b.schedule(&paths, &conn), Decision::Send(PathId(1)));
        // Fast path with room: always the fast path, whatever the window.
        let mut open = paths.clone();
        open[0].bytes_in_flight = 0;
        conn.send_window = 0;
        assert_eq!(b.schedule(&open, &conn), Decision::Send(PathId(0)));
    }

    #[test]
    fn lambda_adapts_once_per_fast_rtt() {
        let (f, s) = pair();
        let paths = [f, s];
        let mut b = Blest::default();
        let mut conn = ConnectionView::new(1_000_000);
        let ms = 1_000_000;
        b.schedule(&paths, &conn);
        b.on_loss(PathId(1), 1200);
        conn.now = Instant::from_nanos(24 * ms);
        b.schedule(&paths, &conn);
        assert_eq!(b.lambda(), 1.0, "less than one fast-path RTT elapsed");
        conn.now = Instant::from_nanos(25 * ms);
        b.schedule(&paths, &conn);
        assert!((b.lambda() - 1.04).abs() < 1e-12);
        conn.now = Instant::from_nanos(50 * ms);
        b.schedule(&paths, &conn);
        assert!((b.lambda() - 1.03).abs() < 1e-12);
        for i in 0..100 {
            b.on_loss(PathId(1), 1200);
            conn.now = Instant::from_nanos((75 + 25 * i) * ms);
            b.schedule(&paths, &conn);
        }
        assert!((b.lambda() - 1.3).abs() < 1e-12, "clamped at lambda_max");
    }
}
