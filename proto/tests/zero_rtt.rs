//! 0-RTT (RFC 9001 §4.6, RFC 9000 §7.4.1) over the in-memory network: accepted, rejected and
//! sent again in 1-RTT, replayed, after a Retry, with limits the server lowered, and with
//! multipath waiting for the handshake (RFC 10069).

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use common::Pair;
use mpquic_proto::{
    ClientConfig, ConnectionError, ConnectionHandle, Dir, Event, PathError, ServerConfig, TransportConfig,
    TransportErrorCode, ZeroRttStatus,
};

const REQUEST: &[u8] = b"GET /index.html\r\n with some headers to make 52 bytes";

/// TLS with 0-RTT on both sides: the server offers early data in tickets (0xffffffff, RFC 9001
/// §4.6.1) with rustls's stateful cache; the client enables early data.
struct EarlyTls {
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
}

fn early_tls() -> EarlyTls {
    let tls = common::tls();
    let mut server = (*tls.server).clone();
    server.max_early_data_size = u32::MAX;
    let mut client = (*tls.client).clone();
    client.enable_early_data = true;
    EarlyTls { server: Arc::new(server), client: Arc::new(client) }
}

fn pair(seed: u64, tls: &EarlyTls, server_transport: TransportConfig, tweak: impl FnOnce(&mut ServerConfig)) -> Pair {
    let crypto = tls.server.clone();
    Pair::with_server_config(seed, server_transport, |s| {
        s.crypto = crypto;
        tweak(s);
    })
}

fn client_config(tls: &EarlyTls, transport: TransportConfig) -> ClientConfig {
    let mut c = ClientConfig::new(tls.client.clone());
    c.transport = Arc::new(transport);
    c
}

/// A first connection that leaves a session ticket in the client's cache.
fn earn_ticket(seed: u64, tls: &EarlyTls, server_transport: TransportConfig) {
    let mut first = pair(seed, tls, server_transport, |_| {});
    let (c, _) = first.connect_with(client_config(tls, TransportConfig::default()));
    assert!(!first.client.connection(c).unwrap().is_resumed());
    // NewSessionTicket travels in 1-RTT CRYPTO after the handshake.
    first.drive_until(Duration::from_millis(200), |_| false);
}

/// Starts a resumed connection and writes `data` on a new bidirectional stream at once, before
/// any packet left: that data can only go out in 0-RTT or, if rejected, in 1-RTT.
fn connect_and_write(pair: &mut Pair, tls: &EarlyTls, data: &[u8]) -> ConnectionHandle {
    let c = pair.connect(client_config(tls, TransportConfig::default()));
    let conn = pair.client.connection(c).unwrap();
    assert!(
        matches!(conn.zero_rtt(), ZeroRttStatus::Pending { bytes: 0 }),
        "a resumed client with early data enabled has 0-RTT keys: {:?}",
        conn.zero_rtt()
    );
    let stream = conn.open_stream(Dir::Bi).expect("remembered initial_max_streams_bidi allows a stream");
    assert_eq!(conn.write(stream, data).unwrap(), data.len());
    conn.finish(stream).unwrap();
    c
}

/// Drives until the server has read the whole first client stream; returns (the bytes, the
/// server connection, whether the client had completed its handshake when they were complete).
fn server_reads_request(pair: &mut Pair, c: ConnectionHandle) -> (Vec<u8>, ConnectionHandle, bool) {
    let mut got = Vec::new();
    let mut server = None;
    let mut client_connected = false;
    let mut done_before_client_connected = None;
    let ok = pair.drive_until(Duration::from_secs(10), |p| {
        while let Some((h, e)) = p.client.poll_event() {
            if h == c && e == Event::Connected {
                client_connected = true;
            }
        }
        while let Some((h, _)) = p.server.poll_event() {
            server.get_or_insert(h);
        }
        let Some(s) = server else { return false };
        let Some(conn) = p.server.connection(s) else { return false };
        let id = mpquic_proto::StreamId::new(mpquic_proto::Side::Client, Dir::Bi, 0);
        while let Ok(Some(chunk)) = conn.read(id, usize::MAX) {
            got.extend_from_slice(&chunk.bytes);
        }
        let complete = got.len() == REQUEST.len();
        if complete && done_before_client_connected.is_none() {
            done_before_client_connected = Some(!client_connected);
        }
        complete && client_connected
    });
    let err = pair.client.connection(c).and_then(|c| c.error().cloned());
    assert!(ok, "the request did not arrive: {} of {} bytes; client error {err:?}", got.len(), REQUEST.len());
    (got, server.expect("server connection"), done_before_client_connected.unwrap_or(false))
}

