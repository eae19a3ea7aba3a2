//! qlog output of simulated runs: the JSON-SEQ files parse, follow the qlog schemas, name the
//! multipath path of every path-scoped event, agree with the run's own counters, and are
//! byte-identical for the same seed.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use mpquic_experiments::qlog::{read_json_seq, MULTIPATH_SCHEMA, QUIC_SCHEMA};
use mpquic_experiments::runner::{run_once_with, QlogOptions, RunError};
use mpquic_experiments::scenario::Scenario;
use serde_json::Value;

fn two_paths(extra: &str) -> Scenario {
    let text = format!(
        r#"
name = "traced"
duration_s = 20.0
{extra}
[[paths]]
name = "fast"
client = "10.0.0.2:5000"
server = "10.9.0.1:4433"
up = {{ rate_mbps = 20.0, delay_ms = 10.0, queue = {{ bdp = 1.0 }} }}
down = {{ rate_mbps = 20.0, delay_ms = 10.0, queue = {{ bdp = 1.0 }}, loss = 0.01 }}
[[paths]]
name = "slow"
client = "10.1.0.2:5000"
server = "10.9.1.1:4433"
up = {{ rate_mbps = 5.0, delay_ms = 30.0 }}
down = {{ rate_mbps = 5.0, delay_ms = 30.0 }}
[workload]
kind = "bulk"
bytes = 1_500_000
"#
    );
    Scenario::from_toml(&text, "traced").unwrap()
}

/// The two traces of a run, (client, server), each as its records.
fn traces(dir: &Path) -> (Vec<Value>, Vec<Value>) {
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    let find = |side: &str| {
        let f = files.iter().find(|f| f.to_string_lossy().ends_with(&format!("_{side}.sqlog"))).unwrap();
        read_json_seq(f).unwrap()
    };
    (find("client"), find("server"))
}

fn named<'a>(records: &'a [Value], name: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    records.iter().filter(move |r| r["name"] == name)
}

