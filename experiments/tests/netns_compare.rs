//! Issue 16: the IP-level link emulator (a TUN pair per path between a client and a server
//! network namespace) and the baselines of `mpquic run --real --netns --compare`.
//!
//! Every test here needs root, `ip`, `/dev/net/tun` and (for MPTCP) `net.mptcp.enabled = 1`;
//! without them a test prints why it skipped, and fails when `CI=true` (CI runs as root).
//!
//! - the emulator's fidelity: delivered rate and one-way delay within 5% of the configured
//!   values, for UDP and for TCP;
//! - a 2-path MPTCP comparison in which both subflows carry data, and single-path TCP;
//! - the external-command form (`[[compare.external]]`, here `mpquic perf` as the peer);
//! - clean-up: a run interrupted with SIGINT leaves no namespace (nor the devices and routes in
//!   them) behind; clear errors when not root and when MPTCP is disabled.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{temp_dir, BIN};
use mpquic_experiments::real::{path_ip, EmulatedLinks, Side, NAMESPACE_PREFIX};
use mpquic_experiments::scenario::Scenario;

/// Whether this machine can run the test; `false` (after saying why) skips it, except in CI.
fn can_run(mptcp: bool) -> bool {
    let why = mpquic_experiments::real::netns_available().err().or_else(|| {
        if mptcp {
            mpquic_experiments::real::compare::mptcp_available().err()
        } else {
            None
        }
    });
    match why {
        None => true,
        Some(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but this test cannot run: {why}")
        }
        Some(why) => {
            eprintln!("skipped: {why}");
            false
        }
    }
}

/// The tests that measure time (the emulator's fidelity, the MPTCP comparison's rates) take
/// this lock, so that they do not run beside each other on a 2-core machine: each measures the
/// emulator, not its neighbour's load.
static TIMED: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn timed() -> std::sync::MutexGuard<'static, ()> {
    TIMED.lock().unwrap_or_else(|p| p.into_inner())
}

fn one_path(down: &str, up: &str) -> Scenario {
    let text = format!(
        r#"
name = "fidelity"
[[paths]]
name = "p"
client = "10.0.0.2:1"
server = "10.9.0.1:2"
up = {up}
down = {down}
[workload]
kind = "bulk"
bytes = 1
"#
    );
    Scenario::from_toml(&text, "fidelity.toml").expect("valid scenario")
}