#[test]
fn accepted_0rtt_delivers_data_before_the_handshake_completes() {
    let tls = early_tls();
    earn_ticket(80, &tls, TransportConfig::default());
    let mut pair = pair(81, &tls, TransportConfig::default(), |_| {});
    let c = connect_and_write(&mut pair, &tls, REQUEST);
    let (got, s, early) = server_reads_request(&mut pair, c);
    assert_eq!(got, REQUEST);
    let client = pair.client.connection(c).unwrap();
    assert!(client.is_resumed());
    assert_eq!(client.zero_rtt(), ZeroRttStatus::Accepted { bytes: REQUEST.len() as u64 });
    assert_eq!(pair.server.connection(s).unwrap().zero_rtt(), ZeroRttStatus::Accepted { bytes: REQUEST.len() as u64 });
    assert!(early, "0-RTT data reaches the server half a round trip before the client's handshake completes");
}

#[test]
fn rejected_0rtt_is_sent_again_in_1rtt() {
    let tls = early_tls();
    earn_ticket(82, &tls, TransportConfig::default());
    let mut pair = pair(83, &tls, TransportConfig::default(), |s| s.zero_rtt = false);
    let c = connect_and_write(&mut pair, &tls, REQUEST);
    let (got, s, early) = server_reads_request(&mut pair, c);
    assert_eq!(got, REQUEST, "the data of the rejected 0-RTT packets arrives in 1-RTT");
    let client = pair.client.connection(c).unwrap();
    assert!(client.is_resumed(), "rejecting 0-RTT still resumes the session");
    assert_eq!(client.zero_rtt(), ZeroRttStatus::Rejected { bytes: REQUEST.len() as u64 });
    let server = pair.server.connection(s).unwrap();
    assert!(matches!(server.zero_rtt(), ZeroRttStatus::Rejected { bytes: 0 }), "{:?}", server.zero_rtt());
    assert!(!early, "rejected data cannot arrive before the handshake");
}

#[test]
fn replayed_client_hello_gets_no_0rtt() {
    let tls = early_tls();
    earn_ticket(84, &tls, TransportConfig::default());
    // Record the client's datagrams of the resumed connection.
    let recorded: Arc<std::sync::Mutex<Vec<Vec<u8>>>> = Arc::default();
    let mut pair1 = pair(85, &tls, TransportConfig::default(), |_| {});
    let sink = recorded.clone();
    pair1.tamper = Some(Box::new(move |to_server, d| {
        if to_server {
            sink.lock().unwrap().push(d.clone());
        }
    }));
    let c = connect_and_write(&mut pair1, &tls, REQUEST);
    let (got, s, _) = server_reads_request(&mut pair1, c);
    assert_eq!(got, REQUEST);
    assert!(matches!(pair1.server.connection(s).unwrap().zero_rtt(), ZeroRttStatus::Accepted { .. }));
    // An attacker replays the first flight (Initial + 0-RTT) to a server sharing the session
    // cache (another endpoint of the same deployment, RFC 8446 §8).
    let first_flight: Vec<Vec<u8>> = recorded.lock().unwrap().iter().take(2).cloned().collect();
    let mut pair2 = pair(86, &tls, TransportConfig::default(), |_| {});
    for d in &first_flight {
        let (now, dst, src) = (pair2.now, pair2.server_addr, pair2.client_addr);
        pair2.server.handle_datagram(now, dst, src, None, BytesMut::from(&d[..]));
    }
    let replayed = pair2.server.handles().next().expect("the replayed Initial creates a connection");
    let conn = pair2.server.connection(replayed).unwrap();
    assert!(
        !matches!(conn.zero_rtt(), ZeroRttStatus::Accepted { .. }),
        "the single-use ticket was already taken; the replay must not get 0-RTT: {:?}",
        conn.zero_rtt()
    );
    let id = mpquic_proto::StreamId::new(mpquic_proto::Side::Client, Dir::Bi, 0);
    assert!(!matches!(conn.read(id, usize::MAX), Ok(Some(_))), "replayed 0-RTT data was delivered");
}

