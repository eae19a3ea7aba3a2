//! Behaviour of [`PathRecovery`] across its parts: loss detection, PTO, persistent congestion,
//! ECN and the calls it makes into the congestion controller.

// Lists of ACK ranges with a single range are meant as such.
#![allow(clippy::single_range_in_vec_init)]

use std::sync::{Arc, Mutex};

use core::ops::Range;
use core::time::Duration;

use mpquic_cc::{AckedPacket, CongestionEvent, Controller, Paths, RttEstimates};
use proptest::prelude::*;

use super::*;
use crate::{EcnCounts, TransportErrorCode};

#[derive(Debug, Clone, PartialEq)]
enum Call {
    Sent(u64),
    Ack(Vec<u64>),
    Congestion { sent_time: Instant, lost_bytes: u64, ecn: bool },
    Persistent,
    Spurious,
    IdleRestart { at: Instant, window: u64 },
}

#[derive(Debug, Clone)]
struct Recorder {
    log: Arc<Mutex<Vec<Call>>>,
    window: u64,
}

impl Controller for Recorder {
    fn on_packet_sent(&mut self, _now: Instant, packet: &mpquic_cc::SentPacket) {
        self.log.lock().unwrap().push(Call::Sent(packet.packet_number));
    }
    fn on_restart_after_idle(&mut self, now: Instant, restart_window: u64) {
        self.log.lock().unwrap().push(Call::IdleRestart { at: now, window: restart_window });
    }
    fn on_ack(&mut self, _now: Instant, acked: &[AckedPacket], _rtt: &RttEstimates, _paths: Paths<'_>) {
        self.log.lock().unwrap().push(Call::Ack(acked.iter().map(|p| p.packet_number).collect()));
    }
    fn on_congestion_event(&mut self, _now: Instant, e: &CongestionEvent, _rtt: &RttEstimates, _paths: Paths<'_>) {
        self.log.lock().unwrap().push(Call::Congestion {
            sent_time: e.sent_time,
            lost_bytes: e.lost_bytes,
            ecn: e.ecn,
        });
    }
    fn on_persistent_congestion(&mut self, _now: Instant, _rtt: &RttEstimates) {
        self.log.lock().unwrap().push(Call::Persistent);
    }
    fn on_spurious_congestion(&mut self, _now: Instant) {
        self.log.lock().unwrap().push(Call::Spurious);
    }
    fn on_mtu_update(&mut self, _max_datagram_size: u64) {}
    fn window(&self) -> u64 {
        self.window
    }
}

struct Harness {
    r: PathRecovery<u64>,
    log: Arc<Mutex<Vec<Call>>>,
    out: RecoveryOutput<u64>,
}

fn ms(x: u64) -> Duration {
    Duration::from_millis(x)
}

fn at(millis: u64) -> Instant {
    Instant::from_nanos(millis * 1_000_000)
}

impl Harness {
    fn new(kind: PathKind) -> Self {
        let config = RecoveryConfig { ecn: false, ..RecoveryConfig::default() };
        Self::with_config(kind, config)
    }

    fn with_config(kind: PathKind, config: RecoveryConfig) -> Self {
        let log = Arc::new(Mutex::new(Vec::new()));
        let cc = Recorder { log: log.clone(), window: 1_000_000 };
        Self { r: PathRecovery::new(PathId(0), kind, config, Box::new(cc)), log, out: RecoveryOutput::default() }
    }

    fn send_in(&mut self, space: SpaceId, now: Instant, pn: u64, ack_eliciting: bool) {
        let ecn = self.r.ecn_codepoint();
        let p = SentPacket {
            packet_number: pn,
            time_sent: now,
            size: 1000,
            ack_eliciting,
            in_flight: ack_eliciting,
            largest_acked: None,
            ecn,
            mtu_probe: false,
            frames: pn,
        };
        self.r.on_packet_sent(now, space, p, false).unwrap();
    }

