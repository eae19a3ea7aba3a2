//! Backup/priority: stay on the preferred available path; fail over in a fixed priority order,
//! to backup paths only when no available path can send (RFC 10069 §3.3).

use std::sync::Arc;

use crate::scheduler::{Decision, Scheduler, SchedulerFactory};
use crate::view::{preferred_eligible, ConnectionView, PathView};
use crate::PathId;

/// Sends on the highest-priority eligible available path; backup paths only when no available path
/// can send. Priority follows the configured order of path IDs; paths not listed come after, by
/// path ID (so by default path 0, the handshake path, is the primary).
///
/// Unlike MinRTT it does not spread data over paths by RTT: the primary carries everything its
/// window allows.
#[derive(Debug, Clone, Default)]
pub struct BackupPriority {
    order: Vec<PathId>,
}

impl BackupPriority {
    /// Priority by path ID.
    pub fn new() -> Self {
        Self::default()
    }

    /// Priority in the order of `path_ids`, most preferred first.
    pub fn with_order(path_ids: impl IntoIterator<Item = PathId>) -> Self {
        Self { order: path_ids.into_iter().collect() }
    }

    fn rank(&self, path_id: PathId) -> (usize, PathId) {
        let pos = self.order.iter().position(|&id| id == path_id).unwrap_or(self.order.len());
        (pos, path_id)
    }

    /// A factory for the configuration (priority by path ID).
    pub fn factory() -> Arc<dyn SchedulerFactory> {
        Arc::new(BackupPriorityFactory { order: Vec::new() })
    }
}

impl Scheduler for BackupPriority {
    /// Never re-injects: proto need not ask ([`Scheduler::reinjects`]).
    fn reinjects(&self) -> bool {
        false
    }

    fn name(&self) -> &str {
        "backup"
    }

    fn schedule(&mut self, paths: &[PathView], _conn: &ConnectionView) -> Decision {
        preferred_eligible(paths)
            .min_by_key(|p| self.rank(p.path_id))
            .map_or(Decision::no_path(), |p| Decision::Send(p.path_id))
    }
}

/// Builds [`BackupPriority`] schedulers with a fixed priority order.
#[derive(Debug, Clone, Default)]
pub struct BackupPriorityFactory {
    /// Path IDs, most preferred first.
    pub order: Vec<PathId>,
}

impl SchedulerFactory for BackupPriorityFactory {
    fn name(&self) -> &str {
        "backup"
    }
    fn build(&self) -> Box<dyn Scheduler> {
        Box::new(BackupPriority::with_order(self.order.iter().copied()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::PathStatus;
    #[allow(unused_imports)]
    use crate::PathId;
    use core::time::Duration;

    #[test]
    fn primary_then_failover_then_backup() {
        let mut paths: Vec<_> = (0..3).map(|i| PathView::new(PathId(i))).collect();
        paths[0].srtt = Duration::from_millis(100); // slower, yet primary
        paths[2].status = PathStatus::Backup;
        let conn = ConnectionView::new(1);
        let mut s = BackupPriority::new();
        assert_eq!(s.schedule(&paths, &conn), Decision::Send(PathId(0)));
        paths[0].potentially_failed = true;
        assert_eq!(s.schedule(&paths, &conn), Decision::Send(PathId(1)));
        // RFC 10069 §3.3: a full window does not make a working path unusable; the data waits
        // for it instead of spilling onto the backup path.
        paths[1].bytes_in_flight = paths[1].cwnd;
        assert_eq!(s.schedule(&paths, &conn), Decision::no_path());
        paths[1].potentially_failed = true;
        assert_eq!(s.schedule(&paths, &conn), Decision::Send(PathId(2)));
        let mut s = BackupPriority::with_order([PathId(1), PathId(0)]);
        paths[0].potentially_failed = false;
        paths[1].potentially_failed = false;
        paths[1].bytes_in_flight = 0;
        assert_eq!(s.schedule(&paths, &conn), Decision::Send(PathId(1)));
    }
}
