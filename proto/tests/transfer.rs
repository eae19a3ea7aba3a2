//! Bulk and many-stream transfers over the in-memory network, with and without impairments.

mod common;

use std::time::Duration;

use common::{payload, Link, Pair};
use mpquic_proto::{ConnectionHandle, Dir, Event, StreamId, TransportConfig};

/// Client opens `streams` bidirectional streams, sends `len` bytes on each and finishes; the
/// server reads everything and checks it byte for byte. Returns virtual time taken.
fn transfer(
    pair: &mut Pair,
    c: ConnectionHandle,
    s: ConnectionHandle,
    streams: usize,
    len: usize,
    limit: Duration,
) -> Duration {
    let start = pair.now;
    let data: Vec<Vec<u8>> = (0..streams).map(|i| payload(i as u64, len)).collect();
    let mut ids: Vec<StreamId> = Vec::new();
    let mut offsets = vec![0usize; streams];
    let mut finished = vec![false; streams];
    let mut received: std::collections::HashMap<StreamId, Vec<u8>> = Default::default();
    let mut done_streams = 0usize;
    let mut complete: std::collections::HashSet<StreamId> = Default::default();
    let ok = pair.drive_until(limit, |p| {
        let conn = p.client.connection(c).expect("client connection");
        while ids.len() < streams {
            match conn.open_stream(Dir::Bi) {
                Some(id) => ids.push(id),
                None => break,
            }
        }
        for (i, id) in ids.iter().enumerate() {
            while offsets[i] < len {
                match conn.write(*id, &data[i][offsets[i]..]) {
                    Ok(n) if n > 0 => offsets[i] += n,
                    _ => break,
                }
            }
            if offsets[i] == len && !finished[i] {
                conn.finish(*id).expect("finish");
                finished[i] = true;
            }
        }
        // Read the server's (empty) halves to their FIN, releasing the streams.
        for id in &ids {
            while let Ok(Some(_)) = conn.read(*id, usize::MAX) {}
        }
        while p.client.poll_event().is_some() {}
        let Some(server) = p.server.connection(s) else {
            panic!("server connection gone: {:?}", p.server.poll_event())
        };
        while let Some(id) = server.accept_stream(Dir::Bi) {
            received.insert(id, Vec::new());
        }
        let keys: Vec<StreamId> = received.keys().copied().collect();
        for id in keys {
            if complete.contains(&id) {
                continue;
            }
            loop {
                match server.read(id, usize::MAX) {
                    Ok(Some(chunk)) => received.get_mut(&id).unwrap().extend_from_slice(&chunk.bytes),
                    Ok(None) => {
                        complete.insert(id);
                        done_streams += 1;
                        // Close our half too so the stream's state (and its credit) is released.
                        let _ = server.finish(id);
                        break;
                    }
                    Err(_) => break,
                }
            }
        }
        while p.server.poll_event().is_some() {}
        done_streams == streams
    });
    assert!(ok, "transfer did not finish: {done_streams}/{streams} streams complete");
    for (i, id) in ids.iter().enumerate() {
        let got = &received[id];
        assert_eq!(got.len(), len, "stream {i} length");
        assert!(got == &data[i], "stream {i} content differs");
    }
    pair.now - start
}

#[test]
fn one_megabyte_clean() {
    let mut pair = Pair::new(2, TransportConfig::default());
    let (c, s) = pair.connect_default();
    let t = transfer(&mut pair, c, s, 1, 1 << 20, Duration::from_secs(30));
    assert!(t < Duration::from_secs(5), "took {t:?}");
}

#[test]
fn many_small_streams_clean() {
    let mut pair = Pair::new(3, TransportConfig::default());
    let (c, s) = pair.connect_default();
    transfer(&mut pair, c, s, 1000, 1000, Duration::from_secs(60));
}

#[test]
fn lossy_reordering_duplicating_link() {
    let mut pair = Pair::new(4, TransportConfig::default());
    let (c, s) = pair.connect_default();
    pair.to_server = Link::lossy(0.05);
    pair.to_client = Link::lossy(0.05);
    transfer(&mut pair, c, s, 1, 2 << 20, Duration::from_secs(120));
}

#[test]
fn events_report_connection() {
    let mut pair = Pair::new(5, TransportConfig::default());
    let (c, _s) = pair.connect_default();
    let mut confirmed = false;
    pair.drive_until(Duration::from_secs(1), |p| {
        while let Some((h, e)) = p.client.poll_event() {
            if h == c && e == Event::HandshakeConfirmed {
                confirmed = true;
            }
        }
        confirmed
    });
    assert!(confirmed);
}
