//! RFC 9000 §9 connection migration for connections without multipath: the client moving to a
//! new local address, and the server following a peer whose address changed.

use std::net::SocketAddr;
use std::time::Duration;

use thiserror::Error;

use super::paths::Validation;
use super::{Connection, PathEvent};
use crate::path::PathId;
use crate::Instant;

/// Why [`Connection::migrate`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum MigrateError {
    /// Only a client migrates actively (RFC 9000 §9).
    #[error("only a client can migrate")]
    NotClient,
    /// Migration needs a confirmed handshake (RFC 9000 §9).
    #[error("the handshake is not confirmed yet")]
    HandshakeNotConfirmed,
    /// The server sent disable_active_migration (RFC 9000 §18.2).
    #[error("the server disabled active migration")]
    Disabled,
    /// With multipath, open a new path and abandon the old one instead (draft-21 §3).
    #[error("multipath is on: open a new path instead")]
    Multipath,
}

impl Connection {
    /// Moves the connection to a new local address (client only, RFC 9000 §9.2): packets go out
    /// from `local` with a fresh connection ID when the server gave us a spare one (§9.5), the
    /// new path is validated, and congestion control and RTT start over (§9.4).
    pub fn migrate(&mut self, now: Instant, local: SocketAddr) -> Result<(), MigrateError> {
        if self.side.is_server() {
            return Err(MigrateError::NotClient);
        }
        if self.multipath.is_some() {
            return Err(MigrateError::Multipath);
        }
        if !self.handshake_confirmed {
            return Err(MigrateError::HandshakeNotConfirmed);
        }
        if self.peer_params.as_ref().is_some_and(|p| p.disable_active_migration) {
            return Err(MigrateError::Disabled);
        }
        // RFC 9000 §9.5: a new CID on a new path, so that the paths cannot be linked.
        if let Some(r) = self.cids.remote_mut(PathId::ZERO) {
            r.rotate();
        }
        self.start_new_network_path(now, PathId::ZERO, Some(local), None);
        Ok(())
    }

    /// Client: the server offered a preferred address (RFC 9000 §9.6.1). Once the handshake is
    /// confirmed, move path 0 there, with the CID that came with it (sequence 1), validating
    /// the new path first.
    pub(super) fn migrate_to_preferred_address(&mut self, now: Instant) {
        if self.side.is_server() || self.multipath.is_some() || !self.config.use_preferred_address {
            return;
        }
        let Some(pa) = self.peer_params.as_ref().and_then(|p| p.preferred_address) else { return };
        let Some(current) = self.paths.get(&PathId::ZERO).map(|p| p.remote) else { return };
        let target = match current {
            SocketAddr::V4(_) => pa.address_v4.map(SocketAddr::V4),
            SocketAddr::V6(_) => pa.address_v6.map(SocketAddr::V6),
        };
        let Some(target) = target else { return };
        if target == current {
            return;
        }
        if let Some(r) = self.cids.remote_mut(PathId::ZERO) {
            r.rotate_to(1);
        }
        tracing::debug!(%target, "moving to the server's preferred address");
        self.start_new_network_path(now, PathId::ZERO, None, Some(target));
    }

    /// The path's addresses changed: validate it and start congestion control over (§9.4; a
    /// change of port only, typical of NAT rebinding, keeps the estimates).
    pub(super) fn start_new_network_path(
        &mut self,
        now: Instant,
        id: PathId,
        local: Option<SocketAddr>,
        remote: Option<SocketAddr>,
    ) {
        let mut token = [0u8; 8];
        rand::RngCore::fill_bytes(&mut self.rng, &mut token);
        let initial_rtt = self.config.initial_rtt;
        let factory = self.config.congestion_controller_factory.clone();
        let Some(path) = self.paths.get_mut(&id) else { return };
        let old_remote = path.remote;
        let ip_changed = remote.is_some_and(|r| r.ip() != old_remote.ip()) || local.is_some();
        if let Some(l) = local {
            path.local = Some(l);
        }
        if let Some(r) = remote {
            path.remote = r;
        }
        if ip_changed {
            let controller =
                factory.build(now, mpquic_cc::PathInfo { path_id: id.0, max_datagram_size: u64::from(path.mtu()) });
            path.recovery.reset_for_new_path(now, initial_rtt, controller);
        }
        let pto = path.recovery.pto_duration(crate::packet::SpaceId::Data);
        path.validation =
            Validation::Pending { token, sent: None, deadline: now + (3 * pto).max(Duration::from_secs(1)) };
        // RFC 9000 §9.3: the server limits itself to 3x what it receives until validated.
        path.anti_amplification = self.side.is_server();
        path.amplification_received = 0;
        path.amplification_sent = 0;
        self.path_event(now, PathEvent::Migrated(id));
    }
}
