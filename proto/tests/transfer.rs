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

/// The acceptance transfer: 50 MB on one stream, clean and with 5% loss plus
/// reordering and duplication, surviving a key update in the middle.
#[test]
fn fifty_megabytes_clean_and_lossy_with_key_update() {
    for (seed, loss) in [(10u64, 0.0), (11, 0.05)] {
        eprintln!("seed {seed} loss {loss}");
        let mut pair = Pair::new(seed, TransportConfig::default());
        let (c, s) = pair.connect_default();
        if loss > 0.0 {
            pair.to_server = Link::lossy(loss);
            pair.to_client = Link::lossy(loss);
        }
        pair.to_server.rate_bytes_per_sec = 100_000_000;
        pair.to_client.rate_bytes_per_sec = 100_000_000;
        let len = 50 << 20;
        let data = payload(seed, len);
        let id = pair.client.connection(c).unwrap().open_stream(Dir::Bi).unwrap();
        let mut sent = 0usize;
        let mut got: Vec<u8> = Vec::with_capacity(len);
        let mut accepted = None;
        let mut key_updated = false;
        let mut fin = false;
        let ok = pair.drive_until(Duration::from_secs(600), |p| {
            let conn = p.client.connection(c).unwrap();
            while sent < len {
                match conn.write(id, &data[sent..]) {
                    Ok(n) if n > 0 => sent += n,
                    _ => break,
                }
            }
            if sent == len && !fin {
                conn.finish(id).unwrap();
                fin = true;
            }
            if !key_updated && got.len() > len / 2 {
                key_updated = conn.force_key_update();
            }
            while p.client.poll_event().is_some() {}
            let server = p.server.connection(s).unwrap();
            if accepted.is_none() {
                accepted = server.accept_stream(Dir::Bi);
            }
            let mut done = false;
            if let Some(sid) = accepted {
                loop {
                    match server.read(sid, usize::MAX) {
                        Ok(Some(chunk)) => got.extend_from_slice(&chunk.bytes),
                        Ok(None) => {
                            done = true;
                            break;
                        }
                        Err(_) => break,
                    }
                }
            }
            while p.server.poll_event().is_some() {}
            done
        });
        assert!(ok, "loss {loss}: only {} of {len} bytes arrived", got.len());
        assert!(got == data, "loss {loss}: content differs");
        assert!(key_updated, "loss {loss}: key update never started");
        let stats = pair.server.connection(s).unwrap().stats();
        assert!(stats.key_updates >= 1, "server did not follow the key update: {stats:?}");
    }
}

/// RFC 9002 §7.7: a sender paces its window over the round trip instead of sending it as one
/// burst. Over a link of unlimited rate and 50 ms RTT, a 4 MB upload grows the window to
/// hundreds of datagrams; paced, the client never sends more at one instant than its pacer's
/// burst (ten datagrams, or what the rate sends in 1 ms: about 1.25 * window / 50 ms * 1 ms,
/// a fortieth of the window). Unpaced, whole windows leave at once.
#[test]
fn bulk_sends_are_paced_over_the_round_trip() {
    let run = |pacing: bool| {
        let transport = TransportConfig { pacing, ..TransportConfig::default() };
        let mut pair = Pair::new(7, transport.clone());
        pair.to_server.delay = Duration::from_millis(25);
        pair.to_client.delay = Duration::from_millis(25);
        let (c, s) = pair.connect_with(pair.client_config(transport));
        transfer(&mut pair, c, s, 1, 4 << 20, Duration::from_secs(60));
        let info = pair.client.connection(c).expect("client").path(mpquic_proto::PathId::ZERO);
        (pair.largest_client_burst, info)
    };
    let (paced, stats) = run(true);
    let (unpaced, _) = run(false);
    let window_datagrams = stats.expect("path 0").congestion_window / 1200;
    assert!(window_datagrams >= 200, "the window grew to {window_datagrams} datagrams");
    assert!(paced <= (window_datagrams / 20).max(12), "paced burst {paced} of a {window_datagrams}-datagram window");
    assert!(unpaced >= 4 * paced, "unpaced burst {unpaced}, paced {paced}");
    eprintln!("largest burst: paced {paced}, unpaced {unpaced} datagrams; window {window_datagrams} datagrams");
}

/// GSO batching follows the endpoint's `max_gso_segments`: the default stops at 10 datagrams per
/// transmit; an endpoint allowed 64 sends batches of more than 10 once its window allows (pacing
/// off), and no transmit ever exceeds `MAX_GSO_BYTES`, the most a GSO super-buffer may carry.
#[test]
fn gso_batches_follow_the_endpoint_setting() {
    for segments in [10, 64] {
        let transport = TransportConfig { pacing: false, ..TransportConfig::default() };
        let mut pair = Pair::new(31, transport.clone());
        let config =
            mpquic_proto::EndpointConfig { max_gso_segments: segments, ..mpquic_proto::EndpointConfig::with_seed(32) };
        pair.client = mpquic_proto::Endpoint::new(std::sync::Arc::new(config), None);
        let cfg = pair.client_config(transport);
        let (c, s) = pair.connect_with(cfg);
        let data = payload(9, 3_000_000);
        let got = common::bulk(&mut pair, c, s, &data, Duration::from_secs(30), |_, _| {});
        assert!(got == data, "{segments} segments: the upload changed on the way");
        assert!(pair.largest_transmit_bytes <= mpquic_proto::MAX_GSO_BYTES, "{} bytes", pair.largest_transmit_bytes);
        if segments == 10 {
            assert_eq!(pair.largest_client_transmit, 10, "the default batches 10 datagrams");
        } else {
            assert!(
                pair.largest_client_transmit > 10 && pair.largest_client_transmit <= segments,
                "{} datagrams in the largest batch",
                pair.largest_client_transmit
            );
        }
    }
}
