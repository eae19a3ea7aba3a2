//! Redundant: every packet on every path (Frömmgen et al., ReMP TCP 2016; Linux
//! `mptcp_redundant.c`; papers.md §6). Trades capacity for the latency of the fastest path.
//!
//! As in Linux's redundant scheduler, a path does not have to have room when a packet first goes
//! out: each subflow there walks the connection's send queue on its own, sending every segment
//! it has not sent yet as soon as its window opens, and skipping segments the connection already
//! has acknowledged. Here the decision names the eligible paths (the packet goes out on one of
//! them now) *and* the usable paths whose window is full: proto queues a copy for each of those
//! and sends it when the path has room, unless the data was acknowledged meanwhile. Each path
//! thus carries the whole transfer up to its own capacity, and the transfer completes at the pace
//! of the fastest path.

use std::sync::Arc;

use crate::scheduler::{Decision, FnFactory, PathSet, Scheduler, SchedulerFactory};
use crate::view::{eligible, preferred_usable, ConnectionView, PathView};

/// Duplicates each packet on all usable paths of the preferred class (the available paths while
/// one works, otherwise the backup paths, RFC 10069 §3.3): now on those with room, later on those
/// whose window is full. Waits when no path of the class has room; one usable path gives a plain
/// `Send`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Redundant;

impl Redundant {
    /// A factory for the configuration.
    pub fn factory() -> Arc<dyn SchedulerFactory> {
        FnFactory::arc("redundant", || Box::new(Redundant))
    }
}

impl Scheduler for Redundant {
    /// Never re-injects: proto need not ask ([`Scheduler::reinjects`]).
    fn reinjects(&self) -> bool {
        false
    }

    fn name(&self) -> &str {
        "redundant"
    }

    fn schedule(&mut self, paths: &[PathView], _conn: &ConnectionView) -> Decision {
        // Paths with room first (one of them sends the packet now), then those whose copy waits.
        let mut now: PathSet = preferred_usable(paths).filter(|p| eligible(p)).map(|p| p.path_id).collect();
        if now.is_empty() {
            return Decision::no_path();
        }
        now.sort_unstable();
        let mut later: PathSet = preferred_usable(paths).filter(|p| !eligible(p)).map(|p| p.path_id).collect();
        later.sort_unstable();
        now.extend(later);
        match now.len() {
            1 => Decision::Send(now[0]),
            _ => Decision::Duplicate(now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::PathStatus;
    #[allow(unused_imports)]
    use crate::PathId;

    #[test]
    fn duplicates_on_all_usable() {
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

    #[test]
    fn a_full_window_gets_its_copy_later() {
        let mut paths: Vec<_> = (0..2).map(|i| PathView::new(PathId(i))).collect();
        let conn = ConnectionView::new(1);
        paths[0].bytes_in_flight = paths[0].cwnd;
        // Path 1 sends now, path 0's copy waits for its window.
        assert_eq!(
            Redundant.schedule(&paths, &conn),
            Decision::Duplicate(PathSet::from_slice(&[PathId(1), PathId(0)]))
        );
        paths[1].bytes_in_flight = paths[1].cwnd;
        assert_eq!(Redundant.schedule(&paths, &conn), Decision::no_path());
    }

    #[test]
    fn backup_paths_only_when_no_available_path_works() {
        let mut paths: Vec<_> = (0..2).map(|i| PathView::new(PathId(i))).collect();
        let conn = ConnectionView::new(1);
        paths[1].status = PathStatus::Backup;
        assert_eq!(Redundant.schedule(&paths, &conn), Decision::Send(PathId(0)));
        paths[0].potentially_failed = true;
        assert_eq!(Redundant.schedule(&paths, &conn), Decision::Send(PathId(1)));
    }
}
