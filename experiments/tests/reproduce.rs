//! `mpquic reproduce`: the list of papers, verdicts (PASS, DIFFERS, FAIL) and the exit code on
//! a claims file made here, clear errors for broken claims files, and the quick form of every
//! paper of `papers/`, which must pass.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;

use common::{temp_dir, BIN};

fn papers() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../papers")
}

fn reproduce(args: &[&str]) -> Output {
    Command::new(BIN).arg("reproduce").args(args).output().expect("mpquic runs")
}

/// A tiny bulk scenario: 200 kB over one 10 Mbit/s path.
const SCENARIO: &str = r#"
name = "tiny"
seed = 1
duration_s = 20.0
[transport]
congestion_controller = "cubic"
[[paths]]
name = "a"
client = "10.0.0.2:50000"
server = "10.9.0.1:4433"
up = { rate_mbps = 10.0, delay_ms = 10.0 }
down = { rate_mbps = 10.0, delay_ms = 10.0 }
[workload]
kind = "bulk"
bytes = 200_000
"#;

fn paper_dir(claims: &str) -> common::TempDir {
    let root = temp_dir("reproduce-papers");
    let dir = root.join("toy");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("tiny.toml"), SCENARIO).unwrap();
    std::fs::write(dir.join("claims.toml"), claims).unwrap();
    root
}

#[test]
fn verdicts_reports_and_exit_code() {
    let root = paper_dir(
        r#"
title = "A toy paper"
[[claim]]
id = "bytes"
text = "every byte arrives"
paper = 200000.0
unit = "B"
scenario = "tiny.toml"
metric = "runs.app_bytes_received"
expect = { within = 0.0 }
why = "exact"

[[claim]]
id = "too-fast"
text = "completes within a millisecond"
paper = 0.001
unit = "s"
scenario = "tiny.toml"
metric = "aggregate.completion_time_s.mean"
expect = { within = 0.0001 }
why = "no stack can"
differs = { expect = { at_most = 5.0 }, why = "a 10 Mbit/s path needs about 0.2 s" }

[[claim]]
id = "impossible"
text = "goodput above 1 Gbit/s"
unit = "Mbit/s"
scenario = "tiny.toml"
metric = "runs.goodput_mbps"
expect = { at_least = 1000.0 }
why = "a claim that must fail"
"#,
    );
    let out_dir = root.join("out");
    let out = reproduce(&["toy", "--papers", root.to_str().unwrap(), "--out", out_dir.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a FAIL makes the command fail");
    assert!(stderr.contains("1 of 3 claims FAILED (1 differ"), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("report.json")).unwrap()).unwrap();
    let verdicts: Vec<&str> =
        report["claims"].as_array().unwrap().iter().map(|c| c["verdict"].as_str().unwrap()).collect();
    assert_eq!(verdicts, ["PASS", "DIFFERS", "FAIL"]);
    assert_eq!(report["claims"][0]["ours"], 200000.0);
    let md = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    assert!(md.contains("| bytes: every byte arrives | 200000 B | 200000 B | ±0 B | PASS |"), "{md}");
    assert!(md.contains("a 10 Mbit/s path needs about 0.2 s"), "DIFFERS is explained: {md}");
    // The run behind the claims was written like `mpquic run`'s.
    assert!(out_dir.join("runs/tiny/summary.json").is_file());

    // --list names it.
    let list = reproduce(&["--list", "--papers", root.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&list.stdout).contains("toy                A toy paper (3 claims)"));
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn broken_claims_files_and_names_are_refused_clearly() {
    let cases = [
        ("title = \"x\"\n[[claim]]\nid = \"a\"\ntext = \"t\"\nscenario = \"tiny.toml\"\nmetric = \"m\"\nexpect = { at_least = 1.0 }\n", "missing field `why`"),
        ("title = \"x\"\n[[claim]]\nid = \"a\"\ntext = \"t\"\nscenario = \"tiny.toml\"\nmetric = \"m\"\nexpect = {}\nwhy = \"w\"\n", "at least one bound"),
        ("title = \"x\"\n[[claim]]\nid = \"a\"\ntext = \"t\"\nscenario = \"nope.toml\"\nmetric = \"m\"\nexpect = { at_least = 1.0 }\nwhy = \"w\"\n", "nope.toml does not exist"),
        ("title = \"x\"\ncolour = 1\n", "unknown field `colour`"),
        ("title = \"x\"\n[[claim]]\nid = \"a\"\ntext = \"t\"\nscenario = \"tiny.toml\"\nmetric = \"m\"\nexpect = { within = 1.0 }\nwhy = \"w\"\n", "need the paper's value"),
    ];
    for (claims, needle) in cases {
        let root = paper_dir(claims);
        let out = reproduce(&["toy", "--papers", root.to_str().unwrap(), "--out", root.join("o").to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(needle), "{needle:?} not in {stderr}");
        let _ = std::fs::remove_dir_all(&root);
    }
    let out = reproduce(&["no-such-paper", "--papers", papers().to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no paper \"no-such-paper\""));
    let out = reproduce(&["--list", "--papers", "/nonexistent"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such folder"));
}

#[test]
fn every_paper_is_listed() {
    let out = reproduce(&["--list", "--papers", papers().to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    for name in ["blest", "conext17-mpquic", "ecf", "rfc6356", "xlink"] {
        assert!(stdout.lines().any(|l| l.starts_with(name)), "{name} in {stdout}");
    }
    assert!(!stdout.contains("broken claims.toml"), "{stdout}");
}

fn quick(name: &str) {
    let out_dir = temp_dir(&format!("reproduce-{name}"));
    let out = reproduce(&[name, "--quick", "--papers", papers().to_str().unwrap(), "--out", out_dir.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{name} --quick:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(out_dir.join("report.md").is_file());
    let _ = std::fs::remove_dir_all(&out_dir);
}

#[test]
fn conext17_quick_passes() {
    quick("conext17-mpquic");
}

#[test]
fn rfc6356_quick_passes() {
    quick("rfc6356");
}

#[test]
fn xlink_quick_passes() {
    quick("xlink");
}

#[test]
fn blest_quick_passes() {
    quick("blest");
}

/// ECF in its own setup: the quick form includes the video claim that ECF fetches chunks at
/// least 5% faster than MinRTT (a gain, not `<=`), which a MinRTT-like ECF fails.
#[test]
fn ecf_quick_passes() {
    quick("ecf");
}
