//! OLIA, the Opportunistic Linked Increases Algorithm (Khalili, Gast, Popovic, Upadhyay,
//! Le Boudec, "MPTCP is not Pareto-optimal", CoNEXT'12; papers.md §5.2).

use super::{Coupled, CoupledRule, CoupledView, PathRate};

/// OLIA's congestion-avoidance rule.
#[derive(Debug, Clone, Copy, Default)]
pub struct OliaRule;

/// An OLIA controller for one path.
pub type Olia = Coupled<OliaRule>;

/// OLIA's path sets as seen from one path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OliaSets {
    /// n: the number of paths taking part.
    pub paths: usize,
    /// Whether this path is in B, the paths maximising ℓ_r/rtt_r².
    pub in_best: bool,
    /// Whether this path is in M, the paths with the largest window (in segments).
    pub in_max_window: bool,
    /// |B ∖ M|.
    pub best_not_max: usize,
    /// |M|.
    pub max_window: usize,
    /// α_r for this path.
    pub alpha: f64,
}

/// Ties within this relative tolerance count as equal, so that equal inputs computed along
/// different float paths land in the same set.
const TIE: f64 = 1e-9;

fn ge(a: f64, b: f64) -> bool {
    a >= b - TIE * b.abs()
}

impl OliaRule {
    /// Computes B, M and α_r (papers.md §5.2): α_r = 1/(n·|B∖M|) for r ∈ B∖M,
    /// −1/(n·|M|) for r ∈ M when B∖M ≠ ∅, 0 otherwise. M compares windows in each path's own
    /// segments (the paper's w; the kernel's `snd_cwnd`), B compares ℓ_r/rtt_r² with ℓ in bytes
    /// (as the kernel does).
    pub fn sets(view: &CoupledView<'_>) -> OliaSets {
        let quality = |p: &PathRate| p.loss_interval / (p.rtt * p.rtt);
        let (mut n, mut best_q, mut max_w) = (0usize, f64::MIN, f64::MIN);
        for p in view.all() {
            n += 1;
            best_q = best_q.max(quality(&p));
            max_w = max_w.max(p.segments());
        }
        let (mut best_not_max, mut max_window) = (0usize, 0usize);
        for p in view.all() {
            let in_b = ge(quality(&p), best_q);
            let in_m = ge(p.segments(), max_w);
            best_not_max += usize::from(in_b && !in_m);
            max_window += usize::from(in_m);
        }
        let this = view.this;
        let in_best = ge(quality(&this), best_q);
        let in_max_window = ge(this.segments(), max_w);
        let alpha = if best_not_max == 0 {
            0.0
        } else if in_best && !in_max_window {
            1.0 / (n * best_not_max) as f64
        } else if in_max_window {
            -1.0 / (n * max_window) as f64
        } else {
            0.0
        };
        OliaSets { paths: n, in_best, in_max_window, best_not_max, max_window, alpha }
    }
}

impl CoupledRule for OliaRule {
    const NAME: &'static str = "olia";

    fn increase(&self, view: &CoupledView<'_>, bytes_acked: u64) -> f64 {
        // Khalili et al. (papers.md §5.2), per segment acknowledged on path r, w in segments:
        //   w_r += (w_r/rtt_r²)/(Σ_p w_p/rtt_p)² + α_r/w_r
        // in bytes (module docs): ΔW_r = bytes_acked·[(w_r/rtt_r²)/(Σ_p w_p/rtt_p)² + α_r/w_r].
        let sum_rate: f64 = view.all().map(|p| p.segment_rate()).sum();
        let this = view.this;
        let w = this.segments();
        if sum_rate <= 0.0 || w <= 0.0 {
            return 0.0;
        }
        let coupled = (w / (this.rtt * this.rtt)) / (sum_rate * sum_rate);
        let alpha = Self::sets(view).alpha;
        bytes_acked as f64 * (coupled + alpha / w)
    }
}

/// OLIA as mp-quic ran it in CoNEXT'17 (papers.md §1.2, §5.2): OLIA's increase, but on a
/// congestion event the window is multiplied by quic-go's two-connection Reno beta,
/// (2 - 1 + 0.7) / 2 = 0.85, instead of halved (qdeconinck/mp-quic `congestion/olia_sender.go`
/// builds OLIA on quic-go's sender, whose `RenoBeta` emulates two flows). Only for reproducing
/// that paper: it is far more aggressive than OLIA on lossy paths.
#[derive(Debug, Clone, Copy, Default)]
pub struct OliaMpQuicRule;

