//! The link emulator's own rate ceiling: UDP load offered at rising rates through one relay whose
//! link has no rate limit and a 5 ms delay (so every datagram goes through the queue and the
//! release timer), and what comes out: delivered rate, loss (the relay not keeping up shows as
//! datagrams the kernel dropped in front of it) and release lateness.
//!
//! ```sh
//! cargo run --release -p mpquic-experiments --example emulator_ceiling -- [SECONDS_PER_STEP] [MBPS ...]
//! ```

use std::io::IoSliceMut;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mpquic_experiments::emulator::{Emulator, RelaySpec};
use mpquic_experiments::scenario::Scenario;
use mpquic_io::udp::{RecvMeta, SocketConfig, Transmit, UdpSocket, BATCH_SIZE, RECV_BUFFER_BYTES};

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

const DATAGRAM: usize = 1200;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let secs: f64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(2.0);
    let rates: Vec<f64> = if args.len() > 1 {
        args[1..].iter().filter_map(|a| a.parse().ok()).collect()
    } else {
        vec![100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0]
    };
    let scenario = Scenario::from_toml(SCENARIO, "ceiling").expect("valid");
    println!(
        "{:>10} {:>12} {:>12} {:>8} {:>14} {:>12}",
        "offered", "delivered", "datagrams/s", "loss %", "late releases", "max late ms"
    );
    for mbps in rates {
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let cfg = SocketConfig::default();
        let server = UdpSocket::bind(any, &cfg).unwrap();
        let emulator = Emulator::start(&scenario, 1, &[RelaySpec::new(any, server.local_addr())]).unwrap();
        let relay = emulator.listen_addr(0).unwrap();
        let client = UdpSocket::bind(any, &cfg).unwrap();
        let received = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let recv_task = {
            let received = received.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut storage = vec![vec![0u8; RECV_BUFFER_BYTES]; BATCH_SIZE];
                while !stop.load(Ordering::Relaxed) {
                    let mut bufs: Vec<IoSliceMut<'_>> = storage.iter_mut().map(|b| IoSliceMut::new(b)).collect();
                    let mut meta = [RecvMeta::default(); BATCH_SIZE];
                    if let Ok(Ok(n)) =
                        tokio::time::timeout(Duration::from_millis(50), server.recv(&mut bufs, &mut meta)).await
                    {
                        let count: u64 = meta[..n].iter().map(|m| m.len.div_ceil(m.stride.max(1)) as u64).sum();
                        received.fetch_add(count, Ordering::Relaxed);
                    }
                }
            })
        };
        // Pace: every millisecond, the datagrams due by then, in GSO super-buffers of 10.
        let per_ms = mbps * 1e6 / 8.0 / 1e3 / DATAGRAM as f64;
        let data = vec![0u8; DATAGRAM * 10];
        let start = Instant::now();
        let mut sent = 0u64;
        while start.elapsed().as_secs_f64() < secs {
            let due = (start.elapsed().as_secs_f64() * 1e3 * per_ms) as u64;
            while sent < due {
                let n = (due - sent).min(10) as usize;
                let t = Transmit {
                    dst: relay,
                    src_ip: None,
                    ecn: None,
                    segment_size: Some(DATAGRAM),
                    contents: &data[..n * DATAGRAM],
                };
                let _ = client.send(&[t]).await;
                sent += n as u64;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        stop.store(true, Ordering::Relaxed);
        let _ = recv_task.await;
        let stats = emulator.stop();
        let got = received.load(Ordering::Relaxed);
        let delivered_mbps = got as f64 * DATAGRAM as f64 * 8.0 / secs / 1e6;
        println!(
            "{:>7.0} Mb {:>9.1} Mb {:>12.0} {:>8.2} {:>14} {:>12.3}",
            sent as f64 * DATAGRAM as f64 * 8.0 / secs / 1e6,
            delivered_mbps,
            got as f64 / secs,
            100.0 * (1.0 - got as f64 / sent.max(1) as f64),
            stats.late_wakeups,
            stats.max_lateness_us as f64 / 1e3
        );
    }
}
