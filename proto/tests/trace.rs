//! The tracing hook (`mpquic_proto::trace`): a recording tracer over the in-memory network checks
//! that the events agree with the connection's own counters, carry the right path IDs, and
//! decode the frames that were really sent.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{payload, two_paths, Link, Pair, Upload};
use mpquic_proto::trace::Frame;
use mpquic_proto::trace::PacketType;
use mpquic_proto::trace::{ConnectionStateTrace, PathTrace, TraceEvent, TraceInfo, Tracer, TracerFactory};
use mpquic_proto::{Instant, PathEvent, PathId, Side, TransportConfig};

/// An owned copy of the parts of an event the tests look at.
#[derive(Debug, Clone, PartialEq)]
enum Rec {
    Started,
    Params { local: bool },
    State(ConnectionStateTrace),
    Closed { local: bool },
    Sent { path: PathId, ty: PacketType, pn: u64, len: u64, frames: Vec<Frame> },
    Received { path: PathId, ty: PacketType, pn: u64, frames: Vec<Frame> },
    Dropped,
    Lost { path: PathId, pn: u64 },
    Metrics { path: PathId, cwnd: u64, srtt: Duration },
    Key { local: bool, generation: u64 },
    Mtu { path: PathId, new: u16 },
    Path { path: PathId, what: PathTrace },
}

type Log = Arc<Mutex<Vec<(Side, Instant, Rec)>>>;

#[derive(Debug)]
struct Recorder {
    side: Side,
    packets: bool,
    log: Log,
}

impl Tracer for Recorder {
    fn wants_packets(&self) -> bool {
        self.packets
    }

    fn event(&mut self, now: Instant, event: &TraceEvent<'_>) {
        let rec = match event {
            TraceEvent::ConnectionStarted { .. } => Rec::Started,
            TraceEvent::ParametersSet { local, .. } => Rec::Params { local: *local },
            TraceEvent::ConnectionStateUpdated(s) => Rec::State(*s),
            TraceEvent::ConnectionClosed { local, .. } => Rec::Closed { local: *local },
            TraceEvent::PacketSent { path, header, frames } => Rec::Sent {
                path: *path,
                ty: header.packet_type,
                pn: header.packet_number,
                len: header.length,
                frames: frames.to_vec(),
            },
            TraceEvent::PacketReceived { path, header, frames } => {
                Rec::Received { path: *path, ty: header.packet_type, pn: header.packet_number, frames: frames.to_vec() }
            }
            TraceEvent::PacketDropped { .. } => Rec::Dropped,
            TraceEvent::PacketLost { path, packet_number, .. } => Rec::Lost { path: *path, pn: *packet_number },
            TraceEvent::MetricsUpdated { path, metrics } => {
                Rec::Metrics { path: *path, cwnd: metrics.congestion_window, srtt: metrics.smoothed_rtt }
            }
            TraceEvent::KeyUpdated { local, generation } => Rec::Key { local: *local, generation: *generation },
            TraceEvent::MtuUpdated { path, new, .. } => Rec::Mtu { path: *path, new: *new },
            TraceEvent::Path { path, what, .. } => Rec::Path { path: *path, what: what.clone() },
        };
        self.log.lock().unwrap().push((self.side, now, rec));
    }
}

#[derive(Debug)]
struct RecorderFactory {
    packets: bool,
    log: Log,
}

impl TracerFactory for RecorderFactory {
    fn tracer(&self, info: &TraceInfo) -> Option<Box<dyn Tracer>> {
        Some(Box::new(Recorder { side: info.side, packets: self.packets, log: self.log.clone() }))
    }
}

fn traced(mut t: TransportConfig, packets: bool) -> (TransportConfig, Log) {
    let log = Log::default();
    t.tracer_factory = Some(Arc::new(RecorderFactory { packets, log: log.clone() }));
    (t, log)
}

fn of(log: &Log, side: Side) -> Vec<(Instant, Rec)> {
    log.lock().unwrap().iter().filter(|(s, ..)| *s == side).map(|(_, t, r)| (*t, r.clone())).collect()
}

fn upload(pair: &mut Pair, c: mpquic_proto::ConnectionHandle, s: mpquic_proto::ConnectionHandle, data: &[u8]) {
    let mut up = Upload::start(pair, c);
    let ok = pair.drive_until(Duration::from_secs(60), |p| up.step(p, c, s, data));
    assert!(ok && up.got == data, "upload incomplete: {} of {} bytes", up.got.len(), data.len());
}

