//! Connection ID management (RFC 9000 §5.1; per path ID in RFC 10069 §5).
//!
//! Each sequence-number space of CIDs (one per path ID with multipath, one in all without) has a
//! [`LocalCids`] (the IDs we issued, which the peer uses to reach us) and a [`RemoteCids`] (the IDs
//! the peer issued, which we put in the Destination Connection ID field).

use std::collections::{BTreeMap, VecDeque};

use rand::RngCore;

use super::{PathId, PathMap, Paths};
use crate::crypto::ResetKey;
use crate::error::TransportError;
use crate::frame;
use crate::shared::{ConnectionId, ResetToken};

/// A CID the peer issued, with its sequence number and stateless reset token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssuedCid {
    /// Sequence number (RFC 9000 §5.1.1).
    pub sequence: u64,
    /// The connection ID.
    pub id: ConnectionId,
    /// Its stateless reset token (RFC 9000 §10.3), if known (not for the handshake CID without
    /// the server's stateless_reset_token parameter).
    pub reset_token: Option<[u8; 16]>,
}

/// The CIDs the peer gave us for one sequence space.
#[derive(Debug, Clone)]
pub struct RemoteCids {
    /// The one in use.
    active: IssuedCid,
    /// We sent a packet to `active` (RFC 9000 §10.3.1: only the tokens of CIDs we used may
    /// match a stateless reset).
    active_used: bool,
    /// Spare ones, ascending by sequence.
    pub(super) spare: VecDeque<IssuedCid>,
    /// Everything below this sequence number is retired (retire_prior_to, RFC 9000 §19.15).
    pub(super) retire_prior_to: u64,
    /// Sequence numbers we must announce in RETIRE_CONNECTION_ID.
    to_retire: VecDeque<u64>,
    /// Our active_connection_id_limit.
    limit: u64,
    /// Stateless reset tokens that came or went, oldest first, for the endpoint's index of
    /// tokens (see [`CidState::poll_reset_token_change`]).
    token_changes: VecDeque<ResetTokenChange>,
}

/// A stateless reset token (RFC 9000 §10.3) the peer gave us, or one that we no longer hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetTokenChange {
    /// A CID with this token is now held.
    Added([u8; 16]),
    /// A CID with this token was retired or forgotten.
    Removed([u8; 16]),
}

impl RemoteCids {
    /// Starts with the CID from the handshake (sequence 0).
    pub fn new(initial: IssuedCid, limit: u64) -> Self {
        let token_changes = initial.reset_token.map(ResetTokenChange::Added).into_iter().collect();
        Self {
            active: initial,
            active_used: false,
            spare: VecDeque::new(),
            retire_prior_to: 0,
            to_retire: VecDeque::new(),
            limit,
            token_changes,
        }
    }

    /// `cid` is no longer held: its sequence number is to be retired.
    fn retire(&mut self, cid: IssuedCid) {
        self.to_retire.push_back(cid.sequence);
        if let Some(token) = cid.reset_token {
            self.token_changes.push_back(ResetTokenChange::Removed(token));
        }
    }

    /// The CID in use.
    pub fn active(&self) -> IssuedCid {
        self.active
    }

    /// The CID in use, to send a packet to now: from now on its stateless reset token counts
    /// (RFC 9000 §10.3.1).
    pub fn use_active(&mut self) -> ConnectionId {
        self.active_used = true;
        self.active.id
    }

    /// Makes `next` the CID in use and retires the old one.
    fn switch_active(&mut self, next: IssuedCid) {
        let old = core::mem::replace(&mut self.active, next);
        self.active_used = false;
        self.retire(old);
    }

    /// Replaces the handshake CID (the server's chosen SCID replaces our random Initial DCID,
    /// RFC 9000 §7.2), keeping sequence 0.
    pub fn update_initial(&mut self, id: ConnectionId) {
        self.active.id = id;
    }

    /// Sets the reset token of the active CID (from the stateless_reset_token parameter).
    pub fn set_active_reset_token(&mut self, token: [u8; 16]) {
        if let Some(old) = self.active.reset_token.replace(token) {
            self.token_changes.push_back(ResetTokenChange::Removed(old));
        }
        self.token_changes.push_back(ResetTokenChange::Added(token));
    }

