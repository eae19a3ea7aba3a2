//! Multipath negotiation and the path ID limits (RFC 10069 §2, §4): initial_max_path_id,
//! MAX_PATH_ID, PATHS_BLOCKED and PATH_CIDS_BLOCKED.
//!
//! Paths themselves ([`super::PathData`]) are the same structure single-path QUIC uses for path 0.

use std::collections::{BTreeSet, VecDeque};

use super::{PathId, Paths};
use crate::error::TransportError;
use crate::frame::MultipathVersion;
use crate::recovery::MpControl;

/// Multipath state of a connection where both sides sent initial_max_path_id (RFC 10069 §2).
#[derive(Debug)]
pub struct Multipath {
    /// Code points spoken.
    pub version: MultipathVersion,
    /// The largest path ID we allow (our TP, raised by MAX_PATH_ID).
    pub local_max_path_id: PathId,
    /// The largest path ID the peer allows.
    pub peer_max_path_id: PathId,
    /// Path IDs abandoned (never reused: they are part of the nonce, RFC 10069 §4).
    pub abandoned: BTreeSet<PathId>,
    /// Multipath control frames to send.
    pub pending: VecDeque<MpControl>,
    /// PATHS_BLOCKED owed (the peer's limit we are blocked at).
    pub paths_blocked: Option<PathId>,
}

/// What both sides offered in their transport parameters, for [`Paths::negotiate`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Offers {
    /// Our initial_max_path_id and code points.
    pub local: Option<(PathId, MultipathVersion)>,
    /// The peer's initial_max_path_id and code points.
    pub peer: Option<(PathId, MultipathVersion)>,
    /// Whether we use zero-length CIDs.
    pub local_cid_empty: bool,
}

impl Paths {
    /// Turns multipath on if both sides offered it (RFC 10069 §2). Called once the peer's
    /// parameters are known.
    pub(crate) fn negotiate(&mut self, offers: Offers) -> Result<(), TransportError> {
        let (Some((local, version)), Some((peer, peer_version))) = (offers.local, offers.peer) else { return Ok(()) };
        // Both sides must speak the same draft's code points.
        if peer_version != version {
            return Ok(());
        }
        // RFC 10069 §2: multipath needs non-zero-length CIDs on both sides.
        if self.cids.peer_cid_empty {
            return Err(TransportError::PROTOCOL_VIOLATION("initial_max_path_id with a zero-length connection ID"));
        }
        if offers.local_cid_empty {
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

    /// The ID of the next path we open (RFC 10069 §4: consume path IDs in order, never reuse
    /// one), or why there is none: the peer's limit (PATHS_BLOCKED is then owed) or no CID yet.
    pub(crate) fn next_path_id(&mut self) -> Result<PathId, super::PathError> {
        let Some(mp) = self.multipath.as_mut() else { return Err(super::PathError::MultipathNotNegotiated) };
        let next =
            self.table.keys().chain(mp.abandoned.iter().copied()).max().and_then(|p| p.next()).unwrap_or(PathId(1));
        if next > mp.peer_max_path_id {
            // RFC 10069 §4.8: PATHS_BLOCKED tells the peer we would open more.
            mp.paths_blocked = Some(mp.peer_max_path_id);
            return Err(super::PathError::PathLimit);
        }
        if next > mp.local_max_path_id || self.cids.remote(next).is_none() || !self.cids.local.contains_key(&next) {
            return Err(super::PathError::NoConnectionId);
        }
        Ok(next)
    }

    /// Raises the path ID limit we give the peer (MAX_PATH_ID, RFC 10069 §4.7); returns whether
    /// it rose (new CIDs are then due).
    pub(crate) fn raise_local_max_path_id(&mut self, max: PathId) -> bool {
        let Some(mp) = self.multipath.as_mut() else { return false };
        if max <= mp.local_max_path_id {
            return false;
        }
        mp.local_max_path_id = max;
        mp.pending.retain(|c| !matches!(c, MpControl::MaxPathId(_)));
        mp.pending.push_back(MpControl::MaxPathId(max));
        true
    }

    /// MAX_PATH_ID from the peer (RFC 10069 §4.7); `initial` is its initial_max_path_id. Returns
    /// whether the limit rose (new CIDs are then due).
    pub(crate) fn on_max_path_id(&mut self, max: PathId, initial: PathId) -> Result<bool, TransportError> {
        let Some(mp) = self.multipath.as_mut() else {
            return Err(TransportError::PROTOCOL_VIOLATION("multipath frame without multipath"));
        };
        // Below the transport parameter is a violation; smaller than the current limit is ignored.
        if max < initial {
            return Err(TransportError::PROTOCOL_VIOLATION("MAX_PATH_ID below initial_max_path_id"));
        }
        if max > mp.peer_max_path_id {
            mp.peer_max_path_id = max;
            return Ok(true);
        }
        Ok(false)
    }

    /// PATH_CIDS_BLOCKED from the peer (RFC 10069 §4.9): it waits for CIDs of `path_id` from
    /// `next_sequence` on. New CIDs are due.
    pub(crate) fn on_path_cids_blocked(&mut self, path_id: PathId, next_sequence: u64) -> Result<(), TransportError> {
        self.check_path_id_limit(path_id, "PATH_CIDS_BLOCKED for a path ID above our limit")?;
        let next = self.cids.local.get(&path_id).map_or(0, |l| l.next_sequence());
        if next_sequence > next {
            return Err(TransportError::PROTOCOL_VIOLATION("PATH_CIDS_BLOCKED beyond the CIDs we issued"));
        }
        Ok(())
    }

    /// RFC 10069 §4: a path frame for a path ID above our limit is a PROTOCOL_VIOLATION (and
    /// any multipath frame without multipath).
    pub(crate) fn check_path_id_limit(&self, id: PathId, violation: &'static str) -> Result<(), TransportError> {
        let Some(mp) = self.multipath.as_ref() else {
            return Err(TransportError::PROTOCOL_VIOLATION("multipath frame without multipath"));
        };
        if id > mp.local_max_path_id {
            return Err(TransportError::PROTOCOL_VIOLATION(violation));
        }
        Ok(())
    }
}
