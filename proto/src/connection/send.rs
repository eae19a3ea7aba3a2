//! Building datagrams: choosing what goes into each packet, coalescing packets of several
//! spaces (RFC 9000 §12.2), padding (§14.1), protection (RFC 9001 §5), and batching full-size
//! datagrams of one path for GSO.

use bytes::{BufMut, Bytes};

use super::{CloseFrame, Connection, PathData, State, Transmit, Validation};
use crate::error::TransportError;
use crate::frame::{self, encode_stream_header, stream_header_len, Frame};
use crate::packet::{self, LongType, SpaceId};
use crate::path::PathId;
use crate::recovery::SentPacket;
use crate::shared::Side;
use crate::stream::ControlFrame;
use crate::Instant;

/// Most bytes batched into one [`Transmit`]: a UDP GSO super-buffer is one UDP datagram for
/// the kernel, whose payload cannot exceed 65,507 bytes over IPv4 (RFC 768, RFC 791).
pub const MAX_GSO_BYTES: usize = 65_000;
/// RFC 9000 §14.1: datagrams carrying Initial packets are padded to at least this size.
pub(super) const MIN_INITIAL_DATAGRAM: usize = 1200;
/// 1-RTT packets kept back from the confidentiality limit (RFC 9001 §6.6): a connection whose
/// keys could not be updated closes this many packets before the limit, as §6.6 recommends
/// ("before reaching a state where key updates are not possible"), so that its CONNECTION_CLOSE
/// packets, and the closing state's answers (doubling intervals, §10.2.1), fit under it.
const CONFIDENTIALITY_RESERVE: u64 = 64;
/// Below this many free bytes a packet is not worth starting.
const MIN_PACKET_ROOM: usize = 48;

