//! Packet protection rules of RFC 9001 that end a connection: a peer updating 1-RTT keys twice
//! without waiting (§6.2, KEY_UPDATE_ERROR) and too many packets failing authentication (§6.6,
//! AEAD_LIMIT_REACHED), in every packet number space, and too many packets sealed with one key
//! (§6.6, AEAD_LIMIT_REACHED).

mod common;

use std::time::Duration;

use common::Pair;
use mpquic_proto::{ConnectionError, Dir, Event, TransportConfig, TransportErrorCode};

/// Drives until `handle` on the client (or the server) reports ConnectionLost; returns its error.
fn lost(pair: &mut Pair, client: bool, limit: Duration) -> Option<ConnectionError> {
    let mut error = None;
    pair.drive_until(limit, |p| {
        let ep = if client { &mut p.client } else { &mut p.server };
        while let Some((_, e)) = ep.poll_event() {
            if let Event::ConnectionLost(err) = e {
                error = Some(err);
            }
        }
        error.is_some()
    });
    error
}

#[test]
fn second_key_update_before_acknowledgement_is_key_update_error() {
    let mut pair = Pair::new(70, TransportConfig::default());
    let (c, _s) = pair.connect_default();
    // Let HANDSHAKE_DONE arrive: key updates need a confirmed handshake.
    pair.drive_until(Duration::from_millis(200), |_| false);
    let conn = pair.client.connection(c).unwrap();
    let stream = conn.open_stream(Dir::Uni).unwrap();
    assert!(conn.force_key_update(), "the first update is allowed");
    conn.write(stream, b"first phase").unwrap();
    // Send that packet now, without letting time pass: the server has not answered yet.
    let now = pair.now;
    pair.step_until(Some(now));
    let conn = pair.client.connection(c).unwrap();
    assert!(conn.force_key_update_unchecked());
    conn.write(stream, b"second phase").unwrap();
    pair.step_until(Some(now));
    // Both packets arrive together, so the server has acknowledged neither when it opens the
    // second one with the key generation after the first update.
    match lost(&mut pair, false, Duration::from_secs(5)) {
        Some(ConnectionError::TransportError(e)) => assert_eq!(e.code, TransportErrorCode::KEY_UPDATE_ERROR, "{e}"),
        other => panic!("the server did not close with KEY_UPDATE_ERROR: {other:?}"),
    }
}

#[test]
fn key_updates_one_after_another_are_fine() {
    let mut pair = Pair::new(71, TransportConfig::default());
    let (c, s) = pair.connect_default();
    pair.drive_until(Duration::from_millis(200), |_| false);
    for round in 0..4 {
        // RFC 9001 §6.1: the next update waits for an acknowledgement of the current phase and
        // for the old keys to be dropped.
        let started =
            pair.drive_until(Duration::from_secs(5), |p| p.client.connection(c).is_some_and(|c| c.force_key_update()));
        assert!(started, "round {round}: no update allowed");
        let conn = pair.client.connection(c).unwrap();
        let stream = conn.open_stream(Dir::Uni).unwrap();
        conn.write(stream, b"data").unwrap();
        conn.finish(stream).unwrap();
        pair.drive_until(Duration::from_millis(200), |_| false);
    }
    assert!(pair.server.connection(s).is_some_and(|c| c.error().is_none()), "the server closed");
    assert!(pair.server.connection(s).unwrap().stats().key_updates >= 4);
}

/// Flips the last byte of every Handshake packet in a datagram of coalesced long-header packets
/// (RFC 9000 §12.2, §17.2), leaving Initial packets intact.
fn corrupt_handshake_packets(datagram: &mut [u8]) {
    let mut at = 0;
    while at < datagram.len() && datagram[at] & 0x80 != 0 {
        let ty = (datagram[at] >> 4) & 0x03;
        let mut i = at + 5;
        let Some(&dcid_len) = datagram.get(i) else { return };
        i += 1 + usize::from(dcid_len);
        let Some(&scid_len) = datagram.get(i) else { return };
        i += 1 + usize::from(scid_len);
        if ty == 0 {
            let Some((token_len, n)) = varint(&datagram[i..]) else { return };
            i += n + token_len;
        }
        let Some((length, n)) = datagram.get(i..).and_then(varint) else { return };
        let end = i + n + length;
        if end > datagram.len() {
            return;
        }
        if ty == 2 {
            datagram[end - 1] ^= 0x01;
        }
        at = end;
    }
}

