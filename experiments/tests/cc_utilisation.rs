//! Reduced checks of the congestion controllers through the whole stack: one 20 Mbit/s path with
//! a 40 ms RTT and a 1-BDP drop-tail queue, a 10 MB download. NewReno and CUBIC must reach at
//! least 80% utilisation (goodput over the completion time, handshake included).

mod common;

use mpquic_experiments::runner::run_once;
use mpquic_experiments::scenario::Scenario;

fn utilisation(cc: &str) -> f64 {
    let mut s = Scenario::load(&common::scenario_file("bulk.toml")).unwrap();
    s.transport.congestion_controller = cc.to_owned();
    let r = run_once(&s, 1).unwrap().summary;
    assert!(r.completed, "{cc}: {:?}", r.error);
    let u = r.goodput_mbps / 20.0;
    println!(
        "{cc}: 10 MB in {:.3} s, goodput {:.2} Mbit/s, utilisation {:.1}%, {} packets lost",
        r.completion_time_s.unwrap(),
        r.goodput_mbps,
        u * 100.0,
        r.paths[0].packets_lost
    );
    u
}

#[test]
fn newreno_fills_a_20_mbit_40_ms_path() {
    let u = utilisation("newreno");
    assert!(u >= 0.8, "NewReno utilisation {u:.3}");
}

#[test]
fn cubic_fills_a_20_mbit_40_ms_path() {
    let u = utilisation("cubic");
    assert!(u >= 0.8, "CUBIC utilisation {u:.3}");
}