impl Connection {
    /// Writes the next datagram(s) to send into `buf` and says where they go. Returns `None`
    /// when there is nothing to send now (see [`Connection::poll_timeout`]).
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        match self.state {
            State::Drained | State::Draining { .. } => return None,
            State::Closing { .. } => return self.poll_close_transmit(now, buf),
            _ => {}
        }
        let confidentiality_limit = self.confidentiality_limit();
        if self.handshake_confirmed {
            let interval = self.config.key_update_interval_packets;
            if let Some(keys) = self.one_rtt.as_mut() {
                if keys.update_due(interval, confidentiality_limit)
                    && keys.can_initiate_update()
                    && keys.initiate_update(&mut self.tls)
                {
                    self.stats.key_updates += 1;
                }
            }
            self.trace_local_key_update(now);
        }
        // RFC 9001 §6.6: the keys could not be updated in time; close with AEAD_LIMIT_REACHED
        // while a few packets are left under the limit, rather than seal past it.
        let sealed = self.one_rtt.as_ref().map(|k| k.sent_in_phase());
        if let Some(sealed) = sealed.filter(|&n| n >= confidentiality_limit.saturating_sub(CONFIDENTIALITY_RESERVE)) {
            self.close_with_error(
                now,
                TransportError::AEAD_LIMIT_REACHED(format!(
                    "{sealed} packets sealed with one 1-RTT key, which could not be updated (limit \
                     {confidentiality_limit})"
                )),
            );
            return self.poll_close_transmit(now, buf);
        }
        self.plan_reinjection(now);
        let ids: smallvec::SmallVec<[PathId; 4]> = self.paths.table.keys().collect();
        let n = ids.len();
        for i in 0..n {
            let id = ids[(self.paths.next_send_path as usize + i) % n];
            if let Some(t) = self.transmit_on_path(now, id, buf) {
                self.paths.next_send_path = ((self.paths.next_send_path as usize + i + 1) % n) as u32;
                return Some(t);
            }
        }
        None
    }

    fn transmit_on_path(&mut self, now: Instant, path_id: PathId, buf: &mut Vec<u8>) -> Option<Transmit> {
        let start = buf.len();
        let path = self.paths.table.get(&path_id)?;
        let mtu = usize::from(path.mtu());
        let ecn = path.recovery.ecn_codepoint();
        let mut segment_size: Option<usize> = None;
        let mut datagrams = 0usize;
        let mut discard_initial = false;
        loop {
            let dg_start = buf.len();
            let path = self.paths.table.get_mut(&path_id)?;
            // RFC 9002 §7.7: hold the next full-size packet back until the pacer allows it; the
            // release time is also a deadline for poll_timeout.
            path.pacing_release = path.recovery.pacing_delay(now, mtu as u64);
            let path = &*path;
            let budget = usize::try_from(path.amplification_budget()).unwrap_or(usize::MAX);
            let max_len = segment_size.unwrap_or(mtu).min(budget);
            if max_len < MIN_PACKET_ROOM {
                break;
            }
            let mut wanted = [SpaceId::Data; 3];
            let mut n = 0;
            for s in [SpaceId::Initial, SpaceId::Handshake, SpaceId::Data] {
                if (datagrams == 0 || s == SpaceId::Data) && self.wants_to_send(now, path_id, s) {
                    wanted[n] = s;
                    n += 1;
                }
            }
            if n == 0 {
                break;
            }
            let spaces = &wanted[..n];
            let mut has_initial = false;
            let mut long_header = false;
            for (i, &space) in spaces.iter().enumerate() {
                let is_last = i + 1 == spaces.len();
                if dg_start + max_len < buf.len() + MIN_PACKET_ROOM {
                    break;
                }
                // RFC 9000 §14.1: a datagram with an Initial is padded to 1200 bytes; the padding
                // goes into the datagram's last packet.
                let pad_to = (is_last && (has_initial || space == SpaceId::Initial))
                    .then_some(dg_start + MIN_INITIAL_DATAGRAM.min(max_len));
                if self.write_packet(now, path_id, space, buf, dg_start + max_len, pad_to, ecn).is_some() {
                    has_initial |= space == SpaceId::Initial;
                    long_header |= space != SpaceId::Data;
                    if space == SpaceId::Handshake && self.side == Side::Client {
                        // RFC 9001 §4.9.1: a client discards Initial keys when it first sends
                        // a Handshake packet.
                        discard_initial = true;
                    }
                }
            }
            if buf.len() == dg_start {
                break;
            }
            let dg_len = buf.len() - dg_start;
            datagrams += 1;
            if let Some(path) = self.paths.table.get_mut(&path_id) {
                path.stats.datagrams_sent += 1;
                path.stats.bytes_sent += dg_len as u64;
                if !path.is_validated() {
                    path.amplification_sent += dg_len as u64;
                }
            }
            self.stats.datagrams_sent += 1;
            match segment_size {
                None => segment_size = Some(dg_len),
                Some(seg) if dg_len < seg => break,
                _ => {}
            }
            // Keep batching only full-size 1-RTT datagrams (GSO needs equal segments), up to the
            // endpoint's segment count and the kernel's size limit.
            if long_header
                || dg_len < mtu
                || datagrams >= self.endpoint_config.max_gso_segments
                || buf.len() - start + mtu > MAX_GSO_BYTES
            {
                break;
            }
        }
        if discard_initial {
            self.discard_space(now, SpaceId::Initial);
        }
        let len = buf.len() - start;
        if len == 0 {
            return None;
        }
        let path = self.paths.table.get(&path_id)?;
        Some(Transmit {
            path: path_id,
            src: path.local,
            dst: path.remote,
            ecn,
            segment_size: (datagrams > 1).then_some(segment_size.unwrap_or(len)),
            len,
        })
    }

    /// Whether `space` has anything to send on `path_id` now.
    fn wants_to_send(&mut self, now: Instant, path_id: PathId, space: SpaceId) -> bool {
        if space == SpaceId::Data && self.one_rtt.is_none() {
            return self.wants_to_send_0rtt(now, path_id);
        }
        if !self.space_keys_available(space) {
            return false;
        }
        // Initial and Handshake packets travel on path 0 only.
        if space != SpaceId::Data && path_id != PathId::ZERO {
            return false;
        }
        let Some(path) = self.paths.table.get(&path_id) else { return false };
        if path.abandoned_at.is_some() || self.paths.cids.remote(path_id).is_none() {
            return false;
        }
        let Some(sp) = path.recovery.space(space) else { return false };
        if sp.ack_tracker().should_send_now(now) {
            return true;
        }
        if space == SpaceId::Data && self.paths.multipath.is_some() {
            // PATH_ACKs owed for abandoned paths (or any path, by policy) ride on this one.
            let any = self.config.ack_path_policy == crate::AckPathPolicy::AnyPath;
            let owed = self.paths.table.values().any(|q| {
                q.id != path_id
                    && (any || q.abandoned_at.is_some())
                    && q.recovery.space(SpaceId::Data).is_some_and(|s| s.ack_tracker().should_send_now(now))
            });
            if owed {
                return true;
            }
        }
        let probe = path.recovery.probes_pending() > 0;
        let raw = self.raw_frames.as_ref().is_some_and(|(s, _)| *s == space);
        if !self.crypto[space.index()].has_pending() && space != SpaceId::Data && !probe && !raw {
            return false;
        }
        if space != SpaceId::Data {
            return true;
        }
        if probe || path.ping_pending || !path.path_responses.is_empty() || raw {
            return true;
        }
        if matches!(path.validation, Validation::Pending { sent: None, .. }) {
            return true;
        }
        let cc_open = path.recovery.can_send(u64::from(path.mtu())) && path.pacing_release.is_none_or(|t| now >= t);
        if !cc_open {
            return false;
        }
        let mtu_probe = self.handshake_confirmed && path.is_validated() && path.mtud.probe_due(now);
        if self.paths.failed_with_alternative(path_id) {
            // A potentially failed path carries only probes and path-bound frames (above).
            return false;
        }
        self.crypto[SpaceId::Data.index()].has_pending()
            || !path.credit_copies.is_empty()
            || self.handshake_done_pending
            || !self.paths.cids.new_cids_pending.is_empty()
            || self.paths.cids.has_pending_retire()
            || self.paths.multipath.as_ref().is_some_and(|m| !m.pending.is_empty() || m.paths_blocked.is_some())
            || self.new_tokens.pending.is_some()
            || self.streams.has_pending_control()
            || self.datagrams.has_outgoing()
            || mtu_probe
            || self.paths.copies.has_for(path_id)
            || (self.streams.has_stream_data() && self.stream_data_allowed(now, path_id))
    }

    /// Writes one packet of `space` for `path_id` into `buf`, ending at most at `limit`.
    #[allow(clippy::too_many_arguments)]
    fn write_packet(
        &mut self,
        now: Instant,
        path_id: PathId,
        space: SpaceId,
        buf: &mut Vec<u8>,
        limit: usize,
        pad_to: Option<usize>,
        ecn: Option<crate::EcnCodepoint>,
    ) -> Option<()> {
        let header_start = buf.len();
        let tag_len = self.tag_len(space)?;
        let dcid_path = if space == SpaceId::Data { path_id } else { PathId::ZERO };
        let dcid = self.paths.cids.use_remote(dcid_path)?;
        let mp = self.paths.mp_version();
        let path = self.paths.table.get_mut(&path_id)?;
        let pn = path.recovery.next_packet_number(space);
        let largest_acked = path.recovery.space(space).and_then(|s| s.largest_acked_packet());
        let pn_len = packet::number::encoded_len(pn, largest_acked);
        let layout = self.write_header(space, &dcid, pn, pn_len, buf);
        let payload_start = buf.len();
        let payload_limit = limit.checked_sub(tag_len)?;
        if payload_limit <= payload_start + 4 {
            buf.truncate(header_start);
            return None;
        }
        // The frames of this packet, moved into its `SentPacket` once sealed (its common parts
        // are inline: a fresh record allocates nothing).
        let mut frames = super::SentFrames::default();
        let mut ack_eliciting = false;
        let mut largest_acked_in_ack = None;
        let mut validation_padding = false;
        // A client's application data before 1-RTT keys goes in 0-RTT packets (RFC 9001 §4.6.1),
        // which carry stream data and PING only here: RFC 9000 §12.5 forbids ACK, CRYPTO,
        // HANDSHAKE_DONE, NEW_TOKEN, PATH_RESPONSE and RETIRE_CONNECTION_ID in them.
        let zero_rtt = space == SpaceId::Data && self.one_rtt.is_none();

        // ACK first: it is never limited by congestion control (RFC 9002 §7).
        let path = self.paths.table.get_mut(&path_id)?;
        let ack_exponent = u32::from(self.config.ack_delay_exponent);
        if let Some(tracker) = path.recovery.ack_tracker_mut(space).filter(|_| !zero_rtt) {
            if tracker.can_bundle() || tracker.should_send_now(now) {
                let delay = tracker.ack_delay(now);
                let delay = (delay.as_micros() as u64) >> ack_exponent;
                let ecn_counts = tracker.ecn_counts();
                let room = payload_limit - buf.len();
                // RFC 10069 §3.2: with multipath, 1-RTT packets are acknowledged with PATH_ACK.
                let ack_path = (space == SpaceId::Data && mp.is_some()).then_some(path_id);
                if let Some(w) = frame::encode_ack(
                    buf,
                    ack_path,
                    mp.unwrap_or_default(),
                    tracker.pending(),
                    delay,
                    ecn_counts.as_ref(),
                    frame::MAX_ACK_RANGES,
                    room,
                ) {
                    largest_acked_in_ack = Some(w.largest);
                    tracker.on_ack_sent(now);
                }
            }
        }
        if space == SpaceId::Data && mp.is_some() {
            let any = self.config.ack_path_policy == crate::AckPathPolicy::AnyPath;
            let ack_exponent = u32::from(self.config.ack_delay_exponent);
            self.paths.write_other_path_acks(now, path_id, any, ack_exponent, buf, payload_limit, &mut frames);
        }
        let path = self.paths.table.get_mut(&path_id)?;
        let probe = path.recovery.probes_pending() > 0;
        let cc_open =
            probe || (path.recovery.can_send(u64::from(path.mtu())) && path.pacing_release.is_none_or(|t| now >= t));

        if space == SpaceId::Data && !zero_rtt {
            let written = path.write_validation_frames(now, buf, payload_limit);
            ack_eliciting |= written.ack_eliciting;
            validation_padding = written.pad_to_1200;
        }

        // DPLPMTUD probe: a packet of exactly the probe size, PING + PADDING (RFC 9000 §14.4).
        let mut mtu_probe = None;
        if space == SpaceId::Data
            && cc_open
            && self.handshake_confirmed
            && header_start == 0
            && path.is_validated()
            && largest_acked_in_ack.is_none()
        {
            if let Some(size) = path.mtud.probe_size(now) {
                let size = usize::from(size);
                if header_start + size <= buf.capacity().max(header_start + size) {
                    mtu_probe = Some(size);
                }
            }
        }

        if cc_open && mtu_probe.is_none() && !self.paths.failed_with_alternative(path_id) {
            if zero_rtt {
                ack_eliciting |= self.write_0rtt_frames(path_id, buf, payload_limit, &mut frames);
            } else if space == SpaceId::Data {
                ack_eliciting |= self.write_data_frames(now, path_id, buf, payload_limit, &mut frames);
            } else {
                ack_eliciting |= self.write_crypto_frame(space, buf, payload_limit, &mut frames);
            }
        }

        let path = self.paths.table.get_mut(&path_id)?;
        if (probe || path.ping_pending || mtu_probe.is_some()) && !ack_eliciting && buf.len() < payload_limit {
            Frame::Ping.encode(buf);
            ack_eliciting = true;
        }
        if ack_eliciting && space == SpaceId::Data {
            path.ping_pending = false;
        }
        if buf.len() == payload_start {
            buf.truncate(header_start);
            return None;
        }
        // Padding: to the probe size, to 1200 for Initial datagrams, and enough for the header
        // protection sample (RFC 9001 §5.4.2).
        let mut target = buf.len().max(header_start + layout.pn_offset + 4 + 16 - tag_len);
        if let Some(p) = pad_to {
            target = target.max(p.saturating_sub(tag_len));
        }
        // RFC 9000 §8.2.1, §8.2.2: PATH_CHALLENGE and PATH_RESPONSE datagrams are expanded to
        // 1200 bytes; `limit` holds the anti-amplification budget.
        if validation_padding {
            target = target.max((header_start + MIN_INITIAL_DATAGRAM).min(limit).saturating_sub(tag_len));
        }
        if let Some(size) = mtu_probe {
            target = target.max(header_start + size - tag_len);
        }
        let padded = target > buf.len();
        if padded {
            buf.resize(target, 0);
        }
        let traced = self.frames_for_trace(&buf[payload_start..]);
        buf.put_bytes(0, tag_len);
        let packet_len = buf.len() - header_start;
        let sealed = self.seal(space, path_id, pn, &mut buf[header_start..], &layout);
        if !sealed {
            tracing::error!("packet protection failed");
            buf.truncate(header_start);
            return None;
        }
        if space == SpaceId::Data {
            if let Some(k) = self.one_rtt.as_mut() {
                k.on_packet_sent(path_id, pn);
                // RFC 9001 §6.2: an acknowledgement sent under the current keys completes the
                // peer's key update. Without multipath the ACK is path 0's, which is `path_id`.
                if let Some(largest) = largest_acked_in_ack {
                    k.on_ack_sent(path_id, largest);
                }
                for &(other, largest) in &frames.path_acks {
                    k.on_ack_sent(other, largest);
                }
            }
        }
        let in_flight = ack_eliciting || padded;
        let app_limited = !self.streams.has_stream_data() && !self.datagrams.has_outgoing();
        let path = self.paths.table.get_mut(&path_id)?;
        if let Some(size) = mtu_probe {
            path.mtud.on_probe_sent(pn, size as u16);
        }
        path.stats.packets_sent += 1;
        let sent = SentPacket {
            packet_number: pn,
            time_sent: now,
            size: packet_len as u64,
            ack_eliciting,
            in_flight,
            largest_acked: largest_acked_in_ack,
            ecn,
            // RFC 9000 §14.4: recovery keeps a lost probe out of congestion control.
            mtu_probe: mtu_probe.is_some(),
            frames,
        };
        let restarts_before = path.recovery.idle_restarts();
        if let Err(p) = path.recovery.on_packet_sent(now, space, sent, app_limited) {
            tracing::warn!(pn = p.packet_number, "recovery refused a sent packet");
        }
        path.stats.congestion_window_restarts += path.recovery.idle_restarts() - restarts_before;
        if let Some(traced) = traced {
            self.trace_packet_sent(now, path_id, space, pn, packet_len, dcid, &traced);
        }
        if ack_eliciting {
            // RFC 9000 §10.1: sending an ack-eliciting packet restarts the idle timer, once per
            // received packet.
            if self.timers.first_ack_eliciting_since_receive.is_none() {
                self.timers.first_ack_eliciting_since_receive = Some(now);
                self.timers.idle_deadline = self.effective_idle_timeout().map(|t| now + t);
            }
        }
        Some(())
    }

    /// Fills the packet up to `limit` with STREAM frames of the streams' next chunks, records
    /// them in `frames` and in `path_id`'s statistics; returns the stream bytes written.
    fn write_stream_frames(
        &mut self,
        path_id: PathId,
        buf: &mut Vec<u8>,
        limit: usize,
        frames: &mut super::SentFrames,
    ) -> u64 {
        let mut stream_bytes = 0u64;
        loop {
            let room = limit.saturating_sub(buf.len());
            if room < 8 {
                break;
            }
            let Some(chunk) = self.streams.next_stream_chunk(room) else { break };
            let len = chunk.data.len();
            encode_stream_header(buf, chunk.id, chunk.offset, Some(len), chunk.fin);
            debug_assert!(stream_header_len(chunk.id, chunk.offset, Some(len)) + len <= room);
            buf.extend_from_slice(&chunk.data);
            stream_bytes += len as u64;
            frames.stream.push(crate::recovery::StreamRange {
                id: chunk.id,
                offset: chunk.offset,
                len: len as u64,
                fin: chunk.fin,
            });
        }
        if let Some(path) = self.paths.table.get_mut(&path_id) {
            path.stats.stream_bytes_sent += stream_bytes;
        }
        stream_bytes
    }

    /// Writes the stream data of a 0-RTT packet (RFC 9001 §4.6.1); returns whether it wrote any.
    fn write_0rtt_frames(
        &mut self,
        path_id: PathId,
        buf: &mut Vec<u8>,
        limit: usize,
        frames: &mut super::SentFrames,
    ) -> bool {
        let stream_bytes = self.write_stream_frames(path_id, buf, limit, frames);
        self.zero_rtt.stream_bytes += stream_bytes;
        !frames.stream.is_empty()
    }

    fn write_crypto_frame(
        &mut self,
        space: SpaceId,
        buf: &mut Vec<u8>,
        limit: usize,
        frames: &mut super::SentFrames,
    ) -> bool {
        let mut wrote_raw = false;
        if space != SpaceId::Data
            && self.raw_frames.as_ref().is_some_and(|(s, f)| *s == space && buf.len() + f.len() <= limit)
        {
            if let Some((_, f)) = self.raw_frames.take() {
                buf.extend_from_slice(&f);
                wrote_raw = true;
            }
        }
        let room = limit.saturating_sub(buf.len());
        let Some((offset, data)) = self.crypto[space.index()].poll(room) else { return wrote_raw };
        frames.crypto = Some((offset, data.len() as u64));
        Frame::Crypto(frame::Crypto { offset, data }).encode(buf);
        true
    }

    /// Writes 1-RTT frames other than ACK and path validation; returns whether any is
    /// ack-eliciting (all of them are).
    fn write_data_frames(
        &mut self,
        now: Instant,
        path_id: PathId,
        buf: &mut Vec<u8>,
        limit: usize,
        frames: &mut super::SentFrames,
    ) -> bool {
        let start = buf.len();
        if self.raw_frames.as_ref().is_some_and(|(s, f)| *s == SpaceId::Data && buf.len() + f.len() <= limit) {
            if let Some((_, raw)) = self.raw_frames.take() {
                buf.extend_from_slice(&raw);
            }
        }
        if self.handshake_done_pending && buf.len() < limit {
            Frame::HandshakeDone.encode(buf);
            frames.handshake_done = true;
            self.handshake_done_pending = false;
        }
        // CRYPTO in 1-RTT (NewSessionTicket, RFC 9001 §4.1.3).
        self.write_crypto_frame(crate::packet::SpaceId::Data, buf, limit, frames);
        let mpv = self.paths.mp_version();
        while let Some(&(path, seq)) = self.paths.cids.new_cids_pending.front() {
            let Some(&(id, reset_token)) = self.paths.cids.issued.get(&(path, seq)) else {
                self.paths.cids.new_cids_pending.pop_front();
                continue;
            };
            let retire_prior_to = self.paths.cids.local.get(&path).map_or(0, |l| l.retire_prior_to());
            let n = frame::NewConnectionId { path_id: path, sequence: seq, retire_prior_to, id, reset_token };
            // RFC 10069 §4.5: PATH_NEW_CONNECTION_ID once multipath is on (for path 0 too).
            let f = if mpv.is_some() { Frame::PathNewConnectionId(n) } else { Frame::NewConnectionId(n) };
            let v = mpv.unwrap_or_default();
            if buf.len() + f.encoded_len_with(v) > limit {
                break;
            }
            f.encode_with(v, buf);
            frames.rare_mut().new_cids.push((path, seq));
            self.paths.cids.new_cids_pending.pop_front();
        }
        while self.paths.cids.has_pending_retire() && buf.len() + 16 <= limit {
            let Some((path, seq)) = self.paths.cids.pop_retire() else { break };
            let r = frame::RetireConnectionId { path_id: path, sequence: seq };
            let f = if mpv.is_some() { Frame::PathRetireConnectionId(r) } else { Frame::RetireConnectionId(r) };
            f.encode_with(mpv.unwrap_or_default(), buf);
            frames.rare_mut().retire_cids.push((path, seq));
        }
        self.paths.write_control_frames(buf, limit, frames);
        if let Some(token) = &self.new_tokens.pending {
            let f = Frame::NewToken(frame::NewToken { token: token.clone() });
            if buf.len() + f.encoded_len() <= limit {
                f.encode(buf);
                frames.new_token = true;
                self.new_tokens.sent = self.new_tokens.pending.take();
            }
        }
        // Flow control and stream management (RFC 9000 §4).
        // Receive-window auto-tuning compares update intervals with the RTT; with several paths
        // the data that holds the window back travels on the slowest one, so use the largest.
        let rtt = self
            .paths
            .table
            .values()
            .filter(|p| p.abandoned_at.is_none())
            .map(|p| p.recovery.rtt().smoothed())
            .max()
            .unwrap_or(self.config.initial_rtt);
        if let Some(path) = self.paths.table.get_mut(&path_id) {
            while let Some(&cf) = path.credit_copies.first() {
                let f = control_frame(&cf);
                if buf.len() + f.encoded_len() > limit {
                    break;
                }
                f.encode(buf);
                frames.rare_mut().control.push(cf);
                path.credit_copies.remove(0);
            }
        }
        while let Some(cf) = self.streams.poll_control(now, rtt) {
            let f = control_frame(&cf);
            if buf.len() + f.encoded_len() > limit {
                // Did not fit: give it back for the next packet.
                self.streams.on_control_lost(&cf);
                break;
            }
            f.encode(buf);
            frames.rare_mut().control.push(cf);
            self.copy_credit(path_id, cf);
        }
        // Datagrams (RFC 9221 §5: not retransmitted).
        while buf.len() + 8 < limit {
            let room = limit - buf.len();
            let Some(d) =
                self.datagrams.pop_outgoing_if(|d| d.len() + 1 + crate::coding::varint_size(d.len() as u64) <= room)
            else {
                break;
            };
            frame::Datagram { data: d }.encode(buf, true);
        }
        // Copies of data in flight elsewhere (duplicates, re-injection) for this path go before
        // new data: they were decided first.
        self.write_copies(path_id, buf, limit, frames);
        // Stream data last, filling the packet, on the path the scheduler picks.
        let allowed = self.stream_data_allowed(now, path_id);
        // Decision::Duplicate: this packet's stream data also goes on the other paths named.
        let duplicate_to: smallvec::SmallVec<[PathId; 4]> = match &self.paths.scheduled {
            Some(set) if allowed && set.len() > 1 => set.iter().copied().filter(|&q| q != path_id).collect(),
            _ => smallvec::SmallVec::new(),
        };
        let first_range = frames.stream.len();
        let stream_bytes = if allowed { self.write_stream_frames(path_id, buf, limit, frames) } else { 0 };
        if stream_bytes > 0 {
            // The next packet of stream data gets a fresh decision.
            self.paths.scheduled = None;
            self.paths.scheduler.on_sent(stream_bytes, mpquic_scheduler::SentKind::Original);
            if !duplicate_to.is_empty() {
                let sent: smallvec::SmallVec<[crate::recovery::StreamRange; 4]> =
                    frames.stream[first_range..].iter().copied().collect();
                self.queue_duplicates(&duplicate_to, &sent);
            }
        }
        buf.len() > start
    }

    /// Multipath: flow-control credit sent on `path_id` is owed on every other working path
    /// too. A path can fail silently (a black hole both ways): credit that travels only on it
    /// waits for failure detection, and the peer's sending stalls although another path works.
    /// (mp-quic sends MAX_DATA on every path for the same reason.) A newer value replaces an
    /// older copy not yet sent.
    fn copy_credit(&mut self, path_id: PathId, cf: ControlFrame) {
        let replaces = |old: &ControlFrame| match (old, &cf) {
            (ControlFrame::MaxData(_), ControlFrame::MaxData(_)) => true,
            (ControlFrame::MaxStreamData { id: a, .. }, ControlFrame::MaxStreamData { id: b, .. }) => a == b,
            _ => false,
        };
        if self.paths.multipath.is_none()
            || !matches!(cf, ControlFrame::MaxData(_) | ControlFrame::MaxStreamData { .. })
        {
            return;
        }
        for p in self.paths.table.values_mut() {
            if p.id == path_id || p.abandoned_at.is_some() || p.failed_since.is_some() || !p.is_validated() {
                continue;
            }
            p.credit_copies.retain(|old| !replaces(old));
            p.credit_copies.push(cf);
        }
    }

    /// While closing (RFC 9000 §10.2.1), sends CONNECTION_CLOSE in every space we have keys for.
    fn poll_close_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let State::Closing { frame, answer_pending, .. } = &mut self.state else { return None };
        if !core::mem::take(answer_pending) {
            return None;
        }
        let close = frame.clone();
        let path_id = self.close_path()?;
        let (remote, local) = {
            let p = self.paths.table.get(&path_id)?;
            (p.remote, p.local)
        };
        let start = buf.len();
        let (mtu, budget) = self.paths.table.get(&path_id).map_or((1200, 0), |p| {
            (usize::from(p.mtu()), usize::try_from(p.amplification_budget()).unwrap_or(usize::MAX))
        });
        // RFC 9000 §8.1: the anti-amplification limit holds for CONNECTION_CLOSE too (§10.2.1
        // answers come from packets received, which raise the budget).
        let max_len = mtu.min(budget);
        // RFC 9001 §6.6: a 1-RTT key at its confidentiality limit seals nothing more.
        let one_rtt_usable = self.one_rtt.as_ref().is_none_or(|k| k.sent_in_phase() < self.confidentiality_limit());
        let spaces: smallvec::SmallVec<[SpaceId; 3]> = [SpaceId::Initial, SpaceId::Handshake, SpaceId::Data]
            .into_iter()
            .filter(|&s| self.space_keys_available(s) && (s != SpaceId::Data || self.handshake_complete))
            .filter(|&s| s != SpaceId::Data || one_rtt_usable)
            // Paths other than 0 exist only in 1-RTT.
            .filter(|&s| s == SpaceId::Data || path_id == PathId::ZERO)
            .collect();
        let has_initial = spaces.contains(&SpaceId::Initial);
        for (i, &space) in spaces.iter().enumerate() {
            let is_last = i + 1 == spaces.len();
            let pad_to = (is_last && has_initial && self.side == Side::Client).then_some(start + MIN_INITIAL_DATAGRAM);
            let packet_start = buf.len();
            self.write_close_packet(now, path_id, space, &close, buf, start + max_len, pad_to);
            if buf.len() - start > max_len {
                // Over the budget: this packet stays unsent, and so do the later ones.
                buf.truncate(packet_start);
                break;
            }
        }
        let len = buf.len() - start;
        if len == 0 {
            return None;
        }
        if let Some(path) = self.paths.table.get_mut(&path_id).filter(|p| !p.is_validated()) {
            path.amplification_sent += len as u64;
        }
        Some(Transmit { path: path_id, src: local, dst: remote, ecn: None, segment_size: None, len })
    }

    /// The path that carries CONNECTION_CLOSE. RFC 10069 §3.4: it "can go on
    /// any open path"; path 0 may be abandoned (its CIDs retired) or silently failed, so with
    /// multipath the close takes an open, validated path for which we hold a peer CID, one that
    /// is not potentially failed if there is one, the lowest smoothed RTT first. Path 0 otherwise
    /// (single path, or during the handshake).
    fn close_path(&self) -> Option<PathId> {
        let open = |p: &PathData| p.abandoned_at.is_none() && self.paths.cids.active_remote(p.id).is_some();
        let best = match self.is_multipath() {
            true => self
                .paths
                .table
                .values()
                .filter(|p| open(p) && p.is_validated())
                .min_by_key(|p| (p.failed_since.is_some(), p.recovery.rtt().smoothed(), p.id)),
            false => None,
        };
        best.or_else(|| self.paths.table.get(&PathId::ZERO).filter(|p| open(p))).map(|p| p.id)
    }

    #[allow(clippy::too_many_arguments)]
    fn write_close_packet(
        &mut self,
        now: Instant,
        path_id: PathId,
        space: SpaceId,
        close: &CloseFrame,
        buf: &mut Vec<u8>,
        limit: usize,
        pad_to: Option<usize>,
    ) {
        let header_start = buf.len();
        let Some(dcid) = self.paths.cids.use_remote(path_id) else { return };
        let Some(path) = self.paths.table.get_mut(&path_id) else { return };
        let pn = path.recovery.next_packet_number(space);
        let _ = path.recovery.skip_packet_number(space, pn);
        let layout = self.write_header(space, &dcid, pn, 4, buf);
        let max_reason = limit.saturating_sub(buf.len() + 64).min(256);
        // RFC 9000 §10.2.3: an application close in Initial/Handshake becomes APPLICATION_ERROR.
        let f = match (close, space) {
            (CloseFrame::Transport(e), _) => Frame::ConnectionClose(frame::ConnectionClose::from_error(e, max_reason)),
            (CloseFrame::Application { code, reason }, SpaceId::Data) => {
                Frame::ApplicationClose(frame::ApplicationClose {
                    error_code: *code,
                    reason: reason.slice(..reason.len().min(max_reason)),
                })
            }
            (CloseFrame::Application { .. }, _) => Frame::ConnectionClose(frame::ConnectionClose {
                error_code: crate::TransportErrorCode::APPLICATION_ERROR,
                frame_type: frame::FrameType::PADDING,
                reason: Bytes::new(),
            }),
        };
        f.encode(buf);
        let Some(tag_len) = self.tag_len(space) else { return };
        let mut target = buf.len().max(header_start + layout.pn_offset + 4);
        if let Some(p) = pad_to {
            target = target.max(p.saturating_sub(tag_len));
        }
        buf.resize(target, 0);
        let traced = self.frames_for_trace(&buf[header_start + layout.pn_offset + 4..]);
        buf.put_bytes(0, tag_len);
        if !self.seal(space, path_id, pn, &mut buf[header_start..], &layout) {
            buf.truncate(header_start);
            return;
        }
        if let Some(traced) = traced {
            let len = buf.len() - header_start;
            self.trace_packet_sent(now, path_id, space, pn, len, dcid, &traced);
        }
    }

    /// The frames of a packet about to be sealed, decoded from its plaintext, when the tracer
    /// wants packets.
    fn frames_for_trace(&self, plaintext: &[u8]) -> Option<Vec<Frame>> {
        self.tracer
            .as_ref()
            .is_some_and(|t| t.wants_packets())
            .then(|| super::decode_for_trace(plaintext, self.paths.mp_version()))
    }

    #[allow(clippy::too_many_arguments)]
    fn trace_packet_sent(
        &mut self,
        now: Instant,
        path: PathId,
        space: SpaceId,
        pn: u64,
        len: usize,
        dcid: crate::ConnectionId,
        frames: &[Frame],
    ) {
        let header = crate::trace::PacketHeaderInfo {
            packet_type: if space == SpaceId::Data && self.one_rtt.is_none() {
                crate::packet::PacketType::ZeroRtt
            } else {
                super::space_packet_type(space)
            },
            packet_number: pn,
            length: len as u64,
            dst_cid: dcid,
            src_cid: (space != SpaceId::Data).then_some(self.handshake_ids.local_cid),
            key_phase: (space == SpaceId::Data).then(|| self.one_rtt.as_ref().is_some_and(|k| k.key_phase())),
        };
        trace_event!(self, now, crate::trace::TraceEvent::PacketSent { path, header, frames });
    }
}

