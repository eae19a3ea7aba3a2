//! Chaos in the simulator (issue 18, part 5): `scenarios/chaos.toml`, 10% loss, reordering and
//! duplication on every link and a path that flaps every second, over 20 seeds. Every run must
//! deliver every response byte-exact and neither endpoint may close the connection (a protocol
//! violation between our own two endpoints would).

mod common;

use mpquic_experiments::runner::run_once;
use mpquic_experiments::scenario::{Scenario, Workload};

const SEEDS: u64 = 20;

/// The shipped scenario cut to its first `seconds` of flapping (60: all of it), with a request
/// every 100 ms for as long.
fn chaos(seconds: u32) -> Scenario {
    let path = common::scenario_file("chaos.toml");
    let text = std::fs::read_to_string(&path).expect("scenarios/chaos.toml");
    let mut s = Scenario::from_toml(&text, "chaos.toml").expect("valid scenario");
    s.events.retain(|e| e.at_s <= f64::from(seconds));
    match &mut s.workload {
        Workload::RequestResponse { count, interval_ms, .. } => {
            assert_eq!(*interval_ms, 100.0);
            *count = seconds * 10;
        }
        other => panic!("chaos.toml should have a request-response workload, not {other:?}"),
    }
    s
}

fn run_seeds(seconds: u32) {
    let s = chaos(seconds);
    let flaps = s.events.len();
    assert_eq!(flaps, seconds as usize, "one event per second");
    let mut failures = Vec::new();
    for seed in 1..=SEEDS {
        let out = run_once(&s, seed).expect("run");
        let r = &out.summary;
        let expected = u64::from(seconds * 10) * 20_000;
        let duplicated: u64 = r.links.iter().map(|l| l.stats.duplicated).sum();
        let dropped_down: u64 = r.links.iter().map(|l| l.stats.dropped_down).sum();
        let dropped_loss: u64 = r.links.iter().map(|l| l.stats.dropped_loss).sum();
        println!(
            "seed {seed}: completed {} in {:.1} s, {} bytes, {} corrupt, error {:?}; duplicated {duplicated}, \
             lost {dropped_loss}, dropped while down {dropped_down}",
            r.completed, r.simulated_s, r.app_bytes_received, r.app_bytes_corrupt, r.error
        );
        // The chaos must really have happened.
        assert!(duplicated > 100 && dropped_loss > 100, "seed {seed}: too little chaos");
        assert!(dropped_down > 0, "seed {seed}: the flapping path never dropped a packet");
        if !r.completed || r.error.is_some() || r.app_bytes_corrupt != 0 || r.app_bytes_received != expected {
            failures.push(format!(
                "seed {seed}: completed {}, error {:?}, {} of {expected} bytes, {} corrupt",
                r.completed, r.error, r.app_bytes_received, r.app_bytes_corrupt
            ));
        }
    }
    assert!(failures.is_empty(), "{} of {SEEDS} seeds failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn loss_reordering_duplication_and_a_flapping_path_over_20_seeds() {
    run_seeds(60);
}

/// The scenario cut short still has its chaos: the cut keeps the first events and requests.
#[test]
fn a_shorter_cut_keeps_its_events_and_requests() {
    let s = chaos(5);
    assert_eq!(s.events.len(), 5);
    assert!(matches!(s.workload, Workload::RequestResponse { count: 50, .. }));
}