    /// Sends a DPLPMTUD probe of 1452 bytes in the application space.
    fn send_mtu_probe(&mut self, now: Instant, pn: u64) {
        let p = SentPacket {
            packet_number: pn,
            time_sent: now,
            size: 1452,
            ack_eliciting: true,
            in_flight: true,
            largest_acked: None,
            ecn: None,
            mtu_probe: true,
            frames: pn,
        };
        self.r.on_packet_sent(now, SpaceId::Data, p, false).unwrap();
    }

    fn send(&mut self, now: Instant, pn: u64) {
        self.send_in(SpaceId::Data, now, pn, true);
    }

    fn ack_in(&mut self, space: SpaceId, now: Instant, ranges: &[Range<u64>], ecn: Option<EcnCounts>) -> AckSummary {
        self.out.clear();
        self.r.on_ack_received(now, space, ranges.iter().cloned(), ms(0), ecn, None, &mut self.out).unwrap()
    }

    fn ack(&mut self, now: Instant, ranges: &[Range<u64>]) -> AckSummary {
        self.ack_in(SpaceId::Data, now, ranges, None)
    }

    fn acked(&self) -> Vec<u64> {
        self.out.acked.iter().map(|p| p.frames).collect()
    }

    fn lost(&self) -> Vec<u64> {
        self.out.lost.iter().map(|p| p.frames).collect()
    }

    fn calls(&self) -> Vec<Call> {
        core::mem::take(&mut *self.log.lock().unwrap())
    }
}

/// RFC 5681 §4.1 with `restart_after_idle`: sending after more than a PTO with nothing in flight
/// restarts the window (once, before the packet is counted); a path still waiting for ACKs, or
/// idle for less than a PTO, does not restart; without the option nothing restarts.
#[test]
fn congestion_window_restarts_after_idle_only_when_enabled() {
    let config = RecoveryConfig { ecn: false, restart_after_idle: true, ..RecoveryConfig::default() };
    let mut h = Harness::with_config(PathKind::Additional, config);
    h.send(at(0), 0);
    h.ack(at(100), &[0..1]);
    h.send(at(300), 1);
    h.ack(at(400), &[1..2]);
    h.calls();
    // PTO = srtt 100 + 4 * rttvar 37.5 + max_ack_delay 25 = 275 ms (RFC 9002 §6.2.1); 200 ms
    // after the last send is less: no restart.
    h.send(at(500), 2);
    assert_eq!(h.r.idle_restarts(), 0);
    // Nothing in flight is required: packet 2 is outstanding, so 3 does not restart.
    h.send(at(1500), 3);
    assert_eq!(h.r.idle_restarts(), 0);
    h.ack(at(1600), &[2..4]);
    h.calls();
    h.send(at(5000), 4);
    assert_eq!(h.r.idle_restarts(), 1);
    let calls = h.calls();
    assert!(matches!(calls.first(), Some(Call::IdleRestart { at: t, window: 12_000 }) if *t == at(5000)), "{calls:?}");

    let mut h = Harness::new(PathKind::Additional);
    h.send(at(0), 0);
    h.ack(at(100), &[0..1]);
    h.send(at(5000), 1);
    assert_eq!(h.r.idle_restarts(), 0);
    assert!(!h.calls().iter().any(|c| matches!(c, Call::IdleRestart { .. })));
}

#[test]
fn loss_by_packet_threshold_then_time_threshold() {
    let mut h = Harness::new(PathKind::Additional);
    for pn in 0..6 {
        h.send(at(pn), pn);
    }
    h.calls();
    // Packet 5 acknowledged at 85 ms (RTT 80 ms): 0, 1, 2 are three or more behind it; none is
    // older than the time threshold 9/8 * 80 = 90 ms.
    let s = h.ack(at(85), &[5..6]);
    assert_eq!(h.acked(), vec![5]);
    assert_eq!(h.lost(), vec![0, 1, 2]);
    assert!(s.rtt_sample && s.congestion_event && !s.persistent_congestion);
    assert_eq!(h.r.rtt().latest(), ms(80));
    assert_eq!(h.r.bytes_in_flight(), 2000);
    assert_eq!(
        h.calls(),
        vec![Call::Congestion { sent_time: at(2), lost_bytes: 3000, ecn: false }, Call::Ack(vec![5])]
    );
    // 3 and 4 are lost 90 ms after their send time.
    assert_eq!(h.r.loss_detection_timer(), Some(at(93)));
    h.out.clear();
    assert_eq!(h.r.on_loss_detection_timeout(at(92), None, &mut h.out), LossDetectionAction::None);
    let action = h.r.on_loss_detection_timeout(at(93), None, &mut h.out);
    assert_eq!(action, LossDetectionAction::LostPackets { space: SpaceId::Data, count: 1 });
    assert_eq!(h.lost(), vec![3]);
    assert_eq!(h.r.bytes_in_flight(), 1000);
    assert_eq!(h.r.loss_detection_timer(), Some(at(94)));
}

