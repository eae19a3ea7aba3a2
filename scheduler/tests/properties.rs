//! Property tests across all built-in schedulers (issue 5, "Done when").

use std::collections::HashMap;
use std::time::Duration;

use mpquic_scheduler::PathId;
use mpquic_scheduler::{
    eligible, factory_by_name, preferred_eligible, ConnectionView, Decision, PathStatus, PathView, RedundancyCap,
    Scheduler, SchedulerFactory, SchedulerHandle, SentKind, StreamAffinityFactory, StreamInfo, Weighted,
    SCHEDULER_NAMES,
};
use proptest::prelude::*;

fn status() -> impl Strategy<Value = PathStatus> {
    prop_oneof![3 => Just(PathStatus::Available), 1 => Just(PathStatus::Backup)]
}

prop_compose! {
    fn path(id: u32)(
        status in status(),
        peer_status in proptest::option::of(status()),
        validated in proptest::bool::weighted(0.8),
        potentially_failed in proptest::bool::weighted(0.15),
        abandoned in proptest::bool::weighted(0.1),
        srtt_ms in 1u64..500,
        rttvar_ms in 0u64..100,
        cwnd in 0u64..100_000,
        in_flight in 0u64..120_000,
        mtu in 1200u16..1500,
        loss in 0.0f64..0.2,
    ) -> PathView {
        let mut p = PathView::new(PathId(id));
        p.status = status;
        p.peer_status = peer_status;
        p.validated = validated;
        p.potentially_failed = potentially_failed;
        p.abandoned = abandoned;
        p.srtt = Duration::from_millis(srtt_ms);
        p.rttvar = Duration::from_millis(rttvar_ms);
        p.min_rtt = p.srtt;
        p.cwnd = cwnd;
        p.bytes_in_flight = in_flight;
        p.mtu = mtu;
        p.loss_rate = loss;
        p
    }
}

fn paths() -> impl Strategy<Value = Vec<PathView>> {
    (1usize..6).prop_flat_map(|n| (0..n as u32).map(path).collect::<Vec<_>>())
}

prop_compose! {
    fn conn()(queued in 0u64..2_000_000, window in 0u64..2_000_000, stream in 0u64..8, now_ms in 0u64..10_000) -> ConnectionView {
        let mut c = ConnectionView::new(queued);
        c.send_window = window;
        c.flow_control_left = window;
        c.next_stream = Some(StreamInfo { stream_id: stream * 4, priority: 0 });
        c.now = mpquic_scheduler::Instant::from_nanos(now_ms * 1_000_000);
        c
    }
}

