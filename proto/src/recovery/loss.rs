//! The loss-detection algorithm of RFC 9002 Appendix A for one path: OnPacketSent,
//! OnAckReceived, DetectAndRemoveLostPackets, GetLossTimeAndSpace, GetPtoTimeAndSpace,
//! SetLossDetectionTimer, OnLossDetectionTimeout and OnPacketNumberSpaceDiscarded, plus the
//! congestion-control calls of Appendix B (congestion events, persistent congestion, ECN-CE)
//! and spurious-loss detection.

use core::ops::Range;
use core::time::Duration;

use mpquic_cc::{AckedPacket, CongestionEvent, Paths};

use super::ecn::EcnAckResult;
use super::rtt::RttEstimator;
use super::sent::{SentPacket, SlotState};
use super::space::{PacketSpace, SpaceId, MAX_LOST_RANGES};
use super::{backoff, PathRecovery, RecoveryConfig, RecoveryOutput};
use crate::{EcnCounts, Instant, TransportError};

/// What one ACK frame did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AckSummary {
    /// The frame raised the space's largest acknowledged packet number.
    pub largest_acked_increased: bool,
    /// Packets newly acknowledged (appended to [`RecoveryOutput::acked`]).
    pub newly_acked: usize,
    /// Packets declared lost (appended to [`RecoveryOutput::lost`]).
    pub newly_lost: usize,
    /// The frame produced an RTT sample (RFC 9002 §5.1).
    pub rtt_sample: bool,
    /// A packet declared lost earlier was acknowledged: the controller was told the last
    /// congestion event was spurious.
    pub spurious_loss: bool,
    /// The controller was told of a congestion event (loss or ECN-CE).
    pub congestion_event: bool,
    /// Persistent congestion was established (RFC 9002 §7.6).
    pub persistent_congestion: bool,
    /// The ECN validation outcome, when the frame was validated.
    pub ecn: Option<EcnAckResult>,
    /// The receiver side forgot packet numbers up to this one, because an ACK frame of ours
    /// reporting them was acknowledged (RFC 9000 §13.2.4).
    pub ack_of_ack: Option<u64>,
}

/// What the connection must do after [`PathRecovery::on_loss_detection_timeout`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossDetectionAction {
    /// The timer had not expired (or was not armed): nothing to do.
    None,
    /// Packets of `space` were declared lost by time threshold (RFC 9002 §6.1.2); they are
    /// in [`RecoveryOutput::lost`].
    LostPackets {
        /// The space.
        space: SpaceId,
        /// How many.
        count: usize,
    },
    /// The probe timeout fired (RFC 9002 §6.2.4): send one or two ack-eliciting packets in
    /// `space`, preferably retransmitting in-flight data. They bypass the congestion window
    /// and the pacer ([`PathRecovery::can_send`]).
    Probe {
        /// The space to probe.
        space: SpaceId,
        /// How many packets may be sent (the RFC requires one and allows two).
        packets: u8,
    },
    /// Client anti-deadlock (RFC 9002 §6.2.2.1): nothing is in flight but the server has not
    /// validated our address. Send one ack-eliciting packet in `space`: a Handshake packet if
    /// Handshake keys are available, else a padded Initial packet.
    AntiDeadlock {
        /// Handshake or Initial.
        space: SpaceId,
    },
}

/// What DetectAndRemoveLostPackets found.
#[derive(Debug, Default)]
struct LossStats {
    count: usize,
    /// Bytes of every lost in-flight packet, DPLPMTUD probes included: they leave bytes in
    /// flight all the same.
    in_flight_bytes: u64,
    /// Bytes of the lost in-flight packets that count as congestion: all but DPLPMTUD probes
    /// (RFC 9000 §14.4).
    congestion_bytes: u64,
    /// Send time of the newest lost in-flight packet that counts as congestion (RFC 9002 B.8
    /// sent_time_of_last_loss); `None` when only probes were lost.
    newest_lost_time_sent: Option<Instant>,
    persistent_congestion: bool,
    /// Lost packets that were sent with an ECN codepoint.
    ecn_marked: u64,
}