/// Counts the events of one kind.
fn count(recs: &[(Instant, Rec)], f: impl Fn(&Rec) -> bool) -> u64 {
    recs.iter().filter(|(_, r)| f(r)).count() as u64
}

#[test]
fn trace_of_a_lossy_transfer_matches_the_connection_counters() {
    let (transport, log) = traced(TransportConfig::default(), true);
    let mut pair = Pair::new(7, transport.clone());
    let cfg = pair.client_config(transport);
    let (c, s) = pair.connect_with(cfg);
    pair.to_server = Link::lossy(0.03);
    pair.to_client = Link::lossy(0.03);
    let data = payload(7, 2 << 20);
    upload(&mut pair, c, s, &data[..1 << 20]);
    assert!(pair.client.connection(c).unwrap().force_key_update());
    upload(&mut pair, c, s, &data[1 << 20..]);
    // Packets: one event per packet, as the path counters count them.
    let stats = pair.client.connection_ref(c).unwrap().paths()[0].stats;
    let before_close = of(&log, Side::Client);
    assert_eq!(count(&before_close, |r| matches!(r, Rec::Sent { .. })), stats.packets_sent);
    assert_eq!(count(&before_close, |r| matches!(r, Rec::Received { .. })), stats.packets_received);
    assert_eq!(count(&before_close, |r| matches!(r, Rec::Lost { .. })), stats.packets_lost);
    assert!(stats.packets_lost > 0, "3% loss but no packet lost");
    let now = pair.now;
    pair.client.connection(c).unwrap().close(now, 0u32.into(), bytes::Bytes::new());
    pair.drive_until(Duration::from_secs(5), |_| false);

    let client = of(&log, Side::Client);
    let server = of(&log, Side::Server);
    // The life cycle, in order.
    assert_eq!(client[0].1, Rec::Started);
    assert_eq!(client[1].1, Rec::Params { local: true });
    let states: Vec<_> =
        client.iter().filter_map(|(_, r)| if let Rec::State(s) = r { Some(*s) } else { None }).collect();
    assert_eq!(
        states,
        [
            ConnectionStateTrace::HandshakeCompleted,
            ConnectionStateTrace::HandshakeConfirmed,
            ConnectionStateTrace::Closing,
            ConnectionStateTrace::Closed
        ]
    );
    assert_eq!(count(&client, |r| *r == Rec::Params { local: false }), 1);
    assert_eq!(count(&client, |r| *r == Rec::Closed { local: true }), 1);
    assert_eq!(count(&server, |r| *r == Rec::Closed { local: false }), 1);
    assert!(server.iter().any(|(_, r)| *r == Rec::State(ConnectionStateTrace::Draining)));
    // Times never go backwards.
    assert!(client.windows(2).all(|w| w[0].0 <= w[1].0));

    // The CONNECTION_CLOSE packet is traced too.
    assert!(client.iter().any(|(_, r)| matches!(r, Rec::Sent { frames, .. }
        if frames.iter().any(|f| matches!(f, Frame::ApplicationClose(_))))));
    // Every packet number is traced once per space, increasing.
    let one_rtt: Vec<u64> = client
        .iter()
        .filter_map(|(_, r)| matches!(r, Rec::Sent { ty: PacketType::OneRtt, .. }).then_some(r))
        .map(|r| match r {
            Rec::Sent { pn, .. } => *pn,
            _ => unreachable!(),
        })
        .collect();
    assert!(one_rtt.windows(2).all(|w| w[0] < w[1]), "1-RTT packet numbers not increasing");
    // The frames are the ones that were sent: the server received every byte in STREAM frames,
    // and the client's traced STREAM frames cover the upload (with retransmissions, more).
    let stream_bytes = |recs: &[(Instant, Rec)], sent: bool| -> usize {
        recs.iter()
            .flat_map(|(_, r)| match r {
                Rec::Sent { frames, .. } if sent => frames.as_slice(),
                Rec::Received { frames, .. } if !sent => frames.as_slice(),
                _ => &[],
            })
            .map(|f| if let Frame::Stream(s) = f { s.data.len() } else { 0 })
            .sum()
    };
    assert!(stream_bytes(&client, true) >= data.len());
    assert!(stream_bytes(&server, false) >= data.len());
    // Initial packets are padded to 1200 bytes (RFC 9000 §14.1), and the trace says so.
    let first_initial = client.iter().find_map(|(_, r)| match r {
        Rec::Sent { ty: PacketType::Initial, len, frames, .. } => Some((*len, frames.clone())),
        _ => None,
    });
    let (len, frames) = first_initial.expect("an Initial was sent");
    assert!(len >= 1200, "first Initial of {len} bytes");
    assert!(matches!(frames[0], Frame::Crypto(_)), "{frames:?}");
    // Recovery metrics follow the acknowledgements; the RTT is the link's 2 x 10 ms or more.
    let last_srtt = client.iter().rev().find_map(|(_, r)| match r {
        Rec::Metrics { srtt, cwnd, .. } => Some((*srtt, *cwnd)),
        _ => None,
    });
    let (srtt, cwnd) = last_srtt.expect("metrics");
    assert!(srtt >= Duration::from_millis(20) && cwnd >= 2400, "srtt {srtt:?}, cwnd {cwnd}");
    // The key update: ours on the client, the peer's on the server.
    assert_eq!(count(&client, |r| *r == Rec::Key { local: true, generation: 1 }), 1);
    assert_eq!(count(&server, |r| *r == Rec::Key { local: false, generation: 1 }), 1);
    // DPLPMTUD grew the path beyond 1200 bytes.
    assert!(client.iter().any(|(_, r)| matches!(r, Rec::Mtu { new, .. } if *new > 1200)));
}

