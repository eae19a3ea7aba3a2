//! A guard around packet schedulers: proto asks its scheduler twice about the same packet (once
//! to decide whether a path has anything to send, once while building the packet), and a
//! scheduler whose every answer advances its state (round-robin, weighted) then answers the
//! two questions differently, so no packet ever carries stream data. [`repeatable`] makes a
//! scheduler give the same answer to the same question.

use std::sync::Arc;
use std::time::Duration;

use mpquic_scheduler::{ConnectionView, Decision, PathEvent, PathView, Reinjection, Scheduler, SchedulerFactory};

/// Wraps `factory` so that its schedulers answer a `schedule` call whose paths and connection
/// view equal the previous call's with the previous decision (no state change in between:
/// nothing was sent, acknowledged or lost). Stateless schedulers are unaffected.
pub fn repeatable(factory: Arc<dyn SchedulerFactory>) -> Arc<dyn SchedulerFactory> {
    Arc::new(RepeatableFactory(factory))
}

#[derive(Debug)]
struct RepeatableFactory(Arc<dyn SchedulerFactory>);

impl SchedulerFactory for RepeatableFactory {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn build(&self) -> Box<dyn Scheduler> {
        Box::new(Repeatable { inner: self.0.build(), last: None })
    }
}

#[derive(Debug)]
struct Repeatable {
    inner: Box<dyn Scheduler>,
    /// The last question and its answer.
    last: Option<(Vec<PathView>, ConnectionView, Decision)>,
}

impl Scheduler for Repeatable {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn schedule(&mut self, paths: &[PathView], conn: &ConnectionView) -> Decision {
        if let Some((p, c, d)) = &self.last {
            if p.as_slice() == paths && c == conn {
                return d.clone();
            }
        }
        let d = self.inner.schedule(paths, conn);
        match &mut self.last {
            // Reuse the vector: no allocation per decision in steady state.
            Some((p, c, last)) => {
                p.clear();
                p.extend_from_slice(paths);
                *c = conn.clone();
                *last = d.clone();
            }
            None => self.last = Some((paths.to_vec(), conn.clone(), d.clone())),
        }
        d
    }

    fn on_ack(&mut self, path_id: u32, bytes: u64, rtt: Duration) {
        self.forget();
        self.inner.on_ack(path_id, bytes, rtt)
    }

    fn on_loss(&mut self, path_id: u32, bytes: u64) {
        self.forget();
        self.inner.on_loss(path_id, bytes)
    }

    fn on_path_change(&mut self, path_id: u32, event: PathEvent) {
        self.forget();
        self.inner.on_path_change(path_id, event)
    }

    fn reinject(&mut self, paths: &[PathView], conn: &ConnectionView) -> Option<Reinjection> {
        self.inner.reinject(paths, conn)
    }

    fn set_stream_affinity(&mut self, stream_id: u64, path_id: Option<u32>) -> bool {
        self.forget();
        self.inner.set_stream_affinity(stream_id, path_id)
    }
}

impl Repeatable {
    /// The inner scheduler's state changed: the next question gets a fresh answer.
    fn forget(&mut self) {
        if let Some((p, _, _)) = &mut self.last {
            p.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_question_same_answer_and_fresh_after_a_change() {
        let factory = repeatable(mpquic_scheduler::RoundRobin::factory());
        let mut s = factory.build();
        let mut paths: Vec<_> = [0, 1].into_iter().map(PathView::new).collect();
        let conn = ConnectionView::new(1000);
        let first = s.schedule(&paths, &conn);
        assert_eq!(s.schedule(&paths, &conn), first, "asked twice, answered once");
        // Something was sent: the views changed, round-robin moves on.
        paths[0].bytes_in_flight += 1200;
        assert_ne!(s.schedule(&paths, &conn), first);
        let again = s.schedule(&paths, &conn);
        s.on_ack(1, 1200, Duration::from_millis(1));
        assert_ne!(s.schedule(&paths, &conn), again, "an ACK gives a fresh answer");
        // The bare round-robin changes its answer to the same question: the bug this guards.
        let mut bare = mpquic_scheduler::RoundRobin::factory().build();
        assert_ne!(bare.schedule(&paths, &conn), bare.schedule(&paths, &conn));
    }
}