/// The wire frame of a stream-layer control record.
fn control_frame(cf: &ControlFrame) -> Frame {
    match *cf {
        ControlFrame::MaxData(max) => Frame::MaxData(max),
        ControlFrame::MaxStreamData { id, max } => Frame::MaxStreamData { id, max },
        ControlFrame::MaxStreams { dir, count } => Frame::MaxStreams { dir, count },
        ControlFrame::DataBlocked { limit } => Frame::DataBlocked(limit),
        ControlFrame::StreamDataBlocked { id, limit } => Frame::StreamDataBlocked { id, limit },
        ControlFrame::StreamsBlocked { dir, limit } => Frame::StreamsBlocked { dir, limit },
        ControlFrame::ResetStream { id, error_code, final_size } => Frame::ResetStream { id, error_code, final_size },
        ControlFrame::StopSending { id, error_code } => Frame::StopSending { id, error_code },
    }
}

impl Connection {
    /// Writes the header of a packet of `space` (RFC 9000 §17.2, §17.3) to `dcid`.
    fn write_header(
        &self,
        space: SpaceId,
        dcid: &crate::ConnectionId,
        pn: u64,
        pn_len: usize,
        buf: &mut Vec<u8>,
    ) -> packet::HeaderLayout {
        let (ty, token): (LongType, &[u8]) = match space {
            SpaceId::Initial => (LongType::Initial, &self.handshake_ids.token),
            SpaceId::Handshake => (LongType::Handshake, &[]),
            SpaceId::Data if self.one_rtt.is_none() => (LongType::ZeroRtt, &[]),
            SpaceId::Data => {
                let key_phase = self.one_rtt.as_ref().is_some_and(|k| k.key_phase());
                return packet::encode_short_header(buf, false, key_phase, dcid, pn, pn_len);
            }
        };
        packet::encode_long_header(buf, ty, self.version, dcid, &self.handshake_ids.local_cid, token, pn, pn_len)
    }

