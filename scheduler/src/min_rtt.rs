//! MinRTT, the default scheduler: the eligible path with the lowest smoothed RTT.
//!
//! The MPTCP default and mp-quic's (papers.md §6). Backup paths are used only when no available
//! path can send (RFC 10069 §3.3).

use std::sync::Arc;

use crate::scheduler::{Decision, FnFactory, Scheduler, SchedulerFactory};
use crate::view::{lowest_srtt, preferred_eligible, ConnectionView, PathView};

/// Lowest `srtt` among eligible available paths; among eligible backup paths when no available
/// path can send; otherwise wait. Ties go to the lowest path ID.
#[derive(Debug, Clone, Copy, Default)]
pub struct MinRtt;

impl MinRtt {
    /// The path MinRTT would pick, if any. BLEST and ECF use this as their "default scheduler".
    pub fn pick(paths: &[PathView]) -> Option<&PathView> {
        lowest_srtt(preferred_eligible(paths))
    }

    /// A factory for the configuration.
    pub fn factory() -> Arc<dyn SchedulerFactory> {
        FnFactory::arc("minrtt", || Box::new(MinRtt))
    }
}

impl Scheduler for MinRtt {
    /// Never re-injects: proto need not ask ([`Scheduler::reinjects`]).
    fn reinjects(&self) -> bool {
        false
    }

    fn name(&self) -> &str {
        "minrtt"
    }

    fn schedule(&mut self, paths: &[PathView], _conn: &ConnectionView) -> Decision {
        Self::pick(paths).map_or(Decision::no_path(), |p| Decision::Send(p.path_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::PathStatus;
    #[allow(unused_imports)]
    use crate::PathId;
    use core::time::Duration;

    fn path(id: u32, srtt_ms: u64) -> PathView {
        let mut p = PathView::new(PathId(id));
        p.srtt = Duration::from_millis(srtt_ms);
        p
    }

    #[test]
    fn picks_lowest_srtt_then_next_when_full() {
        let mut paths = vec![path(0, 40), path(1, 10), path(2, 25)];
        let conn = ConnectionView::new(10_000);
        assert_eq!(MinRtt.schedule(&paths, &conn), Decision::Send(PathId(1)));
        paths[1].bytes_in_flight = paths[1].cwnd;
        assert_eq!(MinRtt.schedule(&paths, &conn), Decision::Send(PathId(2)));
    }

    /// A path whose rate-based controller has used up its rate is skipped like a full one (BBR
    /// keeps its window above what is in flight); a window-based pacer's wait is not.
    #[test]
    fn a_rate_limited_path_is_skipped_like_a_full_one() {
        let mut paths = vec![path(0, 10), path(1, 40)];
        let conn = ConnectionView::new(10_000);
        paths[0].next_send_in = Duration::from_micros(300);
        assert_eq!(MinRtt.schedule(&paths, &conn), Decision::Send(PathId(0)), "a pacer's wait alone");
        paths[0].rate_limited = true;
        assert_eq!(MinRtt.schedule(&paths, &conn), Decision::Send(PathId(1)));
        paths[1].rate_limited = true;
        assert_eq!(MinRtt.schedule(&paths, &conn), Decision::no_path(), "both rates used up: wait");
    }

    #[test]
    fn backup_only_when_no_available_can_send() {
        let mut paths = vec![path(0, 40), path(1, 10)];
        paths[1].status = PathStatus::Backup;
        let conn = ConnectionView::new(10_000);
        assert_eq!(MinRtt.schedule(&paths, &conn), Decision::Send(PathId(0)));
        paths[0].potentially_failed = true;
        assert_eq!(MinRtt.schedule(&paths, &conn), Decision::Send(PathId(1)));
        paths[1].abandoned = true;
        assert_eq!(MinRtt.schedule(&paths, &conn), Decision::no_path());
    }
}
