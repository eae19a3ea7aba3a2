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
        match Self::decide(fast, slow, conn.bytes_queued, self.waiting, self.beta) {
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
