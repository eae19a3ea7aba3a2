//! ECF, earliest completion first (Lim, Nahum, Towsley, Gibbens, CoNEXT'17, Algorithm 1;
//! papers.md §2.1): when the fastest path's window is full, compare finishing the queued data by
//! waiting for the fast path with finishing it on the slower path, and wait when waiting wins.

use core::time::Duration;
use std::sync::Arc;

use crate::min_rtt::MinRtt;
use crate::scheduler::{Decision, FnFactory, Scheduler, SchedulerFactory, Wait, WaitReason};
use crate::view::{eligible, lowest_srtt, preferred_usable, ConnectionView, PathView};

/// What ECF's inequalities say for one fast/slow pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcfChoice {
    /// Send on the slow path, and clear the waiting state.
    SlowAndReset,
    /// Send on the slow path, waiting state unchanged.
    Slow,
    /// Send nothing, wait for the fast path; waiting state set.
    WaitForFast,
}

/// The ECF scheduler. `waiting` is the paper's sticky hysteresis state.
#[derive(Debug, Clone)]
pub struct Ecf {
    beta: f64,
    waiting: bool,
}

impl Ecf {
    /// The paper's hysteresis β.
    pub const DEFAULT_BETA: f64 = 0.25;

    /// The k used while flow control holds the application back ([`ConnectionView::send_blocked`]).
    pub const UNBOUNDED_QUEUE: u64 = u64::MAX / 4;

    /// A scheduler with hysteresis `beta`.
    pub fn new(beta: f64) -> Self {
        Self { beta, waiting: false }
    }

    /// Whether the last decision set the waiting state.
    pub fn waiting(&self) -> bool {
        self.waiting
    }

    /// A factory for the configuration (β = 0.25).
    pub fn factory() -> Arc<dyn SchedulerFactory> {
        FnFactory::arc("ecf", || Box::new(Ecf::default()))
    }

    /// ECF's test for fast path `f` (window full) and slow path `s`, with `k_bytes` queued and not
    /// yet assigned. CWND and k in bytes (only their ratio matters); δ = max(rttvar_f, rttvar_s);
    /// n = 1 + k/CWND_f:
    /// - if n·RTT_f < (1 + waiting·β)·(RTT_s + δ): wait when (k/CWND_s)·RTT_s ≥ 2·RTT_f + δ,
    ///   otherwise send on s;
    /// - otherwise send on s and clear waiting.
    pub fn decide(f: &PathView, s: &PathView, k_bytes: u64, waiting: bool, beta: f64) -> EcfChoice {
        let rtt_f = secs(f.srtt);
        let rtt_s = secs(s.srtt);
        let delta = secs(f.rttvar.max(s.rttvar));
        let k = k_bytes as f64;
        let n = 1.0 + k / (f.cwnd.max(1) as f64);
        let hysteresis = if waiting { 1.0 + beta } else { 1.0 };
        if n * rtt_f < hysteresis * (rtt_s + delta) {
            if (k / (s.cwnd.max(1) as f64)) * rtt_s >= 2.0 * rtt_f + delta {
                EcfChoice::WaitForFast
            } else {
                EcfChoice::Slow
            }
        } else {
            EcfChoice::SlowAndReset
        }
    }
}

