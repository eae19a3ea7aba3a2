//! RFC 9000 §9 connection migration for connections without multipath: the client moving to a
//! new local address or to the server's preferred address, and the server following a peer
//! whose address changed (NAT rebinding).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use super::{PathId, Paths, Validation};
use crate::Instant;

/// Why [`Connection::migrate`](crate::Connection::migrate) refused.
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
    /// With multipath, open a new path and abandon the old one instead (RFC 10069 §3).
    #[error("multipath is on: open a new path instead")]
    Multipath,
}

/// What a path needs to start over on new addresses.
#[derive(Debug)]
pub(crate) struct NewNetworkPath<'a> {
    /// The PATH_CHALLENGE data.
    pub token: [u8; 8],
    /// The RTT estimate to start from.
    pub initial_rtt: Duration,
    /// Builds the new congestion controller.
    pub factory: &'a Arc<dyn mpquic_cc::ControllerFactory>,
    /// Whether we are the server (limited by anti-amplification until validated).
    pub server: bool,
}

impl Paths {
    /// The address the client moves path 0 to when the server offered a preferred address
    /// (RFC 9000 §9.6.1): the one of the same family as path 0's, if it differs.
    pub(crate) fn preferred_address_target(
        &self,
        pa: &crate::transport_parameters::PreferredAddress,
    ) -> Option<SocketAddr> {
        let current = self.table.get(&PathId::ZERO).map(|p| p.remote)?;
        let target = match current {
            SocketAddr::V4(_) => pa.address_v4.map(SocketAddr::V4),
            SocketAddr::V6(_) => pa.address_v6.map(SocketAddr::V6),
        }?;
        (target != current).then_some(target)
    }

    /// The path's addresses changed: validate it and start congestion control over (RFC 9000
    /// §9.4; a change of port only, typical of NAT rebinding, keeps the estimates). Returns
    /// whether the path exists.
    pub(crate) fn start_new_network_path(
        &mut self,
        now: Instant,
        id: PathId,
        local: Option<SocketAddr>,
        remote: Option<SocketAddr>,
        new: NewNetworkPath<'_>,
    ) -> bool {
        let Some(path) = self.table.get_mut(&id) else { return false };
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
                new.factory.build(now, mpquic_cc::PathInfo { path_id: id, max_datagram_size: u64::from(path.mtu()) });
            path.recovery.reset_for_new_path(now, new.initial_rtt, controller);
        }
        let pto = path.recovery.pto_duration(crate::packet::SpaceId::Data);
        path.validation =
            Validation::Pending { token: new.token, sent: None, deadline: now + (3 * pto).max(Duration::from_secs(1)) };
        // RFC 9000 §9.3: the server limits itself to 3x what it receives until validated.
        path.anti_amplification = new.server;
        path.amplification_received = 0;
        path.amplification_sent = 0;
        true
    }
}