    /// Handles NEW_CONNECTION_ID (RFC 9000 §19.15, §5.1.2).
    pub fn on_new_cid(&mut self, cid: IssuedCid, retire_prior_to: u64) -> Result<(), TransportError> {
        // A repeat of a CID we have: same sequence must carry the same CID (§19.15).
        let known = core::iter::once(&self.active).chain(self.spare.iter()).find(|c| c.sequence == cid.sequence);
        if let Some(known) = known {
            if known.id != cid.id || known.reset_token != cid.reset_token {
                return Err(TransportError::PROTOCOL_VIOLATION("NEW_CONNECTION_ID reuses a sequence number"));
            }
        } else if cid.sequence >= self.retire_prior_to {
            if self.spare.iter().chain(core::iter::once(&self.active)).any(|c| c.id == cid.id) {
                return Err(TransportError::PROTOCOL_VIOLATION("NEW_CONNECTION_ID repeats a CID"));
            }
            let pos = self.spare.partition_point(|c| c.sequence < cid.sequence);
            self.spare.insert(pos, cid);
            if let Some(token) = cid.reset_token {
                self.token_changes.push_back(ResetTokenChange::Added(token));
            }
        } else {
            // §5.1.2: a CID already below retire_prior_to is retired at once.
            self.to_retire.push_back(cid.sequence);
        }
        if retire_prior_to > self.retire_prior_to {
            self.retire_prior_to = retire_prior_to;
            while self.spare.front().is_some_and(|c| c.sequence < retire_prior_to) {
                if let Some(c) = self.spare.pop_front() {
                    self.retire(c);
                }
            }
            if self.active.sequence < retire_prior_to {
                match self.spare.pop_front() {
                    Some(next) => self.switch_active(next),
                    None => {
                        return Err(TransportError::PROTOCOL_VIOLATION(
                            "retire_prior_to retires every connection ID we have",
                        ))
                    }
                }
            }
        }
        // §5.1.1: more active CIDs than our limit is CONNECTION_ID_LIMIT_ERROR.
        if 1 + self.spare.len() as u64 > self.limit {
            return Err(TransportError::CONNECTION_ID_LIMIT_ERROR("peer issued more connection IDs than our limit"));
        }
        // Bound the retirement backlog too: a peer churning CIDs faster than we can retire them.
        if self.to_retire.len() as u64 > 4 * self.limit + 16 {
            return Err(TransportError::CONNECTION_ID_LIMIT_ERROR("too many connection IDs waiting to be retired"));
        }
        Ok(())
    }

    /// Moves to the next spare CID (on migration or for privacy, RFC 9000 §9.5), retiring the old
    /// one. Returns false when there is no spare.
    pub fn rotate(&mut self) -> bool {
        match self.spare.pop_front() {
            Some(next) => {
                self.switch_active(next);
                true
            }
            None => false,
        }
    }

    /// Switches to the spare CID with `sequence`, retiring the active one (the preferred
    /// address's CID is sequence 1, RFC 9000 §9.6.1). Returns false if there is no such spare.
    pub fn rotate_to(&mut self, sequence: u64) -> bool {
        let Some(pos) = self.spare.iter().position(|c| c.sequence == sequence) else { return false };
        let Some(next) = self.spare.remove(pos) else { return false };
        self.switch_active(next);
        true
    }

    /// The next sequence number to announce in RETIRE_CONNECTION_ID.
    pub fn pop_retire(&mut self) -> Option<u64> {
        self.to_retire.pop_front()
    }

    /// Puts a lost RETIRE_CONNECTION_ID back.
    pub fn requeue_retire(&mut self, sequence: u64) {
        if !self.to_retire.contains(&sequence) {
            self.to_retire.push_back(sequence);
        }
    }

    /// Whether any RETIRE_CONNECTION_ID is pending.
    pub fn has_pending_retire(&self) -> bool {
        !self.to_retire.is_empty()
    }

    /// Whether `token` is the reset token of any CID we hold, used or spare: the endpoint's
    /// index of tokens keeps every one of them (see [`CidState::poll_reset_token_change`]).
    pub fn holds_reset_token(&self, token: &[u8; 16]) -> bool {
        core::iter::once(&self.active).chain(self.spare.iter()).any(|c| c.reset_token.as_ref() == Some(token))
    }