#[test]
fn multipath_events_carry_their_path_id() {
    let mp = TransportConfig { initial_max_path_id: Some(4), ..TransportConfig::default() };
    let (transport, log) = traced(mp, true);
    let (mut pair, c, s, path) = two_paths(8, transport, Link::default(), Link::default());
    upload(&mut pair, c, s, &payload(8, 1 << 20));
    let now = pair.now;
    pair.client.connection(c).unwrap().abandon_path(now, path, 0).unwrap();
    pair.drive_until(Duration::from_secs(2), |_| false);

    let client = of(&log, Side::Client);
    let server = of(&log, Side::Server);
    let life = |recs: &[(Instant, Rec)]| -> Vec<PathTrace> {
        recs.iter()
            .filter_map(
                |(_, r)| if let Rec::Path { path: p, what } = r { (*p == path).then(|| what.clone()) } else { None },
            )
            .collect()
    };
    assert_eq!(
        life(&client),
        [
            PathTrace::Created,
            PathTrace::Event(PathEvent::Opened(path)),
            PathTrace::Event(PathEvent::Validated(path)),
            PathTrace::Event(PathEvent::Abandoned(path))
        ]
    );
    let server_life = life(&server);
    assert_eq!(server_life.first(), Some(&PathTrace::Created), "{server_life:?}");
    assert!(server_life.contains(&PathTrace::Event(PathEvent::Abandoned(path))), "{server_life:?}");
    // Packets on the second path are traced with its path ID, as the path's counter counts them.
    let on_second = |recs: &[(Instant, Rec)]| count(recs, |r| matches!(r, Rec::Sent { path: p, .. } if *p == path));
    assert!(on_second(&client) > 10, "client sent {} packets on path {path}", on_second(&client));
    assert!(count(&server, |r| matches!(r, Rec::Received { path: p, .. } if *p == path)) > 10);
    // PATH_ACK frames name the path they acknowledge; the server acknowledges both paths.
    let acked_paths: std::collections::BTreeSet<PathId> = server
        .iter()
        .flat_map(|(_, r)| match r {
            Rec::Sent { frames, .. } => frames.as_slice(),
            _ => &[],
        })
        .filter_map(|f| if let Frame::PathAck(a) = f { Some(a.path_id) } else { None })
        .collect();
    assert!(acked_paths.contains(&PathId::ZERO) && acked_paths.contains(&path), "{acked_paths:?}");
    // Metrics exist per path.
    assert!(client.iter().any(|(_, r)| matches!(r, Rec::Metrics { path: p, .. } if *p == path)));
    // The PATH_ABANDON the client sent is in its trace.
    assert!(client.iter().any(|(_, r)| matches!(r, Rec::Sent { frames, .. }
        if frames.iter().any(|f| matches!(f, Frame::PathAbandon(a) if a.path_id == path)))));
}

