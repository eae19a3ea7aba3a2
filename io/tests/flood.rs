//! The server under a flood of malformed datagrams (random bytes, truncated and corrupted
//! Initials, unknown versions, bogus connection IDs) while a real client downloads: the
//! download completes intact, the junk creates no connection, and the server still accepts and
//! serves new connections. And under a flood of forged Initials (junk and genuine ones from
//! addresses that never answer), 20 times its handshake limit: it holds a bounded number of
//! connections, a real client connects right after, and the forged handshakes give their slots
//! back at the handshake timeout.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use mpquic_io::Endpoint;
use mpquic_proto::{EndpointConfig, VarInt};
use rand::{Rng, RngCore, SeedableRng};

/// One malformed datagram of kind `kind`.
fn junk(rng: &mut impl RngCore, kind: u32) -> Vec<u8> {
    let long_header = |version: u32, len: usize, rng: &mut dyn RngCore| {
        let mut d = vec![0xc0u8 | (rng.next_u32() as u8 & 0x0f)];
        d.extend_from_slice(&version.to_be_bytes());
        d.push(8);
        d.extend((0..8).map(|_| rng.next_u32() as u8));
        d.push(8);
        d.extend((0..8).map(|_| rng.next_u32() as u8));
        d.push(0); // token length
                   // The Length field matches the datagram, so that the header parses and only packet
                   // protection can tell the packet from a real Initial.
        let length = len.saturating_sub(d.len() + 2) as u16;
        d.extend_from_slice(&(0x4000 | length).to_be_bytes());
        while d.len() < len {
            d.push(rng.next_u32() as u8);
        }
        d.truncate(len);
        d
    };
    match kind % 6 {
        // Random bytes of random length.
        0 => {
            let len = 1 + (rng.next_u32() % 1500) as usize;
            (0..len).map(|_| rng.next_u32() as u8).collect()
        }
        // A well-formed Initial header with a payload that does not decrypt.
        1 => long_header(1, 1200, rng),
        // The same, truncated.
        2 => {
            let len = 1 + (rng.next_u32() % 60) as usize;
            long_header(1, len, rng)
        }
        // Unknown version (answered with Version Negotiation).
        3 => long_header(0x1a2a_3a4a, 1200, rng),
        // Short header with a connection ID nobody issued (answered with a stateless reset).
        4 => {
            let len = 30 + (rng.next_u32() % 1200) as usize;
            let mut d: Vec<u8> = (0..len).map(|_| rng.next_u32() as u8).collect();
            d[0] = 0x40 | (d[0] & 0x3f);
            d
        }
        // Initial too small to be a first flight, and an empty datagram.
        _ => {
            if rng.next_u32() % 2 == 0 {
                Vec::new()
            } else {
                long_header(1, 400, rng)
            }
        }
    }
}