    /// Whether `tail`, the last 16 bytes of a datagram, is the reset token of the CID we send
    /// to. RFC 9000 §10.3.1: only tokens of CIDs we used and did not retire count (a spare
    /// CID's token must not end the connection), compared in constant time.
    pub fn is_stateless_reset(&self, tail: &[u8; 16]) -> bool {
        let matches = self.active.reset_token.is_some_and(|t| ResetToken(t).constant_time_eq(tail));
        self.active_used & matches
    }
}

/// The CIDs we issued for one sequence space.
#[derive(Debug, Clone)]
pub struct LocalCids {
    /// Issued and not retired, ascending by sequence: (sequence, id).
    active: VecDeque<(u64, ConnectionId)>,
    /// Next sequence number to issue.
    next_sequence: u64,
    /// Sequence numbers below this were asked to be retired by us (retire_prior_to we send).
    retire_prior_to: u64,
}

impl LocalCids {
    /// Starts with the CID we used in the handshake as sequence 0.
    pub fn new(initial: ConnectionId) -> Self {
        let mut active = VecDeque::new();
        active.push_back((0, initial));
        Self { active, next_sequence: 1, retire_prior_to: 0 }
    }

    /// Starts empty (a multipath path ID whose CIDs are all issued later).
    pub fn empty(first_sequence: u64) -> Self {
        Self { active: VecDeque::new(), next_sequence: first_sequence, retire_prior_to: 0 }
    }

    /// Active CIDs issued.
    pub fn active_count(&self) -> usize {
        self.active.len()
    }

    /// Records a new CID; returns its sequence number.
    pub fn issue(&mut self, id: ConnectionId) -> u64 {
        let seq = self.next_sequence;
        self.next_sequence += 1;
        self.active.push_back((seq, id));
        seq
    }

    /// The sequence number the next issued CID will get.
    pub fn next_sequence(&self) -> u64 {
        self.next_sequence
    }

    /// The retire_prior_to value to send with NEW_CONNECTION_ID.
    pub fn retire_prior_to(&self) -> u64 {
        self.retire_prior_to
    }

    /// Whether `id` is one of ours.
    pub fn contains(&self, id: &ConnectionId) -> bool {
        self.active.iter().any(|(_, c)| c == id)
    }

    /// Handles RETIRE_CONNECTION_ID (RFC 9000 §19.16). `packet_dcid` is the CID the frame's packet
    /// was sent to, which may not be retired by that packet. Returns the retired CID, if active.
    pub fn on_retire(
        &mut self,
        sequence: u64,
        packet_dcid: &ConnectionId,
    ) -> Result<Option<ConnectionId>, TransportError> {
        if sequence >= self.next_sequence {
            return Err(TransportError::PROTOCOL_VIOLATION("RETIRE_CONNECTION_ID for a sequence number never issued"));
        }
        let Some(pos) = self.active.iter().position(|(s, _)| *s == sequence) else {
            return Ok(None);
        };
        if self.active[pos].1 == *packet_dcid {
            return Err(TransportError::PROTOCOL_VIOLATION(
                "RETIRE_CONNECTION_ID retires the connection ID its packet was sent to",
            ));
        }
        Ok(self.active.remove(pos).map(|(_, id)| id))
    }

    /// All active CIDs.
    pub fn iter(&self) -> impl Iterator<Item = (u64, ConnectionId)> + '_ {
        self.active.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TransportErrorCode;

    fn cid(b: u8) -> ConnectionId {
        ConnectionId::new(&[b; 8]).unwrap()
    }

    fn issued(seq: u64) -> IssuedCid {
        IssuedCid { sequence: seq, id: cid(seq as u8 + 1), reset_token: Some([seq as u8; 16]) }
    }

    #[test]
    fn limit_and_retire_prior_to() {
        let mut r = RemoteCids::new(issued(0), 2);
        r.on_new_cid(issued(1), 0).unwrap();
        let err = r.on_new_cid(issued(2), 0).unwrap_err();
        assert_eq!(err.code, TransportErrorCode::CONNECTION_ID_LIMIT_ERROR);

        let mut r = RemoteCids::new(issued(0), 2);
        r.on_new_cid(issued(1), 0).unwrap();
        // Retiring 0 moves the active CID to 1 and queues RETIRE for 0.
        r.on_new_cid(issued(2), 1).unwrap();
        assert_eq!(r.active().sequence, 1);
        assert_eq!(r.pop_retire(), Some(0));
        assert!(r.holds_reset_token(&[2; 16]));
        // A repeated frame is harmless; a changed one is a violation.
        r.on_new_cid(issued(2), 1).unwrap();
        let mut changed = issued(2);
        changed.id = cid(99);
        assert_eq!(r.on_new_cid(changed, 1).unwrap_err().code, TransportErrorCode::PROTOCOL_VIOLATION);
    }