impl<F> PathRecovery<F> {
    /// RFC 9002 A.5 OnPacketSent: records `packet` (sent at `packet.time_sent`, normally `now`)
    /// in `space`. `app_limited` tells the controller whether the sender ran out of data
    /// (RFC 9002 §7.8).
    ///
    /// The packet number must be at least [`PathRecovery::next_packet_number`]; if it is not,
    /// or the space is gone, the packet is handed back unrecorded.
    pub fn on_packet_sent(
        &mut self,
        now: Instant,
        space: SpaceId,
        packet: SentPacket<F>,
        app_limited: bool,
    ) -> Result<(), SentPacket<F>> {
        let Some(s) = self.spaces[space.index()].as_mut() else { return Err(packet) };
        let (pn, size, in_flight, ack_eliciting, ecn, time_sent) =
            (packet.packet_number, packet.size, packet.in_flight, packet.ack_eliciting, packet.ecn, packet.time_sent);
        s.sent.insert(packet)?;
        if ack_eliciting
            && in_flight
            && s.failure_anchor.is_none()
            && s.largest_acked_packet.is_none_or(|l| pn > l)
        {
            s.failure_anchor = Some((pn, time_sent));
        }
        if let Some(codepoint) = ecn {
            s.ecn_sent.count(codepoint);
        }
        self.ecn.on_packet_sent(ecn);
        if in_flight {
            // RFC 5681 §4.1: a sender that has sent nothing for longer than the retransmission
            // timeout (here the probe timeout, RFC 9002 §6.2.1, without backoff) restarts from
            // min(IW, cwnd) when it sends again. Only with nothing in flight: a path waiting for
            // ACKs is not idle.
            let idle_for = self.last_in_flight_sent.map(|t| time_sent.saturating_duration_since(t));
            if self.config.restart_after_idle
                && self.bytes_in_flight == 0
                && idle_for.is_some_and(|d| d > self.rtt.pto_base() + self.peer_max_ack_delay)
            {
                let restart_window = mpquic_cc::initial_window(self.max_datagram_size);
                self.controller.on_restart_after_idle(time_sent, restart_window);
                self.idle_restarts += 1;
            }
            self.last_in_flight_sent = Some(time_sent);
            if ack_eliciting {
                s.time_of_last_ack_eliciting_packet = Some(time_sent);
                s.ack_eliciting_in_flight += 1;
            }
            s.bytes_in_flight += size;
            self.bytes_in_flight += size;
            let cc_packet = mpquic_cc::SentPacket {
                packet_number: pn,
                bytes: size,
                bytes_in_flight: self.bytes_in_flight,
                app_limited,
            };
            self.controller.on_packet_sent(time_sent, &cc_packet);
            if self.config.pacing && self.probes_pending == 0 {
                self.on_paced_send(time_sent, size);
            }
        }
        if ack_eliciting {
            self.probes_pending = self.probes_pending.saturating_sub(1);
        }
        self.set_loss_detection_timer(now);
        Ok(())
    }

