//! What proto holds per connection: the scheduler plus the guard rails the crate enforces for
//! every scheduler, built in or plug-in.
//!
//! [`SchedulerHandle`] checks each decision against [`crate::eligible`] (a plug-in that names a
//! path that cannot send is overruled by MinRTT, never obeyed), and keeps the redundant bytes
//! (re-injected, and optionally duplicated) under a [`RedundancyCap`].

use core::time::Duration;

use crate::min_rtt::MinRtt;
use crate::scheduler::{Decision, PathEvent, PathSet, Reinjection, Scheduler, SchedulerFactory};
use crate::view::{eligible, ConnectionView, PathView};
use crate::PathId;

/// The limit on redundant bytes (copies of data already sent on another path).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RedundancyCap {
    /// At most this many redundant bytes over the connection's life; `None`: no absolute limit.
    pub max_bytes: Option<u64>,
    /// At most this fraction of the stream bytes sent (originals and re-injected copies, and
    /// duplicates when they count); `None`: no limit.
    pub max_ratio: Option<f64>,
    /// Whether copies made by [`Decision::Duplicate`] count against the cap. When they do, a
    /// duplicate decision is cut down to its first path once the cap is reached.
    pub count_duplicates: bool,
}

impl RedundancyCap {
    /// No limit at all.
    pub const UNLIMITED: Self = Self { max_bytes: None, max_ratio: None, count_duplicates: false };
    /// No redundant byte may be sent by re-injection (duplicates are not counted).
    pub const NONE: Self = Self { max_bytes: Some(0), max_ratio: None, count_duplicates: false };

    /// At most `max_bytes` re-injected bytes.
    pub const fn bytes(max_bytes: u64) -> Self {
        Self { max_bytes: Some(max_bytes), max_ratio: None, count_duplicates: false }
    }

    /// At most `ratio` (e.g. 0.05) of all bytes sent may be re-injected copies.
    pub const fn ratio(ratio: f64) -> Self {
        Self { max_bytes: None, max_ratio: Some(ratio), count_duplicates: false }
    }
}

impl Default for RedundancyCap {
    /// Re-injection may use up to 10% of the bytes sent; duplicates (the Redundant scheduler) are
    /// not capped. XLINK reports 2.1% redundant traffic in deployment, so 10% leaves headroom.
    fn default() -> Self {
        Self::ratio(0.10)
    }
}

/// What a sent packet's stream bytes were, for the redundancy accounting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SentKind {
    /// First transmission, or an ordinary retransmission after loss.
    Original,
    /// An extra copy made for a [`Decision::Duplicate`].
    Duplicate,
    /// A copy made for a [`Reinjection`].
    Reinjected,
}

/// Counts of bytes for the redundancy cap; also useful as a per-connection statistic.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RedundancyBudget {
    cap: Option<RedundancyCap>,
    /// All stream bytes reported sent, copies included.
    pub bytes_sent: u64,
    /// Bytes sent as duplicate copies.
    pub duplicate_bytes: u64,
    /// Bytes sent as re-injected copies.
    pub reinjected_bytes: u64,
}

impl RedundancyBudget {
    /// An empty budget under `cap`.
    pub fn new(cap: RedundancyCap) -> Self {
        Self { cap: Some(cap), ..Self::default() }
    }

    /// The cap in force.
    pub fn cap(&self) -> RedundancyCap {
        self.cap.unwrap_or(RedundancyCap::UNLIMITED)
    }

    /// Redundant bytes counted against the cap.
    pub fn redundant_bytes(&self) -> u64 {
        let dup = if self.cap().count_duplicates { self.duplicate_bytes } else { 0 };
        self.reinjected_bytes.saturating_add(dup)
    }

    /// Redundant bytes that may still be sent (`u64::MAX` when unlimited).
    pub fn remaining(&self) -> u64 {
        let cap = self.cap();
        let used = self.redundant_bytes();
        let mut left = u64::MAX;
        if let Some(max) = cap.max_bytes {
            left = left.min(max.saturating_sub(used));
        }
        if let Some(ratio) = cap.max_ratio {
            // Duplicates outside the cap are outside its base too: a Redundant scheduler's copies
            // must not buy room for re-injection.
            let base = if cap.count_duplicates {
                self.bytes_sent
            } else {
                self.bytes_sent.saturating_sub(self.duplicate_bytes)
            };
            let allowed = (base as f64 * ratio.clamp(0.0, 1.0)).floor() as u64;
            left = left.min(allowed.saturating_sub(used));
        }
        left
    }

