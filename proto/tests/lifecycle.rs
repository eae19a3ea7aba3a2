//! Connection life-cycle: Retry, version negotiation, stateless reset, idle timeout, closing,
//! datagrams, ECN, MTU discovery, and the endpoint's limits.

mod common;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use common::Pair;
use mpquic_proto::{ConnectionError, Dir, Event, TransportConfig, VarInt};

fn lost_error(events: &[(mpquic_proto::ConnectionHandle, Event)]) -> Option<ConnectionError> {
    events.iter().find_map(|(_, e)| match e {
        Event::ConnectionLost(err) => Some(err.clone()),
        _ => None,
    })
}

#[test]
fn retry_then_handshake() {
    let mut pair = Pair::with_server_config(20, TransportConfig::default(), |s| s.retry = true);
    let (c, s) = pair.connect_default();
    assert!(pair.server.connection(s).is_some());
    // The server's transport parameters carried retry_source_connection_id and the client
    // accepted them (RFC 9000 §7.3), or the handshake would have failed.
    assert!(pair.client.connection(c).unwrap().peer_params().unwrap().retry_source_connection_id.is_some());
}

#[test]
fn version_negotiation_ends_the_attempt() {
    let mut pair = Pair::new(21, TransportConfig::default());
    let mut cfg = pair.client_config(TransportConfig::default());
    cfg.version = 0x1a2a_3a4a;
    // The client endpoint refuses to start a version it does not speak.
    assert!(pair.client.connect(pair.now, cfg, pair.client_addr, pair.server_addr, "localhost").is_err());
    // A datagram with an unknown version makes the server answer with Version Negotiation.
    let mut datagram = vec![0u8; 1200];
    datagram[0] = 0xc0;
    datagram[1..5].copy_from_slice(&0x1a2a_3a4au32.to_be_bytes());
    datagram[5] = 8;
    datagram[14] = 8;
    pair.server.handle_datagram(pair.now, pair.server_addr, pair.client_addr, None, BytesMut::from(&datagram[..]));
    let mut buf = Vec::new();
    let t = pair.server.poll_transmit(pair.now, &mut buf).expect("version negotiation");
    assert_eq!(&buf[1..5], &[0, 0, 0, 0], "version 0 marks Version Negotiation");
    assert!(buf[5 + 1 + 8 + 1 + 8..t.len].chunks(4).any(|v| v == [0, 0, 0, 1]), "lists QUIC v1");
}

#[test]
fn idle_timeout_closes_silently() {
    let transport = TransportConfig { max_idle_timeout: Some(Duration::from_secs(2)), ..TransportConfig::default() };
    let mut pair = Pair::new(22, transport.clone());
    let cfg = pair.client_config(transport);
    let (c, s) = pair.connect_with(cfg);
    pair.drive_until(Duration::from_secs(10), |p| p.client.connection(c).is_none() && p.server.connection(s).is_none());
    let (ce, se) = pair.events();
    assert_eq!(lost_error(&ce), Some(ConnectionError::TimedOut));
    assert_eq!(lost_error(&se), Some(ConnectionError::TimedOut));
}

#[test]
fn keep_alive_prevents_idle_timeout() {
    let transport = TransportConfig {
        max_idle_timeout: Some(Duration::from_secs(2)),
        keep_alive_interval: Some(Duration::from_millis(500)),
        ..TransportConfig::default()
    };
    let mut pair = Pair::new(23, transport.clone());
    let cfg = pair.client_config(transport);
    let (c, s) = pair.connect_with(cfg);
    pair.drive_until(Duration::from_secs(10), |_| false);
    assert!(pair.client.connection(c).is_some() && pair.server.connection(s).is_some());
}

#[test]
fn application_close_reaches_peer_and_both_drain() {
    let mut pair = Pair::new(24, TransportConfig::default());
    let (c, s) = pair.connect_default();
    let now = pair.now;
    pair.client.connection(c).unwrap().close(now, VarInt::from_u32(42), Bytes::from_static(b"bye"));
    pair.drive_until(Duration::from_secs(5), |p| p.client.connection(c).is_none() && p.server.connection(s).is_none());
    assert!(pair.client.connection(c).is_none() && pair.server.connection(s).is_none());
    let (_, se) = pair.events();
    assert_eq!(lost_error(&se), Some(ConnectionError::ApplicationClosed { code: 42, reason: "bye".into() }));
}