#[test]
fn rtt_sample_only_from_newly_acked_largest() {
    let mut h = Harness::new(PathKind::Additional);
    for pn in 0..3 {
        h.send(at(0), pn);
    }
    assert!(h.ack(at(100), &[2..3]).rtt_sample);
    // Largest (2) is not newly acknowledged: no sample.
    let s = h.ack(at(500), &[1..3]);
    assert!(!s.rtt_sample);
    assert_eq!(h.acked(), vec![1]);
    assert_eq!(h.r.rtt().latest(), ms(100));
    // A non-ack-eliciting largest with nothing ack-eliciting newly acked: no sample either.
    h.send_in(SpaceId::Data, at(600), 3, false);
    assert!(!h.ack(at(700), &[3..4]).rtt_sample);
}

#[test]
fn acks_of_unsent_or_skipped_packets_are_protocol_violations() {
    let mut h = Harness::new(PathKind::Additional);
    h.send(at(0), 0);
    assert!(h.r.skip_packet_number(SpaceId::Data, 1));
    h.send(at(0), 2);
    let mut out = RecoveryOutput::default();
    let err = h.r.on_ack_received(at(1), SpaceId::Data, [3..4], ms(0), None, None, &mut out).unwrap_err();
    assert_eq!(err.code, TransportErrorCode::PROTOCOL_VIOLATION);
    let err = h.r.on_ack_received(at(1), SpaceId::Data, [0..3], ms(0), None, None, &mut out).unwrap_err();
    assert_eq!(err.code, TransportErrorCode::PROTOCOL_VIOLATION);
}

#[test]
fn acks_ascending_order_to_controller_and_output() {
    let mut h = Harness::new(PathKind::Additional);
    for pn in 0..10 {
        h.send(at(0), pn);
    }
    h.calls();
    h.ack(at(10), &[8..10, 4..6, 0..1]);
    assert_eq!(h.acked(), vec![0, 4, 5, 8, 9]);
    assert_eq!(h.lost(), vec![1, 2, 3, 6]);
    assert_eq!(h.calls().last(), Some(&Call::Ack(vec![0, 4, 5, 8, 9])));
}

#[test]
fn pto_and_backoff() {
    let mut h = Harness::new(PathKind::Additional);
    h.send(at(0), 0);
    // kInitialRtt 333 ms: 333 + 4 * 166.5 + max_ack_delay 25 = 1024 ms.
    assert_eq!(h.r.loss_detection_timer(), Some(at(1024)));
    assert_eq!(h.r.pto_duration(SpaceId::Data), ms(1024));
    let a = h.r.on_loss_detection_timeout(at(1024), None, &mut h.out);
    assert_eq!(a, LossDetectionAction::Probe { space: SpaceId::Data, packets: 2 });
    assert_eq!(h.r.pto_count(), 1);
    assert!(h.r.can_send(u64::MAX / 2), "probes bypass the window");
    h.send(at(1024), 1);
    h.send(at(1024), 2);
    assert!(!h.r.can_send(u64::MAX / 2));
    // Backoff doubles the period, counted from the last ack-eliciting packet.
    assert_eq!(h.r.loss_detection_timer(), Some(at(1024 + 2048)));
    h.r.on_loss_detection_timeout(at(3072), None, &mut h.out);
    assert_eq!(h.r.pto_count(), 2);
    assert_eq!(h.r.loss_detection_timer(), Some(at(1024 + 4096)));
    // An acknowledgement resets the backoff.
    h.ack(at(3100), &[2..3]);
    assert_eq!(h.r.pto_count(), 0);
    // RTT sample 2076 ms: packet 0, sent 3.1 s ago, is past 9/8 of it.
    assert_eq!(h.lost(), vec![0]);
}

