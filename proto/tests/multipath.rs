//! Multipath (RFC 10069) over the in-memory network: two paths between
//! distinct client addresses and one server address.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::{bulk, payload, second_addr, Link, Pair};
use mpquic_cc::{
    AckedPacket, CongestionEvent, Controller, ControllerFactory, PathInfo, Paths, RttEstimates, SentPacket,
};
use mpquic_proto::{
    ConnectionError, ConnectionHandle, Dir, Event, Instant, PathEvent, PathId, TransportConfig, VarInt,
};

fn mp_config() -> TransportConfig {
    TransportConfig { initial_max_path_id: Some(4), ..TransportConfig::default() }
}

/// Connects with multipath on both sides, opens a second path and waits for its validation.
fn two_paths(seed: u64, primary: Link, secondary: Link) -> (Pair, ConnectionHandle, ConnectionHandle, PathId) {
    two_paths_with(seed, primary, secondary, mp_config())
}

/// [`two_paths`] with the client's transport configuration.
fn two_paths_with(
    seed: u64,
    primary: Link,
    secondary: Link,
    client: TransportConfig,
) -> (Pair, ConnectionHandle, ConnectionHandle, PathId) {
    common::two_paths_with(seed, mp_config(), client, primary, secondary)
}

#[test]
fn second_path_opens_and_validates() {
    let (mut pair, c, s, path) = two_paths(50, Link::default(), Link::default());
    assert_eq!(path, PathId(1));
    // The server validates the client's new address with its own PATH_CHALLENGE (RFC 9000 §8.2).
    pair.drive_until(Duration::from_millis(500), |_| false);
    let server_paths = pair.server.connection(s).unwrap().paths();
    assert_eq!(server_paths.len(), 2, "{server_paths:?}");
    assert!(server_paths.iter().all(|p| p.validated));
    assert_eq!(pair.client.connection(c).unwrap().paths().len(), 2);
}

#[test]
fn both_paths_carry_data_and_abandoning_one_loses_nothing() {
    let fast = Link { delay: Duration::from_millis(10), rate_bytes_per_sec: 6_250_000, ..Link::default() };
    let slow = Link { delay: Duration::from_millis(30), rate_bytes_per_sec: 2_500_000, ..Link::default() };
    let (mut pair, c, s, path) = two_paths(51, fast, slow);
    let data = payload(51, 20 << 20);
    let mut abandoned = false;
    let got = bulk(&mut pair, c, s, &data, Duration::from_secs(120), |p, received| {
        if !abandoned && received > 10 << 20 {
            let now = p.now;
            p.client.connection(c).unwrap().abandon_path(now, path, 0).unwrap();
            abandoned = true;
        }
    });
    assert!(got == data, "content differs");
    assert!(abandoned);
    let second = (second_addr(), pair.server_addr);
    let first = (pair.client_addr, pair.server_addr);
    assert!(pair.delivered[&first] > 1000 && pair.delivered[&second] > 1000, "both paths used: {:?}", pair.delivered);
    // The server echoed PATH_ABANDON and both sides forgot the path after 3 PTOs.
    pair.drive_until(Duration::from_secs(5), |_| false);
    assert_eq!(pair.client.connection(c).unwrap().paths().len(), 1);
    assert_eq!(pair.server.connection(s).unwrap().paths().len(), 1);
}

#[test]
fn aggregation_beats_the_faster_path_alone() {
    let fast = Link { delay: Duration::from_millis(10), rate_bytes_per_sec: 2_500_000, ..Link::default() };
    let slow = Link { delay: Duration::from_millis(30), rate_bytes_per_sec: 2_500_000, ..Link::default() };
    let data = payload(52, 10 << 20);
    let (mut pair, c, s, _) = two_paths(52, fast, slow);
    let start = pair.now;
    bulk(&mut pair, c, s, &data, Duration::from_secs(60), |_, _| {});
    let two = pair.now - start;
    // The same transfer on the fast path alone.
    let mut single = Pair::new(52, TransportConfig::default());
    single.to_server = fast;
    single.to_client = fast;
    let (c1, s1) = single.connect_default();
    let start = single.now;
    bulk(&mut single, c1, s1, &data, Duration::from_secs(60), |_, _| {});
    let one = single.now - start;
    assert!(two.as_secs_f64() < one.as_secs_f64() * 0.75, "two paths {two:?} vs one {one:?}");
}