#[test]
fn stateless_reset_after_server_state_loss() {
    let mut pair = Pair::new(25, TransportConfig::default());
    let (c, _s) = pair.connect_default();
    pair.drive_until(Duration::from_millis(200), |_| false);
    // The server "reboots" with the same static key: it no longer knows the connection and
    // answers the client's next packet with a stateless reset (RFC 9000 §10.3).
    let (server_tls, _) = common::cached_tls();
    let mut sc = mpquic_proto::ServerConfig::new(server_tls);
    sc.transport = std::sync::Arc::new(TransportConfig::default());
    pair.server = mpquic_proto::Endpoint::new(
        std::sync::Arc::new(mpquic_proto::EndpointConfig::with_seed(25)),
        Some(std::sync::Arc::new(sc)),
    );
    let conn = pair.client.connection(c).unwrap();
    let id = conn.open_stream(Dir::Uni).unwrap();
    conn.write(id, &[1; 100]).unwrap();
    pair.drive_until(Duration::from_secs(5), |p| p.client.connection(c).is_none());
    let (ce, _) = pair.events();
    assert_eq!(lost_error(&ce), Some(ConnectionError::Reset));
}

#[test]
fn datagrams_flow_both_ways() {
    let mut pair = Pair::new(26, TransportConfig::default());
    let (c, s) = pair.connect_default();
    for i in 0..10u8 {
        pair.client.connection(c).unwrap().send_datagram(Bytes::from(vec![i; 500])).unwrap();
    }
    let too_big = pair.client.connection(c).unwrap().send_datagram(Bytes::from(vec![0; 5000]));
    assert!(matches!(too_big, Err(mpquic_proto::SendDatagramError::TooLarge { .. })));
    let mut got = Vec::new();
    pair.drive_until(Duration::from_secs(2), |p| {
        let conn = p.server.connection(s).unwrap();
        while let Some(d) = conn.recv_datagram() {
            got.push(d);
        }
        got.len() == 10
    });
    assert_eq!(got.len(), 10);
    assert!(got.iter().enumerate().all(|(i, d)| d.len() == 500 && d[0] == i as u8));
}

/// ECT(0)-marked datagrams a side sent so far.
fn ect0_sent(pair: &common::Pair, to_server: bool) -> u64 {
    pair.ecn_sent.get(&(to_server, Some(mpquic_proto::EcnCodepoint::Ect0))).copied().unwrap_or(0)
}

/// Connects, lets DPLPMTUD run, then uploads 1 MB; returns the ECT(0) datagrams each side
/// (client, server) sent during the upload, and the client's path 0.
fn upload_after_ecn_validation(pair: &mut common::Pair) -> (u64, u64, mpquic_proto::PathInfo) {
    let (c, s) = pair.connect_default();
    pair.drive_until(Duration::from_secs(3), |_| false);
    let before = (ect0_sent(pair, true), ect0_sent(pair, false));
    let data = common::payload(27, 1 << 20);
    let mut upload = common::Upload::start(pair, c);
    assert!(pair.drive_until(Duration::from_secs(30), |p| upload.step(p, c, s, &data)), "upload incomplete");
    assert!(upload.got == data);
    let path = pair.client.connection(c).unwrap().path(mpquic_proto::PathId::ZERO).unwrap();
    (ect0_sent(pair, true) - before.0, ect0_sent(pair, false) - before.1, path)
}

#[test]
fn ecn_marks_and_mtu_discovery() {
    let mut pair = Pair::new(27, TransportConfig::default());
    let (client_ect0, server_ect0, path) = upload_after_ecn_validation(&mut pair);
    // RFC 9000 §13.4.2 / Appendix A.4: only the first 10 packets test ECN; more marks than that
    // mean the peer's ACK ECN counts validated the path, and then every packet is marked.
    for to_server in [true, false] {
        let marked = ect0_sent(&pair, to_server);
        assert!(marked > 10, "only {marked} ECT(0) datagrams (to server: {to_server}): {:?}", pair.ecn_sent);
        let unmarked = pair.ecn_sent.get(&(to_server, None)).copied().unwrap_or(0);
        assert!(unmarked < 10, "{unmarked} datagrams without ECN (to server: {to_server}): {:?}", pair.ecn_sent);
    }
    assert!(client_ect0 > 100, "client sent {client_ect0} ECT(0) datagrams during the upload: {:?}", pair.ecn_sent);
    assert!(server_ect0 > 0, "server sent no ECT(0) datagram during the upload: {:?}", pair.ecn_sent);
    // The in-memory network carries 1452-byte datagrams, so DPLPMTUD finds the configured
    // ceiling (RFC 9000 §14.3).
    assert_eq!(path.mtu, 1452, "{path:?}");
}

#[test]
fn ecn_validation_fails_on_a_bleaching_network() {
    let mut pair = Pair::new(27, TransportConfig::default());
    pair.bleach_ecn = true;
    let (client_ect0, server_ect0, _) = upload_after_ecn_validation(&mut pair);
    // RFC 9000 §13.4.2.1: ACKs without ECN counts for marked packets fail validation, and the
    // sender stops marking.
    assert_eq!((client_ect0, server_ect0), (0, 0), "{:?}", pair.ecn_sent);
}