#[test]
fn no_application_pto_before_handshake_confirmation() {
    let mut h = Harness::new(PathKind::HandshakeServer);
    h.send_in(SpaceId::Data, at(0), 0, true);
    assert_eq!(h.r.loss_detection_timer(), None);
    h.send_in(SpaceId::Handshake, at(5), 0, true);
    // Handshake PTO has no max_ack_delay: 5 + 999 ms.
    assert_eq!(h.r.loss_detection_timer(), Some(at(1004)));
    h.r.discard_space(at(10), SpaceId::Handshake);
    assert_eq!(h.r.bytes_in_flight(), 1000);
    assert_eq!(h.r.loss_detection_timer(), None);
    h.r.set_handshake_confirmed(at(10));
    assert_eq!(h.r.loss_detection_timer(), Some(at(1024)));
}

#[test]
fn client_anti_deadlock() {
    let mut h = Harness::new(PathKind::HandshakeClient);
    h.send_in(SpaceId::Initial, at(0), 0, true);
    h.ack_in(SpaceId::Initial, at(100), &[0..1], None);
    // Nothing in flight, but the server may not have validated our address.
    assert_eq!(h.r.pto_count(), 0, "Initial ACK does not validate; backoff was 0 anyway");
    // pto_base after a 100 ms sample: 100 + 4 * 50 = 300 ms, from now.
    assert_eq!(h.r.loss_detection_timer(), Some(at(400)));
    let a = h.r.on_loss_detection_timeout(at(400), None, &mut h.out);
    assert_eq!(a, LossDetectionAction::AntiDeadlock { space: SpaceId::Initial });
    h.r.set_handshake_keys_available(at(400));
    assert_eq!(h.r.loss_detection_timer(), Some(at(400 + 600)));
    let a = h.r.on_loss_detection_timeout(at(1000), None, &mut h.out);
    assert_eq!(a, LossDetectionAction::AntiDeadlock { space: SpaceId::Handshake });
    h.r.set_peer_completed_address_validation(at(1000));
    assert_eq!(h.r.loss_detection_timer(), None);
}

#[test]
fn server_blocked_by_amplification_limit_arms_no_timer() {
    let mut h = Harness::new(PathKind::HandshakeServer);
    h.send_in(SpaceId::Initial, at(0), 0, true);
    assert!(h.r.loss_detection_timer().is_some());
    h.r.set_anti_amplification_blocked(at(0), true);
    assert_eq!(h.r.loss_detection_timer(), None);
}

#[test]
fn discarding_keys_removes_bytes_without_loss() {
    let mut h = Harness::new(PathKind::HandshakeServer);
    h.send_in(SpaceId::Initial, at(0), 0, true);
    h.send_in(SpaceId::Initial, at(0), 1, true);
    h.calls();
    h.r.discard_space(at(1), SpaceId::Initial);
    assert_eq!(h.r.bytes_in_flight(), 0);
    assert!(h.calls().is_empty());
    assert!(h.r.space(SpaceId::Initial).is_none());
    assert_eq!(h.ack_in(SpaceId::Initial, at(2), &[0..2], None), AckSummary::default());
}

