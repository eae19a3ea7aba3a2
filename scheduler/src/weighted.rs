//! Weighted: smooth weighted round robin over the eligible paths (the nginx upstream algorithm):
//! each path gets a share of packets proportional to its weight, interleaved rather than in bursts.

use crate::scheduler::{Decision, PathEvent, Scheduler, SchedulerFactory};
use crate::view::{preferred_eligible, ConnectionView, PathView};
use crate::PathId;

/// Per-path weights; a path without a configured weight gets [`Weighted::DEFAULT_WEIGHT`].
///
/// Each decision adds every eligible path's weight to its running credit, sends on the path with
/// the most credit (ties: lowest path ID) and takes the round's total weight from it. Paths that
/// cannot send sit the round out, so the shares hold among the paths that can. A weight of 0 means
/// "only when no weighted path can send" (then the lowest path ID among them).
#[derive(Debug, Clone, Default)]
pub struct Weighted {
    weights: Vec<(PathId, u32)>,
    credit: Vec<(PathId, i64)>,
}

impl Weighted {
    /// Weight of a path not configured.
    pub const DEFAULT_WEIGHT: u32 = 1;

    /// A scheduler with these `(path_id, weight)` pairs.
    pub fn new(weights: impl IntoIterator<Item = (PathId, u32)>) -> Self {
        Self { weights: weights.into_iter().collect(), credit: Vec::new() }
    }

    /// The weight of `path_id`.
    pub fn weight(&self, path_id: PathId) -> u32 {
        self.weights.iter().find(|(id, _)| *id == path_id).map_or(Self::DEFAULT_WEIGHT, |&(_, w)| w)
    }

    /// Set (or change) the weight of `path_id`.
    pub fn set_weight(&mut self, path_id: PathId, weight: u32) {
        match self.weights.iter_mut().find(|(id, _)| *id == path_id) {
            Some(entry) => entry.1 = weight,
            None => self.weights.push((path_id, weight)),
        }
    }

    fn credit_mut(&mut self, path_id: PathId) -> &mut i64 {
        let idx = match self.credit.iter().position(|(id, _)| *id == path_id) {
            Some(idx) => idx,
            None => {
                self.credit.push((path_id, 0));
                self.credit.len() - 1
            }
        };
        &mut self.credit[idx].1
    }
}

impl Scheduler for Weighted {
    /// Never re-injects: proto need not ask ([`Scheduler::reinjects`]).
    fn reinjects(&self) -> bool {
        false
    }

    fn name(&self) -> &str {
        "weighted"
    }

    fn schedule(&mut self, paths: &[PathView], _conn: &ConnectionView) -> Decision {
        let mut total: i64 = 0;
        let mut best: Option<(i64, PathId)> = None;
        let mut zero_weight: Option<PathId> = None;
        for p in preferred_eligible(paths) {
            let w = i64::from(self.weight(p.path_id));
            if w == 0 {
                zero_weight = Some(zero_weight.map_or(p.path_id, |z| z.min(p.path_id)));
                continue;
            }
            let credit = self.credit_mut(p.path_id);
            *credit += w;
            let c = *credit;
            total += w;
            // Most credit wins; on a tie the lowest path ID.
            if best.is_none_or(|(bc, bid)| c > bc || (c == bc && p.path_id < bid)) {
                best = Some((c, p.path_id));
            }
        }
        match (best, zero_weight) {
            (Some((_, id)), _) => {
                *self.credit_mut(id) -= total;
                Decision::Send(id)
            }
            (None, Some(id)) => Decision::Send(id),
            (None, None) => Decision::no_path(),
        }
    }

    fn on_path_change(&mut self, path_id: PathId, event: PathEvent) {
        if event == PathEvent::Abandoned {
            self.credit.retain(|(id, _)| *id != path_id);
        }
    }
}

/// Builds [`Weighted`] schedulers with the same weights.
#[derive(Debug, Clone, Default)]
pub struct WeightedFactory {
    /// `(path_id, weight)` pairs.
    pub weights: Vec<(PathId, u32)>,
}

impl SchedulerFactory for WeightedFactory {
    fn name(&self) -> &str {
        "weighted"
    }
    fn build(&self) -> Box<dyn Scheduler> {
        Box::new(Weighted::new(self.weights.iter().copied()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use crate::PathId;

    #[test]
    fn smooth_interleaving_5_1_1() {
        // The classic nginx example: weights a=5, b=1, c=1 give a a b a c a a.
        let paths: Vec<_> = (0..3).map(|i| PathView::new(PathId(i))).collect();
        let mut w = Weighted::new([(PathId(0), 5), (PathId(1), 1), (PathId(2), 1)]);
        let conn = ConnectionView::new(1);
        let seq: Vec<_> = (0..7).map(|_| w.schedule(&paths, &conn)).collect();
        assert_eq!(seq, [0, 0, 1, 0, 2, 0, 0].map(|i| Decision::Send(PathId(i))));
    }

    #[test]
    fn zero_weight_is_last_resort() {
        let mut paths: Vec<_> = (0..2).map(|i| PathView::new(PathId(i))).collect();
        let mut w = Weighted::new([(PathId(1), 0)]);
        let conn = ConnectionView::new(1);
        assert_eq!(w.schedule(&paths, &conn), Decision::Send(PathId(0)));
        paths[0].validated = false;
        assert_eq!(w.schedule(&paths, &conn), Decision::Send(PathId(1)));
    }
}
