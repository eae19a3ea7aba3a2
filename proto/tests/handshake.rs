//! Handshakes between a client and a server endpoint over the in-memory network.

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use common::{forge_initial, long_header_cids, Link, Pair};
use mpquic_proto::{Event, Side, TransportConfig};

/// CONNECTION_CLOSE (0x1c) with NO_ERROR, frame type 0 and no reason.
const CONNECTION_CLOSE: [u8; 4] = [0x1c, 0x00, 0x00, 0x00];

/// Sets a tamper that appends, to the server's first datagram, a forged server Initial (packet
/// number 1000, carrying CONNECTION_CLOSE) built by `forge` from the client's first DCID and
/// SCID and the server's SCID, as an attacker who saw both first flights could. Returns a flag
/// that tells whether the forged packet went out.
fn coalesce_forged_initial(
    pair: &mut Pair,
    forge: impl Fn(&[u8], &[u8], &[u8]) -> Vec<u8> + 'static,
) -> Rc<Cell<bool>> {
    let forged = Rc::new(Cell::new(false));
    let flag = forged.clone();
    let mut client_ids = None;
    pair.tamper = Some(Box::new(move |to_server, d| {
        if to_server {
            client_ids = client_ids.take().or_else(|| long_header_cids(d));
            return;
        }
        if flag.get() {
            return;
        }
        let (Some((original_dcid, client_scid)), Some((_, server_scid))) = (&client_ids, long_header_cids(d)) else {
            return;
        };
        d.extend_from_slice(&forge(original_dcid, client_scid, &server_scid));
        flag.set(true);
    }));
    forged
}

#[test]
fn handshake_completes() {
    let mut pair = Pair::new(1, TransportConfig::default());
    let (c, s) = pair.connect_default();
    let client = pair.client.connection(c).unwrap();
    assert_eq!(client.alpn_protocol(), Some(common::ALPN));
    assert!(!client.is_handshaking());
    let server = pair.server.connection(s).unwrap();
    assert!(!server.is_handshaking());
}

#[test]
fn handshake_completes_for_many_seeds() {
    for seed in 0..64 {
        let mut pair = Pair::new(seed, TransportConfig::default());
        let ch = pair.connect(pair.client_config(TransportConfig::default()));
        let mut up = false;
        pair.drive_until(std::time::Duration::from_secs(10), |p| {
            while let Some((h, e)) = p.client.poll_event() {
                if h == ch && e == mpquic_proto::Event::Connected {
                    up = true;
                }
            }
            up
        });
        let err = pair.client.connection(ch).and_then(|c| c.error().cloned());
        assert!(up, "seed {seed}: client did not connect: {err:?}");
    }
}

#[test]
fn both_sides_connect_for_many_seeds() {
    for seed in 0..32 {
        let mut pair = Pair::new(seed, TransportConfig::default());
        let (c, s) = pair.connect_default();
        assert!(pair.client.connection(c).is_some() && pair.server.connection(s).is_some(), "seed {seed}");
    }
}

#[test]
fn second_connection_resumes_tls_session() {
    let mut pair = Pair::new(40, TransportConfig::default());
    let (c, s) = pair.connect_default();
    assert!(!pair.client.connection(c).unwrap().is_resumed(), "nothing to resume yet");
    assert!(!pair.server.connection(s).unwrap().is_resumed());
    // Let the session ticket (1-RTT CRYPTO) arrive.
    pair.drive_until(std::time::Duration::from_millis(200), |_| false);
    assert!(pair.client.connection(c).unwrap().error().is_none());
    // The next Pair shares this thread's client and server TLS configurations, and with them
    // the client's session cache and the server's ticket keys.
    let mut pair2 = Pair::new(41, TransportConfig::default());
    let (c2, s2) = pair2.connect_default();
    assert!(pair2.client.connection(c2).unwrap().is_resumed(), "the client did not resume its session");
    assert!(pair2.server.connection(s2).unwrap().is_resumed(), "the server did not resume the session");
}

