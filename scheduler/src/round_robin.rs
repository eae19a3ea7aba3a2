//! RoundRobin: cycle over the eligible paths in path-ID order (Paasch et al., CSWS'14; mp-quic
//! `selectPathRoundRobin`).

use std::sync::Arc;

use crate::scheduler::{Decision, FnFactory, Scheduler, SchedulerFactory};
use crate::view::{preferred_eligible, ConnectionView, PathView};
use crate::PathId;

/// Sends on the next eligible path after the one used last, in path-ID order, wrapping around.
/// Backup paths join the cycle only when no available path can send.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoundRobin {
    last: Option<PathId>,
}

impl RoundRobin {
    /// A scheduler starting at the lowest path ID.
    pub fn new() -> Self {
        Self::default()
    }

    /// A factory for the configuration.
    pub fn factory() -> Arc<dyn SchedulerFactory> {
        FnFactory::arc("roundrobin", || Box::new(RoundRobin::new()))
    }
}

impl Scheduler for RoundRobin {
    /// Never re-injects: proto need not ask ([`Scheduler::reinjects`]).
    fn reinjects(&self) -> bool {
        false
    }

    fn name(&self) -> &str {
        "roundrobin"
    }

    fn schedule(&mut self, paths: &[PathView], _conn: &ConnectionView) -> Decision {
        let candidates = preferred_eligible(paths).map(|p| p.path_id);
        let after_last = match self.last {
            Some(last) => candidates.clone().filter(|&id| id > last).min(),
            None => None,
        };
        match after_last.or_else(|| candidates.min()) {
            Some(id) => {
                self.last = Some(id);
                Decision::Send(id)
            }
            None => Decision::no_path(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use crate::PathId;

    #[test]
    fn cycles_and_skips_full_paths() {
        let mut paths: Vec<_> = [3, 0, 7].into_iter().map(|i| PathView::new(PathId(i))).collect();
        let conn = ConnectionView::new(1);
        let mut rr = RoundRobin::new();
        let seq: Vec<_> = (0..4).map(|_| rr.schedule(&paths, &conn)).collect();
        assert_eq!(seq, [0, 3, 7, 0].map(|i| Decision::Send(PathId(i))));
        paths[0].bytes_in_flight = paths[0].cwnd; // path 3 full
        assert_eq!(rr.schedule(&paths, &conn), Decision::Send(PathId(7)));
        assert_eq!(rr.schedule(&paths, &conn), Decision::Send(PathId(0)));
    }
}