/// The CoNEXT'17 handover test, reduced: paths of 10 Mbit/s with 15 ms and 25 ms RTT, a 750-byte
/// request and its response every 400 ms; the path carrying the traffic goes to 100% loss. The
/// longest request-to-response delay must stay below 200 ms.
#[test]
fn handover_keeps_request_response_delay_below_200ms() {
    let rate = 1_250_000;
    let fast = Link { delay: Duration::from_micros(7_500), rate_bytes_per_sec: rate, ..Link::default() };
    let slow = Link { delay: Duration::from_micros(12_500), rate_bytes_per_sec: rate, ..Link::default() };
    let (mut pair, c, s, _) = two_paths(53, fast, slow);
    let primary = (pair.client_addr, pair.server_addr);
    let mut worst = Duration::ZERO;
    let mut delays = Vec::new();
    for i in 0..15u64 {
        if i == 5 {
            // The primary path (the lowest RTT, so MinRTT's choice) becomes a black hole.
            let dead = Link { loss: 1.0, ..fast };
            pair.path_links.insert(primary, (dead, dead));
        }
        let sent_at = pair.now;
        let id = pair.client.connection(c).unwrap().open_stream(Dir::Bi).unwrap();
        let conn = pair.client.connection(c).unwrap();
        conn.write(id, &[i as u8; 750]).unwrap();
        conn.finish(id).unwrap();
        // Server: answer every complete request with 750 bytes; client: wait for the answer.
        let mut answered = false;
        let mut request = Vec::new();
        let mut response = Vec::new();
        let mut sid = None;
        let ok = pair.drive_until(Duration::from_secs(3), |p| {
            while p.server.poll_event().is_some() {}
            while p.client.poll_event().is_some() {}
            let server = p.server.connection(s).unwrap();
            if sid.is_none() {
                sid = server.accept_stream(Dir::Bi);
            }
            if let Some(sid) = sid {
                while let Ok(Some(chunk)) = server.read(sid, usize::MAX) {
                    request.extend_from_slice(&chunk.bytes);
                }
                if request.len() == 750 && !answered {
                    server.write(sid, &[0xee; 750]).unwrap();
                    server.finish(sid).unwrap();
                    answered = true;
                }
            }
            let client = p.client.connection(c).unwrap();
            loop {
                match client.read(id, usize::MAX) {
                    Ok(Some(chunk)) => response.extend_from_slice(&chunk.bytes),
                    Ok(None) => return true,
                    Err(_) => return false,
                }
            }
        });
        assert!(ok && response.len() == 750, "request {i} unanswered");
        let delay = pair.now - sent_at;
        delays.push(delay);
        worst = worst.max(delay);
        // Next request 400 ms after this one was sent.
        let next = sent_at + Duration::from_millis(400);
        let wait = next.saturating_duration_since(pair.now);
        pair.drive_until(wait, |_| false);
    }
    assert!(worst < Duration::from_millis(200), "worst request-response delay {worst:?}; all: {delays:?}");
}

