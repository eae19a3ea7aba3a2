//! Multipath (draft-ietf-quic-multipath-21): negotiation, opening, validating, abandoning and
//! re-statusing paths, per-path CIDs, and the multipath frames.
//!
//! Paths themselves ([`super::PathData`]) are the same structure single-path QUIC uses for path 0.

use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;

use thiserror::Error;

use super::paths::{PathStatus, Validation};
use super::sent::MpControl;
use super::{Connection, PathEvent};
use crate::error::TransportError;
use crate::frame::{self, MultipathVersion};
use crate::packet::SpaceId;
use crate::path::PathId;
use crate::recovery::PathKind;
use crate::shared::ConnectionId;
use crate::Instant;

/// Multipath state of a connection where both sides sent initial_max_path_id (§2).
#[derive(Debug)]
pub struct Multipath {
    /// Code points spoken.
    pub version: MultipathVersion,
    /// The largest path ID we allow (our TP, raised by MAX_PATH_ID).
    pub local_max_path_id: PathId,
    /// The largest path ID the peer allows.
    pub peer_max_path_id: PathId,
    /// Path IDs abandoned (never reused: they are part of the nonce, §4).
    pub abandoned: BTreeSet<PathId>,
    /// Multipath control frames to send.
    pub pending: VecDeque<MpControl>,
    /// PATHS_BLOCKED owed (the peer's limit we are blocked at).
    pub paths_blocked: Option<PathId>,
}

/// Why a path could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PathError {
    /// Multipath was not negotiated (one side did not send initial_max_path_id).
    #[error("multipath was not negotiated")]
    MultipathNotNegotiated,
    /// Only the client opens paths (draft-21 §3.1).
    #[error("only the client opens paths")]
    ServerCannotOpen,
    /// Paths are opened after the handshake is confirmed.
    #[error("the handshake is not confirmed yet")]
    HandshakeNotConfirmed,
    /// The peer's path ID limit is reached (PATHS_BLOCKED was sent).
    #[error("the peer's path ID limit is reached")]
    PathLimit,
    /// The peer has not issued a CID for the next path ID yet.
    #[error("no connection ID from the peer for a new path yet")]
    NoConnectionId,
    /// No such path, or it is abandoned.
    #[error("unknown or abandoned path")]
    UnknownPath,
    /// The last usable path cannot be abandoned; close the connection instead.
    #[error("cannot abandon the last path")]
    LastPath,
}

impl Connection {
    /// Whether multipath was negotiated.
    pub fn is_multipath(&self) -> bool {
        self.multipath.is_some()
    }

    pub(super) fn mp_version(&self) -> Option<MultipathVersion> {
        self.multipath.as_ref().map(|m| m.version)
    }

    /// Turns multipath on if both sides offered it (§2). Called once the peer's parameters are
    /// known.
    pub(super) fn negotiate_multipath(&mut self) -> Result<(), TransportError> {
        let (Some(local), Some(peer)) =
            (self.local_params.initial_max_path_id, self.peer_params.as_ref().and_then(|p| p.initial_max_path_id))
        else {
            return Ok(());
        };
        // Both sides must speak the same draft's code points.
        let version = self.local_params.multipath_version;
        if self.peer_params.as_ref().is_some_and(|p| p.multipath_version != version) {
            return Ok(());
        }
        // §2: multipath needs non-zero-length CIDs on both sides.
        if self.cids.peer_cid_empty {
            return Err(TransportError::PROTOCOL_VIOLATION("initial_max_path_id with a zero-length connection ID"));
        }
        if self.endpoint_config.local_cid_len == 0 {
            return Ok(());
        }
        self.multipath = Some(Multipath {
            version,
            local_max_path_id: local,
            peer_max_path_id: peer,
            abandoned: BTreeSet::new(),
            pending: VecDeque::new(),
            paths_blocked: None,
        });
        Ok(())
    }