    /// Record `bytes` of stream data sent.
    pub fn record(&mut self, bytes: u64, kind: SentKind) {
        self.bytes_sent = self.bytes_sent.saturating_add(bytes);
        match kind {
            SentKind::Original => {}
            SentKind::Duplicate => self.duplicate_bytes = self.duplicate_bytes.saturating_add(bytes),
            SentKind::Reinjected => self.reinjected_bytes = self.reinjected_bytes.saturating_add(bytes),
        }
    }
}

/// The scheduler of one connection, as proto drives it.
///
/// Call order per connection: [`SchedulerHandle::schedule`] for each packet of path-agnostic
/// data; [`SchedulerHandle::on_sent`] once the packet is built; when there is spare window and
/// nothing new to send, [`SchedulerHandle::poll_reinjection`]; feed ACKs, losses and path events to
/// the `on_*` methods.
#[derive(Debug)]
pub struct SchedulerHandle {
    scheduler: Box<dyn Scheduler>,
    budget: RedundancyBudget,
    overruled: u64,
}

impl SchedulerHandle {
    /// Wrap `scheduler` under `cap`.
    pub fn new(scheduler: Box<dyn Scheduler>, cap: RedundancyCap) -> Self {
        Self { scheduler, budget: RedundancyBudget::new(cap), overruled: 0 }
    }

    /// Build a fresh scheduler from `factory` for a new connection.
    pub fn from_factory(factory: &dyn SchedulerFactory, cap: RedundancyCap) -> Self {
        Self::new(factory.build(), cap)
    }

    /// The scheduler's name.
    pub fn name(&self) -> &str {
        self.scheduler.name()
    }

    /// The redundancy accounting.
    pub fn budget(&self) -> &RedundancyBudget {
        &self.budget
    }

    /// How many decisions named an ineligible path and were overruled.
    pub fn overruled_decisions(&self) -> u64 {
        self.overruled
    }

    /// The wrapped scheduler.
    pub fn scheduler_mut(&mut self) -> &mut dyn Scheduler {
        &mut *self.scheduler
    }

    /// Ask the scheduler, then enforce the rules: only eligible paths, no path twice, duplicates
    /// within the cap when they count. A duplicate may also name usable paths whose window is
    /// full (their copies wait for room), as long as one named path is eligible.
    pub fn schedule(&mut self, paths: &[PathView], conn: &ConnectionView) -> Decision {
        let is_eligible = |id: PathId| paths.iter().any(|p| p.path_id == id && eligible(p));
        match self.scheduler.schedule(paths, conn) {
            Decision::Send(id) if is_eligible(id) => Decision::Send(id),
            Decision::Send(_) => self.overrule(paths),
            Decision::Duplicate(set) => {
                // The paths with room first (the packet goes out on one of them now), then the
                // usable paths whose window is full: their copies wait in proto until it opens.
                let is_usable = |id: PathId| paths.iter().any(|p| p.path_id == id && p.usable());
                let mut kept = PathSet::new();
                for &id in &set {
                    if is_eligible(id) && !kept.contains(&id) {
                        kept.push(id);
                    }
                }
                if kept.is_empty() {
                    return self.overrule(paths);
                }
                for &id in &set {
                    if is_usable(id) && !kept.contains(&id) {
                        kept.push(id);
                    }
                }
                let cap = self.budget.cap();
                if cap.count_duplicates && self.budget.remaining() == 0 {
                    kept.truncate(1);
                }
                match kept.len() {
                    1 => Decision::Send(kept[0]),
                    _ => Decision::Duplicate(kept),
                }
            }
            wait @ Decision::Wait(_) => wait,
        }
    }

    fn overrule(&mut self, paths: &[PathView]) -> Decision {
        self.overruled += 1;
        MinRtt::pick(paths).map_or(Decision::no_path(), |p| Decision::Send(p.path_id))
    }

    /// Whether the scheduler may ever re-inject ([`Scheduler::reinjects`]); when not,
    /// [`SchedulerHandle::poll_reinjection`] always answers `None`.
    pub fn reinjects(&self) -> bool {
        self.scheduler.reinjects()
    }

