//! The server under a flood of malformed datagrams (random bytes, truncated and corrupted
//! Initials, unknown versions, bogus connection IDs) while a real client downloads: the
//! download completes intact and the server still accepts and serves new connections.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use mpquic_proto::VarInt;
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
        d.extend_from_slice(&[0x44, 0xb0]); // length 1200 as a 2-byte varint
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