fn in_ns<T: Send>(links: &EmulatedLinks, side: Side, make: impl FnOnce() -> std::io::Result<T> + Send) -> T {
    mpquic_io::netns::enter(&mpquic_io::netns::named(links.namespace(side)), make).expect("socket in the namespace")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn within(measured: f64, configured: f64, what: &str) {
    let error = (measured - configured).abs() / configured;
    eprintln!(
        "{what}: measured {measured:.3}, configured {configured:.3} ({:+.2}%)",
        100.0 * (measured / configured - 1.0)
    );
    assert!(error <= 0.05, "{what}: measured {measured:.3}, configured {configured:.3}: off by {:.1}%", error * 100.0);
}

/// UDP: a sender above the link rate keeps the link busy (the queue holds the excess), so
/// packets leave it exactly one serialisation time apart; sparse probes see the propagation
/// delay.
#[test]
fn emulator_fidelity_udp() {
    if !can_run(false) {
        return;
    }
    let _timed = timed();
    let s = one_path(
        "{ rate_mbps = 20.0, delay_ms = 20.0, queue = { packets = 2000 } }",
        "{ rate_mbps = 10.0, delay_ms = 20.0, queue = { packets = 2000 } }",
    );
    let links = EmulatedLinks::start(&s, 1).expect("links");
    let server_addr = SocketAddr::new(path_ip(0, Side::Server), 9000);
    let client_addr = SocketAddr::new(path_ip(0, Side::Client), 9001);
    let server = in_ns(&links, Side::Server, || UdpSocket::bind(server_addr));
    let client = in_ns(&links, Side::Client, || UdpSocket::bind(client_addr));
    client.set_read_timeout(Some(Duration::from_secs(2))).unwrap();

    // One-way delay: 100 probes of 100 bytes (128 on the wire: 51 us at 20 Mbit/s), 10 ms apart.
    let t0 = Instant::now();
    let mut delays = Vec::new();
    let mut buf = [0u8; 2048];
    for i in 0..100u32 {
        let sent = t0.elapsed().as_nanos() as u64;
        let mut probe = [0u8; 100];
        probe[..8].copy_from_slice(&sent.to_be_bytes());
        probe[8..12].copy_from_slice(&i.to_be_bytes());
        server.send_to(&probe, client_addr).unwrap();
        let (n, _) = client.recv_from(&mut buf).expect("probe delivered");
        assert_eq!(n, 100);
        let at = t0.elapsed().as_nanos() as u64;
        let sent = u64::from_be_bytes(buf[..8].try_into().unwrap());
        delays.push((at - sent) as f64 / 1e6 - 128.0 * 8.0 / 20e6 * 1e3);
        std::thread::sleep(Duration::from_millis(10));
    }
    within(median(delays), 20.0, "UDP one-way delay down, ms");

    // Rate: 2.5 s at 26 Mbit/s offered into the 20 Mbit/s link (1228-byte IP packets); the
    // queue holds the excess, so the link is busy throughout. The client's device counter,
    // sampled 0.5 s and 2.5 s after the start, gives the delivered rate.
    client.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let receiver = std::thread::spawn(move || while client.recv_from(&mut buf).is_ok() {});
    let payload = [7u8; 1200];
    let per_ms = 26e6 / 8.0 / 1228.0 / 1e3;
    let start = Instant::now();
    let mut sent = 0u64;
    let mut samples = Vec::new();
    while start.elapsed() < Duration::from_millis(2500) {
        let due = (start.elapsed().as_secs_f64() * 1e3 * per_ms) as u64;
        while sent < due {
            server.send_to(&payload, client_addr).unwrap();
            sent += 1;
        }
        if samples.is_empty() && start.elapsed() >= Duration::from_millis(500) {
            samples.push((links.client_rx_bytes().unwrap()[0], start.elapsed()));
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    // The queue still holds the excess here, so the link was busy up to this sample.
    samples.push((links.client_rx_bytes().unwrap()[0], start.elapsed()));
    receiver.join().unwrap();
    let stats = links.stop().expect("clean-up");
    let down = stats.links.iter().find(|l| l.name == "p.down").expect("down link");
    assert_eq!(down.stats.dropped_queue, 0, "the queue held the excess: {down:?}");
    assert!(down.stats.packets_delivered + 5 >= sent, "{} of {sent} delivered", down.stats.packets_delivered);
    eprintln!(
        "emulator: {} late releases, max {} us, real-time priority: {}",
        stats.late_wakeups, stats.max_lateness_us, stats.realtime
    );
    let [(b1, t1), (b2, t2)] = samples[..] else { panic!("two samples: {samples:?}") };
    let mbps = (b2 - b1) as f64 * 8.0 / (t2 - t1).as_secs_f64() / 1e6;
    within(mbps, 20.0, "UDP delivered rate (IP bytes at the client's device), Mbit/s");
}

/// TCP: a bulk transfer with a 4-BDP queue keeps the link busy after slow start, so the
/// client's device receives at the link rate; 1-byte ping-pongs see twice the delay.
#[test]
fn emulator_fidelity_tcp() {
    if !can_run(false) {
        return;
    }
    let _timed = timed();
    let s = one_path(
        "{ rate_mbps = 20.0, delay_ms = 15.0, queue = { bdp = 4.0 } }",
        "{ rate_mbps = 20.0, delay_ms = 15.0, queue = { bdp = 4.0 } }",
    );
    let links = EmulatedLinks::start(&s, 1).expect("links");
    let server_addr = SocketAddr::new(path_ip(0, Side::Server), 9000);
    let listener = in_ns(&links, Side::Server, || TcpListener::bind(server_addr));
    let server = std::thread::spawn(move || {
        let (mut ping, _) = listener.accept().unwrap();
        ping.set_nodelay(true).unwrap();
        let mut b = [0u8; 1];
        while ping.read_exact(&mut b).is_ok() && b[0] != 0xff {
            ping.write_all(&b).unwrap();
        }
        let (mut bulk, _) = listener.accept().unwrap();
        let block = [1u8; 64 * 1024];
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(4000) && bulk.write_all(&block).is_ok() {}
    });

    // Round trips of one byte: 2 x 15 ms (+ 2 x 21 us of serialisation).
    let mut ping = in_ns(&links, Side::Client, || TcpStream::connect(server_addr));
    ping.set_nodelay(true).unwrap();
    let mut rtts = Vec::new();
    let mut b = [0u8; 1];
    for i in 0..50u8 {
        let t = Instant::now();
        ping.write_all(&[i]).unwrap();
        ping.read_exact(&mut b).unwrap();
        rtts.push(t.elapsed().as_secs_f64() * 1e3);
        std::thread::sleep(Duration::from_millis(5));
    }
    ping.write_all(&[0xff]).unwrap();
    within(median(rtts), 30.0, "TCP round trip, ms");

    // Delivered rate at the client's device between 1.5 s and 3.5 s of the transfer.
    let mut bulk = in_ns(&links, Side::Client, || TcpStream::connect(server_addr));
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0u64;
        while let Ok(n) = bulk.read(&mut buf) {
            if n == 0 {
                break;
            }
            total += n as u64;
        }
        total
    });
    let start = Instant::now();
    std::thread::sleep(Duration::from_millis(1500));
    let (b1, t1) = (links.client_rx_bytes().unwrap()[0], start.elapsed());
    std::thread::sleep(Duration::from_millis(2000));
    let (b2, t2) = (links.client_rx_bytes().unwrap()[0], start.elapsed());
    server.join().unwrap();
    let total = reader.join().unwrap();
    assert!(total > 5_000_000, "{total} bytes moved");
    let stats = links.stop().expect("clean-up");
    eprintln!(
        "emulator: {} late releases, max {} us, real-time priority: {}",
        stats.late_wakeups, stats.max_lateness_us, stats.realtime
    );
    let mbps = (b2 - b1) as f64 * 8.0 / (t2 - t1).as_secs_f64() / 1e6;
    within(mbps, 20.0, "TCP delivered rate (IP bytes at the client's device), Mbit/s");
}

fn scenario_text(name: &str, workload: &str, extra: &str) -> String {
    format!(
        r#"
name = "{name}"
duration_s = 40
[transport]
congestion_controller = "cubic"
[[paths]]
name = "a"
client = "10.0.0.2:50000"
server = "10.9.0.1:4433"
up = {{ rate_mbps = 20.0, delay_ms = 10.0, queue = {{ bdp = 1.0 }} }}
down = {{ rate_mbps = 20.0, delay_ms = 10.0, queue = {{ bdp = 1.0 }} }}
[[paths]]
name = "b"
client = "10.1.0.2:50000"
server = "10.9.0.1:4433"
up = {{ rate_mbps = 10.0, delay_ms = 20.0, queue = {{ bdp = 1.0 }} }}
down = {{ rate_mbps = 10.0, delay_ms = 20.0, queue = {{ bdp = 1.0 }} }}
[workload]
{workload}
{extra}
"#
    )
}

fn write_scenario(name: &str, text: &str) -> (common::TempDir, std::path::PathBuf) {
    let dir = temp_dir(name);
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, text).unwrap();
    (dir, file)
}

