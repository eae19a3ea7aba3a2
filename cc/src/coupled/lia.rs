//! LIA, the Linked Increases Algorithm of RFC 6356 (papers.md §5.1).

use super::{Coupled, CoupledRule, CoupledView};

/// LIA's congestion-avoidance rule (RFC 6356 §3).
#[derive(Debug, Clone, Copy, Default)]
pub struct LiaRule;

/// A LIA controller (RFC 6356) for one path.
pub type Lia = Coupled<LiaRule>;

impl LiaRule {
    /// RFC 6356 §3: `alpha = cwnd_total · max_i(cwnd_i/rtt_i²) / (Σ_i cwnd_i/rtt_i)²`.
    /// Windows in bytes or segments give the same (dimensionless) value.
    pub fn alpha(view: &CoupledView<'_>) -> f64 {
        let (mut total, mut best, mut sum_rate) = (0.0f64, 0.0f64, 0.0f64);
        for p in view.all() {
            total += p.window;
            best = best.max(p.window / (p.rtt * p.rtt));
            sum_rate += p.rate();
        }
        if sum_rate <= 0.0 {
            return 1.0;
        }
        total * best / (sum_rate * sum_rate)
    }
}

impl CoupledRule for LiaRule {
    const NAME: &'static str = "lia";

    fn increase(&self, view: &CoupledView<'_>, bytes_acked: u64) -> f64 {
        // RFC 6356 §3: cwnd_i += min(alpha·bytes_acked·MSS_i/cwnd_total, bytes_acked·MSS_i/cwnd_i);
        // the second term caps the increase at what Reno would do on this path alone.
        let total: f64 = view.all().map(|p| p.window).sum();
        let acked_mss = bytes_acked as f64 * view.max_datagram_size();
        let coupled = Self::alpha(view) * acked_mss / total;
        let uncoupled = acked_mss / view.this.window;
        coupled.min(uncoupled)
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
    fn alpha_and_increase_match_hand_computation() {
        // W/rtt²: 1e8 and 1.25e7; Σ W/rtt = 1.5e6; alpha = 30000·1e8/2.25e12 = 4/3.
        let snaps = snapshots(&[(10_000, 10, 0), (20_000, 40, 0)]);
        let v0 = view_of(&snaps, 0);
        assert!(close(LiaRule::alpha(&v0), 4.0 / 3.0), "{}", LiaRule::alpha(&v0));
        // min(4/3·1000·1000/30000, 1000·1000/10000) = min(44.44, 100)
        assert!(close(LiaRule.increase(&v0, 1000), 44.444));
        // path 1: min(44.44, 50)
        assert!(close(LiaRule.increase(&view_of(&snaps, 1), 1000), 44.444));
    }

    #[test]
    fn per_path_cap_binds_for_large_slow_path() {
        // alpha = 110000·1e8/1.21e12 = 9.0909; path 1 coupled term 82.64 > its Reno term 10.
        let snaps = snapshots(&[(10_000, 10, 0), (100_000, 1000, 0)]);
        assert!(close(LiaRule::alpha(&view_of(&snaps, 1)), 9.0909));
        assert!(close(LiaRule.increase(&view_of(&snaps, 1), 1000), 10.0));
        assert!(close(LiaRule.increase(&view_of(&snaps, 0), 1000), 82.645));
    }

    #[test]
    fn single_path_is_reno() {
        let snaps = snapshots(&[(12_000, 30, 0)]);
        let v = view_of(&snaps, 0);
        assert!(close(LiaRule::alpha(&v), 1.0));
        assert!(close(LiaRule.increase(&v, 12_000), 1000.0), "one MSS per window");
    }
}
