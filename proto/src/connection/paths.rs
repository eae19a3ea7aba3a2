//! The connection's side of the path manager ([`crate::path::Paths`]): the path commands of the
//! public API (open, abandon, re-status, migrate, ICMP), and what the manager's answers mean for
//! the rest of the connection (application events, the tracer, packets lost with an abandoned or
//! failed path, stream data copied onto another path). The path state and the rules live in
//! `proto/src/path/`; this file only connects them to the streams, events and recovery output.

use std::net::SocketAddr;
use std::time::Duration;

use mpquic_scheduler::SentKind;

use super::{Connection, EndpointEvent, Event};
use crate::error::TransportError;
use crate::frame::{encode_stream_header, Frame};
use crate::packet::SpaceId;
use crate::path::{
    FrameOutcome, IcmpError, MigrateError, PathData, PathError, PathEvent, PathId, PendingCopy, Validation,
};
use crate::recovery::{PathKind, PathRecovery, RecoveryConfig, SentFrames, StreamRange};
use crate::shared::ConnectionId;
use crate::trace::{PathTrace, TraceEvent};
use crate::Instant;

impl Connection {
    // ------------------------------------------------------------ path life cycle

    /// Whether multipath was negotiated.
    pub fn is_multipath(&self) -> bool {
        self.paths.is_multipath()
    }

    pub(super) fn add_path(
        &mut self,
        now: Instant,
        id: PathId,
        kind: PathKind,
        local: Option<SocketAddr>,
        remote: SocketAddr,
        validation: Validation,
    ) {
        let mtu = self.config.initial_mtu;
        let controller = self
            .config
            .congestion_controller_factory
            .build(now, mpquic_cc::PathInfo { path_id: id, max_datagram_size: u64::from(mtu) });
        let rc = RecoveryConfig {
            initial_rtt: self.config.initial_rtt,
            packet_threshold: self.config.packet_threshold,
            time_threshold: ((self.config.time_threshold * 1024.0) as u32, 1024),
            persistent_congestion_threshold: self.config.persistent_congestion_threshold,
            local_max_ack_delay: self.config.max_ack_delay,
            ack_eliciting_threshold: self.config.ack_eliciting_threshold,
            ecn: self.config.ecn,
            pacing: self.config.pacing,
            restart_after_idle: self.config.restart_after_idle,
            max_datagram_size: u64::from(mtu),
        };
        let recovery = PathRecovery::new(id, kind, rc, controller);
        let mtud = crate::path::MtuDiscovery::new(
            mtu,
            self.config.mtu_discovery_upper_bound,
            self.config.mtu_discovery_interval,
        );
        self.paths.insert(PathData::new(id, local, remote, recovery, mtud, validation));
        trace_event!(self, now, TraceEvent::Path { path: id, what: PathTrace::Created, local, remote });
    }

    /// Reports a path event to the application and the tracer.
    pub(super) fn path_event(&mut self, now: Instant, event: PathEvent) {
        let id = match event {
            PathEvent::Opened(id)
            | PathEvent::Validated(id)
            | PathEvent::ValidationFailed(id)
            | PathEvent::Migrated(id)
            | PathEvent::Abandoned(id)
            | PathEvent::PotentiallyFailed(id)
            | PathEvent::Recovered(id) => id,
        };
        if let Some(path) = self.paths.get(id) {
            trace_event!(
                self,
                now,
                TraceEvent::Path {
                    path: id,
                    what: PathTrace::Event(event.clone()),
                    local: path.local,
                    remote: path.remote
                }
            );
        }
        self.events.push_back(Event::Path(event));
    }

    /// Turns multipath on if both sides offered it (RFC 10069 §2). Called once the peer's
    /// parameters are known.
    pub(super) fn negotiate_multipath(&mut self) -> Result<(), TransportError> {
        let local = self.local_params.initial_max_path_id.map(|id| (id, self.local_params.multipath_version));
        let peer = self.peer_params.as_ref().and_then(|p| p.initial_max_path_id.map(|id| (id, p.multipath_version)));
        self.paths.negotiate(crate::path::Offers {
            local,
            peer,
            local_cid_empty: self.endpoint_config.local_cid_len == 0,
        })
    }