#[test]
fn traces_follow_the_schema_and_agree_with_the_run() {
    let dir = common::temp_dir("qlog-schema");
    let s = two_paths("");
    let out = run_once_with(&s, 1, Some(&QlogOptions { dir: dir.to_path_buf(), packets: true })).unwrap();
    let summary = out.summary;
    assert!(summary.completed, "{:?}", summary.error);
    let (client, server) = traces(&dir);
    for (records, side) in [(&client, "client"), (&server, "server")] {
        // The header: a QlogFileSeq with one TraceSeq (main schema).
        let h = &records[0];
        assert_eq!(h["file_schema"], "urn:ietf:params:qlog:file:sequential");
        assert_eq!(h["serialization_format"], "application/qlog+json-seq");
        assert_eq!(h["trace"]["vantage_point"]["type"], side);
        assert_eq!(h["trace"]["event_schemas"], serde_json::json!([QUIC_SCHEMA, MULTIPATH_SCHEMA]));
        assert_eq!(h["trace"]["common_fields"]["reference_time"]["clock_type"], "monotonic");
        // Every event has time, name and data; times never go backwards.
        let mut last = 0.0;
        for r in &records[1..] {
            let t = r["time"].as_f64().unwrap_or_else(|| panic!("no time: {r}"));
            assert!(t >= last, "time went back: {r}");
            last = t;
            assert!(r["name"].as_str().is_some_and(|n| n.starts_with("quic:")), "{r}");
            assert!(r["data"].is_object(), "{r}");
            // Path-scoped events name their path twice: the standard tuple and the number.
            if let Some(p) = r.get("path_id") {
                assert_eq!(r["tuple"].as_str().unwrap(), format!("p{}", p.as_u64().unwrap()));
            }
        }
        // Both group IDs are the client's original DCID.
        assert_eq!(h["trace"]["common_fields"]["group_id"], client[0]["trace"]["common_fields"]["group_id"]);
    }
    // The server's packets per path add up to the bytes the simulator carried for that path.
    let mut sent: BTreeMap<u64, u64> = BTreeMap::new();
    for r in named(&server, "quic:packet_sent") {
        *sent.entry(r["path_id"].as_u64().unwrap()).or_default() += r["data"]["raw"]["length"].as_u64().unwrap();
    }
    assert_eq!(sent.len(), 2, "both paths carried packets: {sent:?}");
    for (i, p) in summary.paths.iter().enumerate() {
        assert_eq!(sent[&(i as u64)], p.bytes_sent_down, "path {i} ({})", p.name);
    }
    // The client received the whole download in STREAM frames.
    let stream_bytes: u64 = named(&client, "quic:packet_received")
        .flat_map(|r| r["data"]["frames"].as_array().unwrap().iter())
        .filter(|f| f["frame_type"] == "stream")
        .map(|f| f["raw"]["payload_length"].as_u64().unwrap())
        .sum();
    assert!(stream_bytes >= 1_500_000, "{stream_bytes}");
    // Multipath frames: the client acknowledges both paths with PATH_ACK.
    let acked: std::collections::BTreeSet<u64> = named(&client, "quic:packet_sent")
        .flat_map(|r| r["data"]["frames"].as_array().unwrap().iter())
        .filter(|f| f["frame_type"] == "path_ack")
        .map(|f| f["path_id"].as_u64().unwrap())
        .collect();
    assert_eq!(acked, [0, 1].into(), "PATH_ACK frames for both paths");
    // The path life cycle: path 1 is created, opened and validated on both sides; its tuple is
    // assigned with the client's second address.
    for records in [&client, &server] {
        let states: Vec<&str> = named(records, "quic:path_updated")
            .filter(|r| r["path_id"] == 1)
            .map(|r| r["data"]["state"].as_str().unwrap())
            .collect();
        assert_eq!(states[..3], ["created", "opened", "validated"], "{states:?}");
    }
    let tuple1 = named(&server, "quic:tuple_assigned").find(|r| r["data"]["tuple_id"] == "p1").unwrap();
    assert_eq!(tuple1["data"]["tuple_remote"]["ip_v4"], "10.1.0.2");
    // Losses on the lossy path are traced, and recovery metrics follow the acknowledgements.
    let lost = named(&server, "quic:packet_lost").count() as u64;
    assert_eq!(lost, summary.paths.iter().map(|p| p.packets_lost).sum::<u64>());
    assert!(lost > 0);
    let m = named(&server, "quic:recovery_metrics_updated").find(|r| r["path_id"] == 1).unwrap();
    assert!(m["data"]["smoothed_rtt"].as_f64().unwrap() >= 60.0, "{m}");
    assert!(named(&server, "quic:congestion_state_updated").any(|r| r["data"]["new"] == "slow_start"));
    // The handshake in states and parameters.
    let states: Vec<&str> =
        named(&client, "quic:connection_state_updated").map(|r| r["data"]["new"].as_str().unwrap()).collect();
    assert_eq!(states, ["attempted", "handshake_complete", "handshake_confirmed"]);
    let params: Vec<&Value> = named(&client, "quic:parameters_set").collect();
    assert_eq!(params.len(), 2);
    assert_eq!(params[1]["data"]["initiator"], "remote");
    assert_eq!(params[1]["data"]["initial_max_path_id"], 2);
}

#[test]
fn a_failed_path_shows_in_the_trace() {
    let dir = common::temp_dir("qlog-failure");
    let s = two_paths("[[events]]\nat_s = 0.4\naction = \"set\"\npath = \"fast\"\nloss = 1.0");
    let out = run_once_with(&s, 1, Some(&QlogOptions { dir: dir.to_path_buf(), packets: false })).unwrap();
    assert!(out.summary.completed, "{:?}", out.summary.error);
    let (_, server) = traces(&dir);
    let failed = named(&server, "quic:path_updated")
        .find(|r| r["data"]["state"] == "potentially_failed")
        .expect("the black-holed path was marked potentially failed");
    assert_eq!(failed["path_id"], 0);
    assert!(failed["time"].as_f64().unwrap() > 400.0);
    // `packets: false` keeps the trace to events: no packet records at all.
    assert_eq!(named(&server, "quic:packet_sent").count() + named(&server, "quic:packet_received").count(), 0);
    assert!(named(&server, "quic:packet_lost").count() > 0);
}

