//! Load (the reduced form of the 1,000-connection soak): `mpquic perf client --connections 100`
//! over two paths each, at 100 kbit/s per connection for 20 s, against one `mpquic perf
//! server`. Every connection must complete with every byte of its rate, both paths must carry
//! data, and the server's resident memory must stay flat after warm-up.

use std::process::{Command, Stdio};
use std::time::Duration;

mod common;

use common::{free_port_on, temp_dir, wait_for_output, BIN};

/// Resident set size of `pid`, KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the server runs");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_hundred_multipath_connections_at_a_capped_rate() {
    let port = free_port_on("127.0.0.1");
    let dir = temp_dir("load-server");
    let log = dir.join("server.log");
    let mut server = Command::new(BIN)
        .args(["perf", "server", "--listen", &format!("127.0.0.1:{port}"), "--listen", &format!("127.0.0.2:{port}")])
        // The server sends the data: round-robin gives each path half of it.
        .args(["--scheduler", "roundrobin"])
        .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_output(&mut server, &log, &[&format!("listening on 127.0.0.2:{port}")]);
    let client = Command::new(BIN)
        .args(["perf", "client", &format!("127.0.0.1:{port}"), "--insecure", "--connections", "100"])
        .args(["--path", "127.0.0.1", "--path", &format!("127.0.0.2=127.0.0.2:{port}")])
        .args(["--scheduler", "roundrobin", "--rate", "100k", "--duration", "20", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Warm-up: every connection is up and sending after a few seconds.
    std::thread::sleep(Duration::from_secs(6));
    let warm = rss_kib(server.id());
    let out = client.wait_with_output().unwrap();
    let end = rss_kib(server.id());
    // SIGTERM: the server stops and removes its self-signed certificate.
    common::terminate(&mut server);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let r: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!((r["completed"].as_u64(), r["errors"].as_u64()), (Some(100), Some(0)), "{stdout}");
    // 100 kbit/s for 20 s is 250 kB a connection; the pacer holds each within one chunk of it.
    for c in r["per_connection"].as_array().unwrap() {
        let bytes = c["bytes"].as_u64().unwrap();
        assert!((200_000..=260_000).contains(&bytes), "connection {}: {bytes} bytes", c["index"]);
    }
    let paths = r["paths"].as_array().unwrap();
    assert_eq!(paths.len(), 2);
    for p in paths {
        assert!(p["bytes_received"].as_u64().unwrap() > 8_000_000, "both paths carry half: {paths:?}");
    }
    // Flat memory after warm-up: at most 4 MiB more (allocator slack), with 100 connections and
    // 200 paths sending all along.
    assert!(end <= warm + 4096, "server RSS grew from {warm} KiB after warm-up to {end} KiB");
}