    /// Opens a new path from `local` to `remote` (client only, after the handshake is confirmed,
    /// RFC 10069 §3.1). The path is validated with PATH_CHALLENGE before it carries data; a
    /// [`PathEvent::Validated`] or [`PathEvent::ValidationFailed`] follows.
    pub fn open_path(
        &mut self,
        now: Instant,
        local: Option<SocketAddr>,
        remote: SocketAddr,
    ) -> Result<PathId, PathError> {
        if !self.paths.is_multipath() {
            return Err(PathError::MultipathNotNegotiated);
        }
        if self.side.is_server() {
            return Err(PathError::ServerCannotOpen);
        }
        if !self.handshake_confirmed {
            return Err(PathError::HandshakeNotConfirmed);
        }
        let next = self.paths.next_path_id()?;
        self.create_path(now, next, local, remote, PathKind::Additional, false);
        Ok(next)
    }

    /// A validation starting now, with a fresh unpredictable challenge (RFC 9000 §8.2.1).
    fn new_validation(&mut self, now: Instant) -> crate::path::Validation {
        let mut token = [0u8; 8];
        rand::RngCore::fill_bytes(&mut self.rng, &mut token);
        self.paths.new_path_validation(now, token, self.config.initial_rtt)
    }

    /// Creates a path and starts validating it. `server_side` paths are limited by
    /// anti-amplification until validated (RFC 9000 §8.1, RFC 10069 §3.1).
    pub(super) fn create_path(
        &mut self,
        now: Instant,
        id: PathId,
        local: Option<SocketAddr>,
        remote: SocketAddr,
        kind: PathKind,
        server_side: bool,
    ) {
        let validation = self.new_validation(now);
        self.add_path(now, id, kind, local, remote, validation);
        if let Some(path) = self.paths.table.get_mut(&id) {
            path.anti_amplification = server_side;
            if self.handshake_confirmed {
                path.recovery.set_handshake_confirmed(now);
            }
            if let Some(p) = &self.peer_params {
                path.recovery.set_peer_max_ack_delay(now, p.max_ack_delay_duration());
                path.mtud.set_peer_max_udp_payload_size(p.max_udp_payload_size.into_inner());
            }
        }
        self.path_event(now, PathEvent::Opened(id));
        self.issue_cids();
    }

    /// The path a 1-RTT packet to `dcid` belongs to, creating it when the peer opened a new one
    /// (server side, RFC 10069 §3.1). `None` means: drop the packet.
    pub(super) fn path_for_packet(
        &mut self,
        now: Instant,
        dcid: &ConnectionId,
        local: Option<SocketAddr>,
        remote: SocketAddr,
    ) -> Option<PathId> {
        if !self.paths.is_multipath() {
            return Some(PathId::ZERO);
        }
        let id = self.paths.cids.path_of_local(dcid)?;
        if self.paths.table.contains_key(&id) {
            return Some(id);
        }
        let mp = self.paths.multipath.as_ref()?;
        if mp.abandoned.contains(&id) || id > mp.local_max_path_id || !self.handshake_complete {
            return None;
        }
        self.create_path(now, id, local, remote, PathKind::Additional, true);
        Some(id)
    }

    /// Abandons a path (RFC 10069 §3.3): PATH_ABANDON goes to the peer (on another path when
    /// possible), nothing more is sent on it, and its data in flight is sent again on the other
    /// paths.
    pub fn abandon_path(&mut self, now: Instant, id: PathId, error_code: u64) -> Result<(), PathError> {
        let Some(mp) = self.paths.multipath.as_ref() else { return Err(PathError::MultipathNotNegotiated) };
        if mp.abandoned.contains(&id) || !self.paths.table.contains_key(&id) {
            return Err(PathError::UnknownPath);
        }
        if self.paths.usable().filter(|p| *p != id).count() == 0 {
            return Err(PathError::LastPath);
        }
        self.abandon_locally(now, id, Some(error_code));
        Ok(())
    }