/// An OLIA controller with mp-quic's backoff, for one path.
pub type OliaMpQuic = Coupled<OliaMpQuicRule>;

impl OliaMpQuicRule {
    /// The multiplicative decrease: quic-go's Reno beta for two emulated connections.
    pub const BETA: f64 = (2.0 - 1.0 + 0.7) / 2.0;
}

impl CoupledRule for OliaMpQuicRule {
    const NAME: &'static str = "olia-mpquic";

    fn increase(&self, view: &CoupledView<'_>, bytes_acked: u64) -> f64 {
        OliaRule.increase(view, bytes_acked)
    }

    fn reduced_window(&self, view: &CoupledView<'_>) -> f64 {
        view.this.window * Self::BETA
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coupled::tests::{snapshots, snapshots_mss, view_of};

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-3 * b.abs().max(1.0)
    }

    #[test]
    fn best_and_max_window_sets() {
        // ℓ/rtt²: 5e8, 2.5e8, 6.25e6 → B = {0}; M = {1, 2}; B∖M = {0}; n = 3.
        let snaps = snapshots(&[(10_000, 10, 50_000), (30_000, 20, 100_000), (30_000, 40, 10_000)]);
        let s0 = OliaRule::sets(&view_of(&snaps, 0));
        assert_eq!(
            s0,
            OliaSets {
                paths: 3,
                in_best: true,
                in_max_window: false,
                best_not_max: 1,
                max_window: 2,
                alpha: 1.0 / 3.0
            }
        );
        let s1 = OliaRule::sets(&view_of(&snaps, 1));
        assert!(s1.in_max_window && !s1.in_best);
        assert!(close(s1.alpha, -1.0 / 6.0));
        // Σ W/rtt = 3.25e6; path 0: 1e6·(1e8/1.05625e13 + (1/3)/10000) = 42.80 bytes.
        assert!(close(OliaRule.increase(&view_of(&snaps, 0), 1000), 42.801));
        // path 1: 1e6·(7.5e7/1.05625e13 − (1/6)/30000) = 1.545 bytes.
        assert!(close(OliaRule.increase(&view_of(&snaps, 1), 1000), 1.5450));
    }

    #[test]
    fn alpha_zero_when_best_path_has_max_window() {
        let snaps = snapshots(&[(40_000, 10, 50_000), (30_000, 20, 100_000)]);
        for this in 0..2 {
            let s = OliaRule::sets(&view_of(&snaps, this));
            assert_eq!(s.best_not_max, 0);
            assert_eq!(s.alpha, 0.0);
        }
    }

    #[test]
    fn windows_compare_in_each_paths_own_segments() {
        // 12_000 B of 1200 B and 14_520 B of 1452 B are both 10 segments, so M = {0, 1}.
        // ℓ/rtt² is largest on path 0: B = {0} ⊂ M, B∖M = ∅, α = 0 on both paths. (Compared in
        // bytes, M would be {1} alone and path 0 would get α = +1/2.)
        let snaps = snapshots_mss(&[(12_000, 10, 50_000, 1200), (14_520, 10, 10_000, 1452)]);
        for this in 0..2 {
            let s = OliaRule::sets(&view_of(&snaps, this));
            assert_eq!((s.max_window, s.best_not_max, s.alpha), (2, 0, 0.0), "path {this}");
        }
        // Σ w/rtt = 1000 + 1000 segments/s; (10/0.01²)/2000² = 0.025 segments per acknowledged
        // segment: 1200 acknowledged bytes give 30 bytes on path 0, 1452 give 36.3 on path 1.
        assert!(close(OliaRule.increase(&view_of(&snaps, 0), 1200), 30.0));
        assert!(close(OliaRule.increase(&view_of(&snaps, 1), 1452), 36.3));
    }

    #[test]
    fn single_path_is_reno() {
        let snaps = snapshots(&[(12_000, 30, 5000)]);
        assert!(close(OliaRule.increase(&view_of(&snaps, 0), 12_000), 1000.0));
    }

    #[test]
    fn mpquic_variant_backs_off_by_0_85_and_grows_like_olia() {
        let snaps = snapshots(&[(20_000, 50, 5_000), (10_000, 100, 5_000)]);
        let view = view_of(&snaps, 0);
        assert!(close(OliaMpQuicRule.reduced_window(&view), 17_000.0));
        assert!(close(OliaRule.reduced_window(&view), 10_000.0));
        assert!(close(OliaMpQuicRule.increase(&view, 1000), OliaRule.increase(&view, 1000)));
    }
}