#[test]
fn same_seed_gives_identical_traces() {
    let s = two_paths("");
    let run = |name: &str| {
        let dir = common::temp_dir(name);
        run_once_with(&s, 7, Some(&QlogOptions { dir: dir.to_path_buf(), packets: true })).unwrap();
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path();
                (p.file_name().unwrap().to_owned(), std::fs::read(&p).unwrap())
            })
            .collect();
        files.sort();
        files
    };
    let (a, b) = (run("qlog-det-a"), run("qlog-det-b"));
    assert_eq!(a.len(), 2);
    assert!(a == b, "traces differ between two runs of the same seed");
}

#[test]
fn an_unwritable_qlog_directory_fails_the_run() {
    let dir = common::temp_dir("qlog-unwritable");
    // A file where the directory should be.
    let blocked = dir.join("qlog");
    std::fs::write(&blocked, b"not a directory").unwrap();
    let err = run_once_with(&two_paths(""), 1, Some(&QlogOptions { dir: blocked, packets: true })).unwrap_err();
    assert!(matches!(err, RunError::Qlog(ref m) if m.contains("qlog")), "{err}");
}

/// The rows of the table under `heading` in QLOG.md: first cell, other cells' words.
fn documented(heading: &str) -> BTreeMap<String, Vec<String>> {
    let doc = include_str!("../QLOG.md");
    let section = doc.split(&format!("## {heading}\n")).nth(1).unwrap_or_else(|| panic!("no section {heading}"));
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("|---"))
        .skip(1)
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            let rest = cells.get(1).map_or(Vec::new(), |c| c.split_whitespace().map(str::to_owned).collect());
            (cells[0].to_owned(), rest)
        })
        .collect()
}

/// Every event name, record field, `data` field and packet-header field of two traced runs (one
/// with a black-holed path, so that failure and recovery show) is listed in QLOG.md.
#[test]
fn every_event_and_field_is_in_the_documented_schema() {
    let events = documented("Events and their `data` fields");
    let record_fields = documented("Record fields");
    let header_fields = documented("Packet headers");
    assert!(events.contains_key("quic:tuple_assigned") && record_fields.contains_key("tuple"));
    let mut seen = BTreeMap::new();
    for (name, extra) in
        [("doc-plain", ""), ("doc-failure", "[[events]]\nat_s = 0.4\naction = \"set\"\npath = \"fast\"\nloss = 1.0")]
    {
        let dir = common::temp_dir(name);
        let out =
            run_once_with(&two_paths(extra), 1, Some(&QlogOptions { dir: dir.to_path_buf(), packets: true })).unwrap();
        assert!(out.summary.completed, "{:?}", out.summary.error);
        let (client, server) = traces(&dir);
        for r in client[1..].iter().chain(&server[1..]) {
            let name = r["name"].as_str().unwrap();
            let fields = events.get(name).unwrap_or_else(|| panic!("{name} is not in QLOG.md"));
            for key in r.as_object().unwrap().keys() {
                assert!(record_fields.contains_key(key), "record field {key} of {name} is not in QLOG.md");
            }
            for key in r["data"].as_object().unwrap().keys() {
                assert!(fields.contains(key), "{name}: data field {key} is not in QLOG.md");
            }
            if let Some(header) = r["data"]["header"].as_object().filter(|_| name != "quic:packet_lost") {
                for key in header.keys() {
                    assert!(header_fields.contains_key(key), "{name}: header field {key} is not in QLOG.md");
                }
                assert_eq!(r["data"]["header"]["path_id"], r["path_id"], "{name}: header path_id");
            }
            if name == "quic:recovery_metrics_updated" {
                assert_eq!(r["data"]["path_id"], r["path_id"]);
            }
            if let Some(p) = r["path_id"].as_u64() {
                assert_eq!(r["tuple"], format!("p{p}"));
            }
            *seen.entry(name.to_owned()).or_insert(0u32) += 1;
        }
    }
    // Path-bound events of both paths, and a tuple for each path when it opened.
    for name in ["quic:tuple_assigned", "quic:path_updated", "quic:packet_sent", "quic:recovery_metrics_updated"] {
        assert!(seen.get(name).is_some_and(|&n| n > 0), "no {name} in the traces");
    }
}