    /// The AEAD tag length of `space`'s keys, if we have them.
    fn tag_len(&self, space: SpaceId) -> Option<usize> {
        match space {
            SpaceId::Initial => self.initial_keys.as_ref().map(|k| k.packet.local.tag_len()),
            SpaceId::Handshake => self.handshake_keys.as_ref().map(|k| k.packet.local.tag_len()),
            SpaceId::Data => match (&self.one_rtt, &self.zero_rtt.keys) {
                (Some(k), _) => Some(k.local().tag_len()),
                (None, Some(k)) => Some(k.packet.tag_len()),
                (None, None) => None,
            },
        }
    }

    /// Fills in the Length field, seals the payload and applies header protection to `packet`
    /// (header, payload and room for the tag), RFC 9001 §5. Returns false if a key is missing or
    /// protection failed.
    fn seal(&self, space: SpaceId, path_id: PathId, pn: u64, packet: &mut [u8], layout: &packet::HeaderLayout) -> bool {
        if layout.set_length(packet).is_err() {
            return false;
        }
        let keys = match space {
            SpaceId::Initial => self.initial_keys.as_ref().map(|k| (&k.packet.local, &k.header.local)),
            SpaceId::Handshake => self.handshake_keys.as_ref().map(|k| (&k.packet.local, &k.header.local)),
            SpaceId::Data => match (&self.one_rtt, &self.zero_rtt.keys) {
                (Some(k), _) => Some((k.local(), &k.header.local)),
                (None, Some(k)) => Some((&k.packet, &k.header)),
                (None, None) => None,
            },
        };
        let Some((pk, hk)) = keys else { return false };
        // RFC 10069 §2.4: the path ID enters the 1-RTT nonce; Initial and
        // Handshake packets use path 0 (identical to RFC 9001).
        let nonce_path = if space == SpaceId::Data { path_id } else { PathId::ZERO };
        pk.encrypt_packet(nonce_path, pn, packet, layout.header_len).is_ok()
            && hk.apply(packet, layout.pn_offset).is_ok()
    }