    /// RFC 9002 A.7 OnAckReceived, for an ACK frame of `space` received at `now`.
    ///
    /// `ranges` are the acknowledged packet numbers as half-open ranges in **descending** order,
    /// the largest first, as the frame lists them (RFC 9000 §19.3.1). `ack_delay` is the decoded
    /// ACK Delay (ignored for Initial and Handshake, RFC 9002 §5.3). `ecn` are the frame's ECN
    /// counts (type 0x03). `paths` is the view of all paths for coupled controllers (`None`:
    /// this path alone).
    ///
    /// Newly acknowledged packets are appended to `out.acked`, packets declared lost to
    /// `out.lost`. Acknowledging a packet number never sent, or deliberately skipped, is a
    /// PROTOCOL_VIOLATION (RFC 9000 §13.1, §21.4); the connection must close then.
    #[allow(clippy::too_many_arguments)]
    pub fn on_ack_received<I>(
        &mut self,
        now: Instant,
        space: SpaceId,
        ranges: I,
        ack_delay: Duration,
        ecn: Option<EcnCounts>,
        paths: Option<Paths<'_>>,
        out: &mut RecoveryOutput<F>,
    ) -> Result<AckSummary, TransportError>
    where
        I: IntoIterator<Item = Range<u64>>,
    {
        let mut summary = AckSummary::default();
        // RFC 9001 §4.9: packets of discarded spaces are dropped, their ACKs with them.
        let Some(s) = self.spaces[space.index()].as_mut() else { return Ok(summary) };
        let mut ranges = ranges.into_iter().filter(|r| !r.is_empty()).peekable();
        let Some(largest_acknowledged) = ranges.peek().map(|r| r.end - 1) else { return Ok(summary) };
        let next = s.sent.next_packet_number();
        if largest_acknowledged >= next {
            return Err(TransportError::PROTOCOL_VIOLATION(format!(
                "ACK of {space} packet {largest_acknowledged}, which was never sent"
            )));
        }
        summary.largest_acked_increased = s.largest_acked_packet.is_none_or(|l| largest_acknowledged > l);
        if summary.largest_acked_increased {
            s.largest_acked_packet = Some(largest_acknowledged);
            if s.failure_anchor.is_some_and(|(pn, _)| pn <= largest_acknowledged) {
                s.failure_anchor = first_eliciting_after(&s.sent, largest_acknowledged);
            }
        }

        // DetectAndRemoveAckedPackets.
        let acked_start = out.acked.len();
        for range in ranges {
            if range.end > next {
                return Err(TransportError::PROTOCOL_VIOLATION(format!(
                    "ACK of {space} packets up to {}, which were never sent",
                    range.end - 1
                )));
            }
            if let Some(pn) = s.sent.skipped_in(range.clone()) {
                return Err(TransportError::PROTOCOL_VIOLATION(format!("ACK of skipped {space} packet number {pn}")));
            }
            // A packet declared lost that the peer did receive: the loss was spurious.
            if s.lost.remove(range.clone()) {
                summary.spurious_loss = true;
            }
            for pn in range.start.max(s.sent.base())..range.end {
                if let Some(p) = s.sent.take_acked(pn) {
                    if p.in_flight {
                        s.bytes_in_flight -= p.size;
                        self.bytes_in_flight -= p.size;
                        if p.ack_eliciting {
                            s.ack_eliciting_in_flight -= 1;
                        }
                    }
                    out.acked.push(p);
                }
            }
        }
        let newly = &mut out.acked[acked_start..];
        newly.sort_unstable_by_key(|p| p.packet_number);
        let newly = &*newly;
        summary.newly_acked = newly.len();

        if summary.spurious_loss {
            self.controller.on_spurious_congestion(now);
        }
        if newly.is_empty() {
            return Ok(summary);
        }

        // RFC 9002 §5.1: an RTT sample when the largest acknowledged is newly acknowledged and
        // at least one newly acknowledged packet is ack-eliciting.
        if let Some(largest) = newly.last().filter(|p| p.packet_number == largest_acknowledged) {
            if newly.iter().any(|p| p.ack_eliciting) {
                let latest_rtt = now.saturating_duration_since(largest.time_sent);
                // RFC 9002 §5.3: Initial and Handshake ACKs are not delayed on purpose.
                let ack_delay = if space == SpaceId::Data { ack_delay } else { Duration::ZERO };
                self.rtt.update(now, latest_rtt, ack_delay, self.handshake_confirmed, self.peer_max_ack_delay);
                summary.rtt_sample = true;
            }
        }

        // RFC 9000 §13.2.4: our ACK frames carried by newly acknowledged packets were received.
        if let Some(l) = newly.iter().filter_map(|p| p.largest_acked).max() {
            s.ack_tracker.on_ack_of_ack(l);
            summary.ack_of_ack = Some(l);
        }

        // RFC 9002 A.7: reset the backoff unless the client is unsure whether the server
        // validated its address.
        if self.peer_completed_address_validation {
            self.pto_count = 0;
        }
        self.probes_pending = 0;

        let snapshot;
        let paths = match paths {
            Some(p) => p,
            None => {
                snapshot = self.snapshot(true);
                Paths::single(&snapshot)
            }
        };

        // RFC 9002 A.7 ProcessECN, validated per RFC 9000 §13.4.2.1 only when the largest
        // acknowledged increased.
        let pc_duration = self.persistent_congestion_duration();
        let Some(s) = self.spaces[space.index()].as_mut() else { return Ok(summary) };
        if summary.largest_acked_increased {
            let mut newly_marked = EcnCounts::default();
            for codepoint in newly.iter().filter_map(|p| p.ecn) {
                newly_marked.count(codepoint);
            }
            let result = self.ecn.on_ack(newly_marked, s.ecn_acked, s.ecn_sent, ecn);
            if let (EcnAckResult::Valid { ce_increase }, Some(counts)) = (result, ecn) {
                s.ecn_acked = counts;
                if ce_increase > 0 {
                    // RFC 9002 §7.1: an increase of ECN-CE is a congestion event.
                    let sent_time = newly.last().map_or(now, |p| p.time_sent);
                    let event =
                        CongestionEvent { sent_time, lost_bytes: 0, ecn: true, bytes_in_flight: self.bytes_in_flight };
                    self.controller.on_congestion_event(now, &event, &self.rtt.to_estimates(), paths);
                    self.bytes_acked_since_loss = 0;
                    summary.congestion_event = true;
                }
            }
            summary.ecn = Some(result);
        }

        let stats = detect_and_remove_lost_packets(s, &self.rtt, &self.config, pc_duration, now, &mut out.lost);
        summary.newly_lost = stats.count;
        summary.persistent_congestion = stats.persistent_congestion;
        summary.congestion_event |= self.on_packets_lost(now, &stats, paths);

        // RFC 9002 B.5 OnPacketsAcked: one batch per ACK frame, ascending.
        self.cc_acked.clear();
        for p in out.acked[acked_start..].iter().filter(|p| p.in_flight) {
            self.cc_acked.push(AckedPacket { packet_number: p.packet_number, bytes: p.size, time_sent: p.time_sent });
            self.bytes_acked += p.size;
            self.bytes_acked_since_loss += p.size;
        }
        if !self.cc_acked.is_empty() {
            self.controller.on_ack(now, &self.cc_acked, &self.rtt.to_estimates(), paths);
        }

        self.set_loss_detection_timer(now);
        Ok(summary)
    }

