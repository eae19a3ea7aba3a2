//! Randomised path churn (RFC 10069): paths opened, abandoned, re-statused,
//! black-holed and restored, and keys updated, all during a transfer. Both ends must stay
//! consistent: no protocol violation against each other, no stream byte lost or corrupted.
//! A failing seed becomes a named regression test.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{payload, Link, Pair, Upload};
use mpquic_proto::{Event, PathId, TransportConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn mp() -> TransportConfig {
    TransportConfig { initial_max_path_id: Some(16), ..TransportConfig::default() }
}

fn churn(seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut pair = Pair::new(seed, mp());
    let cfg = pair.client_config(mp());
    let base = Link { rate_bytes_per_sec: 1_250_000, ..Link::default() };
    pair.to_server = base;
    pair.to_client = base;
    let (c, s) = pair.connect_with(cfg);
    let data = payload(seed, 3 << 20);
    let mut upload = Upload::start(&mut pair, c);
    let mut next_op = pair.now + Duration::from_millis(50);
    let mut next_addr = 2u8;
    let mut ops = Vec::new();
    let ok = pair.drive_until(Duration::from_secs(120), |p| {
        let now = p.now;
        if now >= next_op {
            next_op = now + Duration::from_millis(rng.random_range(20..200));
            let conn = p.client.connection(c).unwrap();
            let paths: Vec<PathId> = conn.paths().iter().filter(|i| !i.abandoned).map(|i| i.id).collect();
            match rng.random_range(0..6) {
                0 if paths.len() < 4 && next_addr < 40 => {
                    let local: SocketAddr = format!("127.0.0.{next_addr}:40000").parse().unwrap();
                    next_addr += 1;
                    let r = conn.open_path(now, Some(local), p.server_addr);
                    ops.push(format!("open {local} -> {r:?}"));
                }
                1 if paths.len() > 1 => {
                    let victim = paths[rng.random_range(0..paths.len())];
                    let r = conn.abandon_path(now, victim, 0);
                    ops.push(format!("abandon {victim:?} -> {r:?}"));
                }
                2 => {
                    let target = paths[rng.random_range(0..paths.len())];
                    let backup = rng.random_bool(0.5);
                    let r = conn.set_path_status(target, backup);
                    ops.push(format!("status {target:?} backup={backup} -> {r:?}"));
                }
                3 => ops.push(format!("key update -> {}", conn.force_key_update())),
                _ => {
                    // Impair one client address's link: lossy, black hole, or clean again.
                    let addr: SocketAddr = if rng.random_bool(0.5) {
                        p.client_addr
                    } else {
                        format!("127.0.0.{}:40000", rng.random_range(2..next_addr.max(3))).parse().unwrap()
                    };
                    let link = match rng.random_range(0..3) {
                        0 => Link { rate_bytes_per_sec: 1_250_000, ..Link::lossy(0.03) },
                        1 => Link { loss: 1.0, ..base },
                        _ => base,
                    };
                    ops.push(format!("link {addr} loss {}", link.loss));
                    p.path_links.insert((addr, p.server_addr), (link, link));
                }
            }
        }
        // Never leave every path dead for long: after 2 s of churn, heal all links.
        if ops.len() > 20 {
            for link in p.path_links.values_mut() {
                *link = (base, base);
            }
        }
        for (side, ep) in [("client", &mut p.client), ("server", &mut p.server)] {
            while let Some((_, e)) = ep.poll_event() {
                assert!(
                    !matches!(e, Event::ConnectionLost(_)),
                    "seed {seed}: {side} lost the connection: {e:?}\nops: {ops:#?}"
                );
            }
        }
        upload.step(p, c, s, &data)
    });
    assert!(ok, "seed {seed}: transfer incomplete ({} of {} bytes)\nops: {ops:#?}", upload.got.len(), data.len());
    assert!(upload.got == data, "seed {seed}: content differs");
    let opened = ops.iter().filter(|o| o.starts_with("open") && o.contains("Ok")).count();
    let abandoned = ops.iter().filter(|o| o.starts_with("abandon") && o.contains("Ok")).count();
    println!("seed {seed}: {} operations, {opened} paths opened, {abandoned} abandoned", ops.len());
}

#[test]
fn random_path_churn_keeps_both_ends_consistent() {
    for seed in 0..12 {
        churn(1000 + seed);
    }
}

/// Regression (seed 1000): after path 0 was abandoned, the peer's PATH_NEW_CONNECTION_ID was
/// mistaken for a NEW_CONNECTION_ID from a peer using zero-length CIDs (RFC 9000 §19.15), because
/// that check looked at path 0's CIDs, which abandoning had removed.
#[test]
fn regression_abandoning_path_zero_keeps_cid_frames_legal() {
    churn(1000);
}

/// The last path left must recover when its link does (found as seed 1002 once proto's stream
/// window became 2 MiB): path 1 is opened on a dead link, path 0 is abandoned, and the link
/// comes back after path 1's first validation attempt has failed (RFC 9000 §8.2.4: after
/// max(3 PTO, 6 initial RTTs)). Abandoning path 1 would end the connection, so proto validates
/// it again, and the upload completes on it.
#[test]
fn last_path_is_validated_again_when_its_link_returns() {
    let mut pair = Pair::new(7, mp());
    let cfg = pair.client_config(mp());
    let (c, s) = pair.connect_with(cfg);
    let data = payload(7, 256 << 10);
    let mut upload = Upload::start(&mut pair, c);
    let second: SocketAddr = "127.0.0.2:40000".parse().unwrap();
    let dead = Link { loss: 1.0, ..Link::default() };
    pair.path_links.insert((second, pair.server_addr), (dead, dead));
    // A path can be opened once the handshake is confirmed and the server's CIDs for it came.
    let mut path = None;
    pair.drive_until(Duration::from_secs(2), |p| {
        let (now, server) = (p.now, p.server_addr);
        path = p.client.connection(c).unwrap().open_path(now, Some(second), server).ok();
        path.is_some() || upload.step(p, c, s, &data)
    });
    let path = path.expect("path 1 opened");
    let now = pair.now;
    pair.client.connection(c).unwrap().abandon_path(now, PathId::ZERO, 0).unwrap();
    let (mut failed, mut healed_at) = (false, None);
    let ok = pair.drive_until(Duration::from_secs(20), |p| {
        while let Some((_, e)) = p.client.poll_event() {
            assert!(!matches!(e, Event::ConnectionLost(_)), "client lost the connection: {e:?}");
            failed |= e == Event::Path(mpquic_proto::PathEvent::ValidationFailed(path));
        }
        while let Some((_, e)) = p.server.poll_event() {
            assert!(!matches!(e, Event::ConnectionLost(_)), "server lost the connection: {e:?}");
        }
        // Heal the link once the first validation has failed.
        if failed && healed_at.is_none() {
            p.path_links.insert((second, p.server_addr), (Link::default(), Link::default()));
            healed_at = Some(p.now);
        }
        upload.step(p, c, s, &data)
    });
    assert!(failed, "the first validation of path 1 did not fail on the dead link");
    assert!(
        ok,
        "upload incomplete after the link returned at {healed_at:?}: {} of {} bytes",
        upload.got.len(),
        data.len()
    );
    assert!(upload.got == data, "content differs");
    let info = pair.client.connection(c).unwrap().paths();
    assert!(info.iter().any(|i| i.id == path && i.validated && !i.abandoned), "{info:?}");
}