/// Every built-in scheduler, plus the affinity wrapper with pins on streams 0 and 4.
fn all_schedulers() -> Vec<Box<dyn Scheduler>> {
    let mut out: Vec<Box<dyn Scheduler>> =
        SCHEDULER_NAMES.iter().map(|n| factory_by_name(n).expect("registered").build()).collect();
    out.push(factory_by_name("weighted:0=5,1=1,2=3").expect("valid").build());
    let mut pinned = StreamAffinityFactory::new(factory_by_name("blest").expect("registered")).build();
    pinned.set_stream_affinity(0, Some(PathId(1)));
    pinned.set_stream_affinity(4, Some(PathId(3)));
    out.push(pinned);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// No scheduler ever picks a path that is unvalidated, abandoned, potentially failed or
    /// window-full, over a sequence of states (stateful schedulers keep their state across steps).
    /// The one exception: a duplicate's copies after the first may wait for a usable path's
    /// window (Redundant); the first path always has room.
    #[test]
    fn never_picks_an_ineligible_path(steps in proptest::collection::vec((paths(), conn()), 1..12)) {
        for mut s in all_schedulers() {
            for (paths, conn) in &steps {
                let d = s.schedule(paths, conn);
                for (i, id) in d.paths().iter().enumerate() {
                    let p = paths.iter().find(|p| p.path_id == *id);
                    let later_copy = i > 0 && matches!(d, Decision::Duplicate(_));
                    let ok = if later_copy { p.is_some_and(|p| p.usable()) } else { p.is_some_and(eligible) };
                    prop_assert!(ok, "{} picked {id} in {:?}", s.name(), paths);
                }
                if preferred_eligible(paths).next().is_some() && matches!(d, Decision::Wait(_)) {
                    // Only BLEST and ECF (and wrappers of them) may wait while a path of the
                    // preferred class can send (RFC 10069 §3.3: a backup path waits while an
                    // available one works, even when the available one's window is full).
                    prop_assert!(s.name().contains("blest") || s.name().contains("ecf"), "{} waited", s.name());
                }
            }
        }
    }

    /// No built-in scheduler sends on a backup path while an available path works, even with its
    /// window full (RFC 10069 §3.3; the Backup scheduler's defining rule, and the others share
    /// it). The affinity wrapper is left out: an application pin may name a backup path on
    /// purpose.
    #[test]
    fn backup_only_when_no_available_path_works(steps in proptest::collection::vec((paths(), conn()), 1..12)) {
        for name in SCHEDULER_NAMES {
            let mut s = factory_by_name(name).expect("registered").build();
            for (paths, conn) in &steps {
                let available_works = paths.iter().any(|p| p.usable() && !p.is_backup());
                for id in s.schedule(paths, conn).paths() {
                    let p = paths.iter().find(|p| p.path_id == *id).expect("picked a listed path");
                    prop_assert!(!(available_works && p.is_backup()), "{name} used backup path {id}");
                }
            }
        }
    }

    /// The handle overrules any plug-in decision naming an ineligible path.
    #[test]
    fn handle_enforces_eligibility(paths in paths(), conn in conn(), pick in 0u32..8) {
        #[derive(Debug)]
        struct Reckless(u32);
        impl Scheduler for Reckless {
            fn name(&self) -> &str { "reckless" }
            fn schedule(&mut self, _: &[PathView], _: &ConnectionView) -> Decision { Decision::Send(PathId(self.0)) }
        }
        let mut h = SchedulerHandle::new(Box::new(Reckless(pick)), RedundancyCap::default());
        for id in h.schedule(&paths, &conn).paths() {
            prop_assert!(paths.iter().any(|p| p.path_id == *id && eligible(p)));
        }
    }

    /// Smooth weighted round robin hits every weight's share within 5% over 10,000 decisions with
    /// equal open windows; with all weights 1 that is RoundRobin's share too.
    #[test]
    fn weighted_matches_shares(weights in proptest::collection::vec(1u32..10, 2..5)) {
        let paths: Vec<PathView> = (0..weights.len() as u32).map(|i| PathView::new(PathId(i))).collect();
        let conn = ConnectionView::new(1 << 30);
        let mut w = Weighted::new(weights.iter().enumerate().map(|(i, &w)| (PathId(i as u32), w)));
        let counts = count_decisions(&mut w, &paths, &conn, 10_000);
        let total: u32 = weights.iter().sum();
        for (i, &wt) in weights.iter().enumerate() {
            let expected = 10_000.0 * f64::from(wt) / f64::from(total);
            let got = f64::from(*counts.get(&(i as u32)).unwrap_or(&0));
            prop_assert!((got - expected).abs() <= 0.05 * expected, "path {i}: {got} vs {expected}");
        }
    }

    /// Re-injection never exceeds the cap, whatever the requests and the traffic in between.
    #[test]
    fn reinjection_respects_cap(
        cap_bytes in proptest::option::of(0u64..200_000),
        ratio in proptest::option::of(0.0f64..0.5),
        steps in proptest::collection::vec((paths(), 0u64..3, 0u64..20_000), 1..40),
    ) {
        let cap = RedundancyCap { max_bytes: cap_bytes, max_ratio: ratio, count_duplicates: false };
        let mut h = SchedulerHandle::from_factory(&*factory_by_name("minrtt+reinject").expect("registered"), cap);
        let conn = ConnectionView::new(0); // the tail: the policy asks whenever it can
        for (paths, queued_hint, original) in &steps {
            h.on_sent(*original, SentKind::Original);
            let mut c = conn.clone();
            c.bytes_queued = *queued_hint;
            if let Some(r) = h.poll_reinjection(paths, &c) {
                prop_assert!(r.from != r.to);
                prop_assert!(paths.iter().any(|p| p.path_id == r.to && eligible(p)));
                h.on_sent(r.max_bytes, SentKind::Reinjected);
            }
            let b = h.budget();
            if let Some(max) = cap_bytes {
                prop_assert!(b.reinjected_bytes <= max);
            }
            if let Some(r) = ratio {
                prop_assert!(b.reinjected_bytes as f64 <= r * b.bytes_sent as f64 + 1e-6);
            }
        }
    }
}

fn count_decisions(s: &mut dyn Scheduler, paths: &[PathView], conn: &ConnectionView, n: usize) -> HashMap<u32, u32> {
    let mut counts = HashMap::new();
    for _ in 0..n {
        match s.schedule(paths, conn) {
            Decision::Send(id) => *counts.entry(id.0).or_insert(0) += 1,
            other => panic!("{} answered {other:?} with open windows", s.name()),
        }
    }
    counts
}

#[test]
fn round_robin_shares_within_5_percent() {
    for n in 2..=5u32 {
        let paths: Vec<PathView> = (0..n).map(|i| PathView::new(PathId(i))).collect();
        let conn = ConnectionView::new(1 << 30);
        let mut rr = factory_by_name("roundrobin").expect("registered").build();
        let counts = count_decisions(&mut *rr, &paths, &conn, 10_000);
        let expected = 10_000.0 / f64::from(n);
        for id in 0..n {
            let got = f64::from(counts[&id]);
            assert!((got - expected).abs() <= 0.05 * expected, "path {id}: {got} vs {expected}");
        }
    }
}

#[test]
fn weighted_3_to_1_by_name() {
    let paths: Vec<PathView> = (0..2).map(|i| PathView::new(PathId(i))).collect();
    let conn = ConnectionView::new(1 << 30);
    let mut w = factory_by_name("weighted:0=3,1=1").expect("valid").build();
    let counts = count_decisions(&mut *w, &paths, &conn, 10_000);
    assert_eq!((counts[&0], counts[&1]), (7_500, 2_500));
}

/// A factory defined here, outside the crate, plugs into the handle like a built-in one.
#[test]
fn factories_are_values() {
    let factories: Vec<std::sync::Arc<dyn SchedulerFactory>> =
        SCHEDULER_NAMES.iter().map(|n| factory_by_name(n).expect("registered")).collect();
    let paths = [PathView::new(PathId(0))];
    for f in factories {
        let mut h = SchedulerHandle::from_factory(&*f, RedundancyCap::default());
        assert_eq!(h.schedule(&paths, &ConnectionView::new(1)), Decision::Send(PathId(0)), "{}", f.name());
    }
}