    /// RFC 9000 §10.3.1: only the token of a CID we sent to, and did not retire, is a stateless
    /// reset.
    #[test]
    fn stateless_reset_matches_only_used_cids() {
        let mut r = RemoteCids::new(issued(0), 4);
        r.on_new_cid(issued(1), 0).unwrap();
        assert!(r.holds_reset_token(&[0; 16]) && r.holds_reset_token(&[1; 16]));
        assert!(!r.is_stateless_reset(&[0; 16]), "no packet was sent to the CID yet");
        assert_eq!(r.use_active(), cid(1));
        assert!(r.is_stateless_reset(&[0; 16]));
        assert!(!r.is_stateless_reset(&[1; 16]), "the spare CID was never used");
        assert!(r.rotate());
        assert!(!r.is_stateless_reset(&[0; 16]), "the CID was retired");
        assert!(!r.is_stateless_reset(&[1; 16]), "no packet was sent to the new CID yet");
        r.use_active();
        assert!(r.is_stateless_reset(&[1; 16]));
    }

    #[test]
    fn local_retire_rules() {
        let mut l = LocalCids::new(cid(1));
        let s = l.issue(cid(2));
        assert_eq!(s, 1);
        assert_eq!(l.on_retire(5, &cid(1)).unwrap_err().code, TransportErrorCode::PROTOCOL_VIOLATION);
        assert_eq!(l.on_retire(1, &cid(2)).unwrap_err().code, TransportErrorCode::PROTOCOL_VIOLATION);
        assert_eq!(l.on_retire(1, &cid(1)).unwrap(), Some(cid(2)));
        assert_eq!(l.on_retire(1, &cid(1)).unwrap(), None);
    }
}

/// Every CID of a connection, per path ID (RFC 10069 §4: sequence numbers and
/// Retire Prior To are per path ID; without multipath everything is path 0).
#[derive(Debug)]
pub struct CidState {
    /// CIDs we issued, per path ID.
    pub local: PathMap<LocalCids>,
    /// CIDs the peer issued, per path ID.
    pub remote: PathMap<RemoteCids>,
    /// NEW_CONNECTION_ID / PATH_NEW_CONNECTION_ID frames to (re)send.
    pub new_cids_pending: VecDeque<(PathId, u64)>,
    /// What we issued, to build those frames: (path, sequence) -> (CID, reset token).
    pub issued: BTreeMap<(PathId, u64), (ConnectionId, [u8; 16])>,
    /// Our active_connection_id_limit (per path ID with multipath).
    limit: u64,
    /// The peer chose a zero-length CID in the handshake (RFC 9000 §5.1): it then cannot issue
    /// any (§19.15).
    pub peer_cid_empty: bool,
    /// Reset tokens of path ID spaces forgotten as a whole ([`CidState::remove_remote`]).
    forgotten_tokens: VecDeque<[u8; 16]>,
}

impl CidState {
    /// Path 0's CIDs from the handshake.
    pub fn new(local_initial: ConnectionId, remote_initial: ConnectionId, limit: u64) -> Self {
        let mut local = PathMap::default();
        local.insert(PathId::ZERO, LocalCids::new(local_initial));
        let mut remote = PathMap::default();
        remote.insert(
            PathId::ZERO,
            RemoteCids::new(IssuedCid { sequence: 0, id: remote_initial, reset_token: None }, limit),
        );
        Self {
            local,
            remote,
            new_cids_pending: VecDeque::new(),
            issued: BTreeMap::new(),
            limit,
            peer_cid_empty: remote_initial.is_empty(),
            forgotten_tokens: VecDeque::new(),
        }
    }

