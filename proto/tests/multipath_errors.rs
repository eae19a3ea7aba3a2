//! RFC 10069 §4: malformed or illegal multipath frames get their error code in
//! CONNECTION_CLOSE, and both sides end cleanly.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::Pair;
use mpquic_proto::{ConnectionError, Event, TransportConfig, TransportErrorCode};

fn mp() -> TransportConfig {
    TransportConfig { initial_max_path_id: Some(4), ..TransportConfig::default() }
}

fn server_closes_with(seed: u64, frames: &[u8]) -> TransportErrorCode {
    let mut pair = Pair::new(seed, mp());
    let cfg = pair.client_config(mp());
    let (c, s) = pair.connect_with(cfg);
    pair.drive_until(Duration::from_millis(100), |_| false);
    assert!(pair.client.connection(c).unwrap().is_multipath());
    pair.client.connection(c).unwrap().inject_raw_frames(Bytes::copy_from_slice(frames));
    let mut server_error = None;
    pair.drive_until(Duration::from_secs(10), |p| {
        while p.client.poll_event().is_some() {}
        while let Some((_, e)) = p.server.poll_event() {
            if let Event::ConnectionLost(err) = e {
                server_error = Some(err);
            }
        }
        p.client.connection(c).is_none() && p.server.connection(s).is_none()
    });
    assert!(pair.client.connection(c).is_none() && pair.server.connection(s).is_none(), "both sides end");
    match server_error {
        Some(ConnectionError::TransportError(e)) => e.code,
        other => panic!("server did not close with a transport error: {other:?}"),
    }
}

#[test]
fn path_id_above_the_limit() {
    // PATH_ACK (0x3e) for path 100 > initial_max_path_id 4.
    assert_eq!(server_closes_with(70, &[0x3e, 0x40, 0x64, 0, 0, 0, 0]), TransportErrorCode::PROTOCOL_VIOLATION);
    // PATH_ABANDON (0x3e75) for path 100.
    assert_eq!(server_closes_with(71, &[0x7e, 0x75, 0x40, 0x64, 0x00]), TransportErrorCode::PROTOCOL_VIOLATION);
    // PATH_STATUS_BACKUP (0x3e76) for path 100.
    assert_eq!(server_closes_with(72, &[0x7e, 0x76, 0x40, 0x64, 0x01]), TransportErrorCode::PROTOCOL_VIOLATION);
    // PATH_NEW_CONNECTION_ID (0x3e78) for path 100.
    let mut f = vec![0x7e, 0x78, 0x40, 0x64, 0x00, 0x00, 0x08];
    f.extend_from_slice(&[5; 8]);
    f.extend_from_slice(&[6; 16]);
    assert_eq!(server_closes_with(73, &f), TransportErrorCode::PROTOCOL_VIOLATION);
}

#[test]
fn bad_path_cids_blocked() {
    // PATH_CIDS_BLOCKED (0x3e7c) for path 1 naming a sequence number beyond what was issued.
    assert_eq!(server_closes_with(74, &[0x7e, 0x7c, 0x01, 0x3f]), TransportErrorCode::PROTOCOL_VIOLATION);
}

#[test]
fn max_path_id_below_the_transport_parameter() {
    // MAX_PATH_ID (0x3e7a) of 1 < initial_max_path_id 4 (RFC 10069 §4.7).
    assert_eq!(server_closes_with(75, &[0x7e, 0x7a, 0x01]), TransportErrorCode::PROTOCOL_VIOLATION);
}

#[test]
fn truncated_multipath_frame() {
    // PATH_ABANDON without its error code.
    assert_eq!(server_closes_with(76, &[0x7e, 0x75, 0x01]), TransportErrorCode::FRAME_ENCODING_ERROR);
}

#[test]
fn multipath_frame_outside_1rtt() {
    // RFC 10069 §4: multipath frames are allowed only in 1-RTT packets. The client puts a
    // PATH_STATUS_AVAILABLE into its Handshake packet (with its Finished).
    let mut pair = Pair::new(77, mp());
    let cfg = pair.client_config(mp());
    let c = pair.connect(cfg);
    pair.client
        .connection(c)
        .unwrap()
        .inject_raw_frames_in(mpquic_proto::packet::SpaceId::Handshake, Bytes::from_static(&[0x7e, 0x77, 0x00, 0x01]));
    let mut server_error = None;
    pair.drive_until(Duration::from_secs(10), |p| {
        while p.client.poll_event().is_some() {}
        while let Some((_, e)) = p.server.poll_event() {
            if let Event::ConnectionLost(err) = e {
                server_error = Some(err);
            }
        }
        p.client.connection(c).is_none()
    });
    match server_error {
        Some(ConnectionError::TransportError(e)) => assert_eq!(e.code, TransportErrorCode::PROTOCOL_VIOLATION),
        other => panic!("expected PROTOCOL_VIOLATION, got {other:?}"),
    }
    assert!(pair.client.connection(c).is_none(), "the client ends too");
}
