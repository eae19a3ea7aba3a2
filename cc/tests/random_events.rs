//! Random event sequences against every controller: the window never drops below its minimum,
//! nothing overflows, nothing panics.

use core::time::Duration;

use mpquic_cc::{
    factory_by_name, minimum_window, AckedPacket, CongestionEvent, Instant, PathId, PathInfo, PathSnapshot, Paths,
    RttEstimates, SentPacket, CONTROLLER_NAMES,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Event {
    Send { count: u8, app_limited: bool },
    Ack { count: u8, rtt_ms: u16 },
    Loss { bytes: u32, ecn: bool },
    Persistent,
    Spurious,
    Mtu(u16),
    AppLimited,
    Advance(u32),
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        4 => (1u8..40, any::<bool>()).prop_map(|(count, app_limited)| Event::Send { count, app_limited }),
        4 => (1u8..40, 0u16..2000).prop_map(|(count, rtt_ms)| Event::Ack { count, rtt_ms }),
        2 => (0u32..200_000, any::<bool>()).prop_map(|(bytes, ecn)| Event::Loss { bytes, ecn }),
        1 => Just(Event::Persistent),
        1 => Just(Event::Spurious),
        1 => (1u16..u16::MAX).prop_map(Event::Mtu),
        1 => Just(Event::AppLimited),
        3 => (0u32..u32::MAX).prop_map(Event::Advance),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_events_keep_windows_sane(
        which in 0..CONTROLLER_NAMES.len(),
        events in proptest::collection::vec(event(), 1..300),
        other_window in 0u64..10_000_000,
        other_rtt_us in 0u64..5_000_000,
        other_mds in 0u64..20_000,
    ) {
        let factory = factory_by_name(CONTROLLER_NAMES[which]).unwrap();
        let mut mds = 1200u64;
        let mut now = Instant::from_nanos(1);
        let mut cc = factory.build(now, PathInfo { path_id: PathId(0), max_datagram_size: mds });
        let mut sent: std::collections::VecDeque<AckedPacket> = Default::default();
        let mut next_pn = 0u64;
        let mut in_flight = 0u64;
        for ev in events {
            let snaps = [
                PathSnapshot {
                    path_id: PathId(0), window: cc.window(), smoothed_rtt: Duration::from_millis(50),
                    bytes_in_flight: in_flight, max_datagram_size: mds, bytes_acked: 0,
                    bytes_acked_since_loss: cc.loss_interval_bytes().unwrap_or(0), active: true,
                },
                PathSnapshot {
                    path_id: PathId(1), window: other_window, smoothed_rtt: Duration::from_micros(other_rtt_us),
                    bytes_in_flight: 0, max_datagram_size: other_mds, bytes_acked: 0,
                    bytes_acked_since_loss: other_window / 3, active: true,
                },
            ];
            let paths = Paths { paths: &snaps, this_path: PathId(0) };
            match ev {
                Event::Send { count, app_limited } => {
                    for _ in 0..count {
                        in_flight += mds;
                        cc.on_packet_sent(now, &SentPacket { packet_number: next_pn, bytes: mds, bytes_in_flight: in_flight, app_limited });
                        sent.push_back(AckedPacket { packet_number: next_pn, bytes: mds, time_sent: now });
                        next_pn += 1;
                    }
                }
                Event::Ack { count, rtt_ms } => {
                    let n = (count as usize).min(sent.len());
                    let acked: Vec<AckedPacket> = sent.drain(..n).collect();
                    in_flight -= acked.iter().map(|p| p.bytes).sum::<u64>();
                    let rtt = RttEstimates { latest: Duration::from_millis(rtt_ms.into()), ..RttEstimates::initial(Duration::from_millis(rtt_ms.into())) };
                    cc.on_ack(now, &acked, &rtt, paths);
                }
                Event::Loss { bytes, ecn } => {
                    let sent_time = sent.front().map_or(now, |p| p.time_sent);
                    let count = if ecn { 0 } else { (bytes as usize / 1200).min(sent.len()) };
                    let lost: u64 = sent.drain(..count).map(|p| p.bytes).sum();
                    in_flight -= lost;
                    let ev = CongestionEvent { sent_time, lost_bytes: lost, ecn, bytes_in_flight: in_flight };
                    cc.on_congestion_event(now, &ev, &RttEstimates::initial(Duration::from_millis(30)), paths);
                }
                Event::Persistent => cc.on_persistent_congestion(now, &RttEstimates::initial(Duration::from_millis(30))),
                Event::Spurious => cc.on_spurious_congestion(now),
                Event::Mtu(m) => {
                    mds = u64::from(m).max(1200);
                    cc.on_mtu_update(mds);
                }
                Event::AppLimited => cc.on_app_limited(now, in_flight),
                Event::Advance(ns) => now += Duration::from_nanos(u64::from(ns)),
            }
            let w = cc.window();
            prop_assert!(w >= minimum_window(mds), "{}: window {} below minimum {}", factory.name(), w, minimum_window(mds));
            prop_assert!(w < u64::MAX / 4, "{}: window overflowed: {}", factory.name(), w);
            let m = cc.metrics();
            prop_assert_eq!(m.window, w);
            prop_assert!(!m.state.is_empty());
        }
    }
}