    /// Ask the scheduler for a re-injection and bound it: `to` eligible and not `from`, at most the
    /// bytes in flight on `from` and the redundancy budget left. `None` when nothing may be sent.
    pub fn poll_reinjection(&mut self, paths: &[PathView], conn: &ConnectionView) -> Option<Reinjection> {
        let mut r = self.scheduler.reinject(paths, conn)?;
        let from = paths.iter().find(|p| p.path_id == r.from)?;
        let to = paths.iter().find(|p| p.path_id == r.to)?;
        if r.from == r.to || !eligible(to) {
            self.overruled += 1;
            return None;
        }
        r.max_bytes = r.max_bytes.min(from.bytes_in_flight).min(self.budget.remaining());
        (r.max_bytes > 0).then_some(r)
    }

    /// proto sent a packet carrying `bytes` of stream data of this kind.
    pub fn on_sent(&mut self, bytes: u64, kind: SentKind) {
        self.budget.record(bytes, kind);
    }

    /// Forwarded to [`Scheduler::on_ack`].
    pub fn on_ack(&mut self, path_id: PathId, bytes: u64, rtt: Duration) {
        self.scheduler.on_ack(path_id, bytes, rtt);
    }

    /// Forwarded to [`Scheduler::on_loss`].
    pub fn on_loss(&mut self, path_id: PathId, bytes: u64) {
        self.scheduler.on_loss(path_id, bytes);
    }

    /// Forwarded to [`Scheduler::on_path_change`].
    pub fn on_path_change(&mut self, path_id: PathId, event: PathEvent) {
        self.scheduler.on_path_change(path_id, event);
    }