    /// Abandons `id` on our side ([`crate::path::Paths::begin_abandon`]): its outstanding
    /// packets are lost for good and their frames go elsewhere (RFC 10069 §3.3).
    fn abandon_locally(&mut self, now: Instant, id: PathId, send_code: Option<u64>) {
        let forget_at = now + 3 * self.paths.max_pto();
        let Some(lost) = self.paths.begin_abandon(id, forget_at) else { return };
        let mut out = core::mem::take(&mut self.recovery_out);
        out.clear();
        out.lost.extend(lost);
        self.apply_recovery_output(now, id, SpaceId::Data, &mut out);
        self.recovery_out = out;
        self.paths.finish_abandon(id, send_code);
        self.path_event(now, PathEvent::Abandoned(id));
    }

    /// Removes abandoned paths whose 3-PTO retention is over (RFC 10069 §3.3) and their CIDs.
    pub(super) fn forget_abandoned_paths(&mut self, now: Instant) {
        for cid in self.paths.forget_abandoned(now) {
            self.endpoint_events.push_back(EndpointEvent::RetiredLocalCid(cid));
        }
    }

    /// Sets our preference for a path (RFC 10069 §3.2): PATH_STATUS_BACKUP or
    /// PATH_STATUS_AVAILABLE goes to the peer, and our own scheduler uses the path accordingly.
    pub fn set_path_status(&mut self, id: PathId, backup: bool) -> Result<(), PathError> {
        self.paths.set_local_status(id, backup)
    }

    /// Raises the path ID limit we give the peer (MAX_PATH_ID, RFC 10069 §4.7).
    pub fn set_max_path_id(&mut self, max: PathId) {
        if self.paths.raise_local_max_path_id(max) {
            self.issue_cids();
        }
    }

    /// Issues the CIDs the peer may use ([`crate::path::Paths::issue_cids`]), once its
    /// parameters are known.
    pub(super) fn issue_cids(&mut self) {
        let Some(peer) = self.peer_params.as_ref() else { return };
        let events = &mut self.endpoint_events;
        self.paths.issue_cids(
            peer.active_connection_id_limit.into_inner(),
            self.endpoint_config.local_cid_len,
            &mut self.rng,
            &self.reset_key,
            |path, sequence, id, reset_token| {
                events.push_back(EndpointEvent::NewLocalCid { path, sequence, id, reset_token })
            },
        );
    }

    // ------------------------------------------------------------ path frames