    /// Whether stream data may go on `path_id` now: always with one usable path; otherwise as
    /// the scheduler decides (ARCHITECTURE.md: the scheduler sees read-only path views).
    pub(super) fn stream_data_allowed(&mut self, now: Instant, path_id: PathId) -> bool {
        let Some(path) = self.paths.table.get(&path_id) else { return false };
        if !path.is_validated() || path.abandoned_at.is_some() {
            return false;
        }
        if self.paths.multipath.is_none() || self.paths.table.len() == 1 {
            return true;
        }
        if self.paths.scheduled.is_none() {
            let (views, conn) = self.scheduler_inputs(now);
            let decision = self.paths.scheduler.schedule(&views, &conn);
            self.paths.path_views = views;
            self.paths.scheduled = Some(decision.paths().iter().copied().collect());
        }
        self.paths.scheduled.as_ref().is_some_and(|s| s.contains(&path_id))
    }

    /// What the scheduler decides from: a view of every path that has a CID to send with (in
    /// the reused `path_views` buffer; give it back after the call) and the connection's view.
    pub(super) fn scheduler_inputs(
        &mut self,
        now: Instant,
    ) -> (Vec<mpquic_scheduler::PathView>, mpquic_scheduler::ConnectionView) {
        let mut views = core::mem::take(&mut self.paths.path_views);
        views.clear();
        for p in self.paths.table.values() {
            if self.paths.cids.remote(p.id).is_none() {
                continue;
            }
            views.push(self::path_view(p, now));
        }
        let mut conn = mpquic_scheduler::ConnectionView::new(self.streams.unsent_bytes());
        conn.flow_control_left = self.streams.send_credit_available();
        conn.send_window = self.streams.send_window();
        conn.send_blocked = self.streams.send_blocked();
        conn.now = now;
        (views, conn)
    }
}

/// The scheduler's read-only view of a path.
fn path_view(p: &PathData, now: Instant) -> mpquic_scheduler::PathView {
    let rtt = p.recovery.rtt();
    let mut v = mpquic_scheduler::PathView::new(p.id);
    v.status = p.local_status;
    v.peer_status = p.peer_status;
    v.validated = p.is_validated();
    v.abandoned = p.abandoned_at.is_some();
    v.potentially_failed = p.failed_since.is_some();
    v.srtt = rtt.smoothed();
    v.rttvar = rtt.rttvar();
    v.min_rtt = rtt.min();
    v.cwnd = p.recovery.congestion_window();
    v.bytes_in_flight = p.recovery.bytes_in_flight();
    v.next_send_in = p.pacing_release.map_or(core::time::Duration::ZERO, |t| t.saturating_duration_since(now));
    v.rate_limited = !v.next_send_in.is_zero() && p.recovery.rate_based();
    v.mtu = p.mtu();
    v.bytes_sent = p.stats.bytes_sent;
    v.loss_rate =
        if p.stats.packets_sent == 0 { 0.0 } else { p.stats.packets_lost as f64 / p.stats.packets_sent as f64 };
    v
}