    /// Forwarded to [`Scheduler::set_stream_affinity`].
    pub fn set_stream_affinity(&mut self, stream_id: u64, path_id: Option<PathId>) -> bool {
        self.scheduler.set_stream_affinity(stream_id, path_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use crate::PathId;

    #[derive(Debug)]
    struct Fixed(Decision, Option<Reinjection>);
    impl Scheduler for Fixed {
        fn name(&self) -> &str {
            "fixed"
        }
        fn schedule(&mut self, _: &[PathView], _: &ConnectionView) -> Decision {
            self.0.clone()
        }
        fn reinject(&mut self, _: &[PathView], _: &ConnectionView) -> Option<Reinjection> {
            self.1
        }
    }

    fn two_paths() -> Vec<PathView> {
        let mut a = PathView::new(PathId(0));
        a.srtt = Duration::from_millis(10);
        a.bytes_in_flight = 50_000;
        a.cwnd = 100_000;
        let mut b = PathView::new(PathId(1));
        b.srtt = Duration::from_millis(50);
        b.bytes_in_flight = 8_000;
        vec![a, b]
    }

    #[test]
    fn ineligible_send_is_overruled() {
        let mut paths = two_paths();
        paths[0].validated = false;
        let mut h = SchedulerHandle::new(Box::new(Fixed(Decision::Send(PathId(0)), None)), RedundancyCap::default());
        assert_eq!(h.schedule(&paths, &ConnectionView::new(0)), Decision::Send(PathId(1)));
        assert_eq!(h.overruled_decisions(), 1);
        let mut h = SchedulerHandle::new(Box::new(Fixed(Decision::Send(PathId(7)), None)), RedundancyCap::default());
        paths[1].abandoned = true;
        assert_eq!(h.schedule(&paths, &ConnectionView::new(0)), Decision::no_path());
    }

    #[test]
    fn duplicate_filtered_and_capped() {
        let paths = two_paths();
        let dup = Decision::Duplicate(PathSet::from_slice(&[PathId(0), PathId(0), PathId(1), PathId(9)]));
        let cap = RedundancyCap { max_bytes: Some(1000), max_ratio: None, count_duplicates: true };
        let mut h = SchedulerHandle::new(Box::new(Fixed(dup, None)), cap);
        assert_eq!(
            h.schedule(&paths, &ConnectionView::new(0)),
            Decision::Duplicate(PathSet::from_slice(&[PathId(0), PathId(1)]))
        );
        h.on_sent(1000, SentKind::Original);
        h.on_sent(1000, SentKind::Duplicate);
        assert_eq!(h.budget().remaining(), 0);
        assert_eq!(h.schedule(&paths, &ConnectionView::new(0)), Decision::Send(PathId(0)));
    }

    #[test]
    fn duplicate_copies_may_wait_for_a_full_window() {
        let mut paths = two_paths();
        paths[1].bytes_in_flight = paths[1].cwnd;
        let dup = Decision::Duplicate(PathSet::from_slice(&[PathId(1), PathId(0)]));
        let mut h = SchedulerHandle::new(Box::new(Fixed(dup, None)), RedundancyCap::default());
        // The eligible path comes first, the full one keeps its (later) copy.
        assert_eq!(
            h.schedule(&paths, &ConnectionView::new(0)),
            Decision::Duplicate(PathSet::from_slice(&[PathId(0), PathId(1)]))
        );
        // A failed path gets no copy; with no path that has room, MinRTT overrules (and waits).
        paths[1].potentially_failed = true;
        assert_eq!(h.schedule(&paths, &ConnectionView::new(0)), Decision::Send(PathId(0)));
        paths[0].bytes_in_flight = paths[0].cwnd;
        assert_eq!(h.schedule(&paths, &ConnectionView::new(0)), Decision::no_path());
    }

    #[test]
    fn duplicates_outside_the_cap_do_not_raise_it() {
        let mut b = RedundancyBudget::new(RedundancyCap::ratio(0.1));
        b.record(10_000, SentKind::Original);
        b.record(90_000, SentKind::Duplicate);
        assert_eq!(b.remaining(), 1_000, "10% of the 10 000 original bytes, not of 100 000");
        b.record(400, SentKind::Reinjected);
        assert_eq!(b.remaining(), 640);
    }

    #[test]
    fn reinjection_respects_cap() {
        let paths = two_paths();
        let req = Reinjection { from: PathId(1), to: PathId(0), max_bytes: u64::MAX };
        let mut h =
            SchedulerHandle::new(Box::new(Fixed(Decision::Send(PathId(0)), Some(req))), RedundancyCap::bytes(3000));
        let conn = ConnectionView::new(0);
        assert_eq!(h.poll_reinjection(&paths, &conn).map(|r| r.max_bytes), Some(3000));
        h.on_sent(2500, SentKind::Reinjected);
        assert_eq!(h.poll_reinjection(&paths, &conn).map(|r| r.max_bytes), Some(500));
        h.on_sent(500, SentKind::Reinjected);
        assert_eq!(h.poll_reinjection(&paths, &conn), None);
    }

    #[test]
    fn reinjection_ratio_and_in_flight_bound() {
        let paths = two_paths();
        let req = Reinjection { from: PathId(1), to: PathId(0), max_bytes: u64::MAX };
        let mut h =
            SchedulerHandle::new(Box::new(Fixed(Decision::Send(PathId(0)), Some(req))), RedundancyCap::ratio(0.5));
        let conn = ConnectionView::new(0);
        assert_eq!(h.poll_reinjection(&paths, &conn), None, "nothing sent yet, 50% of 0 is 0");
        h.on_sent(100_000, SentKind::Original);
        // min(50% of 100 000, 8 000 in flight on path 1)
        assert_eq!(h.poll_reinjection(&paths, &conn).map(|r| r.max_bytes), Some(8_000));
    }

    #[test]
    fn reinjection_to_ineligible_or_same_path_refused() {
        let mut paths = two_paths();
        let conn = ConnectionView::new(0);
        let same = Reinjection { from: PathId(0), to: PathId(0), max_bytes: 10 };
        let mut h =
            SchedulerHandle::new(Box::new(Fixed(Decision::Send(PathId(0)), Some(same))), RedundancyCap::UNLIMITED);
        assert_eq!(h.poll_reinjection(&paths, &conn), None);
        paths[0].bytes_in_flight = paths[0].cwnd;
        let req = Reinjection { from: PathId(1), to: PathId(0), max_bytes: 10 };
        let mut h =
            SchedulerHandle::new(Box::new(Fixed(Decision::Send(PathId(0)), Some(req))), RedundancyCap::UNLIMITED);
        assert_eq!(h.poll_reinjection(&paths, &conn), None);
    }
}
