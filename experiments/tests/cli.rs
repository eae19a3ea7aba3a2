//! The `mpquic` command line as a process: a closed standard output (`mpquic run | head`) does not
//! stop a run from writing its files, and bad flags are refused with a message.

use std::process::{Command, Stdio};

mod common;

use common::{temp_dir, BIN};

#[test]
fn run_with_a_closed_stdout_still_writes_its_outputs() {
    let out = temp_dir("cli-closed-stdout");
    let mut child = Command::new(BIN)
        .args(["run", "--bytes", "300000", "--qlog", "off", "--out"])
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before the table is printed, as `head` would after its lines.
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "status {:?}: {stderr}", output.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Progress goes to standard error, a line after each run.
    assert!(stderr.contains("[1/1] runs done"), "{stderr}");
    let summary = std::fs::read_to_string(out.join("summary.json")).expect("summary.json written");
    assert!(summary.contains("\"completed\": true"), "{summary}");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn bad_flags_are_refused_with_a_message() {
    let output = Command::new(BIN).args(["run", "--qlog", "everything"]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--qlog") && stderr.contains("packets"), "{stderr}");

    let output = Command::new(BIN).args(["run", "--no-such-flag"]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--no-such-flag"));

    let output = Command::new(BIN).args(["run", "/nonexistent/scenario.toml"]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/nonexistent/scenario.toml"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bench_traces_when_asked_and_cleans_up_its_temporary_traces() {
    let dir = temp_dir("cli-bench-qlog");
    let scenario = dir.join("small.toml");
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/speed_2path.toml")).unwrap();
    std::fs::write(&scenario, text.replace("bytes = 50_000_000", "bytes = 300_000")).unwrap();
    let traces = dir.join("traces");
    let json = dir.join("bench.json");
    let output = Command::new(BIN)
        .args(["bench", "--repeat", "1", "--qlog", "packets", "--qlog-dir"])
        .arg(&traces)
        .arg("--json")
        .arg(&json)
        .arg(&scenario)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("qlog packets") && stdout.contains("MB of qlog"), "{stdout}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["qlog"], "packets");
    let written = report["samples"][0]["qlog_bytes"].as_u64().unwrap();
    let files: Vec<_> = std::fs::read_dir(&traces).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).collect();
    assert_eq!(files.len(), 2, "client and server");
    assert_eq!(files.iter().sum::<u64>(), written);

    // Without --qlog-dir the traces go to a temporary directory that is removed afterwards.
    let child = Command::new(BIN)
        .args(["bench", "--repeat", "1", "--qlog", "events"])
        .arg(&scenario)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("qlog events"));
    assert!(!std::env::temp_dir().join(format!("mpquic-bench-qlog-{pid}")).exists());
}