    /// Forgets the peer's CIDs of `path` without retiring them (an abandoned path, RFC 10069
    /// §3.3).
    pub fn remove_remote(&mut self, path: PathId) {
        if let Some(r) = self.remote.remove(&path) {
            let held = core::iter::once(&r.active).chain(r.spare.iter());
            self.forgotten_tokens.extend(held.filter_map(|c| c.reset_token));
        }
    }

    /// The next change to the set of stateless reset tokens the peer gave us: the endpoint
    /// keeps an index from token to connection, so that an unroutable datagram is matched
    /// against every connection's tokens in O(1) (RFC 9000 §10.3.1). A token reported removed
    /// may still be held under another CID; the endpoint checks with
    /// [`CidState::holds_reset_token`].
    pub fn poll_reset_token_change(&mut self) -> Option<ResetTokenChange> {
        if let Some(token) = self.forgotten_tokens.pop_front() {
            return Some(ResetTokenChange::Removed(token));
        }
        self.remote.values_mut().find_map(|r| r.token_changes.pop_front())
    }

    /// The peer's CIDs for `path`.
    pub fn remote(&self, path: PathId) -> Option<&RemoteCids> {
        self.remote.get(&path)
    }

    /// The peer's CIDs for `path`, mutably.
    pub fn remote_mut(&mut self, path: PathId) -> Option<&mut RemoteCids> {
        self.remote.get_mut(&path)
    }

    /// The CID to send to on `path`.
    pub fn active_remote(&self, path: PathId) -> Option<ConnectionId> {
        self.remote.get(&path).map(|r| r.active().id)
    }

    /// The path ID one of our CIDs belongs to.
    pub fn path_of_local(&self, id: &ConnectionId) -> Option<PathId> {
        // Path 0 first: the single-path case stops after one lookup.
        self.local.iter().find(|(_, l)| l.contains(id)).map(|(p, _)| *p)
    }

    /// Handles (PATH_)NEW_CONNECTION_ID for `path`.
    pub fn on_new_cid(&mut self, path: PathId, cid: IssuedCid, retire_prior_to: u64) -> Result<(), TransportError> {
        // CIDs must be unique across the whole connection (RFC 10069 §4.5).
        for (p, r) in self.remote.iter() {
            if *p != path && (r.active().id == cid.id || r.spare.iter().any(|c| c.id == cid.id)) {
                return Err(TransportError::PROTOCOL_VIOLATION("connection ID issued for two path IDs"));
            }
        }
        match self.remote.get_mut(&path) {
            Some(r) => r.on_new_cid(cid, retire_prior_to),
            None => {
                let mut r = RemoteCids::new(cid, self.limit);
                if retire_prior_to > cid.sequence {
                    return Err(TransportError::FRAME_ENCODING_ERROR("retire_prior_to above sequence number"));
                }
                r.retire_prior_to = retire_prior_to;
                self.remote.insert(path, r);
                Ok(())
            }
        }
    }

    /// Whether `token` belongs to any CID the peer gave us, used or not (for the endpoint's
    /// index of tokens).
    pub fn holds_reset_token(&self, token: &[u8; 16]) -> bool {
        self.remote.values().any(|r| r.holds_reset_token(token))
    }

    /// Whether `tail`, the last 16 bytes of a datagram, is the stateless reset token of a CID
    /// we send to on some path (RFC 9000 §10.3.1; [`RemoteCids::is_stateless_reset`]). Every
    /// path's token is compared, so the time taken does not tell which one matched.
    pub fn is_stateless_reset(&self, tail: &[u8; 16]) -> bool {
        self.remote.values().fold(false, |found, r| found | r.is_stateless_reset(tail))
    }

    /// The CID to send to on `path` now, marked used ([`RemoteCids::use_active`]).
    pub fn use_remote(&mut self, path: PathId) -> Option<ConnectionId> {
        self.remote.get_mut(&path).map(RemoteCids::use_active)
    }

    /// Whether any RETIRE frame is owed.
    pub fn has_pending_retire(&self) -> bool {
        self.remote.values().any(RemoteCids::has_pending_retire)
    }

    /// The next (path, sequence) to retire.
    pub fn pop_retire(&mut self) -> Option<(PathId, u64)> {
        self.remote.iter_mut().find_map(|(p, r)| r.pop_retire().map(|s| (*p, s)))
    }

    /// All CIDs we issued.
    pub fn all_local(&self) -> impl Iterator<Item = ConnectionId> + '_ {
        self.local.values().flat_map(|l| l.iter().map(|(_, id)| id))
    }
}

