//! Scenario parsing and validation: the shipped examples load, and bad files get errors that
//! name the field (and the line, for syntax and type errors) and the allowed values.

mod common;

use mpquic_experiments::scenario::{Scenario, ScenarioError, Workload};

const BASE: &str = r#"
name = "t"
[[paths]]
name = "p0"
client = "10.0.0.2:5000"
server = "10.9.0.1:4433"
up = { rate_mbps = 10.0, delay_ms = 5.0 }
down = { rate_mbps = 10.0, delay_ms = 5.0 }
[workload]
kind = "bulk"
bytes = 1000
"#;

fn error_of(text: &str) -> String {
    match Scenario::from_toml(text, "test.toml") {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn shipped_examples_parse_and_validate() {
    for f in [
        "demo.toml",
        "bulk.toml",
        "handover.toml",
        "shared_bottleneck.toml",
        "lossy_video.toml",
        "cc_utilisation.toml",
        "cc_fairness.toml",
        "cc_disjoint.toml",
        "scheduler_wlan_3g.toml",
        "handover_multipath.toml",
        "failover_bulk.toml",
        "aggregation.toml",
    ] {
        let s = Scenario::load(&common::scenario_file(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(!s.paths.is_empty(), "{f}");
    }
    let demo = Scenario::demo();
    assert_eq!(demo.paths.len(), 2);
    assert_eq!(demo.workload, Workload::Bulk { bytes: 20_000_000 });
}

#[test]
fn minimal_scenario_gets_defaults() {
    let s = Scenario::from_toml(BASE, "t").unwrap();
    assert_eq!(s.seed, 1);
    assert_eq!(s.repetitions, 1);
    assert_eq!(s.transport.congestion_controller, "cubic");
    assert!(s.events.is_empty());
}

#[test]
fn unknown_key_is_named_with_its_line() {
    let text = BASE.replace("delay_ms = 5.0 }\ndown", "delay_ms = 5.0, delya = 3 }\ndown");
    let e = error_of(&text);
    assert!(e.contains("delya") && e.contains("line 7"), "{e}");
    assert!(e.contains("rate_mbps"), "lists the allowed keys: {e}");
}

#[test]
fn wrong_type_is_named_with_its_line() {
    let e = error_of(&BASE.replace("name = \"t\"", "name = \"t\"\nduration_s = \"long\""));
    assert!(e.contains("line 3") && e.contains("duration_s") || e.contains("line 3") && e.contains("long"), "{e}");
    // Inside [workload] too, the line is the field's own (line 11), not the table header's.
    let e = error_of(&BASE.replace("bytes = 1000", "bytes = \"lots\""));
    assert!(e.contains("line 11") && e.contains("\"lots\"") && e.contains("u64"), "{e}");
}

#[test]
fn workload_errors_carry_the_line_of_their_field() {
    // Unknown key: named, with its line and the keys allowed.
    let e = error_of(&BASE.replace("bytes = 1000", "bytes = 1000\nbites = 3"));
    assert!(e.contains("line 12") && e.contains("bites") && e.contains("interval_ms"), "{e}");
    // A key of another kind: the field, its line, and the keys of this kind.
    let e = error_of(&BASE.replace("bytes = 1000", "bytes = 1000\ninterval_ms = 5.0"));
    assert!(e.contains("line 12") && e.contains("workload.interval_ms") && e.contains("`bytes`"), "{e}");
    // A missing required key: the [workload] header's line and what the kind needs.
    let e = error_of(&BASE.replace("kind = \"bulk\"", "kind = \"files\"").replace("bytes = 1000", "bytes = 10"));
    assert!(e.contains("line 9") && e.contains("workload.count") && e.contains("`parallel`"), "{e}");
    // An out-of-range value found by validation: the value's line.
    let e = error_of(&BASE.replace("bytes = 1000", "bytes = 0"));
    assert!(e.contains("line 11") && e.contains("workload.bytes") && e.contains("at least 1"), "{e}");
    let e = error_of(&BASE.replace(
        "kind = \"bulk\"\nbytes = 1000",
        "kind = \"video\"\nbitrate_mbps = 2.0\nchunk_s = 1.0\nchunks = 3\ndeadline_s = -1.0",
    ));
    assert!(e.contains("line 14") && e.contains("workload.deadline_s"), "{e}");
    // No kind at all.
    let e = error_of(&BASE.replace("kind = \"bulk\"\n", ""));
    assert!(e.contains("line 9") && e.contains("workload.kind") && e.contains("request_response"), "{e}");
}

#[test]
fn validation_errors_outside_the_workload_carry_lines_too() {
    let e = error_of(&BASE.replace(
        "down = { rate_mbps = 10.0, delay_ms = 5.0 }",
        "down = { rate_mbps = 10.0, delay_ms = 5.0, loss = 1.5 }",
    ));
    assert!(e.contains("test.toml, line 8") && e.contains("paths[0].down.loss"), "{e}");
    let e = error_of(&format!("{BASE}\n[transport]\ncongestion_controller = \"vegas\"\n"));
    assert!(e.contains("line 14") && e.contains("transport.congestion_controller"), "{e}");
}

#[test]
fn workload_kinds_round_trip_through_toml() {
    for w in [
        Workload::Bulk { bytes: 5 },
        Workload::Files { count: 2, bytes: 3, parallel: 1 },
        Workload::RequestResponse { interval_ms: 1.5, request_bytes: 16, response_bytes: 9, count: 4 },
        Workload::Video { bitrate_mbps: 2.0, chunk_s: 1.0, chunks: 3, deadline_s: Some(0.5) },
        Workload::Datagrams { bytes: 100, interval_ms: 2.0, count: 7 },
    ] {
        let mut s = Scenario::from_toml(BASE, "t").unwrap();
        s.workload = w.clone();
        let text = toml::to_string(&s).unwrap();
        assert_eq!(Scenario::from_toml(&text, "t").unwrap().workload, w, "{text}");
    }
}

#[test]
fn unknown_workload_kind_lists_the_kinds() {
    let e = error_of(&BASE.replace("kind = \"bulk\"", "kind = \"torrent\""));
    assert!(e.contains("torrent") && e.contains("request_response") && e.contains("video"), "{e}");
}

#[test]
fn out_of_range_values_name_the_field() {
    let e = error_of(&BASE.replace(
        "down = { rate_mbps = 10.0, delay_ms = 5.0 }",
        "down = { rate_mbps = 10.0, delay_ms = 5.0, loss = 1.5 }",
    ));
    assert!(e.contains("paths[0].down.loss") && e.contains("0.0 to 1.0"), "{e}");
    let e =
        error_of(&BASE.replace("rate_mbps = 10.0, delay_ms = 5.0 }\ndown", "rate_mbps = -1.0, delay_ms = 5.0 }\ndown"));
    assert!(e.contains("paths[0].up.rate_mbps"), "{e}");
}

#[test]
fn queue_needs_exactly_one_limit() {
    let e = error_of(
        &BASE.replace("delay_ms = 5.0 }\ndown", "delay_ms = 5.0, queue = { packets = 10, bytes = 5000 } }\ndown"),
    );
    assert!(e.contains("paths[0].up.queue") && e.contains("exactly one"), "{e}");
}

#[test]
fn names_must_resolve() {
    let e =
        error_of(&BASE.replace("[workload]", "[[events]]\nat_s = 1.0\naction = \"down\"\npath = \"wifi\"\n[workload]"));
    assert!(e.contains("events[0].path") && e.contains("p0"), "{e}");
    let e = error_of(&BASE.replace("down = { rate", "bottleneck = \"core\"\ndown = { rate"));
    assert!(e.contains("paths[0].bottleneck") && e.contains("core"), "{e}");
}

/// `baseline_congestion_controller`: the single-path baselines take it (CoNEXT'17: OLIA multipath
/// against CUBIC single-path QUIC), the multipath run keeps its own; a bad name is refused.
#[test]
fn baselines_can_use_their_own_controller() {
    let text =
        format!("{BASE}\n[transport]\ncongestion_controller = \"olia\"\nbaseline_congestion_controller = \"cubic\"\n");
    let s = Scenario::from_toml(&text, "t").unwrap();
    assert_eq!(s.transport.congestion_controller, "olia");
    let alone = s.single_path(0);
    assert_eq!(alone.transport.congestion_controller, "cubic");
    assert_eq!(alone.transport.baseline_congestion_controller, None);
    let e = error_of(&text.replace("= \"cubic\"", "= \"vegas\""));
    assert!(e.contains("transport.baseline_congestion_controller") && e.contains("cubic"), "{e}");
}

#[test]
fn unknown_controller_lists_valid_names() {
    let e = error_of(&format!("{BASE}\n[transport]\ncongestion_controller = \"vegas\"\n"));
    assert!(e.contains("transport.congestion_controller") && e.contains("cubic") && e.contains("olia"), "{e}");
    let e = error_of(&format!("{BASE}\n[transport]\nscheduler = \"fastest\"\n"));
    assert!(e.contains("transport.scheduler") && e.contains("minrtt"), "{e}");
}

#[test]
fn handover_needs_a_target_and_paths_need_distinct_addresses() {
    let e = error_of(
        &BASE.replace("[workload]", "[[events]]\nat_s = 1.0\naction = \"handover\"\npath = \"p0\"\n[workload]"),
    );
    assert!(e.contains("events[0].to"), "{e}");
    let dup = BASE.replace("[workload]", "[[paths]]\nname = \"p1\"\nclient = \"10.0.0.2:5000\"\nserver = \"10.9.0.1:4433\"\nup = { rate_mbps = 1.0, delay_ms = 1.0 }\ndown = { rate_mbps = 1.0, delay_ms = 1.0 }\n[workload]");
    let e = error_of(&dup);
    assert!(e.contains("paths[1].client"), "{e}");
}

#[test]
fn missing_file_names_the_path() {
    let e = Scenario::load(std::path::Path::new("/nonexistent/x.toml")).unwrap_err();
    assert!(matches!(e, ScenarioError::Io { .. }));
    assert!(e.to_string().contains("/nonexistent/x.toml"));
}

#[test]
fn competing_flow_needs_a_bottleneck_and_its_own_addresses() {
    let base = Scenario::load(&common::scenario_file("cc_fairness.toml")).unwrap();
    assert_eq!(base.competing.len(), 1);
    let text = std::fs::read_to_string(common::scenario_file("cc_fairness.toml")).unwrap();
    let e = error_of(&text.replace("bottleneck = \"core\"\nup = { rate_mbps = 100.0, delay_ms = 2.0, jitter_ms = 6.0 }\ndown = { rate_mbps = 100.0, delay_ms = 2.0 }\ncongestion_controller", "bottleneck = \"nope\"\nup = { rate_mbps = 100.0, delay_ms = 2.0, jitter_ms = 6.0 }\ndown = { rate_mbps = 100.0, delay_ms = 2.0 }\ncongestion_controller"));
    assert!(e.contains("competing[0].bottleneck") && e.contains("nope"), "{e}");
    let e = error_of(&text.replace("client = \"10.2.0.2:50000\"", "client = \"10.0.0.2:50000\""));
    assert!(e.contains("competing[0].client"), "{e}");
}
