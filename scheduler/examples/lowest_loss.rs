//! A scheduler written outside `mpquic-scheduler`: it sends on the eligible path with the lowest
//! loss rate. Nothing in the scheduler crate or in proto was edited to add it; the factory value is
//! all the transport needs.
//!
//! Run with `cargo run -p mpquic-scheduler --example lowest_loss`.

use std::sync::Arc;
use std::time::Duration;

use mpquic_scheduler::PathId;
use mpquic_scheduler::{
    preferred_eligible, ConnectionView, Decision, PathView, RedundancyCap, Scheduler, SchedulerFactory,
    SchedulerHandle, SentKind,
};

/// Lowest `loss_rate` among the eligible paths (backup paths only when no available path can
/// send); ties go to the lower smoothed RTT.
#[derive(Debug, Default)]
struct LowestLoss;

impl Scheduler for LowestLoss {
    fn name(&self) -> &str {
        "lowestloss"
    }

    fn schedule(&mut self, paths: &[PathView], _conn: &ConnectionView) -> Decision {
        preferred_eligible(paths)
            .min_by(|a, b| a.loss_rate.total_cmp(&b.loss_rate).then(a.srtt.cmp(&b.srtt)))
            .map_or(Decision::no_path(), |p| Decision::Send(p.path_id))
    }
}

/// The factory: one `LowestLoss` per connection.
#[derive(Debug)]
struct LowestLossFactory;

impl SchedulerFactory for LowestLossFactory {
    fn name(&self) -> &str {
        "lowestloss"
    }
    fn build(&self) -> Box<dyn Scheduler> {
        Box::new(LowestLoss)
    }
}

fn path(id: u32, srtt_ms: u64, loss_rate: f64) -> PathView {
    let mut p = PathView::new(PathId(id));
    p.srtt = Duration::from_millis(srtt_ms);
    p.loss_rate = loss_rate;
    p
}

fn main() {
    // What would go into the transport configuration.
    let factory: Arc<dyn SchedulerFactory> = Arc::new(LowestLossFactory);
    let mut sched = SchedulerHandle::from_factory(&*factory, RedundancyCap::default());

    // WLAN: fast but lossy; LTE: slower, clean; a third path still being validated.
    let mut paths = vec![path(0, 25, 0.01), path(1, 65, 0.0), path(2, 10, 0.0)];
    paths[2].validated = false;
    let conn = ConnectionView::new(64 * 1024);

    let first = sched.schedule(&paths, &conn);
    println!("{}: {first:?} (LTE has the lowest loss; path 2 is not validated)", sched.name());
    assert_eq!(first, Decision::Send(PathId(1)));
    sched.on_sent(1200, SentKind::Original);

    // LTE's window fills up: the next packet goes to the lossy WLAN rather than waiting.
    paths[1].bytes_in_flight = paths[1].cwnd;
    let second = sched.schedule(&paths, &conn);
    println!("{}: {second:?} (LTE window full)", sched.name());
    assert_eq!(second, Decision::Send(PathId(0)));

    // Path 2 validates and is loss-free and fastest.
    paths[2].validated = true;
    let third = sched.schedule(&paths, &conn);
    println!("{}: {third:?} (path 2 validated)", sched.name());
    assert_eq!(third, Decision::Send(PathId(2)));
}