    /// RFC 9002 B.8 OnPacketsLost; returns whether a congestion event was signalled.
    fn on_packets_lost(&mut self, now: Instant, stats: &LossStats, paths: Paths<'_>) -> bool {
        self.bytes_in_flight -= stats.in_flight_bytes;
        for _ in 0..stats.ecn_marked {
            self.ecn.on_marked_packet_lost();
        }
        let Some(sent_time) = stats.newest_lost_time_sent else { return false };
        let rtt = self.rtt.to_estimates();
        let event = CongestionEvent {
            sent_time,
            lost_bytes: stats.congestion_bytes,
            ecn: false,
            bytes_in_flight: self.bytes_in_flight,
        };
        self.controller.on_congestion_event(now, &event, &rtt, paths);
        self.bytes_acked_since_loss = 0;
        if stats.persistent_congestion {
            // RFC 9002 §5.2: min_rtt restarts from the newest sample.
            self.rtt.on_persistent_congestion();
            // RFC 9002 §7.6.2: collapse the window to the minimum.
            self.controller.on_persistent_congestion(now, &self.rtt.to_estimates());
        }
        true
    }

    /// RFC 9002 A.8 GetLossTimeAndSpace: the earliest time-threshold loss deadline.
    pub fn loss_time_and_space(&self) -> Option<(Instant, SpaceId)> {
        SpaceId::ALL
            .into_iter()
            .filter_map(|id| self.space(id).and_then(|s| s.loss_time).map(|t| (t, id)))
            .min_by_key(|&(t, _)| t)
    }

    fn ack_eliciting_in_flight(&self) -> u64 {
        self.spaces.iter().flatten().map(|s| s.ack_eliciting_in_flight).sum()
    }

    /// RFC 9002 A.8 GetPtoTimeAndSpace (with the errata: the application space is skipped
    /// until the handshake is confirmed). `now` anchors the client's anti-deadlock PTO.
    pub fn pto_time_and_space(&self, now: Instant) -> Option<(Instant, SpaceId)> {
        let factor = backoff(self.pto_count);
        let duration = self.rtt.pto_base().saturating_mul(factor);
        if self.ack_eliciting_in_flight() == 0 {
            if self.peer_completed_address_validation {
                return None;
            }
            // RFC 9002 §6.2.2.1: the anti-deadlock PTO starts from now.
            let space = if self.has_handshake_keys { SpaceId::Handshake } else { SpaceId::Initial };
            return self.space(space).map(|_| (now + duration, space));
        }
        let mut best: Option<(Instant, SpaceId)> = None;
        for id in SpaceId::ALL {
            let Some(s) = self.space(id) else { continue };
            if s.ack_eliciting_in_flight == 0 {
                continue;
            }
            let mut d = duration;
            if id == SpaceId::Data {
                // RFC 9002 §6.2.1: no application-data PTO before the handshake is confirmed.
                if !self.handshake_confirmed {
                    return best;
                }
                d += self.peer_max_ack_delay.saturating_mul(factor);
            }
            let Some(last) = s.time_of_last_ack_eliciting_packet else { continue };
            let t = last + d;
            if best.is_none_or(|(b, _)| t < b) {
                best = Some((t, id));
            }
        }
        best
    }

