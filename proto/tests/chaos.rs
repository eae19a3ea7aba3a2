//! Chaos in the in-memory pair (issue 18, part 5): 10% loss, 10% reordering and 10%
//! duplication on both paths, and the second path a black hole every other second for 60 s of
//! virtual time, while the client uploads at a steady rate. Over 20 seeds the server must read
//! exactly the bytes written and neither side may lose the connection (our two endpoints must
//! never find a protocol violation in each other's packets).

mod common;

use std::time::Duration;

use common::{payload, second_addr, two_paths, Link, Pair};
use mpquic_proto::{ConnectionHandle, Dir, Event, StreamId, TransportConfig};

const SEEDS: u64 = 20;
const FLAPPING: Duration = Duration::from_secs(60);
/// What the application writes per second: the transfer lasts through all the flapping.
const RATE_BYTES_PER_SEC: u64 = 40_000;

fn chaotic() -> Link {
    Link {
        delay: Duration::from_millis(15),
        loss: 0.1,
        reorder: 0.1,
        reorder_extra: Duration::from_millis(8),
        duplicate: 0.1,
        rate_bytes_per_sec: 1_250_000,
        max_queue_delay: Some(Duration::from_millis(100)),
    }
}

fn black_hole() -> Link {
    Link { loss: 1.0, ..chaotic() }
}

fn assert_alive(pair: &mut Pair, seed: u64) {
    for (side, ep) in [("client", &mut pair.client), ("server", &mut pair.server)] {
        while let Some((_, e)) = ep.poll_event() {
            assert!(!matches!(e, Event::ConnectionLost(_)), "seed {seed}: the {side} lost the connection: {e:?}");
        }
    }
}

/// Writes what the rate allows by now, reads what arrived; true once the server read the FIN.
struct PacedUpload {
    id: StreamId,
    written: usize,
    finished: bool,
    rid: Option<StreamId>,
    got: Vec<u8>,
}

impl PacedUpload {
    fn step(&mut self, pair: &mut Pair, c: ConnectionHandle, s: ConnectionHandle, data: &[u8], allowed: usize) -> bool {
        let conn = pair.client.connection(c).expect("client connection");
        while self.written < allowed.min(data.len()) {
            match conn.write(self.id, &data[self.written..allowed.min(data.len())]) {
                Ok(n) if n > 0 => self.written += n,
                _ => break,
            }
        }
        if self.written == data.len() && !self.finished {
            conn.finish(self.id).expect("finish");
            self.finished = true;
        }
        let server = pair.server.connection(s).expect("server connection");
        if self.rid.is_none() {
            self.rid = server.accept_stream(Dir::Uni);
        }
        let Some(rid) = self.rid else { return false };
        loop {
            match server.read(rid, usize::MAX) {
                Ok(Some(chunk)) => self.got.extend_from_slice(&chunk.bytes),
                Ok(None) => return true,
                Err(_) => return false,
            }
        }
    }
}

fn chaos(seed: u64) -> (usize, u64) {
    let transport = TransportConfig { initial_max_path_id: Some(4), ..TransportConfig::default() };
    let (mut pair, c, s, _path) = two_paths(seed, transport, chaotic(), chaotic());
    let flappy = (second_addr(), pair.server_addr);
    let data = payload(seed, (RATE_BYTES_PER_SEC * FLAPPING.as_secs()) as usize);
    let id = pair.client.connection(c).unwrap().open_stream(Dir::Uni).unwrap();
    let mut upload = PacedUpload { id, written: 0, finished: false, rid: None, got: Vec::new() };
    let start = pair.now;
    let mut flaps = 0;
    let mut down = false;
    // Flapping: the second path is a black hole in every odd second.
    let flapped = pair.drive_until(FLAPPING, |p| {
        let elapsed = p.now.saturating_duration_since(start);
        let should_be_down = elapsed.as_secs() % 2 == 1;
        if should_be_down != down {
            down = should_be_down;
            flaps += 1;
            let link = if down { black_hole() } else { chaotic() };
            p.path_links.insert(flappy, (link, link));
        }
        assert_alive(p, seed);
        let allowed = (elapsed.as_millis() as u64 * RATE_BYTES_PER_SEC / 1000) as usize;
        upload.step(p, c, s, &data, allowed);
        false
    });
    assert!(!flapped);
    assert!(flaps >= 59, "seed {seed}: only {flaps} flaps");
    // Both paths chaotic but up: the rest must arrive.
    pair.path_links.insert(flappy, (chaotic(), chaotic()));
    let ok = pair.drive_until(Duration::from_secs(60), |p| {
        assert_alive(p, seed);
        upload.step(p, c, s, &data, data.len())
    });
    assert!(ok, "seed {seed}: transfer incomplete: {} of {} bytes", upload.got.len(), data.len());
    assert!(upload.got == data, "seed {seed}: the bytes read differ from the bytes written");
    assert!(!pair.client.connection(c).unwrap().is_closed() && !pair.server.connection(s).unwrap().is_closed());
    (flaps, pair.datagrams_sent)
}

#[test]
fn loss_reordering_duplication_and_a_flapping_path_over_20_seeds() {
    for seed in 0..SEEDS {
        let (flaps, datagrams) = chaos(7000 + seed);
        println!("seed {}: {flaps} flaps, {datagrams} datagrams, byte-exact", 7000 + seed);
    }
}
