//! Receiving: splitting coalesced packets (RFC 9000 §12.2), removing protection (RFC 9001 §5),
//! key phases (§6), and applying every frame (RFC 9000 §19) with the error codes of §20.

use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};

use super::send::MIN_INITIAL_DATAGRAM;
use super::{Connection, CryptoStream};
use super::{ConnectionError, Event, State, Validation, MAX_BUFFERED_UNDECRYPTABLE, MAX_EARLY_CRYPTO_RESENDS};
use crate::crypto;
use crate::error::{TransportError, TransportErrorCode};
use crate::frame::{self, Frame};
use crate::packet::{LongType, PacketType, PartialDecode, ProtectedHeader, SpaceId};
use crate::path::PathId;
use crate::shared::{ConnectionId, EcnCodepoint, Side};
use crate::trace::{ConnectionStateTrace, DropReason, PacketHeaderInfo, TraceEvent};
use crate::Instant;

impl Connection {
    /// Handles one UDP datagram the endpoint routed to this connection. `local` is the address it
    /// arrived on, when known; `ecn` its ECN codepoint.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: Option<SocketAddr>,
        remote: SocketAddr,
        ecn: Option<EcnCodepoint>,
        data: BytesMut,
    ) {
        if matches!(self.state, State::Drained | State::Draining { .. }) {
            return;
        }
        self.stats.datagrams_received += 1;
        self.paths.scheduled = None;
        let cid_len = self.endpoint_config.local_cid_len;
        // The path: from the DCID of a short-header packet (RFC 10069 §4: CID -> path ID);
        // long-header packets only travel on path 0.
        let path_id = if self.paths.multipath.is_some() && data.first().is_some_and(|b| b & 0x80 == 0) {
            let Some(dcid) = data.get(1..1 + cid_len).and_then(ConnectionId::new) else { return };
            match self.path_for_packet(now, &dcid, local, remote) {
                Some(id) => id,
                None => {
                    self.stats.packets_dropped += 1;
                    let length = data.len() as u64;
                    trace_event!(
                        self,
                        now,
                        TraceEvent::PacketDropped { path: None, length, reason: DropReason::UnknownConnectionId }
                    );
                    return;
                }
            }
        } else {
            PathId::ZERO
        };
        let datagram_len = data.len() as u64;
        // The last 16 bytes, for stateless reset detection (RFC 9000 §10.3.1).
        let mut tail = [0u8; 16];
        let reset_candidate = data.len() >= 21;
        if reset_candidate {
            tail.copy_from_slice(&data[data.len() - 16..]);
        }
        if let Some(path) = self.paths.table.get_mut(&path_id) {
            path.stats.datagrams_received += 1;
            path.stats.bytes_received += datagram_len;
            if !path.is_validated() {
                path.amplification_received += datagram_len;
            }
        }
        let mut remaining = Some(data);
        let mut any_authenticated = false;
        while let Some(d) = remaining.take() {
            let length = d.len() as u64;
            let (partial, rest) = match PartialDecode::new(d, cid_len) {
                Ok(x) => x,
                Err(e) => {
                    tracing::trace!(error = ?e, "undecodable packet dropped");
                    self.stats.packets_dropped += 1;
                    self.trace_drop(now, Some(path_id), length, DropReason::HeaderParseError);
                    break;
                }
            };
            remaining = rest;
            // RFC 9000 §14.1: a server MUST discard an Initial packet carried in a datagram
            // smaller than 1200 bytes, every one of them (the endpoint checks the first).
            if self.side.is_server()
                && datagram_len < MIN_INITIAL_DATAGRAM as u64
                && partial.packet_type() == Some(PacketType::Initial)
            {
                self.stats.packets_dropped += 1;
                self.trace_drop(now, Some(path_id), length, DropReason::HeaderParseError);
                continue;
            }
            match self.handle_packet(now, path_id, local, remote, ecn, partial) {
                Ok(authenticated) => any_authenticated |= authenticated,
                Err(e) => {
                    self.close_with_error(now, e);
                    return;
                }
            }
            if self.is_closed() {
                break;
            }
        }
        if !any_authenticated && reset_candidate && self.paths.cids.is_stateless_reset(&tail) {
            // RFC 9000 §10.3.1: on a stateless reset the endpoint MUST enter the draining period
            // and not send any further packets on this connection. Draining (rather than
            // forgetting the connection at once) keeps its CIDs routed for three PTOs, so that
            // late packets are dropped instead of drawing stateless resets of our own.
            tracing::debug!("stateless reset received");
            self.enter_draining(now, ConnectionError::Reset);
        }
    }

    /// Returns whether the packet was authenticated.
    fn handle_packet(
        &mut self,
        now: Instant,
        path_id: PathId,
        local: Option<SocketAddr>,
        remote: SocketAddr,
        ecn: Option<EcnCodepoint>,
        mut partial: PartialDecode,
    ) -> Result<bool, TransportError> {
        match *partial.header() {
            ProtectedHeader::VersionNegotiation => {
                self.handle_version_negotiation(now, &partial);
                return Ok(false);
            }
            ProtectedHeader::UnsupportedVersion { .. } => return Ok(false),
            ProtectedHeader::Long { ty: LongType::Retry, src_cid, .. } => {
                self.handle_retry(now, &partial, src_cid);
                return Ok(false);
            }
            ProtectedHeader::Long { ty: LongType::ZeroRtt, .. } if self.side.is_client() => {
                // RFC 9001 §5.6: only clients send 0-RTT; a client
                // must not try to open 0-RTT packets and discards them.
                self.trace_drop(now, Some(path_id), partial.packet().len() as u64, DropReason::Unsupported);
                return Ok(false);
            }
            _ => {}
        }
        let (Some(space), Some(packet_type)) = (partial.space(), partial.packet_type()) else { return Ok(false) };
        // RFC 9000 §7.2: once the client has processed the server's first Initial, it discards
        // any later packet whose Source Connection ID differs from the one chosen there. (A
        // Retry's SCID only replaced our DCID, §17.2.5.2; `peer_cid` is set by the first Initial
        // processed after it.)
        if let (Side::Client, Some(expected), ProtectedHeader::Long { src_cid, .. }) =
            (self.side, self.handshake_ids.peer_cid, partial.header())
        {
            if *src_cid != expected {
                self.stats.packets_dropped += 1;
                let length = partial.packet().len() as u64;
                self.trace_drop(now, Some(path_id), length, DropReason::UnknownConnectionId);
                return Ok(false);
            }
        }
        // RFC 9000 §17.2.2: a server's Initial has an empty Token field; a client discards one
        // that has a token (the other choice, closing with PROTOCOL_VIOLATION, would let anyone
        // who saw our Initial end the handshake).
        if self.side.is_client() && packet_type == PacketType::Initial && !partial.token().is_empty() {
            self.stats.packets_dropped += 1;
            self.trace_drop(now, Some(path_id), partial.packet().len() as u64, DropReason::Unsupported);
            return Ok(false);
        }
        if let State::Closing { .. } = self.state {
            // RFC 9000 §10.2.1: answer with CONNECTION_CLOSE, at a limited rate.
            self.on_packet_while_closing();
            return Ok(false);
        }
        let zero_rtt = packet_type == PacketType::ZeroRtt;
        let keys_available = if zero_rtt { self.zero_rtt.keys.is_some() } else { self.space_keys_available(space) };
        if !keys_available {
            let awaiting = match space {
                SpaceId::Initial => false,
                SpaceId::Handshake => self.initial_keys.is_some() || self.side.is_server(),
                // RFC 9001 §4.6.1: 0-RTT keys come with the ClientHello; after it, 0-RTT packets
                // without keys were rejected (or their keys are gone) and are dropped.
                SpaceId::Data if zero_rtt => self.handshake_keys.is_none() && !self.handshake_complete,
                SpaceId::Data => !self.handshake_complete,
            };
            if zero_rtt && !awaiting {
                self.on_unopened_0rtt();
            }
            if awaiting && self.undecryptable.len() < MAX_BUFFERED_UNDECRYPTABLE {
                self.undecryptable.push_back((remote, local, ecn, partial.into_packet()));
            } else {
                self.stats.packets_dropped += 1;
                self.trace_drop(now, Some(path_id), partial.packet().len() as u64, DropReason::KeyUnavailable);
            }
            return Ok(false);
        }
        // Remove header protection (RFC 9001 §5.4).
        let pn_offset = partial.pn_offset();
        let hp_ok = match space {
            SpaceId::Initial => {
                self.initial_keys.as_ref().map(|k| k.header.remote.remove(partial.packet_mut(), pn_offset))
            }
            SpaceId::Handshake => {
                self.handshake_keys.as_ref().map(|k| k.header.remote.remove(partial.packet_mut(), pn_offset))
            }
            SpaceId::Data if zero_rtt => {
                self.zero_rtt.keys.as_ref().map(|k| k.header.remove(partial.packet_mut(), pn_offset))
            }
            SpaceId::Data => self.one_rtt.as_ref().map(|k| k.header.remote.remove(partial.packet_mut(), pn_offset)),
        };
        let packet_len = partial.packet().len() as u64;
        if !matches!(hp_ok, Some(Ok(_))) {
            self.stats.packets_dropped += 1;
            self.trace_drop(now, Some(path_id), packet_len, DropReason::DecryptionFailure);
            return Ok(false);
        }
        let Ok(header) = partial.finish() else {
            self.stats.packets_dropped += 1;
            self.trace_drop(now, Some(path_id), packet_len, DropReason::HeaderParseError);
            return Ok(false);
        };
        let Some(path) = self.paths.table.get(&path_id) else { return Ok(false) };
        let largest = path.recovery.space(space).and_then(|s| s.ack_tracker().largest_received());
        let pn = header.full_pn(largest);
        // Open the payload.
        let mut peer_updated_keys = false;
        let decrypted = {
            let packet = partial.packet_mut();
            match space {
                SpaceId::Initial => self
                    .initial_keys
                    .as_ref()
                    .map(|k| k.packet.remote.decrypt_packet(PathId::ZERO, pn, packet, header.header_len)),
                SpaceId::Handshake => self
                    .handshake_keys
                    .as_ref()
                    .map(|k| k.packet.remote.decrypt_packet(PathId::ZERO, pn, packet, header.header_len)),
                // RFC 10069 §4: 0-RTT uses path 0's packet number space and nonce.
                SpaceId::Data if zero_rtt => self
                    .zero_rtt
                    .keys
                    .as_ref()
                    .map(|k| k.packet.decrypt_packet(PathId::ZERO, pn, packet, header.header_len)),
                SpaceId::Data => self.one_rtt.as_ref().map(|k| {
                    let (key, is_update) = k.remote_for(header.key_phase, pn);
                    peer_updated_keys = is_update;
                    key.decrypt_packet(path_id, pn, packet, header.header_len)
                }),
            }
        };
        let payload_len = match decrypted {
            Some(Ok(len)) => len,
            _ => {
                self.stats.packets_dropped += 1;
                self.trace_drop(now, Some(path_id), packet_len, DropReason::DecryptionFailure);
                // RFC 9001 §6.6: failures are counted over the connection's lifetime, across all
                // keys (every packet number space), against the AEAD's integrity limit; past it
                // the connection closes and processes no more packets.
                self.failed_authentications += 1;
                if self.failed_authentications >= self.integrity_limit(space) {
                    return Err(TransportError::AEAD_LIMIT_REACHED(format!(
                        "{} packets failed authentication",
                        self.failed_authentications
                    )));
                }
                return Ok(false);
            }
        };
        if space == SpaceId::Data && !zero_rtt {
            if self.side.is_server() && !self.one_rtt_received {
                // RFC 9001 §4.9.3: a server discards 0-RTT keys once 1-RTT packets arrive
                // (within three PTOs at most; here at once, and a late 0-RTT packet is lost and
                // sent again in 1-RTT).
                self.one_rtt_received = true;
                self.zero_rtt.keys = None;
            }
            let pto = self.max_pto();
            if let Some(k) = self.one_rtt.as_mut() {
                if peer_updated_keys {
                    // RFC 9001 §6.2: the peer started a key update; follow it (or close with
                    // KEY_UPDATE_ERROR if it did not wait for our acknowledgement of the last one).
                    k.on_peer_update(&mut self.tls, now, path_id, pn, pto)?;
                    self.stats.key_updates += 1;
                    let generation = k.updates;
                    self.key_updates_traced = generation;
                    trace_event!(self, now, TraceEvent::KeyUpdated { local: false, generation });
                } else {
                    k.on_current_phase_packet(now, pn, pto);
                }
            }
        }
        // RFC 9000 §17.2, §17.3.1: reserved bits must be zero once the packet is authenticated.
        if !header.reserved_bits_zero {
            return Err(TransportError::PROTOCOL_VIOLATION("reserved header bits set"));
        }
        let Some(path) = self.paths.table.get_mut(&path_id) else { return Ok(false) };
        if path.recovery.space(space).is_some_and(|s| s.ack_tracker().is_duplicate(pn)) {
            self.stats.duplicates_dropped += 1;
            self.trace_drop(now, Some(path_id), packet_len, DropReason::Duplicate);
            return Ok(true);
        }
        path.stats.packets_received += 1;
        if ecn == Some(EcnCodepoint::Ce) {
            path.stats.ce_received += 1;
        }
        // Migration (RFC 9000 §9.3): a server follows a client whose address changed, once the
        // handshake is confirmed, on the highest-numbered non-probing packet; checked below.
        let address_changed = path.remote != remote;
        let is_largest = largest.is_none_or(|l| pn > l);
        let (first_src_cid, packet_dcid) = match *partial.header() {
            ProtectedHeader::Long { src_cid, dst_cid, .. } => (Some(src_cid), dst_cid),
            ProtectedHeader::Short { dst_cid, .. } => (None, dst_cid),
            _ => (None, ConnectionId::EMPTY),
        };
        if self.side.is_client() && space == SpaceId::Initial && self.handshake_ids.peer_cid.is_none() {
            // RFC 9000 §7.2: the client switches to the server's chosen CID.
            if let Some(scid) = first_src_cid {
                if let Some(r) = self.paths.cids.remote_mut(PathId::ZERO) {
                    r.update_initial(scid);
                }
                self.paths.cids.peer_cid_empty = scid.is_empty();
                self.handshake_ids.peer_cid = Some(scid);
            }
        }
        let header_len = header.header_len;
        let payload = partial.into_packet().freeze().slice(header_len..header_len + payload_len);
        if payload.is_empty() {
            // RFC 9000 §12.4: a packet without frames is a PROTOCOL_VIOLATION.
            return Err(TransportError::PROTOCOL_VIOLATION("packet without frames"));
        }
        if self.tracer.as_ref().is_some_and(|t| t.wants_packets()) {
            let header = PacketHeaderInfo {
                packet_type,
                packet_number: pn,
                length: packet_len,
                dst_cid: packet_dcid,
                src_cid: first_src_cid,
                key_phase: (space == SpaceId::Data).then_some(header.key_phase),
            };
            let frames = super::decode_for_trace(&payload, self.paths.mp_version());
            trace_event!(self, now, TraceEvent::PacketReceived { path: path_id, header, frames: &frames });
        }

        let (ack_eliciting, probing_only) = self.process_payload(now, path_id, packet_type, &packet_dcid, payload)?;

        if let Some(path) = self.paths.table.get_mut(&path_id) {
            if let Some(tracker) = path.recovery.ack_tracker_mut(space) {
                tracker.on_packet_received(now, pn, ack_eliciting, ecn);
            }
        }
        // RFC 9000 §10.1: an authenticated packet restarts the idle timer.
        self.timers.first_ack_eliciting_since_receive = None;
        self.reset_idle_timer(now);

        if self.side.is_server() && space == SpaceId::Handshake {
            // RFC 9000 §8.1: a Handshake packet from the client validates its address; RFC 9001
            // §4.9.1: the server discards Initial keys on the first one it processes.
            if let Some(path) = self.paths.table.get_mut(&PathId::ZERO) {
                if !path.is_validated() {
                    path.validation = Validation::Validated;
                }
                path.recovery.set_peer_completed_address_validation(now);
            }
            self.discard_space(now, SpaceId::Initial);
        }
        if self.side.is_server()
            && space == SpaceId::Initial
            && ack_eliciting
            && self.crypto[SpaceId::Initial.index()].has_unacked()
            && self.early_crypto_resends < MAX_EARLY_CRYPTO_RESENDS
        {
            // RFC 9002 §6.2.3: another ack-eliciting Initial from the client (a retransmitted
            // ClientHello, or the PING of its anti-deadlock PTO) while our ServerHello is
            // unacknowledged says the client does not have it: send our unacknowledged CRYPTO
            // data now, a limited number of times, rather than at our next, backed-off PTO.
            // quinn clients probe this way; waiting out our PTO backoff (1, 2, 4, 8 s...) left
            // them silent for longer than their idle timeout at 30% loss (issue 18).
            self.early_crypto_resends += 1;
            self.requeue_handshake_crypto(PathId::ZERO, Some(SpaceId::Initial));
        }
        if self.side.is_server()
            && space == SpaceId::Initial
            && packet_dcid.len() >= 8
            && self.paths.cids.path_of_local(&packet_dcid).is_some()
        {
            // RFC 9000 §8.1: "an endpoint MAY consider the peer address validated if the peer
            // uses a connection ID chosen by the endpoint and the connection ID contains at
            // least 64 bits of entropy". A client Initial sent to our own (random, 64-bit) CID
            // proves it received our Initial: its address is real even while its Handshake
            // packets keep getting lost. Without this, a genuine client on a 30%-loss path
            // could still be unvalidated when `handshake_timeout` ends its handshake silently.
            if let Some(path) = self.paths.table.get_mut(&PathId::ZERO) {
                if !path.is_validated() {
                    path.validation = Validation::Validated;
                }
            }
        }
        if address_changed && is_largest && !probing_only && space == SpaceId::Data && !zero_rtt {
            self.on_peer_address_change(now, path_id, remote);
        }
        if self.side.is_server() && local.is_some() {
            if let Some(path) = self.paths.table.get_mut(&path_id) {
                // RFC 9000 §9.6.2: once the client sends non-probing packets to another of our
                // addresses (the preferred address), answer from it.
                if path.local.is_none() || (path.local != local && is_largest && !probing_only) {
                    path.local = local;
                }
            }
        }
        Ok(true)
    }

    /// The frame handling of [`Connection::handle_packet`] for a 1-RTT payload that needs no
    /// decryption: what [`crate::fuzz::handle_payload`] drives. The packet takes the next packet
    /// number of `path_id` and is addressed to the path's first CID of ours.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn handle_plaintext_payload(&mut self, now: Instant, path_id: PathId, payload: Bytes) {
        if matches!(self.state, State::Drained | State::Draining { .. }) || !self.space_keys_available(SpaceId::Data) {
            return;
        }
        if let State::Closing { .. } = self.state {
            self.on_packet_while_closing();
            return;
        }
        let Some(path) = self.paths.table.get(&path_id) else { return };
        let pn =
            path.recovery.space(SpaceId::Data).and_then(|s| s.ack_tracker().largest_received()).map_or(0, |l| l + 1);
        let packet_dcid = self
            .paths
            .cids
            .local
            .get(&path_id)
            .and_then(|l| l.iter().next().map(|(_, id)| id))
            .unwrap_or(ConnectionId::EMPTY);
        self.paths.scheduled = None;
        let result = if payload.is_empty() {
            // RFC 9000 §12.4: a packet without frames is a PROTOCOL_VIOLATION.
            Err(TransportError::PROTOCOL_VIOLATION("packet without frames"))
        } else {
            self.process_payload(now, path_id, PacketType::OneRtt, &packet_dcid, payload)
        };
        match result {
            Ok((ack_eliciting, _)) => {
                if let Some(tracker) =
                    self.paths.table.get_mut(&path_id).and_then(|p| p.recovery.ack_tracker_mut(SpaceId::Data))
                {
                    tracker.on_packet_received(now, pn, ack_eliciting, None);
                }
                self.timers.first_ack_eliciting_since_receive = None;
                self.reset_idle_timer(now);
            }
            Err(e) => self.close_with_error(now, e),
        }
    }

    fn handle_version_negotiation(&mut self, now: Instant, partial: &PartialDecode) {
        // RFC 9000 §6.2: only a client, only before it received anything else from the server,
        // and only if the list does not contain the version it chose.
        if self.side.is_server() || self.handshake_ids.peer_cid.is_some() || self.state != State::Handshake {
            return;
        }
        if partial.dst_cid() != &self.handshake_ids.local_cid[..] {
            return;
        }
        if partial.supported_versions().any(|v| v == self.version) {
            return;
        }
        self.events.push_back(Event::ConnectionLost(ConnectionError::VersionMismatch));
        self.error = Some(ConnectionError::VersionMismatch);
        self.trace_closed(now, false);
        self.set_drained(now);
    }

    fn handle_retry(&mut self, now: Instant, partial: &PartialDecode, src_cid: ConnectionId) {
        // RFC 9000 §17.2.5.2: one Retry, before any other packet from the server, with a valid
        // integrity tag (RFC 9001 §5.8) and a non-empty token.
        if self.side.is_server() || self.handshake_ids.retry_received || self.handshake_ids.peer_cid.is_some() {
            return;
        }
        if partial.token().is_empty() || !crypto::is_valid_retry(&self.handshake_ids.original_dst_cid, partial.packet())
        {
            return;
        }
        if src_cid == self.handshake_ids.initial_dst_cid {
            return;
        }
        self.handshake_ids.retry_received = true;
        self.handshake_ids.retry_src_cid = Some(src_cid);
        self.handshake_ids.token = Bytes::copy_from_slice(partial.token());
        if let Some(r) = self.paths.cids.remote_mut(PathId::ZERO) {
            r.update_initial(src_cid);
        }
        self.handshake_ids.initial_dst_cid = src_cid;
        self.initial_keys = Some(crypto::initial_keys(&src_cid, Side::Client));
        if let Some(path) = self.paths.table.get_mut(&PathId::ZERO) {
            // RFC 9002 §6.3 / RFC 9000 §17.2.5.3: forget the Initial packets in flight without
            // declaring them lost; packet numbers continue.
            path.recovery.restart_space(now, SpaceId::Initial);
        }
        self.crypto[SpaceId::Initial.index()].restart();
        // RFC 9000 §17.2.5.3: 0-RTT packets sent before the Retry were discarded with the first
        // Initial; send their data again, to the new connection ID.
        self.resend_0rtt_packets(now);
    }

    /// Applies the frames of one packet; returns (ack-eliciting, only probing frames).
    fn process_payload(
        &mut self,
        now: Instant,
        path_id: PathId,
        packet_type: PacketType,
        packet_dcid: &ConnectionId,
        payload: Bytes,
    ) -> Result<(bool, bool), TransportError> {
        let space = packet_type.space();
        let mut ack_eliciting = false;
        let mut probing_only = true;
        for frame in frame::Iter::with_multipath(payload, self.paths.mp_version()) {
            let frame = frame?;
            if !frame.allowed_in(packet_type) {
                // RFC 9000 §12.4: a frame in a packet type that does not allow it.
                return Err(TransportError::PROTOCOL_VIOLATION(format!(
                    "{:?} not allowed in {packet_type:?}",
                    frame.kind()
                ))
                .with_frame(frame.frame_type(Default::default())));
            }
            ack_eliciting |= frame.is_ack_eliciting();
            probing_only &= frame.is_probing();
            if let (PacketType::ZeroRtt, Frame::Stream(s)) = (packet_type, &frame) {
                self.zero_rtt.stream_bytes += s.data.len() as u64;
            }
            let ty = frame.frame_type(self.paths.mp_version().unwrap_or_default());
            self.process_frame(now, path_id, space, packet_dcid, frame).map_err(|e| {
                if e.frame.is_none() {
                    e.with_frame(ty)
                } else {
                    e
                }
            })?;
            if self.is_closed() {
                break;
            }
        }
        Ok((ack_eliciting, probing_only))
    }

    fn process_frame(
        &mut self,
        now: Instant,
        path_id: PathId,
        space: SpaceId,
        packet_dcid: &ConnectionId,
        frame: Frame,
    ) -> Result<(), TransportError> {
        match frame {
            Frame::Padding(_) | Frame::Ping => {}
            // RFC 10069 §3.2: a plain ACK in 1-RTT always acknowledges path 0.
            Frame::Ack(ack) => {
                let acked_path = if space == SpaceId::Data { PathId::ZERO } else { path_id };
                self.on_ack_frame(now, acked_path, space, &ack)?
            }
            Frame::Crypto(c) => self.on_crypto_frame(now, space, c.offset, c.data)?,
            Frame::Stream(s) => self.streams.on_stream_frame(s.id, s.offset, s.fin, s.data)?,
            Frame::ResetStream { id, error_code, final_size } => {
                self.streams.on_reset_stream(id, error_code, final_size)?
            }
            Frame::StopSending { id, error_code } => self.streams.on_stop_sending(id, error_code)?,
            Frame::MaxData(max) => self.streams.on_max_data(max),
            Frame::MaxStreamData { id, max } => self.streams.on_max_stream_data(id, max)?,
            Frame::MaxStreams { dir, count } => self.streams.on_max_streams(dir, count)?,
            Frame::DataBlocked(limit) => self.streams.on_data_blocked(limit),
            Frame::StreamDataBlocked { id, limit } => self.streams.on_stream_data_blocked(id, limit)?,
            Frame::StreamsBlocked { dir, limit } => self.streams.on_streams_blocked(dir, limit)?,
            f @ (Frame::NewConnectionId(_)
            | Frame::RetireConnectionId(_)
            | Frame::PathChallenge(_)
            | Frame::PathResponse(_)) => self.on_path_frame(now, path_id, packet_dcid, f)?,
            Frame::ConnectionClose(c) => {
                let reason = String::from_utf8_lossy(&c.reason).into_owned();
                self.enter_draining(now, ConnectionError::ConnectionClosed { code: c.error_code, reason });
            }
            Frame::ApplicationClose(c) => {
                let reason = String::from_utf8_lossy(&c.reason).into_owned();
                self.enter_draining(now, ConnectionError::ApplicationClosed { code: c.error_code, reason });
            }
            Frame::HandshakeDone => {
                // RFC 9000 §19.20: a server receiving HANDSHAKE_DONE is a PROTOCOL_VIOLATION.
                if self.side.is_server() {
                    return Err(TransportError::PROTOCOL_VIOLATION("client sent HANDSHAKE_DONE"));
                }
                self.on_handshake_confirmed(now);
                self.migrate_to_preferred_address(now);
            }
            Frame::NewToken(t) => {
                // RFC 9000 §19.7: a server receiving NEW_TOKEN is a PROTOCOL_VIOLATION.
                if self.side.is_server() {
                    return Err(TransportError::PROTOCOL_VIOLATION("client sent NEW_TOKEN"));
                }
                if self.new_tokens.received.len() >= 4 {
                    self.new_tokens.received.pop_front();
                }
                self.new_tokens.received.push_back(t.token);
            }
            Frame::Datagram(d) => {
                // RFC 9221 §3: DATAGRAM without our parameter, or larger than it, is a
                // PROTOCOL_VIOLATION.
                let Some(limit) = self.config.datagram_receive_buffer_bytes else {
                    return Err(TransportError::PROTOCOL_VIOLATION("DATAGRAM frames were not negotiated"));
                };
                let max = self.local_params.max_datagram_frame_size.map_or(0, |v| v.into_inner());
                if d.data.len() as u64 > max {
                    return Err(TransportError::PROTOCOL_VIOLATION("DATAGRAM larger than max_datagram_frame_size"));
                }
                self.datagrams.push_incoming(d.data, limit);
                self.events.push_back(Event::DatagramReceived);
            }
            // The path frames: the path manager's (proto/src/path/frames.rs).
            f @ (Frame::PathAck(_)
            | Frame::PathNewConnectionId(_)
            | Frame::PathRetireConnectionId(_)
            | Frame::PathAbandon(_)
            | Frame::PathStatusBackup(_)
            | Frame::PathStatusAvailable(_)
            | Frame::MaxPathId(_)
            | Frame::PathsBlocked(_)
            | Frame::PathCidsBlocked(_)) => self.on_path_frame(now, path_id, packet_dcid, f)?,
        }
        Ok(())
    }

    fn on_crypto_frame(
        &mut self,
        now: Instant,
        space: SpaceId,
        offset: u64,
        data: Bytes,
    ) -> Result<(), TransportError> {
        let cs: &mut CryptoStream = &mut self.crypto[space.index()];
        let end = offset.saturating_add(data.len() as u64);
        // RFC 9000 §7.5: a bounded buffer for out-of-order CRYPTO data.
        if end > cs.recv.bytes_read() + super::crypto_stream::MAX_CRYPTO_BUFFER {
            return Err(TransportError::CRYPTO_BUFFER_EXCEEDED("CRYPTO data beyond our buffer"));
        }
        cs.recv.insert(offset, data);
        while let Some((_, chunk)) = self.crypto[space.index()].recv.read(usize::MAX) {
            self.tls.read_handshake(&chunk)?;
        }
        self.drive_tls(now);
        self.on_handshake_progress(now)
    }

    fn on_handshake_progress(&mut self, now: Instant) -> Result<(), TransportError> {
        // A resuming client's TLS stack reports the previous session's parameters until the
        // server's EncryptedExtensions arrive; take the client's view only once the handshake is
        // complete (RFC 9000 §7.4.1: remembered parameters are for 0-RTT only).
        let params_final = self.side.is_server() || !self.tls.is_handshaking();
        if self.side.is_server() {
            self.poll_server_0rtt_keys();
        }
        if self.peer_params.is_none() && params_final {
            if let Some(params) = self.tls.peer_transport_parameters()? {
                if self.side.is_client() {
                    self.resolve_client_0rtt(now, &params)?;
                }
                self.apply_peer_params(now, params)?;
            }
        }
        if !self.handshake_complete && !self.tls.is_handshaking() && self.one_rtt.is_some() {
            if self.peer_params.is_none() {
                return Err(TransportError::new(
                    TransportErrorCode::crypto(109), // missing_extension
                    "peer sent no transport parameters",
                ));
            }
            self.handshake_complete = true;
            self.state = State::Established;
            self.events.push_back(Event::Connected);
            self.trace_state(now, ConnectionStateTrace::HandshakeCompleted);
            self.emit_handshake_done_if_needed();
            if self.side.is_server() {
                // RFC 9001 §4.1.2: the server's handshake is confirmed when it completes.
                self.on_handshake_confirmed(now);
            }
            self.issue_cids();
            self.replay_undecryptable(now);
        } else if self.handshake_keys.is_some() {
            self.replay_undecryptable(now);
        }
        Ok(())
    }

    /// Processes again the packets that arrived before their keys (RFC 9001 §5.7).
    fn replay_undecryptable(&mut self, now: Instant) {
        let buffered: Vec<_> = self.undecryptable.drain(..).collect();
        for (remote, local, ecn, data) in buffered {
            self.handle_datagram(now, local, remote, ecn, data);
        }
    }

    fn apply_peer_params(
        &mut self,
        now: Instant,
        params: crate::transport_parameters::TransportParameters,
    ) -> Result<(), TransportError> {
        // RFC 9000 §7.3: authenticate the connection IDs of the handshake.
        let peer_initial_source = match self.side {
            Side::Client => self.handshake_ids.peer_cid.unwrap_or(ConnectionId::EMPTY),
            Side::Server => self.paths.cids.active_remote(PathId::ZERO).unwrap_or(ConnectionId::EMPTY),
        };
        params.authenticate_connection_ids(
            !self.side,
            &peer_initial_source,
            &self.handshake_ids.original_dst_cid,
            self.handshake_ids.retry_src_cid.as_ref(),
        )?;
        self.streams.set_peer_limits(super::zero_rtt::peer_limits(&params));
        if let (Side::Client, Some(pa)) = (self.side, params.preferred_address.as_ref()) {
            // RFC 9000 §9.6: the preferred address's CID is the server's sequence number 1.
            let cid = crate::path::IssuedCid {
                sequence: 1,
                id: pa.connection_id,
                reset_token: Some(pa.stateless_reset_token.0),
            };
            self.paths.cids.on_new_cid(PathId::ZERO, cid, 0)?;
        }
        if let Some(token) = params.stateless_reset_token {
            if let Some(r) = self.paths.cids.remote_mut(PathId::ZERO) {
                r.set_active_reset_token(token.0);
            }
        }
        let max_ack_delay = params.max_ack_delay_duration();
        let max_udp = params.max_udp_payload_size.into_inner();
        for path in self.paths.table.values_mut() {
            path.recovery.set_peer_max_ack_delay(now, max_ack_delay);
            path.mtud.set_peer_max_udp_payload_size(max_udp);
        }
        trace_event!(self, now, TraceEvent::ParametersSet { local: false, params: &params });
        self.peer_params = Some(params);
        self.negotiate_multipath()?;
        self.reset_idle_timer(now);
        Ok(())
    }

    fn on_handshake_confirmed(&mut self, now: Instant) {
        if self.handshake_confirmed {
            return;
        }
        self.handshake_confirmed = true;
        self.events.push_back(Event::HandshakeConfirmed);
        self.trace_state(now, ConnectionStateTrace::HandshakeConfirmed);
        // RFC 9001 §4.9.2: Handshake keys go once the handshake is confirmed.
        self.discard_space(now, SpaceId::Handshake);
        for path in self.paths.table.values_mut() {
            path.recovery.set_handshake_confirmed(now);
        }
        if self.side.is_server() {
            self.handshake_done_pending = true;
            if let Some(key) = self.token_key.clone() {
                // RFC 9000 §8.1.3: a token for the client's next connection.
                let ip = self.remote_address().ip();
                let token = key.seal_new_token(&mut self.rng, ip, now);
                self.new_tokens.pending = Some(Bytes::from(token));
            }
        }
    }
}