    /// A path frame arrived on `path_id` in a packet to `packet_dcid`: the path manager handles
    /// it ([`crate::path::Paths::on_frame`]) and this carries out what it answers.
    pub(super) fn on_path_frame(
        &mut self,
        now: Instant,
        path_id: PathId,
        packet_dcid: &ConnectionId,
        frame: Frame,
    ) -> Result<(), TransportError> {
        let cx = crate::path::FrameContext {
            path_id,
            packet_dcid,
            local_cid_len: self.endpoint_config.local_cid_len,
            peer_initial_max_path_id: self
                .peer_params
                .as_ref()
                .and_then(|p| p.initial_max_path_id)
                .unwrap_or(PathId::ZERO),
        };
        match self.paths.on_frame(cx, frame)? {
            FrameOutcome::None => {}
            FrameOutcome::Ack(id, ack) => self.on_ack_frame(now, id, SpaceId::Data, &ack)?,
            FrameOutcome::Validated(id) => self.path_event(now, PathEvent::Validated(id)),
            FrameOutcome::PeerStatus(id, status) => {
                if let Some(path) = self.paths.get(id) {
                    let (local, remote) = (path.local, path.remote);
                    trace_event!(
                        self,
                        now,
                        TraceEvent::Path { path: id, what: PathTrace::PeerStatus(status), local, remote }
                    );
                }
            }
            FrameOutcome::Abandon(id) => {
                // RFC 10069 §3.3: echo with our own PATH_ABANDON.
                self.abandon_locally(now, id, Some(0));
                self.paths.check_viable()?;
            }
            FrameOutcome::IssueCids => self.issue_cids(),
            FrameOutcome::RetiredLocalCid(cid) => {
                self.endpoint_events.push_back(EndpointEvent::RetiredLocalCid(cid));
                self.issue_cids();
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------ validation and failure

    /// The validation timer of `id` ([`crate::path::Paths::on_validation_timer`]); returns
    /// whether validation failed (the path then needs nothing more this round).
    pub(super) fn validation_timeout(&mut self, now: Instant, id: PathId) -> bool {
        if self.paths.on_validation_timer(now, id) != crate::path::ValidationTimeout::Failed {
            return false;
        }
        self.path_event(now, PathEvent::ValidationFailed(id));
        let others = self.paths.usable().filter(|p| *p != id).count();
        if id != PathId::ZERO && self.paths.is_multipath() && others > 0 {
            // RFC 10069 §3.1: a path that fails validation is abandoned (its ID is consumed).
            let code = self.paths.mp_version().unwrap_or_default().codes().path_unstable_or_poor;
            self.abandon_locally(now, id, Some(code));
        } else if others == 0 && self.paths.is_multipath() {
            // The last path left (the application abandoned the others while this one was
            // being validated): abandoning it would end the connection, so validate it again
            // with a new challenge, and let the idle timeout (RFC 9000 §10.1) decide when to give
            // up. A link that was down for a second comes back; a path stuck unvalidated would
            // never send again.
            let validation = self.new_validation(now);
            if let Some(path) = self.paths.table.get_mut(&id) {
                path.validation = validation;
            }
        }
        true
    }

    /// The peer's max_ack_delay, for failure detection (RFC 9000 §18.2's default before its
    /// parameters arrive).
    fn peer_max_ack_delay(&self) -> Duration {
        self.peer_params.as_ref().map_or(Duration::from_millis(25), |p| p.max_ack_delay_duration())
    }

    /// The earliest failure-detection or abandon deadline over all paths.
    pub(super) fn failure_timeout(&self) -> Option<Instant> {
        self.paths.failure_timeout(&self.config.path_failure, self.peer_max_ack_delay())
    }

    /// Marks paths failed whose deadline passed, and abandons those failed for too long.
    pub(super) fn detect_path_failures(&mut self, now: Instant) {
        if !self.paths.is_multipath() {
            return;
        }
        let ids: smallvec::SmallVec<[PathId; 4]> = self.paths.table.keys().collect();
        for id in ids {
            if self.paths.failure_due(now, id, &self.config.path_failure, self.peer_max_ack_delay()) {
                self.mark_path_failed(now, id);
            }
            if self.paths.failed_too_long(now, id, &self.config.path_failure) {
                let code = self.paths.mp_version().unwrap_or_default().codes().path_unstable_or_poor;
                let _ = self.abandon_path(now, id, code);
            }
        }
    }

    /// Marks `id` potentially failed and re-injects what is in flight on it.
    pub(super) fn mark_path_failed(&mut self, now: Instant, id: PathId) {
        if !self.paths.set_failed(now, id) {
            return;
        }
        // Re-inject: everything in flight on this path (stream data, flow-control updates, CIDs,
        // ...) is queued again for the other paths right away. A black hole never acknowledges
        // anything, so RFC 9002 would never declare these packets lost. They stay in flight here;
        // if they are acknowledged after all, the copies were redundant but harmless.
        let frames: Vec<SentFrames> = self
            .paths
            .get(id)
            .map(|p| p.recovery.outstanding(SpaceId::Data).map(|p| p.frames.clone()).collect())
            .unwrap_or_default();
        for f in &frames {
            self.requeue_frames(SpaceId::Data, f);
        }
        self.path_event(now, PathEvent::PotentiallyFailed(id));
    }

    /// An ACK acknowledged new packets of `id`: the path works.
    pub(super) fn on_path_acked(&mut self, now: Instant, id: PathId) {
        if self.paths.on_acked_recovers(now, id) {
            self.path_event(now, PathEvent::Recovered(id));
        }
    }

    // ------------------------------------------------------------ migration

    /// Moves the connection to a new local address (client only, RFC 9000 §9.2): packets go out
    /// from `local` with a fresh connection ID when the server gave us a spare one (§9.5), the
    /// new path is validated, and congestion control and RTT start over (§9.4).
    pub fn migrate(&mut self, now: Instant, local: SocketAddr) -> Result<(), MigrateError> {
        if self.side.is_server() {
            return Err(MigrateError::NotClient);
        }
        if self.paths.is_multipath() {
            return Err(MigrateError::Multipath);
        }
        if !self.handshake_confirmed {
            return Err(MigrateError::HandshakeNotConfirmed);
        }
        if self.peer_params.as_ref().is_some_and(|p| p.disable_active_migration) {
            return Err(MigrateError::Disabled);
        }
        // RFC 9000 §9.5: a new CID on a new path, so that the paths cannot be linked.
        if let Some(r) = self.paths.cids.remote_mut(PathId::ZERO) {
            r.rotate();
        }
        self.start_new_network_path(now, PathId::ZERO, Some(local), None);
        Ok(())
    }

    /// Client: the server offered a preferred address (RFC 9000 §9.6.1). Once the handshake is
    /// confirmed, move path 0 there, with the CID that came with it (sequence 1), validating
    /// the new path first.
    pub(super) fn migrate_to_preferred_address(&mut self, now: Instant) {
        if self.side.is_server() || self.paths.is_multipath() || !self.config.use_preferred_address {
            return;
        }
        let Some(pa) = self.peer_params.as_ref().and_then(|p| p.preferred_address) else { return };
        let Some(target) = self.paths.preferred_address_target(&pa) else { return };
        if let Some(r) = self.paths.cids.remote_mut(PathId::ZERO) {
            r.rotate_to(1);
        }
        tracing::debug!(%target, "moving to the server's preferred address");
        self.start_new_network_path(now, PathId::ZERO, None, Some(target));
    }

    /// RFC 9000 §9.3: the peer moved (NAT rebinding or migration). Follow it and validate.
    pub(super) fn on_peer_address_change(&mut self, now: Instant, path_id: PathId, remote: SocketAddr) {
        if self.side.is_client() || !self.handshake_confirmed {
            return;
        }
        tracing::debug!(new = %remote, "peer address changed");
        self.start_new_network_path(now, path_id, None, Some(remote));
    }

    /// The path's addresses changed ([`crate::path::Paths::start_new_network_path`]).
    fn start_new_network_path(
        &mut self,
        now: Instant,
        id: PathId,
        local: Option<SocketAddr>,
        remote: Option<SocketAddr>,
    ) {
        let mut token = [0u8; 8];
        rand::RngCore::fill_bytes(&mut self.rng, &mut token);
        let new = crate::path::NewNetworkPath {
            token,
            initial_rtt: self.config.initial_rtt,
            factory: &self.config.congestion_controller_factory,
            server: self.side.is_server(),
        };
        if self.paths.start_new_network_path(now, id, local, remote, new) {
            self.path_event(now, PathEvent::Migrated(id));
        }
    }

    // ------------------------------------------------------------ ICMP

    /// Applies an ICMP error about a datagram we sent to `remote`.
    pub fn handle_icmp(&mut self, now: Instant, remote: SocketAddr, error: IcmpError) {
        for id in self.paths.sending_to(remote) {
            match error {
                IcmpError::PacketTooBig { mtu } => {
                    if let Some((old, new)) = self.paths.on_packet_too_big(id, remote, mtu) {
                        self.on_mtu_changed(now, id, old, new);
                    }
                }
                IcmpError::Unreachable => {
                    if self.paths.unreachable_marks_failed(id) {
                        self.mark_path_failed(now, id);
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------ re-injection

    /// Asks the scheduler for a re-injection when nothing new can be sent and no copy is waiting,
    /// and queues the bytes chosen for it. Called once per [`Connection::poll_transmit`].
    pub(super) fn plan_reinjection(&mut self, now: Instant) {
        if self.paths.multipath.is_none() || self.paths.table.len() < 2 || !self.handshake_confirmed {
            return;
        }
        // Copies for a path that can no longer carry them are dropped: they were only copies.
        self.paths.copies.retain_for(&self.paths.table);
        if !self.paths.copies.is_empty() || self.streams.has_stream_data() || !self.paths.scheduler.reinjects() {
            return;
        }
        let (views, conn) = self.scheduler_inputs(now);
        let request = self.paths.scheduler.poll_reinjection(&views, &conn);
        self.paths.path_views = views;
        let Some(r) = request else { return };
        let (from, to) = (r.from, r.to);
        let Some(path) = self.paths.table.get(&from) else { return };
        let oldest_first = self.streams.send_blocked() || path.failed_since.is_some();
        let mut in_flight: Vec<StreamRange> = path
            .recovery
            .outstanding(SpaceId::Data)
            .filter(|p| p.in_flight)
            .flat_map(|p| p.frames.stream.iter().copied())
            .collect();
        if !oldest_first {
            in_flight.reverse();
        }
        let mut budget = r.max_bytes;
        for s in in_flight {
            if budget == 0 {
                break;
            }
            let end = s.offset + s.len;
            let mut pieces = self.streams.copyable(s.id, s.offset..end, s.fin, true);
            if !oldest_first {
                pieces.reverse();
            }
            for piece in pieces {
                if budget == 0 {
                    break;
                }
                let take = (piece.end - piece.start).min(budget);
                let range = if oldest_first { piece.start..piece.start + take } else { piece.end - take..piece.end };
                let fin = s.fin && range.end == end;
                budget -= take;
                self.streams.mark_reinjected(s.id, range.clone(), fin);
                self.paths.copies.push(PendingCopy { to, id: s.id, range, fin, kind: SentKind::Reinjected });
            }
        }
    }

    /// Queues copies of the stream data in `stream` (just sent on one path) for each path of
    /// `to`: the scheduler's `Decision::Duplicate`. A path whose window is full now sends its
    /// copy once it has room, unless the data was acknowledged meanwhile ([`Self::write_copies`]
    /// skips acknowledged bytes), as each subflow of Linux's `mptcp_redundant` walks the send
    /// queue on its own.
    pub(super) fn queue_duplicates(&mut self, to: &[PathId], stream: &[StreamRange]) {
        for &q in to {
            for s in stream {
                self.paths.copies.push_duplicate(q, s.id, s.offset..s.offset + s.len, s.fin);
            }
        }
    }

    /// Writes the copies waiting for `path_id` into the packet (up to `limit`), records them in
    /// `frames` and counts them; returns whether any was written.
    pub(super) fn write_copies(
        &mut self,
        path_id: PathId,
        buf: &mut Vec<u8>,
        limit: usize,
        frames: &mut SentFrames,
    ) -> bool {
        let (mut reinjected, mut duplicated) = (0u64, 0u64);
        let mut wrote = false;
        let mut i = 0;
        while i < self.paths.copies.queue.len() {
            let room = limit.saturating_sub(buf.len());
            if room < 8 {
                break;
            }
            let c = &self.paths.copies.queue[i];
            if c.to != path_id {
                i += 1;
                continue;
            }
            let Some(chunk) = self.streams.poll_copy(c.id, c.range.clone(), c.fin, room) else {
                if self.streams.copyable(c.id, c.range.clone(), c.fin, false).is_empty() {
                    // Acknowledged (or retransmitted) meanwhile: nothing left to copy.
                    self.paths.copies.queue.remove(i);
                    continue;
                }
                // Not even a frame header fits: the next packet.
                break;
            };
            wrote = true;
            let len = chunk.data.len() as u64;
            encode_stream_header(buf, c.id, chunk.offset, Some(chunk.data.len()), chunk.fin);
            buf.extend_from_slice(&chunk.data);
            frames.stream.push(StreamRange { id: c.id, offset: chunk.offset, len, fin: chunk.fin });
            match c.kind {
                SentKind::Duplicate => duplicated += len,
                _ => reinjected += len,
            }
            let done = chunk.offset + len >= c.range.end;
            if done {
                self.paths.copies.queue.remove(i);
            } else if let Some(c) = self.paths.copies.queue.get_mut(i) {
                c.range.start = chunk.offset + len;
            }
        }
        if let Some(path) = self.paths.table.get_mut(&path_id) {
            path.stats.stream_bytes_sent += reinjected + duplicated;
            path.stats.stream_bytes_reinjected += reinjected;
            path.stats.stream_bytes_duplicated += duplicated;
        }
        if reinjected > 0 {
            self.paths.scheduler.on_sent(reinjected, SentKind::Reinjected);
        }
        if duplicated > 0 {
            self.paths.scheduler.on_sent(duplicated, SentKind::Duplicate);
        }
        wrote
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::{Bytes, BytesMut};

    use super::super::{local_transport_parameters, Connection, ConnectionParams, Event};
    use crate::config::{EndpointConfig, ServerConfig, TransportConfig};
    use crate::crypto::{ResetKey, TlsSession};
    use crate::{ConnectionError, ConnectionId, Endpoint, Instant, Side, TransportErrorCode};

    fn tls() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("certificate");
        let der = rustls::pki_types::CertificateDer::from(cert.cert.der().to_vec());
        let key = rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).expect("key");
        let provider = Arc::new(crate::quic_crypto_provider());
        let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("tls13")
            .with_no_client_auth()
            .with_single_cert(vec![der.clone()], key)
            .expect("server");
        server.alpn_protocols = vec![b"t".to_vec()];
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der).expect("root");
        let mut client = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("tls13")
            .with_root_certificates(roots)
            .with_no_client_auth();
        client.alpn_protocols = vec![b"t".to_vec()];
        (Arc::new(server), Arc::new(client))
    }

    /// RFC 10069 §2: initial_max_path_id from a peer using a zero-length connection ID is a
    /// PROTOCOL_VIOLATION. Our own client never sends that combination, so this test builds one
    /// by hand: a client connection with a zero-length source CID that still offers multipath.
    #[test]
    fn zero_length_cid_with_initial_max_path_id_is_a_protocol_violation() {
        let (server_tls, client_tls) = tls();
        let transport = Arc::new(TransportConfig { initial_max_path_id: Some(4), ..TransportConfig::default() });
        let mut sc = ServerConfig::new(server_tls);
        sc.transport = transport.clone();
        let mut server = Endpoint::new(Arc::new(EndpointConfig::with_seed(1)), Some(Arc::new(sc)));
        let client_endpoint = Arc::new(EndpointConfig { local_cid_len: 0, ..EndpointConfig::with_seed(2) });
        let mut params = local_transport_parameters(&transport, &EndpointConfig::with_seed(2), ConnectionId::EMPTY);
        params.initial_source_connection_id = Some(ConnectionId::EMPTY);
        assert!(params.initial_max_path_id.is_some());
        let dcid = ConnectionId::new(&[7; 16]).unwrap();
        let now = Instant::from_nanos(1_000_000_000);
        let mut client = Connection::new(
            now,
            ConnectionParams {
                side: Side::Client,
                version: crate::packet::VERSION_1,
                endpoint_config: client_endpoint,
                transport,
                tls: TlsSession::client(client_tls, "localhost", &params).unwrap(),
                local: None,
                remote: "127.0.0.1:4433".parse().unwrap(),
                local_cid: ConnectionId::EMPTY,
                remote_cid: dcid,
                initial_dst_cid: dcid,
                original_dst_cid: dcid,
                token: Bytes::new(),
                address_validated: true,
                reset_key: Arc::new(ResetKey::new(&[3; 32])),
                token_key: None,
                rng_seed: 9,
                params,
            },
        );
        let (c_addr, s_addr) = ("127.0.0.1:40000".parse().unwrap(), "127.0.0.1:4433".parse().unwrap());
        let mut buf = Vec::new();
        let mut error = None;
        for _ in 0..20 {
            while let Some(t) = client.poll_transmit(now, &mut buf) {
                server.handle_datagram(now, s_addr, c_addr, None, BytesMut::from(&buf[..t.len]));
                buf.clear();
            }
            while let Some(t) = server.poll_transmit(now, &mut buf) {
                client.handle_datagram(now, Some(c_addr), s_addr, None, BytesMut::from(&buf[..t.len]));
                buf.clear();
            }
            while let Some((_, e)) = server.poll_event() {
                if let Event::ConnectionLost(err) = e {
                    error = Some(err);
                }
            }
        }
        match error {
            Some(ConnectionError::TransportError(e)) => {
                assert_eq!(e.code, TransportErrorCode::PROTOCOL_VIOLATION);
                assert!(e.reason.contains("zero-length"), "{e}");
            }
            other => panic!("expected PROTOCOL_VIOLATION, got {other:?}"),
        }
    }
}
