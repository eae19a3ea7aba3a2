//! The server endpoint under a flood of forged Initials (issue 18, part 1): junk that never
//! decrypts holds no state at all; genuine Initials from spoofed addresses hold at most the
//! Retry threshold of handshake slots and give them back after the handshake timeout; a real
//! client connects right after either flood.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use common::Pair;
use mpquic_proto::{ClientConfig, Endpoint, EndpointConfig, Event, TransportConfig};
use rand::{Rng, RngCore, SeedableRng};

/// The server's handshake limit in these tests; the floods send 20 times as many Initials.
const MAX_HANDSHAKES: usize = 64;
const FLOOD: usize = 20 * MAX_HANDSHAKES;

fn pair(seed: u64) -> Pair {
    Pair::with_server_config(seed, TransportConfig::default(), |s| s.max_incoming_handshakes = MAX_HANDSHAKES)
}

/// A full-size QUIC v1 Initial with random connection IDs and a payload that never decrypts;
/// its header parses, so only packet protection can tell it from a real one.
fn junk_initial(rng: &mut impl RngCore) -> Vec<u8> {
    let mut d = vec![0xc0 | (rng.next_u32() as u8 & 0x0f), 0, 0, 0, 1, 8];
    d.extend((0..8).map(|_| rng.next_u32() as u8));
    d.push(8);
    d.extend((0..8).map(|_| rng.next_u32() as u8));
    d.push(0); // no token
    let length = 1200 - d.len() - 2;
    d.extend_from_slice(&(0x4000u16 | length as u16).to_be_bytes());
    while d.len() < 1200 {
        d.push(rng.next_u32() as u8);
    }
    d
}

/// A spoofed source address: one of many IPs, none of which will ever answer.
fn spoofed(rng: &mut impl RngCore) -> SocketAddr {
    let ip = Ipv4Addr::new(10, rng.random(), rng.random(), rng.random_range(1..255));
    SocketAddr::new(IpAddr::V4(ip), rng.random_range(1024..65535))
}

/// Everything the server wants to send now: (destination, first byte) of each datagram.
fn drain_server(pair: &mut Pair) -> Vec<(SocketAddr, u8)> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let Some(t) = pair.server.poll_transmit(pair.now, &mut buf) else { break };
        out.push((t.dst, buf[0]));
    }
    out
}

/// Connects a real client and reports whether it is up within one second of virtual time.
fn client_connects_within_a_second(pair: &mut Pair) -> bool {
    let cfg = pair.client_config(TransportConfig::default());
    let c = pair.connect(cfg);
    pair.drive_until(Duration::from_secs(1), |p| {
        let mut up = false;
        while let Some((h, e)) = p.client.poll_event() {
            up |= h == c && e == Event::Connected;
        }
        up
    })
}

#[test]
fn junk_initials_hold_no_state_and_get_no_answer() {
    let mut pair = pair(180);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(180);
    let dropped_before = pair.server.dropped_datagrams;
    for _ in 0..FLOOD {
        let from = spoofed(&mut rng);
        pair.server.handle_datagram(
            pair.now,
            pair.server_addr,
            from,
            None,
            BytesMut::from(&junk_initial(&mut rng)[..]),
        );
        assert_eq!(pair.server.connection_count(), 0, "a forged Initial created a connection");
        // Nothing is reflected towards the (spoofed) sources.
        assert!(drain_server(&mut pair).is_empty(), "the server answered a forged Initial");
    }
    assert_eq!(pair.server.dropped_datagrams - dropped_before, FLOOD as u64);
    assert!(client_connects_within_a_second(&mut pair), "a real client was locked out after the flood");
    assert_eq!(pair.server.connection_count(), 1);
}