    /// RFC 9002 A.8 SetLossDetectionTimer.
    pub(super) fn set_loss_detection_timer(&mut self, now: Instant) {
        if let Some((t, _)) = self.loss_time_and_space() {
            self.loss_detection_timer = Some(t);
            return;
        }
        // RFC 9002 §6.2.2.1: a server blocked by the amplification limit arms no timer.
        if self.anti_amplification_blocked {
            self.loss_detection_timer = None;
            return;
        }
        if self.ack_eliciting_in_flight() == 0 && self.peer_completed_address_validation {
            self.loss_detection_timer = None;
            return;
        }
        self.loss_detection_timer = self.pto_time_and_space(now).map(|(t, _)| t);
    }

    /// RFC 9002 A.9 OnLossDetectionTimeout: call when [`PathRecovery::loss_detection_timer`]
    /// has passed. Lost packets go to `out.lost`.
    pub fn on_loss_detection_timeout(
        &mut self,
        now: Instant,
        paths: Option<Paths<'_>>,
        out: &mut RecoveryOutput<F>,
    ) -> LossDetectionAction {
        if self.loss_detection_timer.is_none_or(|t| now < t) {
            return LossDetectionAction::None;
        }
        if let Some((_, id)) = self.loss_time_and_space() {
            let pc_duration = self.persistent_congestion_duration();
            let Some(s) = self.spaces[id.index()].as_mut() else { return LossDetectionAction::None };
            let stats = detect_and_remove_lost_packets(s, &self.rtt, &self.config, pc_duration, now, &mut out.lost);
            let snapshot = self.snapshot(true);
            let paths = paths.unwrap_or(Paths::single(&snapshot));
            self.on_packets_lost(now, &stats, paths);
            self.set_loss_detection_timer(now);
            return LossDetectionAction::LostPackets { space: id, count: stats.count };
        }
        let action = if self.ack_eliciting_in_flight() == 0 {
            if self.peer_completed_address_validation {
                self.loss_detection_timer = None;
                return LossDetectionAction::None;
            }
            let space = if self.has_handshake_keys { SpaceId::Handshake } else { SpaceId::Initial };
            self.probes_pending = 1;
            LossDetectionAction::AntiDeadlock { space }
        } else {
            let Some((_, space)) = self.pto_time_and_space(now) else {
                self.loss_detection_timer = None;
                return LossDetectionAction::None;
            };
            self.probes_pending = 2;
            LossDetectionAction::Probe { space, packets: 2 }
        };
        self.pto_count = self.pto_count.saturating_add(1);
        self.set_loss_detection_timer(now);
        action
    }

    /// RFC 9002 A.11 OnPacketNumberSpaceDiscarded: the keys of `space` (Initial or Handshake)
    /// were discarded. Its packets leave bytes in flight without being declared lost
    /// (RFC 9002 §6.4) and the PTO backoff is reset.
    pub fn discard_space(&mut self, now: Instant, space: SpaceId) {
        let Some(mut s) = self.spaces[space.index()].take() else { return };
        self.bytes_in_flight -= s.bytes_in_flight;
        s.sent.drain(drop);
        self.pto_count = 0;
        self.set_loss_detection_timer(now);
    }

    /// The path is abandoned (RFC 10069 §3.3): every outstanding packet of
    /// every space is removed without telling the controller and appended to `out` so the
    /// connection can send its frames on another path. Timers are cancelled.
    pub fn abandon(&mut self, out: &mut Vec<SentPacket<F>>) {
        for s in self.spaces.iter_mut().flatten() {
            s.forget_in_flight(|p| out.push(p));
        }
        self.bytes_in_flight = 0;
        self.loss_detection_timer = None;
        self.probes_pending = 0;
    }

    /// The outstanding packets of `space`, ascending (e.g. to choose data to retransmit in
    /// a PTO probe, RFC 9002 §6.2.4).
    pub fn outstanding(&self, space: SpaceId) -> impl Iterator<Item = &SentPacket<F>> + '_ {
        self.space(space).into_iter().flat_map(|s| s.sent.iter())
    }

    /// When the first ack-eliciting in-flight packet above the largest acknowledged one of
    /// `space` was sent, if there is one: where path failure detection starts counting.
    pub fn first_unacked_eliciting_sent(&self, space: SpaceId) -> Option<Instant> {
        let s = self.space(space)?;
        // `failure_anchor` is kept by on_packet_sent (the first such packet after none) and
        // on_ack_received (recomputed when the largest acknowledged passes it); `None` is exact.
        let (pn, sent) = s.failure_anchor?;
        if s.sent.get(pn).is_some() && s.largest_acked_packet.is_none_or(|l| pn > l) {
            return Some(sent);
        }
        // The packet left the store some other way (its space state was reset): walk.
        let after = s.largest_acked_packet.map_or(0, |l| l.saturating_add(1));
        s.sent.iter_range(after..u64::MAX).find(|p| p.ack_eliciting && p.in_flight).map(|p| p.time_sent)
    }
}