/// RFC 9002 §7.6.3: smoothed_rtt = 1 s, rttvar = 0, max_ack_delay = 0; packets 2-8 are
/// declared lost when 9 is acknowledged at t = 12.2 s.
fn rfc_example(ack_five_with_nine: bool) -> (Harness, AckSummary) {
    let mut h = Harness::new(PathKind::Additional);
    h.r.set_peer_max_ack_delay(at(0), ms(0));
    h.send(at(0), 1);
    h.send(at(1000), 2);
    h.ack(at(1200), &[1..2]);
    h.r.rtt.force(ms(1000), ms(0), ms(1000), at(1200));
    for (pn, t) in [(3, 2000), (4, 3000), (5, 4000), (6, 5000), (7, 6000), (8, 8000), (9, 12_000)] {
        h.send(at(t), pn);
    }
    h.calls();
    let ranges: &[Range<u64>] = if ack_five_with_nine { &[9..10, 5..6] } else { &[9..10] };
    let s = h.ack(at(12_200), ranges);
    (h, s)
}

#[test]
fn persistent_congestion_rfc_example() {
    let (h, s) = rfc_example(false);
    assert_eq!(h.lost(), vec![2, 3, 4, 5, 6, 7, 8]);
    assert!(s.persistent_congestion);
    let calls = h.calls();
    assert_eq!(calls[0], Call::Congestion { sent_time: at(8000), lost_bytes: 7000, ecn: false });
    assert_eq!(calls[1], Call::Persistent);
}

/// RFC 9002 §5.2: once persistent congestion is established, min_rtt is the newest sample (here
/// 200 ms), not the 10 ms of a path that is gone.
#[test]
fn persistent_congestion_resets_min_rtt() {
    let mut h = Harness::new(PathKind::Additional);
    h.r.set_peer_max_ack_delay(at(0), ms(0));
    h.send(at(0), 0);
    h.ack(at(10), &[0..1]);
    assert_eq!(h.r.rtt().min(), ms(10));
    h.r.rtt.force(ms(1000), ms(0), ms(1000), at(10));
    for (pn, t) in [(1, 2000), (2, 3000), (3, 4000), (4, 5000), (5, 6000), (6, 8000), (7, 12_000)] {
        h.send(at(t), pn);
    }
    let s = h.ack(at(12_200), &[7..8]);
    assert_eq!(h.lost(), vec![1, 2, 3, 4, 5, 6]);
    assert!(s.persistent_congestion);
    assert_eq!(h.r.rtt().min(), ms(200));
    assert_eq!(h.r.rtt().latest(), ms(200));
}

#[test]
fn acknowledged_packet_between_losses_prevents_persistent_congestion() {
    let (h, s) = rfc_example(true);
    assert_eq!(h.lost(), vec![2, 3, 4, 6, 7, 8]);
    assert!(!s.persistent_congestion);
    assert!(!h.calls().contains(&Call::Persistent));
}

/// RFC 9000 §14.4: the loss of a DPLPMTUD probe is no congestion signal; it still leaves bytes
/// in flight.
#[test]
fn lost_mtu_probe_is_not_congestion() {
    let mut h = Harness::new(PathKind::Additional);
    h.send_mtu_probe(at(0), 0);
    for pn in 1..4 {
        h.send(at(pn), pn);
    }
    h.calls();
    let s = h.ack(at(85), &[3..4]);
    assert_eq!(h.lost(), vec![0]);
    assert!(!s.congestion_event && !s.persistent_congestion);
    assert_eq!(h.calls(), vec![Call::Ack(vec![3])]);
    assert_eq!(h.r.bytes_in_flight(), 2000);

    // A probe lost with an ordinary packet: only the ordinary one is the congestion event, by
    // its size and send time, though the probe was sent later.
    h.send(at(100), 4);
    h.send_mtu_probe(at(101), 5);
    for pn in 6..9 {
        h.send(at(pn + 100), pn);
    }
    h.calls();
    let s = h.ack(at(190), &[8..9]);
    assert_eq!(h.lost(), vec![1, 2, 4, 5]);
    assert!(s.congestion_event);
    assert_eq!(h.calls()[0], Call::Congestion { sent_time: at(100), lost_bytes: 3000, ecn: false });
}

