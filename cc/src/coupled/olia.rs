//! OLIA, the Opportunistic Linked Increases Algorithm (Khalili, Gast, Popovic, Upadhyay,
//! Le Boudec, "MPTCP is not Pareto-optimal", CoNEXT'12; papers.md §5.2).

use super::{Coupled, CoupledRule, CoupledView};

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
    /// Whether this path is in M, the paths with the largest window.
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
    /// −1/(n·|M|) for r ∈ M when B∖M ≠ ∅, 0 otherwise.
    pub fn sets(view: &CoupledView<'_>) -> OliaSets {
        let quality = |l: f64, rtt: f64| l / (rtt * rtt);
        let (mut n, mut best_q, mut max_w) = (0usize, f64::MIN, f64::MIN);
        for p in view.all() {
            n += 1;
            best_q = best_q.max(quality(p.loss_interval, p.rtt));
            max_w = max_w.max(p.window);
        }
        let (mut best_not_max, mut max_window) = (0usize, 0usize);
        for p in view.all() {
            let in_b = ge(quality(p.loss_interval, p.rtt), best_q);
            let in_m = ge(p.window, max_w);
            best_not_max += usize::from(in_b && !in_m);
            max_window += usize::from(in_m);
        }
        let this = view.this;
        let in_best = ge(quality(this.loss_interval, this.rtt), best_q);
        let in_max_window = ge(this.window, max_w);
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
        // Per segment acknowledged (w in segments):
        //   w_r += (w_r/rtt_r²)/(Σ_p w_p/rtt_p)² + α_r/w_r
        // in bytes (module docs): ΔW = bytes_acked·MSS·[(W_r/rtt_r²)/(Σ W_p/rtt_p)² + α_r/W_r].
        let sum_rate: f64 = view.all().map(|p| p.rate()).sum();
        let this = view.this;
        if sum_rate <= 0.0 || this.window <= 0.0 {
            return 0.0;
        }
        let coupled = (this.window / (this.rtt * this.rtt)) / (sum_rate * sum_rate);
        let alpha = Self::sets(view).alpha;
        bytes_acked as f64 * view.max_datagram_size * (coupled + alpha / this.window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coupled::tests::{snapshots, view_of};

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
    fn single_path_is_reno() {
        let snaps = snapshots(&[(12_000, 30, 5000)]);
        assert!(close(OliaRule.increase(&view_of(&snaps, 0), 12_000), 1000.0));
    }
}