/// The first ack-eliciting in-flight packet numbered above `largest_acked`.
fn first_eliciting_after<F>(sent: &super::sent::SentPackets<F>, largest_acked: u64) -> Option<(u64, Instant)> {
    sent.iter_range(largest_acked.saturating_add(1)..u64::MAX)
        .find(|p| p.ack_eliciting && p.in_flight)
        .map(|p| (p.packet_number, p.time_sent))
}

/// RFC 9002 A.10 DetectAndRemoveLostPackets for one space, with the persistent-congestion
/// check of §7.6.2 over the packets it declares lost.
fn detect_and_remove_lost_packets<F>(
    s: &mut PacketSpace<F>,
    rtt: &RttEstimator,
    config: &RecoveryConfig,
    persistent_congestion_duration: Duration,
    now: Instant,
    lost_out: &mut Vec<SentPacket<F>>,
) -> LossStats {
    let mut stats = LossStats::default();
    s.loss_time = None;
    let Some(largest_acked) = s.largest_acked_packet else { return stats };
    let (num, den) = config.time_threshold;
    let loss_delay = rtt.loss_delay(num, den);
    // Packets sent at or before this time are lost (None: too early for any to be).
    let lost_send_time = now.checked_sub(loss_delay);
    let first_sample = rtt.first_sample_time();
    // Send time of the first lost ack-eliciting packet of the current run, where a run ends
    // at an acknowledged packet (RFC 9002 §7.6.2).
    let mut run_start: Option<Instant> = None;
    let lost_start = lost_out.len();

    let mut pn = s.sent.base();
    while pn <= largest_acked && pn < s.sent.next_packet_number() {
        match s.sent.state(pn) {
            SlotState::Acked => run_start = None,
            SlotState::Outstanding => {
                let Some(p) = s.sent.get(pn) else { break };
                let by_time = lost_send_time.is_some_and(|t| p.time_sent <= t);
                // RFC 9002 §6.1.1: kPacketThreshold packets acknowledged after it.
                let by_count = largest_acked >= pn.saturating_add(config.packet_threshold);
                if by_time || by_count {
                    if let Some(p) = s.sent.take_gone(pn) {
                        stats.count += 1;
                        if p.in_flight {
                            s.bytes_in_flight -= p.size;
                            stats.in_flight_bytes += p.size;
                            if p.ack_eliciting {
                                s.ack_eliciting_in_flight -= 1;
                            }
                            // RFC 9000 §14.4: the loss of a DPLPMTUD probe SHOULD NOT trigger a
                            // congestion control reaction (RFC 8899 §4.4).
                            if !p.mtu_probe {
                                stats.congestion_bytes += p.size;
                                stats.newest_lost_time_sent =
                                    Some(stats.newest_lost_time_sent.map_or(p.time_sent, |t| t.max(p.time_sent)));
                            }
                        }
                        if p.ecn.is_some() {
                            stats.ecn_marked += 1;
                        }
                        // RFC 9002 §7.6.2: only ack-eliciting packets sent after the first RTT
                        // sample count toward persistent congestion; RFC 9000 §14.4: a lost
                        // probe is no sign of congestion, so it neither starts nor extends a run
                        // (it is not acknowledged either, so it does not end one).
                        if p.ack_eliciting && !p.mtu_probe && first_sample.is_some_and(|t| p.time_sent > t) {
                            match run_start {
                                None => run_start = Some(p.time_sent),
                                Some(start) => {
                                    if p.time_sent.saturating_duration_since(start) > persistent_congestion_duration {
                                        stats.persistent_congestion = true;
                                    }
                                }
                            }
                        }
                        s.lost.insert_one(pn);
                        lost_out.push(p);
                    }
                } else {
                    let t = p.time_sent + loss_delay;
                    s.loss_time = Some(s.loss_time.map_or(t, |l| l.min(t)));
                }
            }
            SlotState::Forgotten | SlotState::Skipped | SlotState::NotSent => {}
        }
        pn += 1;
    }
    s.sent.compact();
    s.lost.truncate_to_highest(MAX_LOST_RANGES);
    debug_assert!(lost_out[lost_start..].windows(2).all(|w| w[0].packet_number < w[1].packet_number));
    stats
}