/// RFC 9002 §7.6 with RFC 9000 §14.4: lost probes spanning more than the persistent
/// congestion duration do not establish persistent congestion. The RFC 9002 §7.6.3 example,
/// with packets 5 to 8 sent as probes: the ordinary losses (3 and 4) span one second only.
#[test]
fn lost_mtu_probes_do_not_establish_persistent_congestion() {
    let mut h = Harness::new(PathKind::Additional);
    h.r.set_peer_max_ack_delay(at(0), ms(0));
    h.send(at(0), 1);
    h.send(at(1000), 2);
    h.ack(at(1200), &[1..2]);
    h.r.rtt.force(ms(1000), ms(0), ms(1000), at(1200));
    h.send(at(2000), 3);
    h.send(at(3000), 4);
    for (pn, t) in [(5, 4000), (6, 5000), (7, 6000), (8, 8000)] {
        h.send_mtu_probe(at(t), pn);
    }
    h.send(at(12_000), 9);
    h.calls();
    let s = h.ack(at(12_200), &[9..10]);
    assert_eq!(h.lost(), vec![2, 3, 4, 5, 6, 7, 8]);
    assert!(!s.persistent_congestion);
    let calls = h.calls();
    assert_eq!(calls[0], Call::Congestion { sent_time: at(3000), lost_bytes: 3000, ecn: false });
    assert!(!calls.contains(&Call::Persistent));
}

#[test]
fn no_persistent_congestion_without_rtt_sample() {
    let mut h = Harness::new(PathKind::Additional);
    for pn in 0..10 {
        h.send(at(pn * 2000), pn);
    }
    // First ACK: its own sample comes after every lost packet was sent.
    let s = h.ack(at(20_000), &[9..10]);
    assert_eq!(h.lost().len(), 9);
    assert!(!s.persistent_congestion);
}

#[test]
fn spurious_loss_is_reported_once_and_never_acked() {
    let mut h = Harness::new(PathKind::Additional);
    for pn in 0..5 {
        h.send(at(0), pn);
    }
    h.ack(at(10), &[4..5]);
    assert_eq!(h.lost(), vec![0, 1]);
    h.calls();
    let s = h.ack(at(20), &[4..5, 0..2]);
    assert!(s.spurious_loss);
    assert!(h.acked().is_empty());
    assert_eq!(h.calls(), vec![Call::Spurious]);
    let s = h.ack(at(30), &[4..5, 0..2]);
    assert!(!s.spurious_loss);
}

#[test]
fn ack_of_ack_prunes_receiver_state() {
    let mut h = Harness::new(PathKind::Additional);
    let tracker = h.r.ack_tracker_mut(SpaceId::Data).unwrap();
    for pn in 0..8 {
        tracker.on_packet_received(at(0), pn, true, None);
    }
    let p = SentPacket {
        packet_number: 0,
        time_sent: at(1),
        size: 50,
        ack_eliciting: false,
        in_flight: false,
        largest_acked: Some(5),
        ecn: None,
        mtu_probe: false,
        frames: 0,
    };
    h.r.on_packet_sent(at(1), SpaceId::Data, p, false).unwrap();
    let s = h.ack(at(2), &[0..1]);
    assert_eq!(s.ack_of_ack, Some(5));
    let ranges: Vec<_> = h.r.space(SpaceId::Data).unwrap().ack_tracker().ranges().collect();
    assert_eq!(ranges, vec![6..8]);
}

#[test]
fn ecn_ce_increase_is_a_congestion_event() {
    let mut h = Harness::with_config(PathKind::Additional, RecoveryConfig::default());
    for pn in 0..4 {
        assert_eq!(h.r.ecn_codepoint(), Some(EcnCodepoint::Ect0));
        h.send(at(pn), pn);
    }
    h.calls();
    let s = h.ack_in(SpaceId::Data, at(50), &[0..2], Some(EcnCounts { ect0: 2, ect1: 0, ce: 0 }));
    h.calls();
    assert_eq!(s.ecn, Some(EcnAckResult::Valid { ce_increase: 0 }));
    assert_eq!(h.r.ecn().state(), EcnState::Capable);
    assert!(!s.congestion_event);
    let s = h.ack_in(SpaceId::Data, at(60), &[0..4], Some(EcnCounts { ect0: 3, ect1: 0, ce: 1 }));
    assert!(s.congestion_event);
    assert_eq!(h.calls()[0], Call::Congestion { sent_time: at(3), lost_bytes: 0, ecn: true });
    // A reordered ACK (largest not increased) is not validated, even with odd counts.
    h.send(at(70), 4);
    let s = h.ack_in(SpaceId::Data, at(80), &[2..3], Some(EcnCounts::default()));
    assert_eq!(s.ecn, None);
    assert_eq!(h.r.ecn().state(), EcnState::Capable);
}

