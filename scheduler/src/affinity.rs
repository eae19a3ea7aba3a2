//! Per-stream path affinity: the application pins a stream to a path (say, a control stream to
//! the low-latency path); a wrapper scheduler honours the pin while that path can send and hands
//! everything else to the scheduler it wraps.

use core::time::Duration;
use std::collections::HashMap;
use std::sync::Arc;

use crate::scheduler::{Decision, PathEvent, Reinjection, Scheduler, SchedulerFactory};
use crate::view::{eligible, ConnectionView, PathView};
use crate::PathId;

/// Wraps a scheduler and sends the data of pinned streams on their path when it is eligible
/// (backup status does not matter: the application asked for that path). Otherwise, and for
/// streams without a pin, the inner scheduler decides.
///
/// Pins are set through [`Scheduler::set_stream_affinity`] (proto forwards the application's
/// call) or [`StreamAffinity::pin`]; a pin is dropped when its path is abandoned.
#[derive(Debug)]
pub struct StreamAffinity<S = Box<dyn Scheduler>> {
    inner: S,
    pins: HashMap<u64, PathId>,
    name: String,
}

impl<S: Scheduler> StreamAffinity<S> {
    /// Wrap `inner`.
    pub fn new(inner: S) -> Self {
        let name = format!("affinity+{}", inner.name());
        Self { inner, pins: HashMap::new(), name }
    }

    /// Pin `stream_id` to `path_id`.
    pub fn pin(&mut self, stream_id: u64, path_id: PathId) {
        self.pins.insert(stream_id, path_id);
    }

    /// Remove the pin of `stream_id` (call when the stream is finished).
    pub fn unpin(&mut self, stream_id: u64) {
        self.pins.remove(&stream_id);
    }

    /// The path `stream_id` is pinned to.
    pub fn pinned(&self, stream_id: u64) -> Option<PathId> {
        self.pins.get(&stream_id).copied()
    }

    /// The wrapped scheduler.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S: Scheduler> Scheduler for StreamAffinity<S> {
    fn name(&self) -> &str {
        &self.name
    }

    fn schedule(&mut self, paths: &[PathView], conn: &ConnectionView) -> Decision {
        if let Some(path_id) = conn.next_stream.and_then(|s| self.pinned(s.stream_id)) {
            if paths.iter().any(|p| p.path_id == path_id && eligible(p)) {
                return Decision::Send(path_id);
            }
        }
        self.inner.schedule(paths, conn)
    }

    fn on_ack(&mut self, path_id: PathId, bytes: u64, rtt: Duration) {
        self.inner.on_ack(path_id, bytes, rtt);
    }

    fn on_loss(&mut self, path_id: PathId, bytes: u64) {
        self.inner.on_loss(path_id, bytes);
    }

    fn on_path_change(&mut self, path_id: PathId, event: PathEvent) {
        if event == PathEvent::Abandoned {
            self.pins.retain(|_, p| *p != path_id);
        }
        self.inner.on_path_change(path_id, event);
    }

    fn reinjects(&self) -> bool {
        self.inner.reinjects()
    }

    fn reinject(&mut self, paths: &[PathView], conn: &ConnectionView) -> Option<Reinjection> {
        self.inner.reinject(paths, conn)
    }

    fn set_stream_affinity(&mut self, stream_id: u64, path_id: Option<PathId>) -> bool {
        match path_id {
            Some(p) => self.pin(stream_id, p),
            None => self.unpin(stream_id),
        }
        true
    }
}

/// Builds [`StreamAffinity`] wrappers around the schedulers of another factory.
#[derive(Debug, Clone)]
pub struct StreamAffinityFactory {
    inner: Arc<dyn SchedulerFactory>,
    name: String,
}

impl StreamAffinityFactory {
    /// Wrap the schedulers `inner` builds.
    pub fn new(inner: Arc<dyn SchedulerFactory>) -> Self {
        let name = format!("affinity+{}", inner.name());
        Self { inner, name }
    }
}

impl SchedulerFactory for StreamAffinityFactory {
    fn name(&self) -> &str {
        &self.name
    }
    fn build(&self) -> Box<dyn Scheduler> {
        Box::new(StreamAffinity::new(self.inner.build()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::min_rtt::MinRtt;
    use crate::view::{PathStatus, StreamInfo};
    #[allow(unused_imports)]
    use crate::PathId;

    #[test]
    fn pinned_stream_goes_to_its_path_while_eligible() {
        let mut paths: Vec<_> = (0..2).map(|i| PathView::new(PathId(i))).collect();
        paths[0].srtt = Duration::from_millis(5);
        paths[1].status = PathStatus::Backup;
        let mut s = StreamAffinityFactory::new(MinRtt::factory()).build();
        assert!(s.set_stream_affinity(4, Some(PathId(1))));
        let mut conn = ConnectionView::new(1000);
        conn.next_stream = Some(StreamInfo { stream_id: 4, priority: 0 });
        assert_eq!(s.schedule(&paths, &conn), Decision::Send(PathId(1)));
        conn.next_stream = Some(StreamInfo { stream_id: 8, priority: 0 });
        assert_eq!(s.schedule(&paths, &conn), Decision::Send(PathId(0)));
        conn.next_stream = Some(StreamInfo { stream_id: 4, priority: 0 });
        paths[1].bytes_in_flight = paths[1].cwnd;
        assert_eq!(s.schedule(&paths, &conn), Decision::Send(PathId(0)), "pinned path full: delegate");
        paths[1].bytes_in_flight = 0;
        s.on_path_change(PathId(1), PathEvent::Abandoned);
        assert_eq!(s.schedule(&paths, &conn), Decision::Send(PathId(0)), "pin dropped with the path");
    }
}
