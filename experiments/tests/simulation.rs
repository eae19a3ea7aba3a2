//! End-to-end runs of the simulator with real proto endpoints: determinism, the demo, the
//! workloads, and the outputs.

mod common;

use mpquic_experiments::output;
use mpquic_experiments::runner::{run_once, run_scenario, RunOptions};
use mpquic_experiments::scenario::{Scenario, Workload};

fn small(workload: &str, extra: &str) -> Scenario {
    let text = format!(
        r#"
name = "small"
duration_s = 20.0
sample_interval_ms = 20.0
{extra}
[[paths]]
name = "p0"
client = "10.0.0.2:5000"
server = "10.9.0.1:4433"
up = {{ rate_mbps = 20.0, delay_ms = 10.0, queue = {{ bdp = 1.0 }} }}
down = {{ rate_mbps = 20.0, delay_ms = 10.0, queue = {{ bdp = 1.0 }}, loss = 0.01, jitter_ms = 1.0, reorder = 0.01 }}
[[paths]]
name = "p1"
client = "10.1.0.2:5000"
server = "10.9.0.1:4433"
up = {{ rate_mbps = 5.0, delay_ms = 30.0 }}
down = {{ rate_mbps = 5.0, delay_ms = 30.0 }}
[workload]
{workload}
"#
    );
    Scenario::from_toml(&text, "small").unwrap()
}

fn read_all(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push((p.strip_prefix(dir).unwrap().display().to_string(), std::fs::read(&p).unwrap()));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn same_scenario_and_seed_give_identical_outputs() {
    let s = small("kind = \"bulk\"\nbytes = 600_000", "[[events]]\nat_s = 0.3\naction = \"down\"\npath = \"p0\"");
    let a = common::temp_dir("det-a");
    let b = common::temp_dir("det-b");
    let ra = run_scenario(&s, &RunOptions::default()).unwrap();
    output::write_all(&a, &ra).unwrap();
    let rb = run_scenario(&s, &RunOptions::default()).unwrap();
    output::write_all(&b, &rb).unwrap();
    let (fa, fb) = (read_all(&a), read_all(&b));
    assert!(fa.len() >= 9, "summary, 2 CSV, 6 plots: {:?}", fa.iter().map(|f| &f.0).collect::<Vec<_>>());
    for ((na, da), (nb, db)) in fa.iter().zip(&fb) {
        assert_eq!(na, nb);
        assert!(da == db, "{na} differs between two runs with the same seed");
    }
    assert_eq!(fa.len(), fb.len());
    // A different seed changes the losses, and so the bytes.
    let rc = run_scenario(&s, &RunOptions { seed: Some(99), ..Default::default() }).unwrap();
    assert_ne!(rc.runs[0].links, ra.runs[0].links);
}

#[test]
fn reduced_demo_runs_end_to_end_and_writes_a_summary() {
    let mut s = Scenario::demo();
    s.workload = Workload::Bulk { bytes: 2_000_000 };
    s.events[0].at_s = 0.2;
    let report = run_scenario(&s, &RunOptions::default()).unwrap();
    let dir = common::temp_dir("demo");
    let files = output::write_all(&dir, &report).unwrap();
    assert!(files.iter().any(|f| f.ends_with("summary.json")));
    assert!(dir.join("plots/demo-seed1_goodput.png").exists());
    assert!(dir.join("plots/demo-seed1_cwnd.svg").exists());
    assert!(dir.join("timeseries/demo-seed1_wifi.csv").exists());
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    let run = &json["runs"][0];
    assert_eq!(run["completed"], true, "{run}");
    assert_eq!(run["app_bytes_received"], 2_000_000);
    // Multipath: both paths are open from the start; when wifi fails its data moves to lte
    // without a migration.
    assert_eq!(run["multipath_used"], true);
    assert_eq!(run["migrations"], 0);
    let paths = run["paths"].as_array().unwrap();
    assert_eq!(paths[0]["name"], "wifi");
    assert!(paths[0]["bytes_delivered_down"].as_u64().unwrap() > 100_000);
    assert!(paths[1]["bytes_delivered_down"].as_u64().unwrap() > 100_000, "the transfer finished on lte");
    let t = run["completion_time_s"].as_f64().unwrap();
    assert!(t > 0.2 && t < 5.0, "{t}");
    assert!(run["goodput_mbps"].as_f64().unwrap() > 2.0);
    assert!(json["notes"][0].as_str().unwrap().contains("multipath (RFC 10069)"));
    assert_eq!(json["scheduler"], "minrtt");
    assert!(output::table(&report).contains("wifi"));
}

#[test]
fn files_request_response_video_and_datagrams_complete() {
    let r = run_once(&small("kind = \"files\"\ncount = 6\nbytes = 50_000\nparallel = 3", ""), 3).unwrap().summary;
    assert!(r.completed, "{:?}", r.error);
    assert_eq!((r.requests.completed, r.app_bytes_received), (6, 300_000));

    let rr = "kind = \"request_response\"\ninterval_ms = 100.0\nrequest_bytes = 750\nresponse_bytes = 750\ncount = 5";
    let r = run_once(&small(rr, ""), 3).unwrap().summary;
    assert!(r.completed, "{:?}", r.error);
    // One round trip (20 ms) plus serialisation; lost packets add a PTO at most.
    assert!(r.requests.latency_ms.median >= 20.0 && r.requests.latency_ms.median < 100.0, "{:?}", r.requests);

    let video = "kind = \"video\"\nbitrate_mbps = 2.0\nchunk_s = 0.5\nchunks = 3";
    let r = run_once(&small(video, ""), 3).unwrap().summary;
    assert!(r.completed, "{:?}", r.error);
    assert_eq!(r.requests.deadlines_missed, 0, "{:?}", r.requests);

    let dg = "kind = \"datagrams\"\nbytes = 500\ninterval_ms = 10.0\ncount = 100";
    let r = run_once(&small(dg, ""), 3).unwrap().summary;
    let d = r.datagrams.unwrap();
    assert!(r.completed, "{:?}", r.error);
    assert!(d.received >= 90 && d.received <= 100, "1% loss: {d:?}");
    assert!(d.mean_delay_ms >= 10.0 && d.mean_delay_ms < 30.0, "{d:?}");
}

#[test]
fn time_limit_gives_a_failed_run_with_a_reason() {
    let mut s = small("kind = \"bulk\"\nbytes = 50_000_000", "");
    s.duration_s = 0.5;
    let r = run_once(&s, 1).unwrap().summary;
    assert!(!r.completed);
    assert!(r.error.unwrap().contains("time limit"));
    assert!(r.completion_time_s.is_none());
}

#[test]
fn single_path_demo_migrates_when_its_interface_fails() {
    let mut s = Scenario::demo();
    s.workload = Workload::Bulk { bytes: 2_000_000 };
    s.events[0].at_s = 0.2;
    s.transport.multipath = false;
    let report = run_scenario(&s, &RunOptions::default()).unwrap();
    let run = &report.runs[0];
    assert!(run.completed, "{:?}", run.error);
    assert!(!run.multipath_used);
    assert_eq!(run.migrations, 1, "the client moved to lte when wifi failed (RFC 9000 §9)");
}