/// Records the largest `connection_count()` of `server` until `stop` is set.
fn watch_connection_count(server: Endpoint, stop: Arc<AtomicBool>) -> Arc<AtomicUsize> {
    let max = Arc::new(AtomicUsize::new(0));
    let seen = max.clone();
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            seen.fetch_max(server.connection_count(), Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    max
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_survives_a_flood_of_malformed_datagrams() {
    let cert = cert();
    let server = our_server(&cert);
    let addr = server.local_addr();
    let _conns = serve(server.clone());

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    // A thread of its own, so the flood does not wait for the runtime.
    let flooder = {
        let (stop, sent) = (stop.clone(), sent.clone());
        std::thread::spawn(move || {
            let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            sock.set_nonblocking(true).unwrap();
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(99);
            let mut kind = 0u32;
            let mut buf = [0u8; 2048];
            // Bounded in count and time: at most 300 000 datagrams or 30 s, stops when told.
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while !stop.load(Ordering::Relaxed)
                && sent.load(Ordering::Relaxed) < 300_000
                && std::time::Instant::now() < deadline
            {
                let d = junk(&mut rng, kind);
                kind = kind.wrapping_add(1 + rng.random_range(0..3));
                if sock.send_to(&d, addr).is_ok() {
                    sent.fetch_add(1, Ordering::Relaxed);
                }
                // Throw away the server's answers (Version Negotiation, stateless resets).
                while sock.recv_from(&mut buf).is_ok() {}
            }
        })
    };
    let max_connections = watch_connection_count(server.clone(), stop.clone());
    tokio::time::sleep(Duration::from_millis(50)).await;

    let client = our_client(&cert);
    let download = async {
        let conn = client.connect(addr, "localhost").unwrap().await.expect("handshake during the flood");
        for (seed, len) in [(1u64, 5usize << 20), (2, 100_000)] {
            let (mut send, mut recv) = conn.open_bi().await.unwrap();
            send.write_all(format!("GET /{seed}/{len}\r\n").as_bytes()).await.unwrap();
            send.finish().unwrap();
            let body = recv.read_to_end(len + 1).await.expect("download");
            assert_eq!(sha256(&body), sha256(&payload(seed, len)));
        }
        conn.close(VarInt::from_u32(0), b"");
    };
    tokio::time::timeout(Duration::from_secs(60), download).await.expect("download finished during the flood");
    stop.store(true, Ordering::Relaxed);
    flooder.join().unwrap();
    let flood = sent.load(Ordering::Relaxed);
    assert!(flood > 1000, "the flood ran ({flood} datagrams)");
    // Junk creates no connection: the only one the server held was the real client's.
    let held = max_connections.load(Ordering::Relaxed);
    assert!(held <= 1, "the flood made the server hold {held} connections");

    // The server is still up and serves a new client.
    let client2 = our_client(&cert);
    let conn = tokio::time::timeout(Duration::from_secs(10), client2.connect(addr, "localhost").unwrap())
        .await
        .expect("new handshake in time")
        .expect("new handshake");
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    send.write_all(b"GET /3/1000\r\n").await.unwrap();
    send.finish().unwrap();
    assert_eq!(recv.read_to_end(2000).await.unwrap(), payload(3, 1000));
    eprintln!(
        "flood: {flood} datagrams; server dropped {}, holds {} connections",
        server.dropped_datagrams(),
        server.connection_count()
    );
}

/// The handshake limit of the server under the forged-Initial flood; the flood is 20 times that.
const MAX_HANDSHAKES: usize = 64;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_initials_do_not_lock_out_a_real_client() {
    let cert = cert();
    let mut config = our_server_config(&cert, false);
    config.max_incoming_handshakes = MAX_HANDSHAKES;
    // Short, so that the test sees the slots come back; the idle timeout stays long, so only the
    // handshake timeout can release them in time.
    config.handshake_timeout = Duration::from_secs(1);
    config.transport =
        Arc::new(mpquic_proto::TransportConfig { max_idle_timeout: Some(Duration::from_secs(60)), ..transport() });
    let server = Endpoint::server(config, "127.0.0.1:0".parse().unwrap()).expect("server endpoint");
    let addr = server.local_addr();
    let _conns = serve(server.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let max_connections = watch_connection_count(server.clone(), stop.clone());

    // From a few loopback addresses that never answer: 20x the limit of junk Initials (full size,
    // random CIDs, a payload that never decrypts), then as many genuine first Initials made by a
    // proto client endpoint (what an attacker with a QUIC stack and spoofed addresses sends).
    let forged_config = our_client_config(&cert, false);
    let flooder = std::thread::spawn(move || {
        let socks: Vec<std::net::UdpSocket> =
            (2..6).map(|i| std::net::UdpSocket::bind(format!("127.0.0.{i}:0")).expect("flood socket")).collect();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(180);
        let mut forger = mpquic_proto::Endpoint::new(Arc::new(EndpointConfig::with_seed(180)), None);
        let now = mpquic_proto::Instant::from_nanos(1_000_000_000);
        let mut sent = 0;
        for i in 0..2 * 20 * MAX_HANDSHAKES {
            let datagram = if i % 2 == 0 {
                junk(&mut rng, 1)
            } else {
                forger.connect(now, forged_config.clone(), None, addr, "localhost").expect("forge");
                let mut initial = Vec::new();
                forger.poll_transmit(now, &mut initial).expect("a first Initial");
                initial
            };
            if socks[i % socks.len()].send_to(&datagram, addr).is_ok() {
                sent += 1;
            }
        }
        sent
    });
    let sent = tokio::task::spawn_blocking(move || flooder.join().unwrap()).await.unwrap();
    assert_eq!(sent, 2 * 20 * MAX_HANDSHAKES, "the whole flood went out");

    // A real client right after the flood: connects (through a Retry, the server being under
    // pressure) and downloads.
    let client = our_client(&cert);
    let conn = tokio::time::timeout(Duration::from_secs(1), client.connect(addr, "localhost").unwrap())
        .await
        .expect("the real client connected within 1 s of the flood")
        .expect("handshake");
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    send.write_all(b"GET /4/10000\r\n").await.unwrap();
    send.finish().unwrap();
    assert_eq!(recv.read_to_end(20_000).await.unwrap(), payload(4, 10_000));
    let held = max_connections.load(Ordering::Relaxed);
    // Spoofed Initials hold at most the Retry threshold (half the handshake limit), plus the
    // real client.
    assert!(held <= MAX_HANDSHAKES / 2 + 1, "the flood made the server hold {held} connections");
    assert!(held > 1, "no genuine forged Initial was accepted: the flood did not test the limits");

    // The forged handshakes give their slots back at the handshake timeout (1 s), long before
    // the idle timeout (60 s); the real connection stays.
    let released = async {
        while server.connection_count() > 1 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), released).await.unwrap_or_else(|_| {
        panic!("{} connections held 30 s after a 1 s handshake timeout", server.connection_count())
    });
    assert!(conn.close_reason().is_none(), "the real connection survived");
    stop.store(true, Ordering::Relaxed);
    eprintln!("forged flood: {sent} datagrams; server held at most {held} connections");
}