/// Bulk failover, reduced: two paths (50 Mbit/s 20 ms, 20 Mbit/s 60 ms), the first becomes a
/// black hole midway; the transfer completes byte-exact without abandoning anything by hand, in
/// about the time the surviving path needs for the rest, with no long stall (virtual time).
#[test]
fn blackholed_path_fails_over_without_losing_data() {
    // Drop-tail queues of about one bandwidth-delay product, as in failover_bulk.toml: with
    // unbounded ones the surviving path's queue grows to a second of data, which the re-sent
    // data of the dead path must wait behind.
    let p1 = Link {
        delay: Duration::from_millis(10),
        rate_bytes_per_sec: 6_250_000,
        max_queue_delay: Some(Duration::from_millis(20)),
        ..Link::default()
    };
    let p2 = Link {
        delay: Duration::from_millis(30),
        rate_bytes_per_sec: 2_500_000,
        max_queue_delay: Some(Duration::from_millis(60)),
        ..Link::default()
    };
    let (mut pair, c, s, _) = two_paths(54, p1, p2);
    let data = payload(54, 8 << 20);
    let primary = (pair.client_addr, pair.server_addr);
    let mut cut_at = None;
    let (mut progress_at, mut progress, mut longest_gap) = (pair.now, 0, Duration::ZERO);
    let got = bulk(&mut pair, c, s, &data, Duration::from_secs(60), |p, received| {
        if received > progress {
            if cut_at.is_some() {
                longest_gap = longest_gap.max(p.now - progress_at);
            }
            (progress_at, progress) = (p.now, received);
        }
        if cut_at.is_none() && received > 3 << 20 {
            let dead = Link { loss: 1.0, ..p1 };
            p.path_links.insert(primary, (dead, dead));
            cut_at = Some(p.now);
        }
    });
    assert!(got == data);
    let after_cut = pair.now - cut_at.expect("the path was cut");
    eprintln!("after the cut: {after_cut:?} to finish, longest delivery gap {longest_gap:?}");
    // The rest (at most 5 MiB) needs 2.1 s at the surviving path's 2.5 MB/s.
    assert!(after_cut < Duration::from_secs(4), "{after_cut:?} after the cut to finish");
    // failover_bulk.toml's bound: 3 x the surviving path's RTT + 100 ms.
    assert!(longest_gap < Duration::from_millis(280), "delivery stalled for {longest_gap:?} after the cut");
}

/// The same protocol with the draft-13…-18 experimental code points (one version value).
#[test]
fn older_draft_code_points_work_end_to_end() {
    let old = || TransportConfig {
        initial_max_path_id: Some(4),
        multipath_version: mpquic_proto::MultipathVersion::Draft13To18,
        ..TransportConfig::default()
    };
    let mut pair = Pair::new(55, old());
    let cfg = pair.client_config(old());
    let (c, s) = pair.connect_with(cfg);
    let mut path = None;
    assert!(pair.drive_until(Duration::from_secs(5), |p| {
        let now = p.now;
        let server_addr = p.server_addr;
        path = path.or_else(|| p.client.connection(c).unwrap().open_path(now, Some(second_addr()), server_addr).ok());
        path.is_some()
    }));
    let data = payload(55, 2 << 20);
    let got = bulk(&mut pair, c, s, &data, Duration::from_secs(30), |_, _| {});
    assert!(got == data);
    assert!(pair.delivered.get(&(second_addr(), pair.server_addr)).is_some_and(|n| *n > 10));
    // A peer on the other draft does not negotiate multipath at all.
    let mut mixed = Pair::new(56, mp_config());
    let cfg = mixed.client_config(old());
    let (c, _) = mixed.connect_with(cfg);
    assert!(!mixed.client.connection(c).unwrap().is_multipath());
}

/// ICMP "unreachable" for one path of several marks it potentially failed at once.
#[test]
fn icmp_unreachable_marks_a_path_failed() {
    let (mut pair, c, _s, path) = two_paths(57, Link::default(), Link::default());
    let now = pair.now;
    let server = pair.server_addr;
    let conn = pair.client.connection(c).unwrap();
    // Both paths go to the same server address here: both are reported, and one must remain
    // usable, so only the first is marked.
    conn.handle_icmp(now, server, mpquic_proto::IcmpError::Unreachable);
    let failed = conn.paths().iter().filter(|p| p.potentially_failed).count();
    assert_eq!(failed, 1, "{:?}", conn.paths());
    let mut events = Vec::new();
    while let Some((_, e)) = pair.client.poll_event() {
        events.push(e);
    }
    assert!(events.iter().any(|e| matches!(e, Event::Path(PathEvent::PotentiallyFailed(_)))), "{events:?}");
    let _ = path;
}

