//! Real mode end to end: `mpquic run --real` on small scenarios (a multipath bulk download and a
//! request/response workload) completes and writes the simulator's outputs marked `"mode":
//! "real"`; and issue 8's bulk failover, reduced, on real sockets with three processes:
//! `mpquic server`, `mpquic emulate` and `mpquic client` (multipath, two paths), the fast path
//! black-holed during the download, which must still arrive byte-exact and without a long stall.

mod common;

use std::process::{Command, Stdio};

use common::{
    free_port_on, path_rows, pseudo_random, scenario_file, skip_unless_ci, start_server_on, temp_dir, wait_for_output,
    BIN,
};
use mpquic_experiments::qlog::read_json_seq;
use sha2::{Digest, Sha256};

fn summary(dir: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("summary.json")).expect("summary.json written");
    serde_json::from_str(&text).expect("summary.json is JSON")
}

fn run_real(scenario: &std::path::Path, out: &std::path::Path) -> String {
    let output = Command::new(BIN).arg("run").arg("--real").arg(scenario).arg("--out").arg(out).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "mpquic run --real failed: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

const TWO_PATHS: &str = r#"
[[paths]]
name = "a"
client = "10.0.0.2:50000"
server = "10.9.0.1:4433"
up = { rate_mbps = 20.0, delay_ms = 10.0, queue = { bdp = 1.0 } }
down = { rate_mbps = 20.0, delay_ms = 10.0, queue = { bdp = 1.0 } }
[[paths]]
name = "b"
client = "10.1.0.2:50000"
server = "10.9.0.1:4433"
up = { rate_mbps = 10.0, delay_ms = 20.0, queue = { bdp = 1.0 } }
down = { rate_mbps = 10.0, delay_ms = 20.0, queue = { bdp = 1.0 } }
"#;

/// A fresh directory with the scenario `NAME.toml`: the two paths above and `workload` (the
/// keys of its `[workload]` table).
fn two_path_scenario(name: &str, workload: &str) -> (common::TempDir, std::path::PathBuf) {
    let dir = temp_dir(name);
    let file = dir.join(format!("{name}.toml"));
    let text = format!("name = \"{name}\"\nduration_s = 30.0\n{TWO_PATHS}\n[workload]\n{workload}\n");
    std::fs::write(&file, text).unwrap();
    (dir, file)
}

#[test]
fn run_real_bulk_completes_and_writes_outputs() {
    let (dir, file) = two_path_scenario("real-bulk", "kind = \"bulk\"\nbytes = 3_000_000");
    let out = dir.join("out");
    let stdout = run_real(&file, &out);
    assert!(stdout.contains("[real sockets, emulated links]"), "{stdout}");
    let s = summary(&out);
    assert_eq!(s["mode"], "real");
    let run = &s["runs"][0];
    assert_eq!(run["completed"], true, "{run}");
    assert_eq!(run["app_bytes_received"], 3_000_000);
    assert_eq!(run["app_bytes_corrupt"], 0);
    assert!(run["longest_delivery_gap_ms"].as_f64().unwrap() > 0.0);
    // Both paths carried the download, by the relays' counters.
    for p in run["paths"].as_array().unwrap() {
        assert!(p["bytes_delivered_down"].as_u64().unwrap() > 200_000, "{p}");
    }
    let relays = run["emulator"]["relays"].as_array().unwrap();
    assert_eq!(relays.len(), 2);
    assert_eq!(run["paths"][1]["bytes_delivered_down"], relays[1]["to_client"]["bytes"]);
    for name in ["real-bulk-seed1_a.csv", "real-bulk-seed1_b.csv"] {
        let csv = std::fs::read_to_string(out.join("timeseries").join(name)).unwrap();
        assert!(csv.lines().count() > 3, "{name}: {csv}");
    }
    assert!(out.join("plots/real-bulk-seed1_goodput.svg").exists());
    // qlog traces (the default `--qlog packets`), one per side, closed and whole: the server
    // sent packets on both paths.
    let files = s["qlog_files"].as_array().expect("qlog_files listed");
    assert_eq!(files.len(), 2, "{files:?}");
    let server = files.iter().find(|f| f.as_str().unwrap().ends_with("_server.sqlog")).expect("a server trace");
    let records = read_json_seq(&out.join("qlog").join(server.as_str().unwrap())).unwrap();
    let paths: std::collections::BTreeSet<u64> =
        records.iter().filter(|r| r["name"] == "quic:packet_sent").filter_map(|r| r["path_id"].as_u64()).collect();
    assert_eq!(paths, [0, 1].into(), "server packets per path");
    assert!(records.iter().any(|r| r["name"] == "quic:connection_closed"), "the trace ends with the close");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 15: the Redundant scheduler sends every packet on every path. On real sockets over
/// 20 Mbit/s 20 ms RTT and 10 Mbit/s 60 ms RTT (a one-BDP queue each), with the single-path
/// baselines of the same run, each path carries about half of the file or more, and the
/// download is about as fast as over the fast path alone. Before, the slow path carried about a
/// third (6.1 and 3.0 MB of 8 MiB, MinRTT's split), so the share check fails. The bounds have
/// margins for a loaded machine (the full check, 8 MiB, asks for half and +10%): 45% of the
/// file per path, and 1.3x the fast path's completion time.
#[test]
fn redundant_puts_the_whole_file_on_both_paths_on_real_sockets() {
    const BYTES: u64 = 4 << 20;
    let dir = temp_dir("real-redundant");
    let file = dir.join("redundant.toml");
    let text = format!(
        r#"name = "redundant"
duration_s = 60.0
baselines = true
[transport]
scheduler = "redundant"
[[paths]]
name = "fast"
client = "10.0.0.2:50000"
server = "10.9.0.1:4433"
up = {{ rate_mbps = 20.0, delay_ms = 10.0, queue = {{ bdp = 1.0 }} }}
down = {{ rate_mbps = 20.0, delay_ms = 10.0, queue = {{ bdp = 1.0 }} }}
[[paths]]
name = "slow"
client = "10.1.0.2:50000"
server = "10.9.1.1:4433"
up = {{ rate_mbps = 10.0, delay_ms = 30.0, queue = {{ bdp = 1.0 }} }}
down = {{ rate_mbps = 10.0, delay_ms = 30.0, queue = {{ bdp = 1.0 }} }}
[workload]
kind = "bulk"
bytes = {BYTES}
"#
    );
    std::fs::write(&file, text).unwrap();
    let out = dir.join("out");
    let output =
        Command::new(BIN).args(["run", "--real", "--qlog", "off"]).arg(&file).arg("--out").arg(&out).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let s = summary(&out);
    let run = s["runs"].as_array().unwrap().iter().find(|r| r["label"] == "redundant").expect("the multipath run");
    let baselines = s["baselines"].as_array().expect("baselines = true");
    let alone = baselines.iter().find(|r| r["label"] == "redundant-only-fast").expect("the fast path alone");
    assert_eq!(run["app_bytes_received"], BYTES);
    assert_eq!(run["app_bytes_corrupt"], 0);
    let sent: Vec<u64> =
        run["paths"].as_array().unwrap().iter().map(|p| p["bytes_sent_down"].as_u64().unwrap()).collect();
    let (t, t_fast) = (run["completion_time_s"].as_f64().unwrap(), alone["completion_time_s"].as_f64().unwrap());
    println!("redundant {t:.3} s (fast path alone {t_fast:.3} s), bytes sent down per path {sent:?}");
    for (i, &b) in sent.iter().enumerate() {
        assert!(b as f64 >= 0.45 * BYTES as f64, "path {i} carried {b} of {BYTES} bytes: {sent:?}");
    }
    assert!(t <= 1.3 * t_fast, "redundant {t} s against the fast path alone {t_fast} s");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn run_real_request_response_completes() {
    let workload =
        "kind = \"request_response\"\ninterval_ms = 50.0\nrequest_bytes = 750\nresponse_bytes = 20_000\ncount = 20";
    let (dir, file) = two_path_scenario("real-rr", workload);
    let out = dir.join("out");
    run_real(&file, &out);
    let run = &summary(&out)["runs"][0];
    assert_eq!(run["completed"], true, "{run}");
    assert_eq!(run["requests"]["completed"], 20);
    assert_eq!(run["app_bytes_received"], 20 * 20_000);
    assert_eq!(run["app_bytes_corrupt"], 0);
    // A request and its answer take at least one round trip of the faster path (20 ms).
    let latency = &run["requests"]["latency_ms"];
    assert!(latency["median"].as_f64().unwrap() >= 20.0, "{latency}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn run_real_files_keep_the_window() {
    let (dir, file) = two_path_scenario("real-files", "kind = \"files\"\ncount = 6\nbytes = 200_000\nparallel = 2");
    let out = dir.join("out");
    run_real(&file, &out);
    let run = &summary(&out)["runs"][0];
    assert_eq!(run["completed"], true, "{run}");
    assert_eq!(run["requests"]["completed"], 6);
    assert_eq!(run["app_bytes_received"], 1_200_000);
    assert_eq!(run["app_bytes_corrupt"], 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn run_real_in_network_namespaces() {
    if let Err(why) = mpquic_experiments::real::netns_available() {
        return skip_unless_ci(&why);
    }
    let (dir, file) = two_path_scenario("real-netns", "kind = \"bulk\"\nbytes = 2_000_000");
    let out = dir.join("out");
    let child = Command::new(BIN)
        .args(["run", "--real", "--netns"])
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let s = summary(&out);
    let run = &s["runs"][0];
    assert_eq!(run["completed"], true, "{run}");
    assert_eq!(run["app_bytes_corrupt"], 0);
    assert!(s["notes"].to_string().contains("network namespace"), "{}", s["notes"]);
    for p in run["paths"].as_array().unwrap() {
        assert!(p["bytes_delivered_down"].as_u64().unwrap() > 100_000, "{p}");
    }
    // The run's namespaces are gone.
    let list = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    let prefix = format!("{}{pid}-", mpquic_experiments::real::NAMESPACE_PREFIX);
    assert!(!list.contains(&prefix), "namespaces left behind: {list}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn run_real_refuses_what_it_cannot_do() {
    // Bound to a name: a guard passed to `arg` by value is dropped (and its directory removed)
    // before the command runs, and the directory the run then makes was left behind.
    let out = temp_dir("real-refuse");
    let output = Command::new(BIN)
        .args(["run", "--real"])
        .arg(scenario_file("cc_fairness.toml"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("competing") && stderr.contains("simulator-only"), "{stderr}");
}

/// Issue 8 on real sockets, reduced: 10 MB instead of 50 MB, the fast path black-holed at 1 s
/// instead of 3 s (about the same share of the transfer is left), through `mpquic emulate`.
#[test]
fn bulk_failover_with_server_emulator_and_client_processes() {
    let dir = temp_dir("real-failover");
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    let data = pseudo_random(10_000_000, 8);
    std::fs::write(root.join("big.bin"), &data).unwrap();
    let scenario =
        std::fs::read_to_string(scenario_file("failover_bulk.toml")).unwrap().replace("at_s = 3.0", "at_s = 1.0");
    assert!(scenario.contains("at_s = 1.0"));
    let scenario_path = dir.join("failover.toml");
    std::fs::write(&scenario_path, scenario).unwrap();

    // Server on 127.0.4.1 and 127.0.4.2; the relays on the same IPs (so the certificate, made
    // for the listen addresses, matches the URL), another port.
    let server = start_server_on(&root, &["127.0.4.1", "127.0.4.2"], &["--cc", "cubic"]);
    let relay_port = free_port_on("127.0.4.1");
    let stats_file = dir.join("emulator.json");
    let emulator_log = dir.join("emulator.log");
    let mut emulator = Command::new(BIN)
        .arg("emulate")
        .arg(&scenario_path)
        .arg("--relay")
        .arg(format!("fast=127.0.4.1:{relay_port},127.0.4.1:{}", server.port))
        .arg("--relay")
        .arg(format!("slow=127.0.4.2:{relay_port},127.0.4.2:{}", server.port))
        .arg("--stats")
        .arg(&stats_file)
        .stdout(Stdio::from(std::fs::File::create(&emulator_log).unwrap()))
        .stderr(Stdio::inherit())
        .spawn()
        .expect("emulator starts");
    wait_for_output(&mut emulator, &emulator_log, &["ready"]);

    let output = Command::new(BIN)
        .arg("client")
        .arg(format!("https://127.0.4.1:{relay_port}/big.bin"))
        .arg("--output")
        .arg(dir.join("out"))
        .arg("--ca")
        .arg(&server.ca)
        .args(["--cc", "cubic", "--path", "127.0.5.1"])
        .args(["--path", &format!("127.0.5.2=127.0.4.2:{relay_port}")])
        .arg("--qlog")
        .arg(dir.join("qlog"))
        .output()
        .expect("client runs");
    // Stop the emulator (SIGTERM): it prints its counters and writes them to --stats.
    let _ = Command::new("kill").arg("-TERM").arg(emulator.id().to_string()).status();
    let status = emulator.wait().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let log = std::fs::read_to_string(&emulator_log).unwrap_or_default();
    println!("{stdout}\n{log}");
    assert!(output.status.success(), "client failed: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(status.success(), "emulator: {status}");

    let got = std::fs::read(dir.join("out/big.bin")).unwrap();
    assert_eq!(Sha256::digest(&got), Sha256::digest(&data), "SHA-256 of the download differs");

    // Both paths carried data (the client's per-path table and the relays' counters).
    let rows = path_rows(&stdout);
    assert!(rows.len() >= 2, "{stdout}");
    for (id, bytes) in &rows[..2] {
        assert!(*bytes > 1_000_000, "path {id} carried {bytes} bytes: {stdout}");
    }
    let stats: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&stats_file).unwrap()).unwrap();
    for relay in stats["relays"].as_array().unwrap() {
        assert!(relay["to_client"]["bytes"].as_u64().unwrap() > 1_000_000, "{relay}");
    }
    // The black hole opened during the download: datagrams were sent into it.
    assert_eq!(stats["events_applied"], 1);
    let fast_down = stats["links"].as_array().unwrap().iter().find(|l| l["name"] == "fast.down").unwrap();
    assert!(fast_down["dropped_loss"].as_u64().unwrap() > 0, "{fast_down}");
    // The delivery gap: the longest time the download's in-order data stood still, from the
    // client's trace. The simulator's bound for this scenario is 280 ms (3 x the surviving
    // path's RTT + 100 ms, experiments/scenarios/failover_bulk.toml); on real sockets, with
    // three processes on a shared machine, the bound is generous.
    let trace = std::fs::read_dir(dir.join("qlog"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("_client.sqlog"))
        .expect("the client's qlog trace");
    let gap_ms = longest_in_order_gap_ms(&read_json_seq(&trace).unwrap());
    println!("longest in-order delivery gap: {gap_ms:.1} ms");
    assert!(gap_ms < 2000.0, "the download stood still for {gap_ms:.1} ms around the black hole");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The longest time, in ms, in which the in-order data of stream 0 (the download) did not
/// advance, from a qlog trace: the STREAM frames of every received packet, at its time.
fn longest_in_order_gap_ms(records: &[serde_json::Value]) -> f64 {
    let mut pending = std::collections::BTreeMap::<u64, u64>::new(); // start -> end
    let (mut frontier, mut last_advance, mut longest) = (0u64, None::<f64>, 0.0f64);
    for r in records.iter().filter(|r| r["name"] == "quic:packet_received") {
        let time = r["time"].as_f64().expect("record time");
        for f in r["data"]["frames"].as_array().into_iter().flatten() {
            if f["frame_type"] != "stream" || f["stream_id"] != 0 {
                continue;
            }
            let start = f["offset"].as_u64().unwrap();
            let end = start + f["raw"]["payload_length"].as_u64().unwrap();
            let e = pending.entry(start).or_insert(end);
            *e = (*e).max(end);
        }
        let before = frontier;
        // Every pending range that starts at or before the frontier extends it.
        while let Some((&start, &end)) = pending.range(..=frontier).next_back() {
            pending.remove(&start);
            frontier = frontier.max(end);
        }
        if frontier > before {
            if let Some(last) = last_advance {
                longest = longest.max(time - last);
            }
            last_advance = Some(time);
        }
    }
    longest
}