/// Regression (issue 18, part 2): at 30% loss in both directions some handshakes never
/// finished (3 of these 200 seeds: 39, 160, 167; quinn clients fared worse). Two causes: a
/// server PTO probed the Handshake space with a PING while the certificate flight there was
/// lost (RFC 9002 §6.2.4: unacknowledged data MUST be sent, from every space with data in
/// flight), and the client stopped its anti-deadlock PTO on receiving any Handshake packet
/// instead of an acknowledgement of one of its own (RFC 9002 §6.2.2.1, A.6). Each side idled
/// out after 10 s without a packet.
#[test]
fn handshakes_complete_at_30_percent_loss_both_ways() {
    let mut failed = Vec::new();
    for seed in 0..200u64 {
        let transport =
            TransportConfig { max_idle_timeout: Some(Duration::from_secs(10)), ..TransportConfig::default() };
        let mut pair = Pair::new(seed, transport.clone());
        let link = Link { loss: 0.3, delay: Duration::from_millis(1), ..Link::default() };
        pair.to_server = link;
        pair.to_client = link;
        let config = pair.client_config(transport);
        let c = pair.connect(config);
        let (mut connected, mut lost) = (false, None);
        pair.drive_until(Duration::from_secs(60), |p| {
            while let Some((h, e)) = p.client.poll_event() {
                match e {
                    Event::Connected if h == c => connected = true,
                    Event::ConnectionLost(error) => lost = Some(error),
                    _ => {}
                }
            }
            while p.server.poll_event().is_some() {}
            connected || lost.is_some()
        });
        if !connected {
            failed.push((seed, lost));
        }
    }
    assert!(failed.is_empty(), "{} of 200 handshakes failed: {failed:?}", failed.len());
}

/// RFC 9000 §7.2: once the client processed the server's first Initial, it discards later
/// packets with another Source Connection ID. Without that, a forged CONNECTION_CLOSE from
/// another SCID, coalesced after the server's real Initial, ended the handshake.
#[test]
fn client_discards_packets_from_another_source_cid() {
    let mut pair = Pair::new(90, TransportConfig::default());
    let forged = coalesce_forged_initial(&mut pair, |original_dcid, client_scid, _server_scid| {
        forge_initial(Side::Server, original_dcid, client_scid, &[0xaa; 8], &[], 1000, &CONNECTION_CLOSE)
    });
    let (c, _s) = pair.connect_default();
    assert!(forged.get(), "the forged Initial was not sent");
    assert!(pair.client.connection(c).unwrap().error().is_none());
}

/// RFC 9000 §17.2.2: a client discards a server Initial with a non-empty Token field (or
/// closes with PROTOCOL_VIOLATION; discarding keeps a forged packet from ending the
/// connection). The forged Initial has the server's own SCID and a token.
#[test]
fn client_discards_server_initial_with_token() {
    let mut pair = Pair::new(91, TransportConfig::default());
    let forged = coalesce_forged_initial(&mut pair, |original_dcid, client_scid, server_scid| {
        forge_initial(Side::Server, original_dcid, client_scid, server_scid, b"token", 1000, &CONNECTION_CLOSE)
    });
    let (c, _s) = pair.connect_default();
    assert!(forged.get(), "the forged Initial was not sent");
    assert!(pair.client.connection(c).unwrap().error().is_none());
}

/// RFC 9000 §14.1: a server discards every Initial packet in a datagram under 1200 bytes, not
/// only the first one (which the endpoint checks). A forged client Initial with
/// CONNECTION_CLOSE in a small datagram, arriving while the handshake runs, used to end it.
#[test]
fn server_discards_initial_in_small_datagram_during_handshake() {
    let mut pair = Pair::new(92, TransportConfig::default());
    let captured = Rc::new(Cell::new(None::<(Vec<u8>, Vec<u8>)>));
    let capture = captured.clone();
    pair.tamper = Some(Box::new(move |to_server, d| {
        if to_server {
            let ids = capture.take().or_else(|| long_header_cids(d));
            capture.set(ids);
        }
    }));
    let config = pair.client_config(TransportConfig::default());
    let c = pair.connect(config);
    assert!(pair.drive_until(Duration::from_secs(1), |p| p.server.connection_count() > 0));
    let (original_dcid, client_scid) = captured.take().expect("the client's first Initial");
    let forged =
        forge_initial(Side::Client, &original_dcid, &original_dcid, &client_scid, &[], 1000, &CONNECTION_CLOSE);
    assert!(forged.len() < 1200);
    let (now, client_addr, server_addr) = (pair.now, pair.client_addr, pair.server_addr);
    pair.server.handle_datagram(now, server_addr, client_addr, None, bytes::BytesMut::from(&forged[..]));
    let (mut client_up, mut server_up) = (false, false);
    pair.drive_until(Duration::from_secs(5), |p| {
        while let Some((h, e)) = p.client.poll_event() {
            client_up |= h == c && e == Event::Connected;
        }
        while let Some((_, e)) = p.server.poll_event() {
            server_up |= e == Event::Connected;
        }
        client_up && server_up
    });
    assert!(client_up && server_up, "the handshake did not complete");
}