#[test]
fn zero_rtt_data_survives_a_retry() {
    let tls = early_tls();
    earn_ticket(87, &tls, TransportConfig::default());
    let mut pair = pair(88, &tls, TransportConfig::default(), |s| s.retry = true);
    let c = connect_and_write(&mut pair, &tls, REQUEST);
    let (got, _, _) = server_reads_request(&mut pair, c);
    assert_eq!(got, REQUEST, "0-RTT packets sent before the Retry are sent again");
}

fn smaller_limits() -> TransportConfig {
    TransportConfig { receive_window: 10_000, stream_receive_window: 10_000, ..TransportConfig::default() }
}

#[test]
fn accepted_0rtt_with_lowered_limits_is_a_protocol_violation() {
    let tls = early_tls();
    earn_ticket(89, &tls, TransportConfig::default());
    // Same session cache, so 0-RTT is accepted, but smaller flow-control limits: RFC 9000
    // §7.4.1 forbids that.
    let mut pair = pair(90, &tls, smaller_limits(), |_| {});
    let c = connect_and_write(&mut pair, &tls, REQUEST);
    let mut error = None;
    pair.drive_until(Duration::from_secs(5), |p| {
        while let Some((h, e)) = p.client.poll_event() {
            if let (true, Event::ConnectionLost(err)) = (h == c, e) {
                error = Some(err);
            }
        }
        error.is_some()
    });
    match error {
        Some(ConnectionError::TransportError(e)) => {
            assert_eq!(e.code, TransportErrorCode::PROTOCOL_VIOLATION, "{e}");
            assert!(e.reason.contains("lowered"), "{e}");
        }
        other => panic!("the client did not close with PROTOCOL_VIOLATION: {other:?}"),
    }
}

#[test]
fn rejected_0rtt_follows_lowered_limits() {
    let tls = early_tls();
    earn_ticket(91, &tls, TransportConfig::default());
    let mut pair = pair(92, &tls, smaller_limits(), |s| s.zero_rtt = false);
    let c = connect_and_write(&mut pair, &tls, REQUEST);
    let (got, _, _) = server_reads_request(&mut pair, c);
    assert_eq!(got, REQUEST, "rejected data under the new, lower limits still arrives");
    let client = pair.client.connection(c).unwrap();
    assert!(matches!(client.zero_rtt(), ZeroRttStatus::Rejected { .. }));
    assert!(client.error().is_none());
    // The new, lower limits are in force: a new stream may carry 10 000 bytes, not 1 MB.
    let stream = client.open_stream(Dir::Bi).unwrap();
    assert_eq!(client.write_capacity(stream).unwrap(), 10_000);
}

#[test]
fn no_extra_path_before_the_handshake_is_confirmed() {
    let tls = early_tls();
    let mp = || TransportConfig { initial_max_path_id: Some(4), ..TransportConfig::default() };
    earn_ticket(93, &tls, mp());
    let mut pair = pair(94, &tls, mp(), |_| {});
    let c = pair.connect(client_config(&tls, mp()));
    let second = common::second_addr();
    let server_addr = pair.server_addr;
    let now = pair.now;
    let conn = pair.client.connection(c).unwrap();
    assert!(matches!(conn.zero_rtt(), ZeroRttStatus::Pending { .. }));
    // RFC 10069: initial_max_path_id is not remembered, so multipath is not on during 0-RTT,
    // and a new path needs a confirmed handshake anyway.
    assert!(matches!(conn.open_path(now, Some(second), server_addr), Err(PathError::MultipathNotNegotiated)));
    let stream = conn.open_stream(Dir::Bi).unwrap();
    conn.write(stream, REQUEST).unwrap();
    conn.finish(stream).unwrap();
    let (got, _, _) = server_reads_request(&mut pair, c);
    assert_eq!(got, REQUEST);
    let confirmed = pair.drive_until(Duration::from_secs(2), |p| {
        let now = p.now;
        p.client.connection(c).is_some_and(|conn| conn.open_path(now, Some(second), server_addr).is_ok())
    });
    assert!(confirmed, "once the handshake is confirmed, multipath opens a path");
}
