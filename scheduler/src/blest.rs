//! BLEST, blocking estimation (Ferlin, Alay, Mehani, Boreli, IFIP Networking 2016, §V;
//! papers.md §3.1): before sending on a slower path, estimate how much the fastest path could send
//! while the slow packet is in flight; if that would not fit in the connection's send window, the
//! slow packet would block the fast path, so wait for the fast path instead.

use core::time::Duration;
use std::sync::Arc;

use crate::min_rtt::MinRtt;
use crate::scheduler::{Decision, Scheduler, SchedulerFactory, Wait, WaitReason};
use crate::view::{eligible, lowest_srtt, preferred_usable, ConnectionView, PathView};

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
    last_update_nanos: Option<u64>,
    fast_path: Option<u32>,
    hol_event: bool,
}

impl Blest {
    /// A scheduler with `config`.
    pub fn new(config: BlestConfig) -> Self {
        Self { config, lambda: config.lambda_initial, last_update_nanos: None, fast_path: None, hol_event: false }
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
        let rtt_f = secs(f.srtt).max(1e-6);
        let rtts = secs(s.srtt) / rtt_f;
        f64::from(f.mtu) * (f.cwnd_packets() + (rtts - 1.0) / 2.0) * rtts
    }

    /// The BLEST test: wait for the fast path when `λ·X > |M| − MSS_s·(inflight_s + 1)`, with
    /// `|M|` = `send_window` in bytes and `MSS_s·inflight_s` = the slow path's bytes in flight.
    pub fn would_block(f: &PathView, s: &PathView, send_window: u64, lambda: f64) -> bool {
        let space = send_window as f64 - (s.bytes_in_flight as f64 + f64::from(s.mtu));
        lambda * Self::fast_path_bytes(f, s) > space
    }

    fn update_lambda(&mut self, now_nanos: u64, fast_srtt: Duration) {
        if !self.config.adaptive {
            return;
        }
        let Some(last) = self.last_update_nanos else {
            self.last_update_nanos = Some(now_nanos);
            return;
        };
        if now_nanos.saturating_sub(last) < u64::try_from(fast_srtt.as_nanos()).unwrap_or(u64::MAX) {
            return;
        }
        self.lambda += if self.hol_event { self.config.lambda_increase } else { -self.config.lambda_decrease };
        self.lambda = self.lambda.clamp(self.config.lambda_min, self.config.lambda_max);
        self.hol_event = false;
        self.last_update_nanos = Some(now_nanos);
    }
}

impl Default for Blest {
    fn default() -> Self {
        Self::new(BlestConfig::default())
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

impl Scheduler for Blest {
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
        self.update_lambda(conn.now_nanos, fast.srtt);
        if Self::would_block(fast, slow, conn.send_window, self.lambda) {
            Decision::Wait(Wait { reason: WaitReason::FasterPath { path_id: fast.path_id }, retry_in: None })
        } else {
            Decision::Send(slow.path_id)
        }
    }

    fn on_loss(&mut self, path_id: u32, _bytes: u64) {
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