impl Paths {
    /// NEW_CONNECTION_ID (path 0) and PATH_NEW_CONNECTION_ID (RFC 10069 §4.5).
    pub(crate) fn on_new_connection_id(&mut self, n: frame::NewConnectionId) -> Result<(), TransportError> {
        // RFC 9000 §19.15: a peer using zero-length CIDs cannot send this frame.
        if self.cids.peer_cid_empty {
            return Err(TransportError::PROTOCOL_VIOLATION("NEW_CONNECTION_ID while using zero-length CIDs"));
        }
        if n.path_id != PathId::ZERO {
            let Some(mp) = self.multipath.as_ref() else {
                return Err(TransportError::PROTOCOL_VIOLATION("PATH_NEW_CONNECTION_ID without multipath"));
            };
            // RFC 10069 §4: a path ID above our limit is a PROTOCOL_VIOLATION; an abandoned one
            // is ignored.
            if n.path_id > mp.local_max_path_id {
                return Err(TransportError::PROTOCOL_VIOLATION("connection ID for a path ID above our limit"));
            }
            if mp.abandoned.contains(&n.path_id) {
                return Ok(());
            }
        }
        let cid = IssuedCid { sequence: n.sequence, id: n.id, reset_token: Some(n.reset_token) };
        self.cids.on_new_cid(n.path_id, cid, n.retire_prior_to)
    }

    /// RETIRE_CONNECTION_ID (path 0) and PATH_RETIRE_CONNECTION_ID (RFC 10069 §4.6), which came
    /// in a packet to `packet_dcid`. Returns the CID retired, which the endpoint stops routing
    /// (new CIDs are then due).
    pub(crate) fn on_retire_connection_id(
        &mut self,
        r: frame::RetireConnectionId,
        packet_dcid: &ConnectionId,
        local_cid_len: usize,
    ) -> Result<Option<ConnectionId>, TransportError> {
        if local_cid_len == 0 {
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
            return Ok(None);
        };
        let retired = local.on_retire(r.sequence, packet_dcid)?;
        if retired.is_some() {
            self.cids.issued.remove(&(r.path_id, r.sequence));
        }
        Ok(retired)
    }

    /// Issues CIDs up to the peer's active_connection_id_limit (`peer_limit`) for every path ID
    /// we may use (RFC 9000 §5.1.1; RFC 10069 §4: per path ID, and at least one for each unused
    /// path ID up to both limits so the client can open paths). `issued` hears of each new CID
    /// (the endpoint routes it).
    pub(crate) fn issue_cids(
        &mut self,
        peer_limit: u64,
        local_cid_len: usize,
        rng: &mut impl RngCore,
        reset_key: &ResetKey,
        mut issued: impl FnMut(PathId, u64, ConnectionId, [u8; 16]),
    ) {
        if local_cid_len == 0 {
            return;
        }
        // We cap at 4 per path to bound state; the peer's limit is per path ID.
        let limit = peer_limit.min(4) as usize;
        let mut targets: smallvec::SmallVec<[(PathId, usize); 8]> = smallvec::SmallVec::new();
        targets.push((PathId::ZERO, limit));
        if let Some(mp) = &self.multipath {
            let max = mp.local_max_path_id.0.min(mp.peer_max_path_id.0);
            for id in 1..=max {
                let id = PathId(id);
                if mp.abandoned.contains(&id) {
                    continue;
                }
                let want = if self.table.contains_key(&id) { limit } else { 2 };
                targets.push((id, want));
            }
        }
        for (path, want) in targets {
            loop {
                let have = self.cids.local.get(&path).map_or(0, LocalCids::active_count);
                if have >= want {
                    break;
                }
                let mut bytes = [0u8; crate::MAX_CID_SIZE];
                rng.fill_bytes(&mut bytes[..local_cid_len]);
                let Some(id) = ConnectionId::new(&bytes[..local_cid_len]) else { return };
                let token = reset_key.token(&id).0;
                let sequence = self.cids.local.get_or_insert_with(path, || LocalCids::empty(0)).issue(id);
                self.cids.issued.insert((path, sequence), (id, token));
                self.cids.new_cids_pending.push_back((path, sequence));
                issued(path, sequence, id, token);
            }
        }
    }
}