fn varint(b: &[u8]) -> Option<(usize, usize)> {
    let first = *b.first()?;
    let len = 1usize << (first >> 6);
    let mut v = u64::from(first & 0x3f);
    for &x in b.get(1..len)? {
        v = (v << 8) | u64::from(x);
    }
    Some((usize::try_from(v).ok()?, len))
}

#[test]
fn failed_handshake_packets_count_toward_the_integrity_limit() {
    let mut pair = Pair::new(72, TransportConfig::default());
    pair.tamper = Some(Box::new(|to_server, d| {
        if !to_server {
            corrupt_handshake_packets(d);
        }
    }));
    let transport = TransportConfig { integrity_limit_packets: Some(3), ..TransportConfig::default() };
    let config = pair.client_config(transport);
    pair.connect(config);
    // The client's Handshake keys open nothing the server sends; every Handshake packet counts
    // (RFC 9001 §6.6: across all keys), so the third one ends the handshake.
    match lost(&mut pair, true, Duration::from_secs(20)) {
        Some(ConnectionError::TransportError(e)) => {
            assert_eq!(e.code, TransportErrorCode::AEAD_LIMIT_REACHED, "{e}")
        }
        other => panic!("the client did not close with AEAD_LIMIT_REACHED: {other:?}"),
    }
}

#[test]
fn failed_1rtt_packets_count_toward_the_integrity_limit() {
    let mut pair = Pair::new(73, TransportConfig::default());
    let transport = TransportConfig { integrity_limit_packets: Some(3), ..TransportConfig::default() };
    let config = pair.client_config(transport);
    let (c, _s) = pair.connect_with(config);
    pair.drive_until(Duration::from_millis(200), |_| false);
    // From now on every short-header packet to the client has a flipped last byte (the tag).
    pair.tamper = Some(Box::new(|to_server, d| {
        if !to_server && d.first().is_some_and(|b| b & 0x80 == 0) {
            if let Some(last) = d.last_mut() {
                *last ^= 0x01;
            }
        }
    }));
    let conn = pair.client.connection(c).unwrap();
    let stream = conn.open_stream(Dir::Bi).unwrap();
    conn.write(stream, &[7; 4000]).unwrap();
    match lost(&mut pair, true, Duration::from_secs(20)) {
        Some(ConnectionError::TransportError(e)) => {
            assert_eq!(e.code, TransportErrorCode::AEAD_LIMIT_REACHED, "{e}")
        }
        other => panic!("the client did not close with AEAD_LIMIT_REACHED: {other:?}"),
    }
}

/// RFC 9001 §6.6: an endpoint MUST NOT seal more packets with one key than the AEAD's
/// confidentiality limit, and SHOULD close with AEAD_LIMIT_REACHED before key updates become
/// impossible. With a limit of 150 packets per key, the client updates its keys at 75 packets;
/// the next update has to wait until the old keys are dropped, three PTOs after the server
/// followed (RFC 9001 §6.1, §6.5), and a bulk upload sends the 86 packets that leave 64 under
/// the limit sooner than that: the client closes instead of sealing on.
#[test]
fn confidentiality_limit_closes_when_keys_cannot_be_updated() {
    let mut pair = Pair::new(74, TransportConfig::default());
    let transport = TransportConfig { confidentiality_limit_packets: Some(150), ..TransportConfig::default() };
    let config = pair.client_config(transport);
    let (c, _s) = pair.connect_with(config);
    pair.drive_until(Duration::from_millis(200), |_| false);
    let conn = pair.client.connection(c).unwrap();
    let stream = conn.open_stream(Dir::Uni).unwrap();
    let written = conn.write(stream, &[7; 1_000_000]).unwrap();
    assert!(written > 300_000, "flow control let only {written} bytes through");
    match lost(&mut pair, true, Duration::from_secs(10)) {
        Some(ConnectionError::TransportError(e)) => assert_eq!(e.code, TransportErrorCode::AEAD_LIMIT_REACHED, "{e}"),
        other => panic!("the client did not close with AEAD_LIMIT_REACHED: {other:?}"),
    }
    let stats = pair.client.connection(c).unwrap().stats();
    assert_eq!(stats.key_updates, 1, "{stats:?}");
    assert!(stats.datagrams_sent < 2 * 150, "{stats:?}");
}
