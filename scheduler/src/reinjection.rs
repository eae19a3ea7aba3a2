//! XLINK-style re-injection (Zheng et al., SIGCOMM'21; papers.md §4): at the tail of a transfer,
//! or when a path looks broken, copy the data still in flight on a slow or failing path onto a
//! faster path with room, so the last bytes do not wait for the slowest path.
//!
//! The policy only asks; [`crate::SchedulerHandle`] bounds each request by the redundancy cap and
//! proto chooses the bytes.

use core::time::Duration;

use crate::scheduler::{Decision, PathEvent, Reinjection, Scheduler, SchedulerFactory};
use crate::view::{eligible, ConnectionView, PathView};
use crate::PathId;
use std::sync::Arc;

/// Wraps a scheduler and adds re-injection requests:
/// - from a potentially failed path with bytes in flight, to the fastest eligible other path;
/// - at the tail of a transfer (nothing queued, and not because flow control holds the
///   application back: [`ConnectionView::send_blocked`]), from the slowest path with bytes in
///   flight to the fastest eligible path with a lower smoothed RTT.
///
/// Each request asks for at most the receiving path's free window.
#[derive(Debug)]
pub struct Reinjecting<S = Box<dyn Scheduler>> {
    inner: S,
    name: String,
}

impl<S: Scheduler> Reinjecting<S> {
    /// Wrap `inner`.
    pub fn new(inner: S) -> Self {
        let name = format!("{}+reinject", inner.name());
        Self { inner, name }
    }

    /// The request this policy makes for `paths`, if any.
    pub fn request(paths: &[PathView], conn: &ConnectionView) -> Option<Reinjection> {
        let live = |p: &&PathView| !p.abandoned && p.bytes_in_flight > 0;
        let from =
            paths.iter().filter(live).filter(|p| p.potentially_failed).max_by_key(|p| p.bytes_in_flight).or_else(
                || {
                    // The tail: nothing waits to be sent, and not because flow control holds it
                    // back (copies made then cost the slow path's capacity and measured slower:
                    // scheduler/README.md).
                    if conn.bytes_queued > 0 || conn.send_blocked {
                        return None;
                    }
                    paths.iter().filter(live).max_by_key(|p| (p.srtt, p.path_id))
                },
            )?;
        let to = paths
            .iter()
            .filter(|p| p.path_id != from.path_id && eligible(p))
            .filter(|p| from.potentially_failed || p.srtt < from.srtt)
            .min_by_key(|p| (p.srtt, p.path_id))?;
        let max_bytes = from.bytes_in_flight.min(to.send_window_available());
        Some(Reinjection { from: from.path_id, to: to.path_id, max_bytes })
    }
}

impl<S: Scheduler> Scheduler for Reinjecting<S> {
    fn name(&self) -> &str {
        &self.name
    }
    fn schedule(&mut self, paths: &[PathView], conn: &ConnectionView) -> Decision {
        self.inner.schedule(paths, conn)
    }
    fn on_ack(&mut self, path_id: PathId, bytes: u64, rtt: Duration) {
        self.inner.on_ack(path_id, bytes, rtt);
    }
    fn on_loss(&mut self, path_id: PathId, bytes: u64) {
        self.inner.on_loss(path_id, bytes);
    }
    fn on_path_change(&mut self, path_id: PathId, event: PathEvent) {
        self.inner.on_path_change(path_id, event);
    }
    fn reinject(&mut self, paths: &[PathView], conn: &ConnectionView) -> Option<Reinjection> {
        self.inner.reinject(paths, conn).or_else(|| Self::request(paths, conn))
    }
    fn set_stream_affinity(&mut self, stream_id: u64, path_id: Option<PathId>) -> bool {
        self.inner.set_stream_affinity(stream_id, path_id)
    }
}

/// Builds [`Reinjecting`] wrappers around the schedulers of another factory.
#[derive(Debug, Clone)]
pub struct ReinjectingFactory {
    inner: Arc<dyn SchedulerFactory>,
    name: String,
}

impl ReinjectingFactory {
    /// Wrap the schedulers `inner` builds.
    pub fn new(inner: Arc<dyn SchedulerFactory>) -> Self {
        let name = format!("{}+reinject", inner.name());
        Self { inner, name }
    }
}

impl SchedulerFactory for ReinjectingFactory {
    fn name(&self) -> &str {
        &self.name
    }
    fn build(&self) -> Box<dyn Scheduler> {
        Box::new(Reinjecting::new(self.inner.build()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use crate::PathId;

    fn paths() -> Vec<PathView> {
        let mut fast = PathView::new(PathId(0));
        fast.srtt = Duration::from_millis(20);
        fast.cwnd = 60_000;
        fast.bytes_in_flight = 10_000;
        let mut slow = PathView::new(PathId(1));
        slow.srtt = Duration::from_millis(80);
        slow.bytes_in_flight = 9_000;
        vec![fast, slow]
    }

    #[test]
    fn tail_moves_slow_in_flight_to_fast() {
        let p = paths();
        assert_eq!(Reinjecting::<Box<dyn Scheduler>>::request(&p, &ConnectionView::new(5000)), None);
        let r = Reinjecting::<Box<dyn Scheduler>>::request(&p, &ConnectionView::new(0));
        assert_eq!(r, Some(Reinjection { from: PathId(1), to: PathId(0), max_bytes: 9_000 }));
        // Nothing queued because flow control holds the application back: not the tail.
        let mut blocked = ConnectionView::new(0);
        blocked.send_blocked = true;
        assert_eq!(Reinjecting::<Box<dyn Scheduler>>::request(&p, &blocked), None);
    }

    #[test]
    fn failing_path_reinjected_even_mid_transfer() {
        let mut p = paths();
        p[0].potentially_failed = true;
        let r = Reinjecting::<Box<dyn Scheduler>>::request(&p, &ConnectionView::new(5000));
        assert_eq!(
            r,
            Some(Reinjection { from: PathId(0), to: PathId(1), max_bytes: 3_000 }),
            "bounded by path 1's free window"
        );
    }
}