#[test]
fn a_tracer_can_decline_packet_events() {
    let (transport, log) = traced(TransportConfig::default(), false);
    let mut pair = Pair::new(9, transport.clone());
    let cfg = pair.client_config(transport);
    let (c, s) = pair.connect_with(cfg);
    upload(&mut pair, c, s, &payload(9, 200_000));
    let client = of(&log, Side::Client);
    assert_eq!(count(&client, |r| matches!(r, Rec::Sent { .. } | Rec::Received { .. })), 0);
    assert!(count(&client, |r| matches!(r, Rec::Metrics { .. })) > 0);
    assert!(client.iter().any(|(_, r)| *r == Rec::State(ConnectionStateTrace::HandshakeConfirmed)));
}

#[test]
fn without_a_factory_nothing_is_traced_and_the_transfer_is_the_same() {
    // The same seeded run with and without a tracer sends the same packets: tracing observes,
    // it never changes behaviour.
    let run = |t: TransportConfig| {
        let mut pair = Pair::new(10, t.clone());
        let cfg = pair.client_config(t);
        let (c, s) = pair.connect_with(cfg);
        pair.to_server = Link::lossy(0.02);
        upload(&mut pair, c, s, &payload(10, 500_000));
        (pair.now, pair.datagrams_sent)
    };
    let (traced_config, log) = traced(TransportConfig::default(), true);
    assert_eq!(run(TransportConfig::default()), run(traced_config));
    assert!(!log.lock().unwrap().is_empty());
}

#[test]
fn flow_control_credit_travels_on_every_path() {
    // Multipath: MAX_DATA / MAX_STREAM_DATA go on every working path, so that a path that fails
    // silently cannot strand the peer's credit (the sender would stall with a working path).
    let mp = TransportConfig {
        initial_max_path_id: Some(4),
        receive_window: 256 << 10,
        stream_receive_window: 128 << 10,
        ..TransportConfig::default()
    };
    let (transport, log) = traced(mp, true);
    let (mut pair, c, s, _) = two_paths(11, transport, Link::default(), Link::default());
    assert!(pair.drive_until(Duration::from_secs(5), |p| {
        p.server.connection_ref(s).is_some_and(|conn| conn.paths().iter().all(|p| p.validated))
    }));
    upload(&mut pair, c, s, &payload(11, 3 << 20));
    // The server (the receiver) sends each MAX_DATA value on both paths.
    let mut paths_of: std::collections::BTreeMap<u64, std::collections::BTreeSet<PathId>> = Default::default();
    for (_, r) in of(&log, Side::Server) {
        if let Rec::Sent { path, frames, .. } = r {
            for f in frames {
                if let Frame::MaxData(max) = f {
                    paths_of.entry(max).or_default().insert(path);
                }
            }
        }
    }
    assert!(paths_of.len() >= 3, "a 3 MB upload through a 256 KB window needs credit updates: {paths_of:?}");
    assert!(paths_of.values().all(|p| p.len() == 2), "every MAX_DATA value on both paths: {paths_of:?}");
}

/// RFC 9000 §8.2.2: a datagram carrying PATH_RESPONSE is expanded to at least 1200 bytes, as
/// one carrying PATH_CHALLENGE is (§8.2.1), when the anti-amplification limit allows it. Both
/// sides answer a challenge when the second path is validated.
#[test]
fn path_response_datagrams_are_expanded_to_1200_bytes() {
    let mp = TransportConfig { initial_max_path_id: Some(2), ..TransportConfig::default() };
    let (transport, log) = traced(mp, true);
    let _ = two_paths(12, transport, Link::default(), Link::default());
    let responses: Vec<(Side, u64)> = log
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(side, _, r)| match r {
            Rec::Sent { len, frames, .. } if frames.iter().any(|f| matches!(f, Frame::PathResponse(_))) => {
                Some((*side, *len))
            }
            _ => None,
        })
        .collect();
    for side in [Side::Client, Side::Server] {
        assert!(responses.iter().any(|(s, _)| *s == side), "{side:?} sent no PATH_RESPONSE: {responses:?}");
    }
    assert!(responses.iter().all(|&(_, len)| len >= 1200), "{responses:?}");
}
