//! The IP-level link emulator's ceiling (issue 16): UDP load offered at rising rates from the
//! server namespace to the client namespace through one TUN pair whose link has no rate limit
//! and a 5 ms delay (every packet goes through the queue and the release timer), and what
//! comes out: delivered packets/s and Mbit/s (IP bytes), loss, release lateness. Then one TCP
//! download through the same unlimited link (what a kernel TCP gets through the emulator).
//! Needs root.
//!
//! ```sh
//! cargo run --release -p mpquic-experiments --example ip_emulator_ceiling -- [SECONDS_PER_STEP] [MBPS ...]
//! ```

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mpquic_experiments::real::{path_ip, EmulatedLinks, Side};
use mpquic_experiments::scenario::Scenario;

const SCENARIO: &str = r#"
name = "ceiling"
[[paths]]
name = "p"
client = "10.0.0.2:1"
server = "10.9.0.1:2"
up = { rate_mbps = 0.0, delay_ms = 5.0 }
down = { rate_mbps = 0.0, delay_ms = 5.0 }
[workload]
kind = "bulk"
bytes = 1
"#;

/// UDP payload; 1228 bytes on the wire (IP + UDP headers).
const PAYLOAD: usize = 1200;
const IP_BYTES: f64 = 1228.0;

fn in_ns<T: Send>(links: &EmulatedLinks, side: Side, make: impl FnOnce() -> std::io::Result<T> + Send) -> T {
    mpquic_io::netns::enter(&mpquic_io::netns::named(links.namespace(side)), make).expect("socket in the namespace")
}

fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(2.0);
    let mut rates: Vec<f64> = args.filter_map(|a| a.parse().ok()).collect();
    if rates.is_empty() {
        rates = vec![100.0, 200.0, 400.0, 800.0, 1600.0];
    }
    let s = Scenario::from_toml(SCENARIO, "ceiling.toml").expect("valid");
    println!("offered Mbit/s  delivered pkt/s  delivered Mbit/s  loss %  late releases  max lateness ms");
    for mbps in rates {
        let links = EmulatedLinks::start(&s, 1).unwrap_or_else(|e| panic!("{e}"));
        let client_addr = SocketAddr::new(path_ip(0, Side::Client), 9001);
        let server = in_ns(&links, Side::Server, || UdpSocket::bind(SocketAddr::new(path_ip(0, Side::Server), 9000)));
        let client = in_ns(&links, Side::Client, || UdpSocket::bind(client_addr));
        client.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let received = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let receiver = {
            let (received, done) = (received.clone(), done.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 2048];
                let mut first: Option<Instant> = None;
                let mut last = Instant::now();
                while !done.load(Ordering::Relaxed) {
                    if let Ok((n, _)) = client.recv_from(&mut buf) {
                        if n == PAYLOAD {
                            last = Instant::now();
                            first.get_or_insert(last);
                            received.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                last.duration_since(first.unwrap_or(last))
            })
        };
        let per_s = mbps * 1e6 / 8.0 / IP_BYTES;
        let payload = [0u8; PAYLOAD];
        let start = Instant::now();
        let mut sent = 0u64;
        while start.elapsed().as_secs_f64() < seconds {
            let due = (start.elapsed().as_secs_f64() * per_s) as u64;
            while sent < due {
                let _ = server.send_to(&payload, client_addr);
                sent += 1;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        std::thread::sleep(Duration::from_millis(300));
        done.store(true, Ordering::Relaxed);
        let span = receiver.join().unwrap().as_secs_f64().max(1e-9);
        let got = received.load(Ordering::Relaxed);
        let stats = links.stop().expect("clean-up");
        println!(
            "{mbps:>14.0}  {:>15.0}  {:>16.1}  {:>6.2}  {:>13}  {:>15.1}",
            got as f64 / span,
            got as f64 * IP_BYTES * 8.0 / span / 1e6,
            100.0 * (1.0 - got as f64 / sent.max(1) as f64),
            stats.late_wakeups,
            stats.max_lateness_us as f64 / 1e3
        );
    }

    // One TCP download (CUBIC, the kernel's default) through the unlimited link.
    let links = EmulatedLinks::start(&s, 1).unwrap_or_else(|e| panic!("{e}"));
    let server_addr = SocketAddr::new(path_ip(0, Side::Server), 9000);
    let listener = in_ns(&links, Side::Server, || TcpListener::bind(server_addr));
    let sender = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let block = vec![0u8; 256 * 1024];
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs_f64(seconds.max(3.0)) {
            if std::io::Write::write_all(&mut conn, &block).is_err() {
                break;
            }
        }
    });
    let mut conn = in_ns(&links, Side::Client, || TcpStream::connect(server_addr));
    let mut buf = vec![0u8; 256 * 1024];
    let (start, mut total) = (Instant::now(), 0u64);
    while let Ok(n) = conn.read(&mut buf) {
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    let secs = start.elapsed().as_secs_f64();
    sender.join().unwrap();
    let stats = links.stop().expect("clean-up");
    println!(
        "TCP download through the unlimited link: {:.1} Mbit/s of goodput, {:.0} packets/s down ({} late releases, max {:.1} ms)",
        total as f64 * 8.0 / secs / 1e6,
        stats.relays[0].to_client.datagrams as f64 / secs,
        stats.late_wakeups,
        stats.max_lateness_us as f64 / 1e3
    );
}
