//! Redundant: every packet on every eligible path (Frömmgen et al., ReMP TCP 2016; Linux
//! `mptcp_redundant.c`). Trades capacity for the latency of the fastest path.

use std::sync::Arc;

use crate::scheduler::{Decision, FnFactory, PathSet, Scheduler, SchedulerFactory};
use crate::view::{preferred_eligible, ConnectionView, PathView};

/// Duplicates each packet on all eligible available paths (on the eligible backup paths when no
/// available path can send). One eligible path gives a plain `Send`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Redundant;

impl Redundant {
    /// A factory for the configuration.
    pub fn factory() -> Arc<dyn SchedulerFactory> {
        FnFactory::arc("redundant", || Box::new(Redundant))
    }
}

impl Scheduler for Redundant {
    fn name(&self) -> &str {
        "redundant"
    }

    fn schedule(&mut self, paths: &[PathView], _conn: &ConnectionView) -> Decision {
        let mut set: PathSet = preferred_eligible(paths).map(|p| p.path_id).collect();
        set.sort_unstable();
        match set.len() {
            0 => Decision::no_path(),
            1 => Decision::Send(set[0]),
            _ => Decision::Duplicate(set),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use crate::PathId;

    #[test]
    fn duplicates_on_all_eligible() {
        let mut paths: Vec<_> = (0..3).map(|i| PathView::new(PathId(i))).collect();
        let conn = ConnectionView::new(1);
        assert_eq!(
            Redundant.schedule(&paths, &conn),
            Decision::Duplicate(PathSet::from_slice(&[PathId(0), PathId(1), PathId(2)]))
        );
        paths[1].validated = false;
        paths[2].abandoned = true;
        assert_eq!(Redundant.schedule(&paths, &conn), Decision::Send(PathId(0)));
    }
}