#[test]
fn ecn_bleaching_fails_validation() {
    let mut h = Harness::with_config(PathKind::Additional, RecoveryConfig::default());
    for pn in 0..3 {
        h.send(at(pn), pn);
    }
    let s = h.ack_in(SpaceId::Data, at(50), &[0..3], None);
    assert_eq!(s.ecn, Some(EcnAckResult::Failed(EcnFailure::MissingCounts)));
    assert_eq!(h.r.ecn_codepoint(), None);
}

#[test]
fn congestion_window_and_pacing() {
    let mut h = Harness::new(PathKind::Additional);
    assert!(h.r.can_send(1_000_000));
    assert!(!h.r.can_send(1_000_001));
    assert_eq!(h.r.congestion_window_available(), 1_000_000);
    // Window 1 MB, smoothed RTT 333 ms: burst of 10 datagrams (the rate sends only 3.75 kB
    // per 1 ms timer granularity), then paced.
    let mut pn = 0;
    while h.r.pacing_delay(at(0), 1000).is_none() {
        h.send(at(0), pn);
        pn += 1;
    }
    // Burst of 10 * 1200 bytes.
    assert_eq!(pn, 12);
    assert_eq!(h.r.congestion_window_available(), 1_000_000 - 12_000);
    // 1.25 * 1 MB / 333 ms = 3753753 B/s: 1000 bytes take 266.401 us (rounded up).
    let next = h.r.pacing_delay(at(0), 1000).unwrap();
    assert_eq!(next.as_nanos(), 266_401);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]
    /// Random sends, ACKs and timeouts: bytes in flight always equals the in-flight
    /// outstanding packets, no packet is reported twice or both acknowledged and lost, and
    /// nothing panics.
    #[test]
    fn random_send_ack_loss_sequences(ops in proptest::collection::vec((0u8..4, 0u64..40, 1u64..5, any::<bool>()), 1..120)) {
        let mut h = Harness::new(PathKind::Additional);
        let mut now = at(0);
        let mut reported = std::collections::BTreeMap::new();
        let mut sent_in_flight = 0u64;
        let mut gone_in_flight = 0u64;
        let mut skipped = std::collections::BTreeSet::new();
        for (op, a, b, flag) in ops {
            now += ms(a);
            match op {
                0 | 1 => {
                    let mut pn = h.r.next_packet_number(SpaceId::Data);
                    if flag && a % 7 == 0 {
                        // Leave a hole; every other time, a deliberately skipped number.
                        if a % 2 == 0 {
                            prop_assert!(h.r.skip_packet_number(SpaceId::Data, pn));
                            skipped.insert(pn);
                        }
                        pn += 1;
                    }
                    let p = SentPacket { packet_number: pn, time_sent: now, size: 100 + a, ack_eliciting: flag || op == 0,
                        in_flight: flag || op == 0, largest_acked: None, ecn: None, mtu_probe: false, frames: pn };
                    if p.in_flight { sent_in_flight += p.size; }
                    h.r.on_packet_sent(now, SpaceId::Data, p, false).unwrap();
                }
                2 => {
                    let next = h.r.next_packet_number(SpaceId::Data);
                    if next == 0 { continue; }
                    // Up to `b` descending disjoint ranges below `next`.
                    let mut ranges = Vec::new();
                    let mut hi = next - (a % next);
                    for i in 0..b {
                        if hi == 0 { break; }
                        let len = 1 + (a * 7 + i * 13) % hi.min(6);
                        let lo = hi - len.min(hi);
                        ranges.push(lo..hi);
                        hi = lo.saturating_sub(1 + (a + i) % 3);
                    }
                    h.out.clear();
                    let covers_skipped = ranges.iter().any(|r| skipped.range(r.clone()).next().is_some());
                    let r = h.r.on_ack_received(now, SpaceId::Data, ranges.iter().cloned(), ms(a), None, None, &mut h.out);
                    prop_assert_eq!(r.is_err(), covers_skipped);
                    if let Err(e) = r {
                        prop_assert_eq!(e.code, TransportErrorCode::PROTOCOL_VIOLATION);
                        // The connection closes here.
                        return Ok(());
                    }
                }
                _ => {
                    if let Some(t) = h.r.loss_detection_timer() { now = now.max(t); }
                    h.out.clear();
                    h.r.on_loss_detection_timeout(now, None, &mut h.out);
                }
            }
            for p in &h.out.acked {
                prop_assert!(reported.insert(p.packet_number, "acked").is_none(), "{} reported twice", p.packet_number);
                if p.in_flight { gone_in_flight += p.size; }
            }
            for p in &h.out.lost {
                prop_assert!(reported.insert(p.packet_number, "lost").is_none(), "{} reported twice", p.packet_number);
                if p.in_flight { gone_in_flight += p.size; }
            }
            h.out.clear();
            let outstanding: u64 = h.r.outstanding(SpaceId::Data).filter(|p| p.in_flight).map(|p| p.size).sum();
            prop_assert_eq!(h.r.bytes_in_flight(), outstanding);
            prop_assert_eq!(h.r.bytes_in_flight(), sent_in_flight - gone_in_flight);
            for p in h.r.outstanding(SpaceId::Data) {
                prop_assert!(!reported.contains_key(&p.packet_number));
            }
        }
    }
}

