//! BALIA, the Balanced Linked Adaptation algorithm (Peng, Walid, Hwang, Low, "Multipath TCP:
//! Analysis, Design, and Implementation", IEEE/ACM ToN 24(1), 2016; papers.md §5.3).

use super::{Coupled, CoupledRule, CoupledView};

/// BALIA's increase and decrease rules.
#[derive(Debug, Clone, Copy, Default)]
pub struct BaliaRule;

/// A BALIA controller for one path.
pub type Balia = Coupled<BaliaRule>;

impl BaliaRule {
    /// α_r = max_k x_k / x_r with x = w/rtt, w in each path's own segments (papers.md §5.3).
    pub fn alpha(view: &CoupledView<'_>) -> f64 {
        let max_rate = view.all().map(|p| p.segment_rate()).fold(0.0, f64::max);
        let this = view.this.segment_rate();
        if this <= 0.0 {
            return 1.0;
        }
        max_rate / this
    }
}

impl CoupledRule for BaliaRule {
    const NAME: &'static str = "balia";

    fn increase(&self, view: &CoupledView<'_>, bytes_acked: u64) -> f64 {
        // Peng et al. (papers.md §5.3), per segment acknowledged on path r, x = w/rtt in segments:
        //   w_r += (x_r/(rtt_r·(Σx)²))·((1+α_r)/2)·((4+α_r)/5)
        // in bytes (module docs): ΔW_r = bytes_acked·x_r/(rtt_r·(Σx)²)·((1+α_r)/2)·((4+α_r)/5).
        let sum: f64 = view.all().map(|p| p.segment_rate()).sum();
        let this = view.this;
        if sum <= 0.0 {
            return 0.0;
        }
        let alpha = Self::alpha(view);
        let base = this.segment_rate() / (this.rtt * sum * sum);
        bytes_acked as f64 * base * ((1.0 + alpha) / 2.0) * ((4.0 + alpha) / 5.0)
    }

    fn reduced_window(&self, view: &CoupledView<'_>) -> f64 {
        // On loss: w_r −= (w_r/2)·min(α_r, 1.5).
        let w = view.this.window;
        w - w / 2.0 * Self::alpha(view).min(1.5)
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
    fn increase_and_decrease_terms() {
        // x = 1e6 and 5e5 bytes/s; Σx = 1.5e6; α_0 = 1, α_1 = 2.
        let snaps = snapshots(&[(10_000, 10, 0), (20_000, 40, 0)]);
        let (v0, v1) = (view_of(&snaps, 0), view_of(&snaps, 1));
        assert!(close(BaliaRule::alpha(&v0), 1.0));
        assert!(close(BaliaRule::alpha(&v1), 2.0));
        // path 0: 1e6·1e6/(0.01·2.25e12)·1·1 = 44.44 bytes.
        assert!(close(BaliaRule.increase(&v0, 1000), 44.444));
        // path 1: 1e6·5e5/(0.04·2.25e12)·(3/2)·(6/5) = 10 bytes.
        assert!(close(BaliaRule.increase(&v1, 1000), 10.0));
        // decrease: 10000 − 5000·1 = 5000; 20000 − 10000·min(2, 1.5) = 5000.
        assert!(close(BaliaRule.reduced_window(&v0), 5000.0));
        assert!(close(BaliaRule.reduced_window(&v1), 5000.0));
    }

    #[test]
    fn rates_in_each_paths_own_segments() {
        // Path 0: 12_000 B / 1200 B = 10 segments in 10 ms, x = 1000/s; path 1: 29_040 B / 1452 B
        // = 20 segments in 40 ms, x = 500/s. Σx = 1500; α_0 = 1, α_1 = 2.
        let snaps = snapshots_mss(&[(12_000, 10, 0, 1200), (29_040, 40, 0, 1452)]);
        let (v0, v1) = (view_of(&snaps, 0), view_of(&snaps, 1));
        assert!(close(BaliaRule::alpha(&v0), 1.0));
        assert!(close(BaliaRule::alpha(&v1), 2.0));
        // path 0, 1200 bytes: 1200·1000/(0.01·1500²)·1·1 = 53.33 bytes.
        assert!(close(BaliaRule.increase(&v0, 1200), 53.333));
        // path 1, 1452 bytes: 1452·500/(0.04·1500²)·(3/2)·(6/5) = 14.52 bytes.
        assert!(close(BaliaRule.increase(&v1, 1452), 14.52));
        // Decrease with 1 < α < 1.5: path 1 of 16 segments (23_232 B) in 20 ms, x = 800/s, so
        // α_1 = 1000/800 = 1.25 and w −= (w/2)·1.25: 23_232 − 11_616·1.25 = 8712. (In bytes per
        // second α_1 would be 1.2e6/1.1616e6 = 1.033.)
        let snaps = snapshots_mss(&[(12_000, 10, 0, 1200), (23_232, 20, 0, 1452)]);
        assert!(close(BaliaRule.reduced_window(&view_of(&snaps, 1)), 8712.0));
    }

    #[test]
    fn single_path_is_reno() {
        let snaps = snapshots(&[(12_000, 30, 0)]);
        let v = view_of(&snaps, 0);
        assert!(close(BaliaRule.increase(&v, 12_000), 1000.0));
        assert!(close(BaliaRule.reduced_window(&v), 6000.0));
    }
}