#[test]
fn server_refuses_beyond_its_handshake_limit() {
    let mut pair = Pair::with_server_config(28, TransportConfig::default(), |s| s.max_incoming_handshakes = 0);
    let cfg = pair.client_config(TransportConfig::default());
    let c = pair.connect(cfg);
    pair.drive_until(Duration::from_secs(5), |p| p.client.connection(c).is_none());
    let (ce, _) = pair.events();
    match lost_error(&ce) {
        Some(ConnectionError::ConnectionClosed { code, .. }) => {
            assert_eq!(code, mpquic_proto::TransportErrorCode::CONNECTION_REFUSED)
        }
        other => panic!("expected CONNECTION_REFUSED, got {other:?}"),
    }
    assert_eq!(pair.server.connection_count(), 0, "a refusal keeps no state");
}

#[test]
fn transfers_with_every_congestion_controller() {
    for name in ["newreno", "cubic", "bbr", "lia", "olia", "balia"] {
        let transport = TransportConfig {
            congestion_controller_factory: mpquic_cc::factory_by_name(name).unwrap(),
            ..TransportConfig::default()
        };
        let mut pair = Pair::new(29, transport.clone());
        pair.to_server = common::Link::lossy(0.01);
        pair.to_client = common::Link::lossy(0.01);
        pair.to_server.rate_bytes_per_sec = 2_500_000;
        pair.to_client.rate_bytes_per_sec = 2_500_000;
        let cfg = pair.client_config(transport);
        let (c, s) = pair.connect_with(cfg);
        let data = common::payload(7, 2 << 20);
        let mut upload = common::Upload::start(&mut pair, c);
        let ok = pair.drive_until(Duration::from_secs(120), |p| upload.step(p, c, s, &data));
        let got = upload.got;
        assert!(ok && got == data, "{name}: transfer incomplete ({} bytes)", got.len());
    }
}

#[test]
fn icmp_packet_too_big_lowers_the_datagram_size_but_never_below_1200() {
    let mut pair = Pair::new(30, TransportConfig::default());
    let (c, _s) = pair.connect_default();
    pair.drive_until(Duration::from_secs(3), |_| false);
    let now = pair.now;
    let server = pair.server_addr;
    let conn = pair.client.connection(c).unwrap();
    assert_eq!(conn.path(mpquic_proto::PathId::ZERO).unwrap().mtu, 1452);
    // A 1400-byte IPv4 MTU leaves 1372 bytes of UDP payload.
    conn.handle_icmp(now, server, mpquic_proto::IcmpError::PacketTooBig { mtu: 1400 });
    assert_eq!(conn.path(mpquic_proto::PathId::ZERO).unwrap().mtu, 1372);
    // Below QUIC's floor it is ignored (RFC 9000 §14.2.1); unreachable never ends a connection.
    conn.handle_icmp(now, server, mpquic_proto::IcmpError::PacketTooBig { mtu: 576 });
    conn.handle_icmp(now, server, mpquic_proto::IcmpError::Unreachable);
    assert_eq!(conn.path(mpquic_proto::PathId::ZERO).unwrap().mtu, 1372);
    assert!(!conn.is_closed());
}

/// Every datagram `ep` wants to send now.
fn drain_transmits(ep: &mut mpquic_proto::Endpoint, now: mpquic_proto::Instant) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while let Some(t) = ep.poll_transmit(now, &mut buf) {
        let seg = t.segment_size.unwrap_or(t.len).max(1);
        out.extend(buf[..t.len].chunks(seg).map(<[u8]>::to_vec));
        buf.clear();
    }
    out
}

/// RFC 9000 §10.2.1: while closing, CONNECTION_CLOSE answers packets at a limited rate (here
/// the 1st, 2nd, 4th, 8th, ... packet received), not every one of them.
#[test]
fn closing_answers_incoming_packets_at_a_decreasing_rate() {
    let mut pair = Pair::new(26, TransportConfig::default());
    let (c, s) = pair.connect_default();
    pair.drive_until(Duration::from_millis(200), |_| false);
    let now = pair.now;
    // The server sends a burst of stream data that reaches the client only after it closed.
    let server = pair.server.connection(s).unwrap();
    let id = server.open_stream(Dir::Uni).unwrap();
    server.write(id, &[7; 100_000]).unwrap();
    let burst = drain_transmits(&mut pair.server, now);
    assert!(burst.len() >= 8, "only {} datagrams in the burst", burst.len());
    pair.client.connection(c).unwrap().close(now, VarInt::from_u32(1), Bytes::new());
    assert_eq!(drain_transmits(&mut pair.client, now).len(), 1, "the first CONNECTION_CLOSE");
    let mut answers = Vec::new();
    for (i, d) in burst.iter().enumerate() {
        pair.client.handle_datagram(now, pair.client_addr, pair.server_addr, None, BytesMut::from(&d[..]));
        if !drain_transmits(&mut pair.client, now).is_empty() {
            answers.push(i + 1);
        }
    }
    let expected: Vec<usize> = [1, 2, 4, 8, 16, 32, 64].into_iter().filter(|&n| n <= burst.len()).collect();
    assert_eq!(answers, expected, "packets answered with CONNECTION_CLOSE of {}", burst.len());
}