impl Default for Ecf {
    fn default() -> Self {
        Self::new(Self::DEFAULT_BETA)
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

impl Scheduler for Ecf {
    /// Never re-injects: proto need not ask ([`Scheduler::reinjects`]).
    fn reinjects(&self) -> bool {
        false
    }

    fn name(&self) -> &str {
        "ecf"
    }

    fn schedule(&mut self, paths: &[PathView], conn: &ConnectionView) -> Decision {
        let Some(fast) = lowest_srtt(preferred_usable(paths)) else {
            return Decision::no_path();
        };
        if eligible(fast) {
            return Decision::Send(fast.path_id);
        }
        let Some(slow) = MinRtt::pick(paths) else {
            return Decision::no_path();
        };
        // k is the data not yet assigned to a path. While flow control holds the application
        // back (`send_blocked`), what is queued is only what the peer's window let in, not what
        // is left to send: k is unknown and at least a window, so count it as unbounded (a bulk
        // sender's kernel send buffer, which the paper's k counts, is full as well). Taking the
        // small queue at face value would make ECF wait for the fast path as if at the end of
        // the transfer, and leave the slow path idle.
        let k = if conn.send_blocked { Self::UNBOUNDED_QUEUE } else { conn.bytes_queued };
        match Self::decide(fast, slow, k, self.waiting, self.beta) {
            EcfChoice::WaitForFast => {
                self.waiting = true;
                Decision::Wait(Wait { reason: WaitReason::FasterPath { path_id: fast.path_id }, retry_in: None })
            }
            EcfChoice::Slow => Decision::Send(slow.path_id),
            EcfChoice::SlowAndReset => {
                self.waiting = false;
                Decision::Send(slow.path_id)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use crate::PathId;

    /// Fast: 20 ms ± 5 ms, cwnd 10 × 1200 B (full). Slow: 100 ms ± 10 ms, cwnd 10 × 1200 B.
    /// δ = 10 ms; 2·RTT_f + δ = 50 ms; RTT_s + δ = 110 ms.
    fn pair() -> (PathView, PathView) {
        let mut f = PathView::new(PathId(0));
        f.srtt = Duration::from_millis(20);
        f.rttvar = Duration::from_millis(5);
        f.cwnd = 12_000;
        f.bytes_in_flight = 12_000;
        let mut s = PathView::new(PathId(1));
        s.srtt = Duration::from_millis(100);
        s.rttvar = Duration::from_millis(10);
        s.cwnd = 12_000;
        (f, s)
    }

    #[test]
    fn hand_computed_cases() {
        let (f, s) = pair();
        let beta = Ecf::DEFAULT_BETA;
        // k = 20 packets: n = 3, 60 ms < 110 ms; (k/CWND_s)·RTT_s = 200 ms ≥ 50 ms → wait.
        assert_eq!(Ecf::decide(&f, &s, 24_000, false, beta), EcfChoice::WaitForFast);
        // k = 2 packets: n = 1.2, 24 ms < 110 ms; 0.2 · 100 ms = 20 ms < 50 ms → slow path.
        assert_eq!(Ecf::decide(&f, &s, 2_400, false, beta), EcfChoice::Slow);
        // Second inequality around its boundary k/CWND_s · 100 ms = 50 ms, i.e. k = 6000 bytes.
        assert_eq!(Ecf::decide(&f, &s, 5_990, false, beta), EcfChoice::Slow);
        assert_eq!(Ecf::decide(&f, &s, 6_010, false, beta), EcfChoice::WaitForFast);
        // k = 100 packets: n = 11, 220 ms ≥ 110 ms → slow path, waiting cleared.
        assert_eq!(Ecf::decide(&f, &s, 120_000, false, beta), EcfChoice::SlowAndReset);
    }

    #[test]
    fn hysteresis_keeps_waiting() {
        let (f, s) = pair();
        let beta = Ecf::DEFAULT_BETA;
        // k = 50 packets: n = 6, n·RTT_f = 120 ms: not < 110 ms, but < 1.25 · 110 = 137.5 ms.
        assert_eq!(Ecf::decide(&f, &s, 60_000, false, beta), EcfChoice::SlowAndReset);
        assert_eq!(Ecf::decide(&f, &s, 60_000, true, beta), EcfChoice::WaitForFast);
        // k = 60 packets: n = 7, 140 ms ≥ 137.5 ms: even a waiting ECF gives up.
        assert_eq!(Ecf::decide(&f, &s, 72_000, true, beta), EcfChoice::SlowAndReset);
    }

    #[test]
    fn scheduler_carries_waiting_state() {
        let (f, s) = pair();
        let paths = [f, s];
        let mut ecf = Ecf::default();
        let wait = Decision::Wait(Wait { reason: WaitReason::FasterPath { path_id: PathId(0) }, retry_in: None });
        assert_eq!(ecf.schedule(&paths, &ConnectionView::new(60_000)), Decision::Send(PathId(1)));
        assert!(!ecf.waiting());
        assert_eq!(ecf.schedule(&paths, &ConnectionView::new(24_000)), wait);
        assert!(ecf.waiting());
        // Now the hysteresis case waits too.
        assert_eq!(ecf.schedule(&paths, &ConnectionView::new(60_000)), wait);
        assert_eq!(ecf.schedule(&paths, &ConnectionView::new(120_000)), Decision::Send(PathId(1)));
        assert!(!ecf.waiting());
        // Flow control holds the application back: the queue is not the rest of the transfer, so
        // ECF does not wait as it would for 24 000 bytes that really are the last ones.
        let mut blocked = ConnectionView::new(24_000);
        blocked.send_blocked = true;
        assert_eq!(ecf.schedule(&paths, &blocked), Decision::Send(PathId(1)));
        assert!(!ecf.waiting());
        // Fast path with room: always the fast path.
        let mut open = paths.clone();
        open[0].bytes_in_flight = 0;
        assert_eq!(ecf.schedule(&open, &ConnectionView::new(24_000)), Decision::Send(PathId(0)));
    }
}