#[test]
fn spoofed_initials_are_bounded_then_released_by_the_handshake_timeout() {
    let mut pair = pair(181);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(181);
    // Genuine first Initials (they decrypt), made by a client endpoint of our own and sent from
    // addresses that never answer: what an attacker with a QUIC stack and IP spoofing can do.
    let mut forger = Endpoint::new(Arc::new(EndpointConfig::with_seed(9181)), None);
    let forged_config: ClientConfig = pair.client_config(TransportConfig::default());
    let retry_threshold = MAX_HANDSHAKES / 2;
    let (mut retries, mut max_count) = (0, 0);
    let one_ip: IpAddr = "10.99.0.1".parse().unwrap();
    let mut from_one_ip = 0;
    for i in 0..FLOOD {
        forger.connect(pair.now, forged_config.clone(), None, pair.server_addr, "localhost").expect("forge");
        let mut initial = Vec::new();
        forger.poll_transmit(pair.now, &mut initial).expect("a first Initial");
        // Every fourth from one IP address (many ports), to exercise the per-address bound.
        let from = if i % 4 == 0 { SocketAddr::new(one_ip, 2000 + i as u16) } else { spoofed(&mut rng) };
        pair.server.handle_datagram(pair.now, pair.server_addr, from, None, BytesMut::from(&initial[..]));
        for (dst, first) in drain_server(&mut pair) {
            // RFC 9000 §17.2.5: long header type 3 is Retry.
            if first & 0xb0 == 0xb0 {
                retries += 1;
            } else if dst.ip() == one_ip {
                from_one_ip += 1;
            }
        }
        max_count = max_count.max(pair.server.connection_count());
        // Time moves on a little during the flood.
        if i % 64 == 0 {
            pair.now += Duration::from_millis(1);
        }
    }
    assert!(max_count <= retry_threshold, "the flood held {max_count} connections (bound {retry_threshold})");
    assert!(max_count > 0, "genuine Initials were not accepted at all below the threshold");
    assert!(retries >= FLOOD - retry_threshold, "only {retries} Retries under pressure");
    // Handshake packets went to at most `retry_threshold_per_address` (16) connections there.
    assert!(from_one_ip > 0, "no handshake with the busy address at all");

    // A real client still gets in, through a Retry since the server is under pressure.
    assert!(client_connects_within_a_second(&mut pair), "a real client was locked out by the flood");
    let c = pair.client.handles().next().expect("client connection");
    let retried = pair.client.connection(c).unwrap().peer_params().unwrap().retry_source_connection_id.is_some();
    assert!(retried, "under pressure the client should have been asked for a Retry first");

    // The spoofed handshakes give their slots back after the handshake timeout (10 s), long
    // before the idle timeout (30 s); the real connection stays.
    let released = pair.drive_until(Duration::from_secs(11), |p| p.server.connection_count() == 1);
    assert!(released, "{} connections still held after the handshake timeout", pair.server.connection_count());
    assert!(pair.client.connection(c).is_some_and(|c| !c.is_closed()));
}

#[test]
fn per_address_bound_sends_retries_to_a_busy_address() {
    let mut pair = Pair::with_server_config(182, TransportConfig::default(), |s| s.retry_threshold_per_address = 4);
    let mut forger = Endpoint::new(Arc::new(EndpointConfig::with_seed(9182)), None);
    let cfg = pair.client_config(TransportConfig::default());
    let ip: IpAddr = "10.1.2.3".parse().unwrap();
    let mut retries = 0;
    for port in 0..12u16 {
        forger.connect(pair.now, cfg.clone(), None, pair.server_addr, "localhost").expect("forge");
        let mut initial = Vec::new();
        forger.poll_transmit(pair.now, &mut initial).expect("a first Initial");
        let from = SocketAddr::new(ip, 3000 + port);
        pair.server.handle_datagram(pair.now, pair.server_addr, from, None, BytesMut::from(&initial[..]));
        retries += drain_server(&mut pair).iter().filter(|(_, b)| b & 0xb0 == 0xb0).count();
    }
    // Far below the total threshold, yet one address holds only four handshakes.
    assert_eq!(pair.server.connection_count(), 4);
    assert_eq!(retries, 8);
}