/// What the client's recording controllers saw (see [`Recording`]).
#[derive(Debug, Default)]
struct Seen {
    /// Each path's (window, ℓ) after its controller's latest hook.
    published: BTreeMap<PathId, (u64, Option<u64>)>,
    /// Hook calls with a view of the paths: (own path, `this_path` of the view, active paths in
    /// the view, the other active paths' snapshots all matched what their controllers published).
    views: Vec<(PathId, PathId, usize, bool)>,
}

/// A real coupled controller (LIA) that checks, at every hook with a [`Paths`] view, that the
/// other paths' snapshots are their controllers' current window and loss interval.
#[derive(Debug)]
struct Recording {
    path: PathId,
    inner: Box<dyn Controller>,
    seen: Arc<Mutex<Seen>>,
}

impl Recording {
    fn check(&self, paths: Paths<'_>) {
        let mut seen = self.seen.lock().unwrap();
        let others_match = paths
            .active()
            .filter(|p| p.path_id != self.path)
            .all(|p| seen.published.get(&p.path_id) == Some(&(p.window, Some(p.bytes_acked_since_loss))));
        let active = paths.active().count();
        seen.views.push((self.path, paths.this_path, active, others_match));
    }

    fn publish(&self) {
        let state = (self.inner.window(), self.inner.loss_interval_bytes());
        self.seen.lock().unwrap().published.insert(self.path, state);
    }
}

impl Controller for Recording {
    fn on_packet_sent(&mut self, now: Instant, packet: &SentPacket) {
        self.inner.on_packet_sent(now, packet);
        self.publish();
    }

    fn on_ack(&mut self, now: Instant, acked: &[AckedPacket], rtt: &RttEstimates, paths: Paths<'_>) {
        self.check(paths);
        self.inner.on_ack(now, acked, rtt, paths);
        self.publish();
    }

    fn on_congestion_event(&mut self, now: Instant, event: &CongestionEvent, rtt: &RttEstimates, paths: Paths<'_>) {
        self.check(paths);
        self.inner.on_congestion_event(now, event, rtt, paths);
        self.publish();
    }

    fn on_persistent_congestion(&mut self, now: Instant, rtt: &RttEstimates) {
        self.inner.on_persistent_congestion(now, rtt);
        self.publish();
    }

    fn on_spurious_congestion(&mut self, now: Instant) {
        self.inner.on_spurious_congestion(now);
        self.publish();
    }

    fn on_mtu_update(&mut self, max_datagram_size: u64) {
        self.inner.on_mtu_update(max_datagram_size);
        self.publish();
    }

    fn on_app_limited(&mut self, now: Instant, bytes_in_flight: u64) {
        self.inner.on_app_limited(now, bytes_in_flight);
        self.publish();
    }

    fn window(&self) -> u64 {
        self.inner.window()
    }

    fn loss_interval_bytes(&self) -> Option<u64> {
        self.inner.loss_interval_bytes()
    }
}

#[derive(Debug, Default)]
struct RecordingFactory {
    seen: Arc<Mutex<Seen>>,
}

impl ControllerFactory for RecordingFactory {
    fn build(&self, now: Instant, path: PathInfo) -> Box<dyn Controller> {
        let inner = mpquic_cc::Lia::factory().build(now, path);
        let cc = Recording { path: path.path_id, inner, seen: self.seen.clone() };
        cc.publish();
        Box::new(cc)
    }

    fn name(&self) -> &str {
        "recording-lia"
    }
}