/// RFC 9000 §8.1: a server closing before the client's address is validated stays within
/// three times the bytes received, CONNECTION_CLOSE included. Its certificate chain is long
/// enough for the first flight to use the whole budget.
#[test]
fn closing_server_respects_the_anti_amplification_limit() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("certificate");
    let cert_der = rustls::pki_types::CertificateDer::from(cert.cert.der().to_vec());
    let key_der = rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).expect("key");
    let mut big =
        rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(mpquic_proto::quic_crypto_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("tls13")
            .with_no_client_auth()
            .with_single_cert(vec![cert_der; 12], key_der)
            .expect("server config");
    big.alpn_protocols = vec![common::ALPN.to_vec()];
    let mut pair = Pair::with_server_config(27, TransportConfig::default(), |sc| sc.crypto = std::sync::Arc::new(big));
    let config = pair.client_config(TransportConfig::default());
    pair.connect(config);
    let now = pair.now;
    let first = drain_transmits(&mut pair.client, now);
    let received: usize = first.iter().map(Vec::len).sum();
    for d in &first {
        pair.server.handle_datagram(now, pair.server_addr, pair.client_addr, None, BytesMut::from(&d[..]));
    }
    let mut sent: usize = drain_transmits(&mut pair.server, now).iter().map(Vec::len).sum();
    assert!(sent > 3 * received - 200, "the first flight used {sent} of {} bytes", 3 * received);
    let h = pair.server.handles().next().expect("the server's connection");
    pair.server.connection(h).unwrap().close(now, VarInt::from_u32(1), Bytes::new());
    sent += drain_transmits(&mut pair.server, now).iter().map(Vec::len).sum::<usize>();
    assert!(sent <= 3 * received, "sent {sent} bytes for {received} received");
}

/// RFC 9000 §8.1.3: a NEW_TOKEN token spares the next connection the Retry round trip of a
/// server that requires address validation, and a client SHOULD NOT reuse it for different
/// connection attempts. After a first connection (with a Retry), a second one presents the
/// token and gets no Retry; a third, started at the same moment, has no token left and does.
#[test]
fn new_token_skips_retry_once() {
    let mut pair = Pair::with_server_config(28, TransportConfig::default(), |s| s.retry = true);
    // The Destination CIDs of the Retry packets the server sends (RFC 9000 §17.2.5).
    let retried = std::rc::Rc::new(std::cell::RefCell::new(Vec::<Vec<u8>>::new()));
    let record = retried.clone();
    pair.tamper = Some(Box::new(move |to_server, d| {
        if !to_server && d.first().is_some_and(|b| b & 0xb0 == 0xb0) {
            record.borrow_mut().extend(common::long_header_cids(d).map(|(dcid, _)| dcid));
        }
    }));
    pair.connect_default();
    assert_eq!(retried.borrow().len(), 1, "the first connection is retried");
    // Let the server's NEW_TOKEN arrive.
    pair.drive_until(Duration::from_millis(300), |_| false);

    let second = pair.connect(pair.client_config(TransportConfig::default()));
    let third = pair.connect(pair.client_config(TransportConfig::default()));
    let mut connected = Vec::new();
    pair.drive_until(Duration::from_secs(5), |p| {
        while let Some((h, e)) = p.client.poll_event() {
            if e == Event::Connected {
                connected.push(h);
            }
        }
        connected.contains(&second) && connected.contains(&third)
    });
    assert!(connected.contains(&second) && connected.contains(&third), "connected: {connected:?}");
    let retried_cids = |pair: &mut Pair, h| {
        let conn = pair.client.connection(h).unwrap();
        conn.local_cids().filter(|cid| retried.borrow().iter().any(|r| r[..] == cid[..])).count()
    };
    assert_eq!(retried_cids(&mut pair, second), 0, "the connection with the token was retried");
    assert_eq!(retried_cids(&mut pair, third), 1, "the connection without a token was not retried");
    assert_eq!(retried.borrow().len(), 2);
}