    /// Opens a new path from `local` to `remote` (client only, after the handshake is confirmed,
    /// draft-21 §3.1). The path is validated with PATH_CHALLENGE before it carries data; a
    /// [`PathEvent::Validated`] or [`PathEvent::ValidationFailed`] follows.
    pub fn open_path(
        &mut self,
        now: Instant,
        local: Option<SocketAddr>,
        remote: SocketAddr,
    ) -> Result<PathId, PathError> {
        let Some(mp) = self.multipath.as_mut() else { return Err(PathError::MultipathNotNegotiated) };
        if self.side.is_server() {
            return Err(PathError::ServerCannotOpen);
        }
        if !self.handshake_confirmed {
            return Err(PathError::HandshakeNotConfirmed);
        }
        // §4: consume path IDs in order; never reuse one.
        let next = self.paths.keys().chain(mp.abandoned.iter()).max().and_then(|p| p.next()).unwrap_or(PathId(1));
        if next > mp.peer_max_path_id {
            mp.paths_blocked = Some(mp.peer_max_path_id);
            return Err(PathError::PathLimit);
        }
        if next > mp.local_max_path_id || self.cids.remote(next).is_none() || !self.cids.local.contains_key(&next) {
            return Err(PathError::NoConnectionId);
        }
        self.create_path(now, next, local, remote, PathKind::Additional, false);
        Ok(next)
    }