/// Coupled congestion control is wired per path (issue 4): every path of the sender has its own
/// controller, and each hook's view shows the other validated paths with their controllers'
/// current window and OLIA loss interval.
#[test]
fn coupled_controllers_see_every_paths_current_state() {
    let factory = Arc::new(RecordingFactory::default());
    let seen = factory.seen.clone();
    let client = TransportConfig { congestion_controller_factory: factory, ..mp_config() };
    let fast = Link { delay: Duration::from_millis(10), rate_bytes_per_sec: 2_500_000, loss: 0.005, ..Link::default() };
    let slow = Link { delay: Duration::from_millis(20), rate_bytes_per_sec: 1_250_000, loss: 0.005, ..Link::default() };
    let (mut pair, c, s, path) = two_paths_with(58, fast, slow, client);
    let data = payload(58, 4 << 20);
    let got = bulk(&mut pair, c, s, &data, Duration::from_secs(60), |_, _| {});
    assert!(got == data);
    let seen = seen.lock().unwrap();
    assert!(seen.views.iter().all(|&(own, this, _, _)| own == this), "a hook got another path's view");
    let mismatched: Vec<_> = seen.views.iter().filter(|v| !v.3).collect();
    assert!(mismatched.is_empty(), "stale snapshots: {mismatched:?}");
    for p in [PathId::ZERO, path] {
        let both = seen.views.iter().filter(|&&(own, _, active, _)| own == p && active == 2).count();
        assert!(both > 100, "path {p}: {both} hook calls saw both paths");
    }
}

/// Closes client connection `c` and returns the error the server reports, if it learns of the
/// close within `within` (its idle timeout is 30 s, so it only learns in time from the
/// CONNECTION_CLOSE itself).
fn server_learns_of_close(pair: &mut Pair, c: ConnectionHandle, within: Duration) -> Option<ConnectionError> {
    let now = pair.now;
    pair.client.connection(c).unwrap().close(now, VarInt::from_u32(7), Bytes::from_static(b"bye"));
    let mut lost = None;
    pair.drive_until(within, |p| {
        while let Some((_, e)) = p.server.poll_event() {
            if let Event::ConnectionLost(error) = e {
                lost = Some(error);
            }
        }
        lost.is_some()
    });
    lost
}

fn is_our_close(e: &Option<ConnectionError>) -> bool {
    matches!(e, Some(ConnectionError::ApplicationClosed { code: 7, .. }))
}

/// RFC 10069 §3.4: CONNECTION_CLOSE can go on any open path. After path 0
/// is abandoned (its CIDs retired) the close still reaches the peer, on the path that is left.
#[test]
fn close_reaches_the_peer_after_path_zero_is_abandoned() {
    let (mut pair, c, _s, path) = two_paths(58, Link::default(), Link::default());
    assert_eq!(path, PathId(1));
    let now = pair.now;
    pair.client.connection(c).unwrap().abandon_path(now, PathId(0), 0).unwrap();
    pair.drive_until(Duration::from_secs(2), |_| false);
    // Path 0 is forgotten by now (3 PTOs); the peer's address is path 1's.
    let client = pair.client.connection(c).unwrap();
    assert!(client.path(PathId(0)).is_none(), "path 0 still kept");
    assert_eq!(client.remote_address(), pair.server_addr);
    let lost = server_learns_of_close(&mut pair, c, Duration::from_secs(2));
    assert!(is_our_close(&lost), "server: {lost:?}");
}

/// The close avoids a path that is potentially failed: with path 0 black-holed and marked
/// failed, it goes on path 1 and the server learns of it at once.
#[test]
fn close_avoids_a_failed_path() {
    let (mut pair, c, s, _) = two_paths(59, Link::default(), Link::default());
    let primary = (pair.client_addr, pair.server_addr);
    let dead = Link { loss: 1.0, ..Link::default() };
    pair.path_links.insert(primary, (dead, dead));
    // Data on the connection, so that path 0's silence is noticed.
    let mut upload = common::Upload::start(&mut pair, c);
    let data = payload(59, 1 << 20);
    let mut failed = false;
    let ok = pair.drive_until(Duration::from_secs(5), |p| {
        upload.step(p, c, s, &data);
        while let Some((_, e)) = p.client.poll_event() {
            if e == Event::Path(PathEvent::PotentiallyFailed(PathId(0))) {
                failed = true;
            }
        }
        failed
    });
    assert!(ok, "path 0 was not marked failed");
    let lost = server_learns_of_close(&mut pair, c, Duration::from_secs(2));
    assert!(is_our_close(&lost), "server: {lost:?}");
}