fn namespaces_of(pid: u32) -> Vec<String> {
    let list = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&format!("{NAMESPACE_PREFIX}{pid}-")))
        .map(str::to_owned)
        .collect()
}

fn comparisons(out: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(out.join("summary.json")).expect("summary.json");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["comparisons"].as_array().cloned().unwrap_or_default()
}

/// `--compare mptcp,tcp` on two paths: ours, then MPTCP with one subflow per path (both carry
/// data), then TCP on the first path; all complete, the table, CSV and plot show them.
#[test]
fn mptcp_and_tcp_compared_on_two_paths() {
    if !can_run(true) {
        return;
    }
    let _timed = timed();
    let (dir, file) = write_scenario("cmp-mptcp", &scenario_text("cmp", "kind = \"bulk\"\nbytes = 4_000_000", ""));
    let out = dir.join("out");
    let child = Command::new(BIN)
        .args(["run", "--real", "--netns", "--compare", "mptcp,tcp", "--qlog", "off"])
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let c = comparisons(&out);
    let names: Vec<&str> = c.iter().map(|e| e["protocol"].as_str().unwrap()).collect();
    assert_eq!(names, ["mpquic", "mptcp", "tcp"]);
    for e in &c {
        assert_eq!(e["completed"], true, "{e}");
        assert!(e["error"].is_null(), "{e}");
        assert!(e["goodput_mbps"].as_f64().unwrap() > 1.0, "{e}");
        assert!(e["completion_time_s"].as_f64().unwrap() > 0.0, "{e}");
        assert!(e["longest_delivery_gap_ms"].as_f64().is_some(), "{e}");
        assert_eq!(e["paths"].as_array().unwrap().len(), 2, "{e}");
    }
    let bytes = |e: &serde_json::Value, p: usize| e["paths"][p]["bytes_down"].as_u64().unwrap();
    // 4 MB of responses: every protocol's client received at least that (headers on top).
    for e in &c {
        assert!(bytes(e, 0) + bytes(e, 1) >= 4_000_000, "{e}");
    }
    // MPTCP: both subflows carried data (the slower path at least a tenth of the bytes).
    assert!(bytes(&c[1], 1) > 400_000, "the second subflow carried too little: {}", c[1]);
    assert!(bytes(&c[1], 0) > 400_000, "{}", c[1]);
    // TCP: the first path only (a few bytes of stray control traffic at most on the other).
    assert!(bytes(&c[2], 1) < 10_000, "{}", c[2]);
    assert!(stdout.contains("mptcp") && stdout.contains("tcp"), "table: {stdout}");
    let csv = std::fs::read_to_string(out.join("comparisons.csv")).expect("comparisons.csv");
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert!(out.join("plots").join("comparison.svg").exists());
    assert!(namespaces_of(pid).is_empty(), "namespaces left: {:?}", namespaces_of(pid));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `[[compare.external]]`: `mpquic perf` server and client as an external peer, with
/// placeholders; and a failing external client is reported, not fatal.
#[test]
fn external_command_pair() {
    if !can_run(false) {
        return;
    }
    let extra = r#"
[[compare.external]]
name = "perf"
server = "{mpquic} perf server --listen {server_addr}"
client = "{mpquic} perf client {server_addr} --bytes {bytes} --insecure --path {client_ip_0} --path {client_ip_1}={server_ip_1}:{port}"
[[compare.external]]
name = "broken"
server = "sleep 30"
client = "echo no such peer >&2; exit 3"
server_startup_ms = 0
"#;
    let text = scenario_text("ext", "kind = \"bulk\"\nbytes = 2_000_000", extra);
    let text = text.replace("--listen {server_addr}\"", "--listen {server_addr} --listen {server_ip_1}:{port}\"");
    let (dir, file) = write_scenario("cmp-external", &text);
    let out = dir.join("out");
    let perf_certs = || -> std::collections::BTreeSet<String> {
        std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with("mpquic-perf-") && n.ends_with(".pem"))
            .collect()
    };
    let certs_before = perf_certs();
    let output = Command::new(BIN)
        .args(["run", "--real", "--netns", "--qlog", "off"])
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let c = comparisons(&out);
    let names: Vec<&str> = c.iter().map(|e| e["protocol"].as_str().unwrap()).collect();
    assert_eq!(names, ["mpquic", "perf", "broken"]);
    let perf = &c[1];
    assert_eq!(perf["completed"], true, "{perf}");
    assert!(perf["completion_time_s"].as_f64().unwrap() > 0.0);
    assert!(perf["longest_delivery_gap_ms"].is_null());
    let bytes = |p: usize| perf["paths"][p]["bytes_down"].as_u64().unwrap();
    assert!(bytes(0) + bytes(1) >= 2_000_000, "{perf}");
    assert!(bytes(1) > 100_000, "the perf client's second path carried data: {perf}");
    let broken = &c[2];
    assert_eq!(broken["completed"], false);
    let error = broken["error"].as_str().unwrap();
    assert!(error.contains("exit status: 3") && error.contains("no such peer"), "{error}");
    // The peer's server was stopped with SIGTERM and removed its self-signed certificate.
    let left: Vec<String> = perf_certs().difference(&certs_before).cloned().collect();
    assert!(left.is_empty(), "the external perf server left {left:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// SIGINT during the run (ours, before the MPTCP one): the process exits with 130 and leaves no namespace
/// (nor, with them, any TUN device or route) behind.
#[test]
fn interrupted_run_removes_its_namespaces() {
    if !can_run(true) {
        return;
    }
    let text = scenario_text("int", "kind = \"bulk\"\nbytes = 200_000_000", "");
    let (dir, file) = write_scenario("cmp-interrupt", &text);
    let log = dir.join("stderr.log");
    let mut child = Command::new(BIN)
        .args(["run", "--real", "--netns", "--compare", "mptcp", "--qlog", "off"])
        .arg(&file)
        .arg("--out")
        .arg(dir.join("out"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Our run takes the time limit (40 s: 200 MB cannot finish); wait for the namespaces of
    // the first run, interrupt, and check.
    let start = Instant::now();
    while namespaces_of(pid).is_empty() {
        assert!(start.elapsed() < Duration::from_secs(30), "no namespaces appeared");
        assert!(child.try_wait().unwrap().is_none(), "{}", std::fs::read_to_string(&log).unwrap_or_default());
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(namespaces_of(pid).len(), 2, "client and server namespaces while running");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    let status = child.wait().unwrap();
    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted (SIGINT): removed 2 network namespace(s)"), "{stderr}");
    assert!(namespaces_of(pid).is_empty(), "left behind: {:?}", namespaces_of(pid));
    let _ = std::fs::remove_dir_all(&dir);
}

/// SIGINT while an external peer runs: its server and client (process groups of their own,
/// inside the namespaces) are killed, and the namespaces are deleted.
#[test]
fn interrupted_external_peer_leaves_no_process() {
    if !can_run(false) {
        return;
    }
    // Distinctive sleeps, so that the check finds only this test's processes.
    let tag = format!("{}.{}", 1000 + std::process::id() % 1000, std::process::id() % 97);
    let extra = format!(
        "[[compare.external]]\nname = \"sleepy\"\nserver = \"sleep {tag}1\"\nclient = \"sleep {tag}2\"\nserver_startup_ms = 0\n"
    );
    let text = scenario_text("intext", "kind = \"bulk\"\nbytes = 200_000", &extra);
    let (dir, file) = write_scenario("cmp-interrupt-external", &text);
    let log = dir.join("stderr.log");
    let mut child = Command::new(BIN)
        .args(["run", "--real", "--netns", "--qlog", "off"])
        .arg(&file)
        .arg("--out")
        .arg(dir.join("out"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id();
    let running = |what: &str| {
        let out = Command::new("pgrep").args(["-f", &format!("sleep {tag}{what}")]).output().unwrap();
        !String::from_utf8_lossy(&out.stdout).trim().is_empty()
    };
    let start = Instant::now();
    while !(running("1") && running("2")) {
        assert!(start.elapsed() < Duration::from_secs(40), "{}", std::fs::read_to_string(&log).unwrap_or_default());
        assert!(child.try_wait().unwrap().is_none(), "{}", std::fs::read_to_string(&log).unwrap_or_default());
        std::thread::sleep(Duration::from_millis(50));
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    let status = child.wait().unwrap();
    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("2 child process group(s), 2 temporary file(s)"), "{stderr}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(!running("1") && !running("2"), "external peer processes left running");
    assert!(namespaces_of(pid).is_empty(), "left behind: {:?}", namespaces_of(pid));
    // The peers' logs (named after the client namespace) are gone too.
    let prefix = format!("{}{pid}-", mpquic_experiments::real::NAMESPACE_PREFIX);
    let logs: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(&prefix) && n.ends_with(".log"))
        .collect();
    assert!(logs.is_empty(), "external peer logs left behind: {logs:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Bad environment: not root, MPTCP disabled (`net.mptcp.enabled = 0` in a namespace of the
/// test's own), no /dev/net/tun (an empty /dev/net in a mount namespace of its own): clear
/// errors before anything is made.
#[test]
fn clear_errors_without_root_mptcp_or_tun() {
    if !can_run(false) {
        return;
    }
    let (dir, file) = write_scenario("cmp-errors", &scenario_text("err", "kind = \"bulk\"\nbytes = 100_000", ""));
    // Not root: the binary runs as `nobody` (it must be able to reach the binary and the file).
    use std::os::unix::process::CommandExt;
    let copy = dir.join("mpquic");
    std::fs::copy(BIN, &copy).unwrap();
    // The output directory is made before the check: the directory is writable for nobody.
    for (p, mode) in [(dir.path(), 0o777), (copy.as_path(), 0o755), (file.as_path(), 0o644)] {
        std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
    }
    let reachable = Command::new("/bin/sh")
        .args(["-c", &format!("test -x {}", copy.display())])
        .uid(65534)
        .gid(65534)
        .status()
        .is_ok_and(|s| s.success());
    if reachable {
        let output = Command::new(&copy)
            .args(["run", "--real", "--netns", "--compare", "mptcp", "--qlog", "off"])
            .arg(&file)
            .arg("--out")
            .arg(dir.join("out-nobody"))
            .current_dir(&dir)
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success());
        assert!(stderr.contains("needs root"), "{stderr}");
    } else {
        eprintln!("not-root case skipped: {} is not reachable for uid 65534", dir.display());
    }

    // MPTCP disabled: the binary runs inside a namespace whose net.mptcp.enabled is 0.
    let ns = format!("{NAMESPACE_PREFIX}{}-t-nomptcp", std::process::id());
    let ip = |args: &[&str]| {
        let o = Command::new("ip").args(args).output().unwrap();
        assert!(o.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    };
    ip(&["netns", "add", &ns]);
    let run = || {
        mpquic_io::netns::enter(&mpquic_io::netns::named(&ns), || {
            std::fs::write("/proc/sys/net/mptcp/enabled", "0")?;
            Ok(())
        })?;
        Command::new("ip")
            .args(["netns", "exec", &ns, BIN, "run", "--real", "--netns", "--compare", "mptcp,tcp", "--qlog", "off"])
            .arg(&file)
            .arg("--out")
            .arg(dir.join("out-nomptcp"))
            .output()
    };
    let output = run();
    ip(&["netns", "del", &ns]);
    let output = output.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("MPTCP is disabled (net.mptcp.enabled = 0)"), "{stderr}");

    // No TUN: the binary runs in a mount namespace of its own where /dev/net is an empty tmpfs.
    let output = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            r#"mount -t tmpfs none /dev/net && exec "$@""#,
            "sh",
            BIN,
        ])
        .args(["run", "--real", "--netns", "--qlog", "off"])
        .arg(&file)
        .arg("--out")
        .arg(dir.join("out-notun"))
        .output()
        .expect("unshare (util-linux)");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("/dev/net/tun is missing"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