    /// Creates a path and starts validating it. `server_side` paths are limited by
    /// anti-amplification until validated (RFC 9000 §8.1, draft-21 §3.1).
    pub(super) fn create_path(
        &mut self,
        now: Instant,
        id: PathId,
        local: Option<SocketAddr>,
        remote: SocketAddr,
        kind: PathKind,
        server_side: bool,
    ) {
        let mut token = [0u8; 8];
        rand::RngCore::fill_bytes(&mut self.rng, &mut token);
        // RFC 9000 §8.2.4: give up after max(3 PTO, 6 initial RTTs).
        let timeout = (6 * self.config.initial_rtt).max(3 * self.max_pto());
        let validation = Validation::Pending { token, sent: None, deadline: now + timeout };
        self.add_path(now, id, kind, local, remote, validation);
        if let Some(path) = self.paths.get_mut(&id) {
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
    /// (server side, §3.1). `None` means: drop the packet.
    pub(super) fn path_for_packet(
        &mut self,
        now: Instant,
        dcid: &ConnectionId,
        local: Option<SocketAddr>,
        remote: SocketAddr,
    ) -> Option<PathId> {
        if self.multipath.is_none() {
            return Some(PathId::ZERO);
        }
        let id = self.cids.path_of_local(dcid)?;
        if self.paths.contains_key(&id) {
            return Some(id);
        }
        let mp = self.multipath.as_ref()?;
        if mp.abandoned.contains(&id) || id > mp.local_max_path_id || !self.handshake_complete {
            return None;
        }
        self.create_path(now, id, local, remote, PathKind::Additional, true);
        Some(id)
    }

    /// Abandons a path (§3.3): PATH_ABANDON goes to the peer (on another path when possible),
    /// nothing more is sent on it, and its data in flight is sent again on the other paths.
    pub fn abandon_path(&mut self, now: Instant, id: PathId, error_code: u64) -> Result<(), PathError> {
        let Some(mp) = self.multipath.as_ref() else { return Err(PathError::MultipathNotNegotiated) };
        if mp.abandoned.contains(&id) || !self.paths.contains_key(&id) {
            return Err(PathError::UnknownPath);
        }
        if self.usable_paths().filter(|p| *p != id).count() == 0 {
            return Err(PathError::LastPath);
        }
        self.abandon_locally(now, id, Some(error_code));
        Ok(())
    }

    /// Paths that are not abandoned.
    pub(super) fn usable_paths(&self) -> impl Iterator<Item = PathId> + '_ {
        self.paths.values().filter(|p| p.abandoned_at.is_none()).map(|p| p.id)
    }

    fn abandon_locally(&mut self, now: Instant, id: PathId, send_code: Option<u64>) {
        let deadline = now + 3 * self.max_pto();
        let Some(path) = self.paths.get_mut(&id) else { return };
        if path.abandoned_at.is_some() {
            return;
        }
        path.abandoned_at = Some(deadline);
        // Outstanding packets of this path are lost for good: their frames go elsewhere (§3.3).
        let mut lost = Vec::new();
        path.recovery.abandon(&mut lost);
        let mut out = core::mem::take(&mut self.recovery_out);
        out.clear();
        out.lost.extend(lost);
        self.apply_recovery_output(now, id, SpaceId::Data, &mut out);
        self.recovery_out = out;
        // §3.3: the peer's CIDs of this path are retired at once, without RETIRE frames.
        self.cids.remote.remove(&id);
        if let Some(mp) = self.multipath.as_mut() {
            mp.abandoned.insert(id);
            if let Some(code) = send_code {
                mp.pending.push_back(MpControl::Abandon(id, code));
            }
        }
        self.path_event(now, PathEvent::Abandoned(id));
    }

    /// Removes abandoned paths whose 3-PTO retention is over (§3.3) and their CIDs.
    pub(super) fn forget_abandoned_paths(&mut self, now: Instant) {
        let expired: smallvec::SmallVec<[PathId; 2]> =
            self.paths.values().filter(|p| p.abandoned_at.is_some_and(|t| now >= t)).map(|p| p.id).collect();
        for id in expired {
            self.paths.remove(&id);
            if let Some(local) = self.cids.local.remove(&id) {
                for (seq, cid) in local.iter() {
                    self.cids.issued.remove(&(id, seq));
                    self.endpoint_events.push_back(super::EndpointEvent::RetiredLocalCid(cid));
                }
            }
            self.cids.new_cids_pending.retain(|(p, _)| *p != id);
        }
    }

    /// Sets our preference for a path (§3.2): PATH_STATUS_BACKUP or PATH_STATUS_AVAILABLE goes to
    /// the peer, and our own scheduler uses the path accordingly.
    pub fn set_path_status(&mut self, id: PathId, backup: bool) -> Result<(), PathError> {
        if self.multipath.is_none() {
            return Err(PathError::MultipathNotNegotiated);
        }
        let path = self.paths.get_mut(&id).filter(|p| p.abandoned_at.is_none()).ok_or(PathError::UnknownPath)?;
        path.local_status = if backup { PathStatus::Backup } else { PathStatus::Available };
        path.status_sequence_sent += 1;
        let sequence = path.status_sequence_sent;
        if let Some(mp) = self.multipath.as_mut() {
            mp.pending.retain(|c| !matches!(c, MpControl::Status { path, .. } if *path == id));
            mp.pending.push_back(MpControl::Status { path: id, backup, sequence });
        }
        Ok(())
    }

    /// Raises the path ID limit we give the peer (MAX_PATH_ID, §4.7).
    pub fn set_max_path_id(&mut self, max: PathId) {
        let Some(mp) = self.multipath.as_mut() else { return };
        if max > mp.local_max_path_id {
            mp.local_max_path_id = max;
            mp.pending.retain(|c| !matches!(c, MpControl::MaxPathId(_)));
            mp.pending.push_back(MpControl::MaxPathId(max));
            self.issue_cids();
        }
    }

    /// NEW_CONNECTION_ID (path 0) and PATH_NEW_CONNECTION_ID.
    pub(super) fn on_new_connection_id(&mut self, n: frame::NewConnectionId) -> Result<(), TransportError> {
        // RFC 9000 §19.15: a peer using zero-length CIDs cannot send this frame.
        if self.cids.peer_cid_empty {
            return Err(TransportError::PROTOCOL_VIOLATION("NEW_CONNECTION_ID while using zero-length CIDs"));
        }
        if n.path_id != PathId::ZERO {
            let Some(mp) = self.multipath.as_ref() else {
                return Err(TransportError::PROTOCOL_VIOLATION("PATH_NEW_CONNECTION_ID without multipath"));
            };
            // §4: a path ID above our limit is a PROTOCOL_VIOLATION; an abandoned one is ignored.
            if n.path_id > mp.local_max_path_id {
                return Err(TransportError::PROTOCOL_VIOLATION("connection ID for a path ID above our limit"));
            }
            if mp.abandoned.contains(&n.path_id) {
                return Ok(());
            }
        }
        let cid = super::IssuedCid { sequence: n.sequence, id: n.id, reset_token: Some(n.reset_token) };
        self.cids.on_new_cid(n.path_id, cid, n.retire_prior_to)
    }

    /// RETIRE_CONNECTION_ID (path 0) and PATH_RETIRE_CONNECTION_ID.
    pub(super) fn on_retire_connection_id(
        &mut self,
        r: frame::RetireConnectionId,
        packet_dcid: &ConnectionId,
    ) -> Result<(), TransportError> {
        if self.endpoint_config.local_cid_len == 0 {
            return Err(TransportError::PROTOCOL_VIOLATION("RETIRE_CONNECTION_ID while we use zero-length CIDs"));
        }
        if let Some(mp) = &self.multipath {
            if r.path_id > mp.local_max_path_id {
                return Err(TransportError::PROTOCOL_VIOLATION("retiring a CID of a path ID above our limit"));
            }
        }
        let Some(local) = self.cids.local.get_mut(&r.path_id) else {
            if r.path_id == PathId::ZERO {
                return Err(TransportError::PROTOCOL_VIOLATION(
                    "RETIRE_CONNECTION_ID for a sequence number never issued",
                ));
            }
            return Ok(());
        };
        if let Some(id) = local.on_retire(r.sequence, packet_dcid)? {
            self.cids.issued.remove(&(r.path_id, r.sequence));
            self.endpoint_events.push_back(super::EndpointEvent::RetiredLocalCid(id));
            self.issue_cids();
        }
        Ok(())
    }

    /// The multipath frames other than PATH_ACK and the CID frames.
    pub(super) fn on_multipath_frame(&mut self, now: Instant, frame: frame::Frame) -> Result<(), TransportError> {
        use frame::Frame as F;
        let Some(mp) = self.multipath.as_mut() else {
            return Err(TransportError::PROTOCOL_VIOLATION("multipath frame without multipath"));
        };
        let limit = mp.local_max_path_id;
        let above = |id: PathId| id > limit;
        match frame {
            F::PathAbandon(a) => {
                if above(a.path_id) {
                    return Err(TransportError::PROTOCOL_VIOLATION("PATH_ABANDON for a path ID above our limit"));
                }
                let already = mp.abandoned.contains(&a.path_id);
                if !already {
                    if self.paths.contains_key(&a.path_id) {
                        // §3.3: echo with our own PATH_ABANDON.
                        self.abandon_locally(now, a.path_id, Some(0));
                    } else if let Some(mp) = self.multipath.as_mut() {
                        mp.abandoned.insert(a.path_id);
                        self.cids.remote.remove(&a.path_id);
                    }
                }
                if self.usable_paths().count() == 0 {
                    // §3.3: the last path is gone.
                    return Err(TransportError::NO_VIABLE_PATH("the peer abandoned the last path"));
                }
            }
            F::PathStatusBackup(s) | F::PathStatusAvailable(s) => {
                let backup = matches!(frame, F::PathStatusBackup(_));
                if above(s.path_id) {
                    return Err(TransportError::PROTOCOL_VIOLATION("PATH_STATUS for a path ID above our limit"));
                }
                if let Some(path) = self.paths.get_mut(&s.path_id) {
                    // §3.2: only a higher sequence number counts.
                    if path.status_sequence_received.is_none_or(|seq| s.sequence > seq) {
                        path.status_sequence_received = Some(s.sequence);
                        let status = if backup { PathStatus::Backup } else { PathStatus::Available };
                        path.peer_status = Some(status);
                        let (local, remote) = (path.local, path.remote);
                        trace_event!(
                            self,
                            now,
                            crate::trace::TraceEvent::Path {
                                path: s.path_id,
                                what: crate::trace::PathTrace::PeerStatus(status),
                                local,
                                remote
                            }
                        );
                    }
                }
            }
            F::MaxPathId(max) => {
                // §4.7: below the TP value is a violation; smaller than the current limit is ignored.
                let tp = self.peer_params.as_ref().and_then(|p| p.initial_max_path_id).unwrap_or(PathId::ZERO);
                if max < tp {
                    return Err(TransportError::PROTOCOL_VIOLATION("MAX_PATH_ID below initial_max_path_id"));
                }
                if max > mp.peer_max_path_id {
                    mp.peer_max_path_id = max;
                    self.issue_cids();
                }
            }
            F::PathsBlocked(_) => {}
            F::PathCidsBlocked(b) => {
                if above(b.path_id) {
                    return Err(TransportError::PROTOCOL_VIOLATION("PATH_CIDS_BLOCKED for a path ID above our limit"));
                }
                let next = self.cids.local.get(&b.path_id).map_or(0, |l| l.next_sequence());
                if b.next_sequence > next {
                    return Err(TransportError::PROTOCOL_VIOLATION("PATH_CIDS_BLOCKED beyond the CIDs we issued"));
                }
                self.issue_cids();
            }
            _ => {}
        }
        Ok(())
    }

    /// Timeout of a path validation: the path is abandoned (§3.1: its ID is consumed).
    pub(super) fn on_validation_failed(&mut self, now: Instant, id: PathId) {
        if id != PathId::ZERO && self.multipath.is_some() && self.usable_paths().filter(|p| *p != id).count() > 0 {
            let code = self.mp_version().unwrap_or_default().codes().path_unstable_or_poor;
            self.abandon_locally(now, id, Some(code));
        }
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
        let provider = Arc::new(rustls::crypto::ring::default_provider());
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

    /// draft-21 §2: initial_max_path_id from a peer using a zero-length connection ID is a
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
