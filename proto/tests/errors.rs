//! RFC 9000 §20: a peer that sends a malformed or illegal frame gets the right error code in
//! CONNECTION_CLOSE, and both sides end cleanly.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::Pair;
use mpquic_proto::{ConnectionError, Event, TransportConfig, TransportErrorCode};

/// Connects, makes the client send `frames` in a 1-RTT packet, and returns the error the client
/// was closed with by the server, after checking that both connections are gone.
fn server_closes_with(seed: u64, frames: &[u8]) -> TransportErrorCode {
    let mut pair = Pair::new(seed, TransportConfig::default());
    let (c, s) = pair.connect_default();
    pair.drive_until(Duration::from_millis(100), |_| false);
    pair.client.connection(c).unwrap().inject_raw_frames(Bytes::copy_from_slice(frames));
    let mut client_error = None;
    let mut server_error = None;
    pair.drive_until(Duration::from_secs(10), |p| {
        while let Some((_, e)) = p.client.poll_event() {
            if let Event::ConnectionLost(err) = e {
                client_error = Some(err);
            }
        }
        while let Some((_, e)) = p.server.poll_event() {
            if let Event::ConnectionLost(err) = e {
                server_error = Some(err);
            }
        }
        p.client.connection(c).is_none() && p.server.connection(s).is_none()
    });
    assert!(
        pair.client.connection(c).is_none(),
        "client connection still alive: client {client_error:?} server {server_error:?}"
    );
    assert!(pair.server.connection(s).is_none(), "server connection still alive");
    let server_code = match server_error {
        Some(ConnectionError::TransportError(e)) => e.code,
        other => panic!("server did not close with a transport error: {other:?}"),
    };
    match client_error {
        Some(ConnectionError::ConnectionClosed { code, .. }) => assert_eq!(code, server_code),
        other => panic!("client did not see the server's CONNECTION_CLOSE: {other:?}"),
    }
    server_code
}

#[test]
fn frame_encoding_errors() {
    // Unknown frame type (RFC 9000 §12.4).
    assert_eq!(server_closes_with(1, &[0x40, 0x7f]), TransportErrorCode::FRAME_ENCODING_ERROR);
    // Truncated MAX_DATA.
    assert_eq!(server_closes_with(2, &[0x10]), TransportErrorCode::FRAME_ENCODING_ERROR);
    // MAX_STREAMS above 2^60 (§19.11).
    assert_eq!(server_closes_with(3, &[0x12, 0xd0, 0, 0, 0, 0, 0, 0, 1]), TransportErrorCode::FRAME_ENCODING_ERROR);
    // NEW_CONNECTION_ID with retire_prior_to > sequence (§19.15).
    let mut f = vec![0x18, 0x01, 0x02, 0x08];
    f.extend_from_slice(&[7; 8]);
    f.extend_from_slice(&[9; 16]);
    assert_eq!(server_closes_with(4, &f), TransportErrorCode::FRAME_ENCODING_ERROR);
}

#[test]
fn stream_errors() {
    // STREAM on a server-initiated unidirectional stream the server never opened: a client
    // cannot send on the server's uni streams (STREAM_STATE_ERROR, §19.8).
    assert_eq!(server_closes_with(5, &[0x0a, 0x03, 0x01, 0xaa]), TransportErrorCode::STREAM_STATE_ERROR);
    // Stream beyond the limit: client bidi stream 1,000 (index 250 > 100 allowed).
    assert_eq!(server_closes_with(6, &[0x0a, 0x4f, 0xa0, 0x01, 0xaa]), TransportErrorCode::STREAM_LIMIT_ERROR);
    // Data beyond the stream's flow-control window (offset near 2^30).
    assert_eq!(
        server_closes_with(7, &[0x0e, 0x00, 0xbf, 0xff, 0xff, 0x00, 0x01, 0xaa]),
        TransportErrorCode::FLOW_CONTROL_ERROR
    );
    // RESET_STREAM with a final size below data already received (FINAL_SIZE_ERROR).
    assert_eq!(
        server_closes_with(8, &[0x0a, 0x00, 0x04, 1, 2, 3, 4, 0x04, 0x00, 0x00, 0x02]),
        TransportErrorCode::FINAL_SIZE_ERROR
    );
    // STOP_SENDING for a stream that does not exist yet and is ours... the server's bidi stream 1
    // was never opened: STREAM_STATE_ERROR (§19.5).
    assert_eq!(server_closes_with(9, &[0x05, 0x01, 0x00]), TransportErrorCode::STREAM_STATE_ERROR);
}

#[test]
fn protocol_violations() {
    // HANDSHAKE_DONE from a client (§19.20).
    assert_eq!(server_closes_with(10, &[0x1e]), TransportErrorCode::PROTOCOL_VIOLATION);
    // NEW_TOKEN from a client (§19.7).
    assert_eq!(server_closes_with(11, &[0x07, 0x01, 0xaa]), TransportErrorCode::PROTOCOL_VIOLATION);
    // ACK of a packet number never sent (§13.1).
    assert_eq!(server_closes_with(12, &[0x02, 0x7f, 0xff, 0x00, 0x00, 0x00]), TransportErrorCode::PROTOCOL_VIOLATION);
    // RETIRE_CONNECTION_ID of a sequence number never issued (§19.16).
    assert_eq!(server_closes_with(13, &[0x19, 0x3f]), TransportErrorCode::PROTOCOL_VIOLATION);
}

#[test]
fn connection_id_limit() {
    // More NEW_CONNECTION_IDs than our active_connection_id_limit (4 by default) (§5.1.1); the
    // client already issued sequence numbers 1-3, so these start at 10.
    let mut f = Vec::new();
    for seq in 10..=16u8 {
        f.extend_from_slice(&[0x18, seq, 0x00, 0x08]);
        f.extend_from_slice(&[seq; 8]);
        f.extend_from_slice(&[seq; 16]);
    }
    assert_eq!(server_closes_with(14, &f), TransportErrorCode::CONNECTION_ID_LIMIT_ERROR);
}

#[test]
fn crypto_buffer_exceeded() {
    // A 1-RTT CRYPTO frame far beyond what we buffer out of order (RFC 9000 §7.5).
    assert_eq!(
        server_closes_with(15, &[0x06, 0x80, 0x01, 0x86, 0xa0, 0x01, 0xaa]),
        TransportErrorCode::CRYPTO_BUFFER_EXCEEDED
    );
}

#[test]
fn multipath_frame_without_multipath_is_a_frame_encoding_error() {
    // PATH_ABANDON (0x3e75) when multipath was not negotiated is an unknown frame type.
    assert_eq!(server_closes_with(16, &[0x7e, 0x75, 0x00, 0x00]), TransportErrorCode::FRAME_ENCODING_ERROR);
}
