//! Acknowledgement and loss bookkeeping (RFC 9000 §13.3, RFC 9002): what an ACK or PATH_ACK
//! acknowledged and what loss detection declared lost is applied to the streams, the CRYPTO
//! streams, the control frames and the path frames, using the record of what each packet
//! carried ([`crate::recovery::SentFrames`]).

use std::time::Duration;

use super::Connection;
use crate::error::TransportError;
use crate::frame;
use crate::packet::SpaceId;
use crate::path::PathId;
use crate::recovery::SentFrames;
use crate::trace::TraceEvent;
use crate::Instant;

impl Connection {
    pub(super) fn on_ack_frame(
        &mut self,
        now: Instant,
        path_id: PathId,
        space: SpaceId,
        ack: &frame::Ack,
    ) -> Result<(), TransportError> {
        let exponent = match (space, self.peer_params.as_ref()) {
            (SpaceId::Data, Some(p)) => p.ack_delay_exponent.into_inner().min(20),
            _ => 3,
        };
        let delay = Duration::from_micros(ack.delay.checked_shl(exponent as u32).unwrap_or(u64::MAX).min(1 << 40));
        let mut out = core::mem::take(&mut self.recovery_out);
        out.clear();
        self.paths.snapshot_for_cc();
        self.paths.scheduled = None;
        let Some(path) = self.paths.table.get_mut(&path_id) else { return Ok(()) };
        let paths = mpquic_cc::Paths { paths: &self.paths.cc_snapshots, this_path: path_id };
        let result = path.recovery.on_ack_received(now, space, ack.iter(), delay, ack.ecn, Some(paths), &mut out);
        let summary = match result {
            Ok(s) => s,
            Err(e) => {
                self.recovery_out = out;
                return Err(e);
            }
        };
        if summary.congestion_event {
            path.stats.congestion_events += 1;
        }
        let newly_acked = summary.newly_acked > 0;
        if space == SpaceId::Data {
            if let Some(k) = self.one_rtt.as_mut() {
                k.on_ack(path_id, ack.largest);
            }
        }
        if space == SpaceId::Handshake && self.side.is_client() {
            // RFC 9002 §6.2.2.1, A.6 PeerCompletedAddressValidation: the server has validated
            // our address once it acknowledges a Handshake packet (merely receiving one does not
            // tell us it got ours). Until then the client keeps its anti-deadlock PTO armed.
            path.recovery.set_peer_completed_address_validation(now);
        }
        self.apply_recovery_output(now, path_id, space, &mut out);
        self.recovery_out = out;
        if newly_acked && space == SpaceId::Data {
            self.on_path_acked(now, path_id);
        }
        if newly_acked || summary.congestion_event {
            self.trace_metrics(now, path_id);
        }
        Ok(())
    }

    /// Applies acknowledged and lost packets' frames to streams, CRYPTO streams and pending
    /// control frames.
    pub(super) fn apply_recovery_output(
        &mut self,
        now: Instant,
        path_id: PathId,
        space: SpaceId,
        out: &mut crate::recovery::RecoveryOutput<SentFrames>,
    ) {
        // Stateful schedulers (BLEST's lambda, ECF) learn from acknowledgements and losses.
        if self.paths.multipath.is_some() {
            let acked: u64 = out.acked.iter().map(|p| p.size).sum();
            let lost: u64 = out.lost.iter().map(|p| p.size).sum();
            let rtt = self.paths.table.get(&path_id).map_or(Duration::ZERO, |p| p.recovery.rtt().smoothed());
            if acked > 0 {
                self.paths.scheduler.on_ack(path_id, acked, rtt);
            }
            if lost > 0 {
                self.paths.scheduler.on_loss(path_id, lost);
            }
        }
        for p in out.acked.drain(..) {
            let f = &p.frames;
            for s in &f.stream {
                self.streams.on_stream_data_acked(s.id, s.offset, s.len, s.fin);
            }
            if let Some((offset, len)) = f.crypto {
                self.crypto[space.index()].on_acked(offset, len);
            }
            for cf in f.control() {
                self.streams.on_control_acked(cf);
            }
            for &(path, largest) in &f.path_acks {
                if let Some(t) = self.paths.table.get_mut(&path).and_then(|p| p.recovery.ack_tracker_mut(SpaceId::Data))
                {
                    t.on_ack_of_ack(largest);
                }
            }
            if let Some(path) = self.paths.table.get_mut(&path_id) {
                let old = path.mtu();
                if let Some(mtu) = path.mtud.on_acked(p.packet_number, p.size as u16) {
                    self.on_mtu_changed(now, path_id, old, mtu);
                }
            }
        }
        for p in out.lost.drain(..) {
            if let Some(path) = self.paths.table.get_mut(&path_id) {
                path.stats.packets_lost += 1;
                path.stats.bytes_lost += p.size;
                let old = path.mtu();
                if let Some(mtu) = path.mtud.on_lost(p.packet_number, p.size as u16) {
                    self.on_mtu_changed(now, path_id, old, mtu);
                }
            }
            trace_event!(
                self,
                now,
                TraceEvent::PacketLost {
                    path: path_id,
                    packet_type: super::space_packet_type(space),
                    packet_number: p.packet_number,
                    length: p.size,
                }
            );
            self.requeue_frames(space, &p.frames);
        }
    }

