//! `mpquic server` and `mpquic client` as processes over loopback: a 10 MB file and many small
//! ones in one run, content compared byte for byte; refused paths make the client fail with a
//! message naming them; a multipath download over two paths (127.0.0.1 and 127.0.0.2, to two
//! listen addresses of one server) on which both paths carry data: with the round-robin
//! scheduler, which must use both (MinRTT's split between two near-identical loopback paths is a
//! coin toss, and it guarantees no share to either).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod common;

use common::{path_rows, pseudo_random, start_server_on, temp_dir, Server, BIN};

fn start_server(root: &Path) -> Server {
    start_server_on(root, &["127.0.0.1", "[::1]"], &[])
}

#[test]
fn client_downloads_big_and_many_files_from_server() {
    let dir = temp_dir("e2e");
    let root = dir.join("root");
    let out = dir.join("out");
    std::fs::create_dir_all(root.join("many")).unwrap();
    std::fs::write(root.join("big.bin"), pseudo_random(10 << 20, 1)).unwrap();
    let mut urls = Vec::new();
    let server = start_server(&root);
    for i in 0..50 {
        std::fs::write(root.join(format!("many/f{i}.bin")), pseudo_random(1000 + i * 3001, i as u64 + 2)).unwrap();
        let host = if i % 2 == 0 { "127.0.0.1".to_string() } else { "[::1]".to_string() };
        urls.push(format!("https://{host}:{}/many/f{i}.bin", server.port));
    }
    urls.push(format!("https://localhost:{}/big.bin", server.port));
    let output = Command::new(BIN)
        .arg("client")
        .args(&urls)
        .arg("--output")
        .arg(&out)
        .arg("--ca")
        .arg(&server.ca)
        .output()
        .expect("client runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "client failed: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("total"), "summary printed: {stdout}");
    assert_eq!(std::fs::read(out.join("big.bin")).unwrap(), std::fs::read(root.join("big.bin")).unwrap());
    for i in 0..50 {
        let name = format!("f{i}.bin");
        assert_eq!(
            std::fs::read(out.join(&name)).unwrap(),
            std::fs::read(root.join("many").join(&name)).unwrap(),
            "{name}"
        );
    }
    // SIGTERM stops the server cleanly, and it removes the self-signed certificate and key it
    // wrote for clients' --ca.
    let mut server = server;
    let key = std::path::PathBuf::from(server.ca.to_string_lossy().replace("-cert.pem", "-key.pem"));
    assert!(server.ca.exists() && key.exists());
    assert!(server.stop(), "the server exits 0 on SIGTERM");
    assert!(!server.ca.exists() && !key.exists(), "left behind: {}", server.ca.display());
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn refused_paths_fail_the_client_and_are_named() {
    let dir = temp_dir("refuse");
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("ok.txt"), b"ok").unwrap();
    std::fs::write(dir.join("secret.txt"), b"secret").unwrap();
    let server = start_server(&root);
    let output = Command::new(BIN)
        .arg("client")
        .arg(format!("https://127.0.0.1:{}/ok.txt", server.port))
        .arg(format!("https://127.0.0.1:{}/../secret.txt", server.port))
        .arg("--output")
        .arg(dir.join("out"))
        .arg("--insecure")
        .output()
        .expect("client runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("1 of 2 downloads failed") && stderr.contains("secret.txt"), "{stderr}");
    assert_eq!(std::fs::read(dir.join("out/ok.txt")).unwrap(), b"ok");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn multipath_client_downloads_over_two_paths() {
    let dir = temp_dir("mp");
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    let data = pseudo_random(20 << 20, 9);
    std::fs::write(root.join("big.bin"), &data).unwrap();
    // The server schedules the download's packets: round-robin alternates between the paths
    // whenever both have congestion window, so each carries a large share.
    let server = start_server_on(&root, &["127.0.0.1", "127.0.0.2"], &["--scheduler", "roundrobin"]);
    let output = Command::new(BIN)
        .arg("client")
        .arg(format!("https://127.0.0.1:{}/big.bin", server.port))
        .arg("--output")
        .arg(dir.join("out"))
        .arg("--ca")
        .arg(&server.ca)
        .args(["--scheduler", "roundrobin"])
        .args(["--path", "127.0.0.1", "--path", &format!("127.0.0.2=127.0.0.2:{}", server.port)])
        .output()
        .expect("client runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "client failed: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(std::fs::read(dir.join("out/big.bin")).unwrap() == data, "content differs");
    let rows = path_rows(&stdout);
    assert_eq!(rows.len(), 2, "two paths in the statistics: {stdout}");
    for (id, bytes) in rows {
        assert!(bytes > 1_000_000, "path {id} carried only {bytes} bytes: {stdout}");
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--path 127.0.0.2=...,backup` on `mpquic client`: the client marks its second path backup
/// (RFC 10069 §3.3 PATH_STATUS_BACKUP), and the server, whose round-robin scheduler puts more than
/// 1 MB on each path without the flag (the test above), keeps the download on path 0.
#[test]
fn a_backup_path_marked_on_the_client_command_line_carries_no_download() {
    let dir = temp_dir("mp-backup");
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    let data = pseudo_random(8 << 20, 10);
    std::fs::write(root.join("big.bin"), &data).unwrap();
    let server = start_server_on(&root, &["127.0.0.1", "127.0.0.2"], &["--scheduler", "roundrobin"]);
    let output = Command::new(BIN)
        .arg("client")
        .arg(format!("https://127.0.0.1:{}/big.bin", server.port))
        .arg("--output")
        .arg(dir.join("out"))
        .arg("--ca")
        .arg(&server.ca)
        .args(["--path", "127.0.0.1", "--path", &format!("127.0.0.2=127.0.0.2:{},backup", server.port)])
        .output()
        .expect("client runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "client failed: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(std::fs::read(dir.join("out/big.bin")).unwrap() == data, "content differs");
    let rows = path_rows(&stdout);
    assert_eq!(rows.len(), 2, "two paths in the statistics: {stdout}");
    // Path 1 is validated and carries probes and ACKs, but (almost) no stream data.
    assert!(rows[0].1 > 8 << 20, "{stdout}");
    assert!(rows[1].1 < 64 << 10, "the backup path carried {} bytes: {stdout}", rows[1].1);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The records of the one `.sqlog` file in `dir` ending in `_<side>.sqlog`, once its trace has
/// reached the `closed` state (the server writes its end after the client has gone).
fn closed_trace(dir: &Path, side: &str) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|d| {
                d.map(|e| e.unwrap().path())
                    .filter(|p| p.to_string_lossy().ends_with(&format!("_{side}.sqlog")))
                    .collect()
            })
            .unwrap_or_default();
        // A trace still being written may end inside a record: read it again later.
        if let [file] = files.as_slice() {
            if let Ok(records) = mpquic_experiments::qlog::read_json_seq(file) {
                if records.iter().any(|r| r["name"] == "quic:connection_state_updated" && r["data"]["new"] == "closed")
                {
                    return records;
                }
            }
        }
        assert!(Instant::now() < deadline, "no closed {side} trace in {}: {files:?}", dir.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn client_and_server_write_qlog_traces_of_a_multipath_download() {
    let dir = temp_dir("qlog");
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    let data = pseudo_random(3 << 20, 11);
    std::fs::write(root.join("f.bin"), &data).unwrap();
    let (client_qlog, server_qlog) = (dir.join("qlog-client"), dir.join("qlog-server"));
    let server_qlog_arg = server_qlog.to_str().expect("a UTF-8 temporary directory");
    let server = start_server_on(&root, &["127.0.0.1", "127.0.0.2"], &["--qlog", server_qlog_arg]);
    let output = Command::new(BIN)
        .arg("client")
        .arg(format!("https://127.0.0.1:{}/f.bin", server.port))
        .arg("--output")
        .arg(dir.join("out"))
        .arg("--ca")
        .arg(&server.ca)
        .args(["--path", "127.0.0.1", "--path", &format!("127.0.0.2=127.0.0.2:{}", server.port)])
        .arg("--qlog")
        .arg(&client_qlog)
        .arg("--keylog")
        .arg(dir.join("keys.log"))
        .output()
        .expect("client runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "client failed: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("qlog trace: "), "{stdout}");
    // The NSS key log: one line per secret, `LABEL <client random> <secret>` in lowercase hex.
    let keys = std::fs::read_to_string(dir.join("keys.log")).expect("key log written");
    let labels: Vec<&str> = keys.lines().map(|l| l.split(' ').next().unwrap()).collect();
    for label in ["CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0"] {
        assert!(labels.contains(&label), "{label} missing: {keys}");
    }
    for line in keys.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields.len(), 3, "{line}");
        assert_eq!(fields[1].len(), 64, "32-byte client random: {line}");
        assert!(fields[1..].iter().all(|f| f.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))));
    }
    assert!(std::fs::read(dir.join("out/f.bin")).unwrap() == data, "content differs");
    let client = closed_trace(&client_qlog, "client");
    let server_trace = closed_trace(&server_qlog, "server");
    let group = |r: &[serde_json::Value]| r[0]["trace"]["common_fields"]["group_id"].clone();
    assert_eq!(group(&client), group(&server_trace), "both traces are of one connection");
    for (records, side) in [(&client, "client"), (&server_trace, "server")] {
        assert_eq!(records[0]["trace"]["vantage_point"]["type"], side);
        // Packets on both paths, each event naming its path.
        let paths: std::collections::BTreeSet<u64> = records
            .iter()
            .filter(|r| r["name"] == "quic:packet_received")
            .map(|r| r["path_id"].as_u64().unwrap())
            .collect();
        assert_eq!(paths, [0, 1].into(), "{side}: packets received on both paths");
    }
    // The server's STREAM frames carried the whole file.
    let sent: u64 = server_trace
        .iter()
        .filter(|r| r["name"] == "quic:packet_sent")
        .flat_map(|r| r["data"]["frames"].as_array().unwrap().iter())
        .filter(|f| f["frame_type"] == "stream")
        .map(|f| f["raw"]["payload_length"].as_u64().unwrap())
        .sum();
    assert!(sent >= data.len() as u64, "{sent}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