#[test]
fn abandoned_path_hands_back_outstanding_packets() {
    let mut h = Harness::new(PathKind::Additional);
    for pn in 0..4 {
        h.send(at(pn), pn);
    }
    h.ack(at(50), &[1..2]);
    h.calls();
    let mut requeue = Vec::new();
    h.r.abandon(&mut requeue);
    assert_eq!(requeue.iter().map(|p| p.frames).collect::<Vec<_>>(), vec![0, 2, 3]);
    assert_eq!(h.r.bytes_in_flight(), 0);
    assert_eq!(h.r.loss_detection_timer(), None);
    assert!(h.calls().is_empty(), "abandonment is not congestion");
}

/// Path failure detection counts from the first ack-eliciting in-flight packet above the
/// largest acknowledged. The answer is kept up to date on sends and ACKs (not recomputed per
/// `poll_timeout`); every step here checks it against a walk of the outstanding packets.
#[test]
fn first_unacked_eliciting_packet_follows_sends_and_acks() {
    let mut h = Harness::new(PathKind::Additional);
    let walk = |h: &Harness| {
        let largest = h.r.space(SpaceId::Data).and_then(|s| s.largest_acked_packet());
        h.r.outstanding(SpaceId::Data)
            .find(|p| p.ack_eliciting && p.in_flight && largest.is_none_or(|l| p.packet_number > l))
            .map(|p| p.time_sent)
    };
    let check = |h: &Harness, expected: Option<Instant>| {
        assert_eq!(h.r.first_unacked_eliciting_sent(SpaceId::Data), expected);
        assert_eq!(walk(h), expected);
    };
    check(&h, None);
    h.send_in(SpaceId::Data, at(0), 0, false); // an ACK-only packet does not count
    check(&h, None);
    for pn in 1..8 {
        h.send(at(pn), pn);
    }
    check(&h, Some(at(1)));
    h.ack(at(10), &[3..5]); // largest 4: packets 1 and 2 are below it, 5 is next
    check(&h, Some(at(5)));
    h.ack(at(11), &[5..6]);
    check(&h, Some(at(6)));
    h.ack(at(12), &[6..8]); // everything above the largest is acknowledged
    check(&h, None);
    h.send(at(13), 8);
    check(&h, Some(at(13)));
}