    /// DPLPMTUD or an ICMP message changed a path's datagram size (RFC 9000 §14).
    pub(super) fn on_mtu_changed(&mut self, now: Instant, id: PathId, old: u16, new: u16) {
        if let Some(path) = self.paths.table.get_mut(&id) {
            path.recovery.set_max_datagram_size(u64::from(new));
            trace_event!(self, now, TraceEvent::MtuUpdated { path: id, old, new });
        }
    }

    /// Puts what a lost (or stranded) packet carried back in the send queues.
    pub(super) fn requeue_frames(&mut self, space: SpaceId, f: &SentFrames) {
        for s in &f.stream {
            self.streams.on_stream_data_lost(s.id, s.offset, s.len, s.fin);
        }
        if let Some((offset, len)) = f.crypto {
            self.crypto[space.index()].on_lost(offset, len);
        }
        for cf in f.control() {
            self.streams.on_control_lost(cf);
        }
        if f.handshake_done {
            self.handshake_done_pending = true;
        }
        self.paths.requeue_control_frames(f.mp_control());
        for &key in f.new_cids() {
            if self.paths.cids.issued.contains_key(&key) && !self.paths.cids.new_cids_pending.contains(&key) {
                self.paths.cids.new_cids_pending.push_back(key);
            }
        }
        for &(path, seq) in f.retire_cids() {
            if let Some(r) = self.paths.cids.remote_mut(path) {
                r.requeue_retire(seq);
            }
        }
        if f.new_token && self.new_tokens.pending.is_none() {
            self.new_tokens.pending = self.new_tokens.sent.clone();
        }
    }

    /// Carries out what the loss-detection timer asked for.
    pub(super) fn on_loss_action(
        &mut self,
        now: Instant,
        path_id: PathId,
        action: crate::recovery::LossDetectionAction,
    ) {
        use crate::recovery::LossDetectionAction as A;
        let mut out = core::mem::take(&mut self.recovery_out);
        match action {
            A::None => {}
            A::LostPackets { space, .. } => self.apply_recovery_output(now, path_id, space, &mut out),
            A::Probe { space, .. } | A::AntiDeadlock { space } => {
                if space != SpaceId::Data {
                    // RFC 9002 §6.2.4: "When the PTO timer expires, and there is new or
                    // previously sent unacknowledged data, it MUST be sent", and the sender
                    // SHOULD also send from the other spaces with data in flight, coalesced: a
                    // server with both Initial and Handshake data in flight does not know which
                    // keys the client has. Probing the Handshake space with a PING while its
                    // certificate flight was lost left the client waiting for the next PTO
                    // (issue 18: quinn clients at 30% loss).
                    self.requeue_handshake_crypto(path_id, Some(space));
                }
                if let Some(path) = self.paths.table.get_mut(&path_id) {
                    path.ping_pending |= space == SpaceId::Data;
                }
            }
        }
        out.clear();
        self.recovery_out = out;
    }

    /// Queues again the unacknowledged CRYPTO data of `space` and of every other handshake space
    /// with ack-eliciting packets in flight on `path_id`.
    pub(super) fn requeue_handshake_crypto(&mut self, path_id: PathId, space: Option<SpaceId>) {
        for other in [SpaceId::Initial, SpaceId::Handshake] {
            let in_flight = self
                .paths
                .table
                .get(&path_id)
                .and_then(|p| p.recovery.space(other))
                .is_some_and(|s| s.ack_eliciting_in_flight() > 0);
            if Some(other) == space || in_flight {
                self.crypto[other.index()].requeue_unacked();
            }
        }
    }
}
