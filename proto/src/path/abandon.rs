//! PATH_ABANDON: abandoning a path, keeping its state for a while and forgetting it
//! (RFC 10069 §3.3).
//!
//! Either side abandons a path with PATH_ABANDON; the other answers with its own. From then on
//! nothing but ACKs for it travel (on the other paths), what was in flight on it is sent again
//! elsewhere, the peer's CIDs of the path are retired without RETIRE_CONNECTION_ID frames, and
//! the path's state is kept for three PTOs before it is forgotten. Path IDs are never reused.

use smallvec::SmallVec;

use super::{PathId, Paths};
use crate::error::TransportError;
use crate::recovery::SentFrames;
use crate::recovery::{MpControl, SentPacket};
use crate::shared::ConnectionId;
use crate::Instant;

/// What the connection does with a PATH_ABANDON the peer sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AbandonReceived {
    /// Abandon the path on our side too and echo PATH_ABANDON (RFC 10069 §3.3).
    Echo(PathId),
    /// Nothing more to do (already abandoned, or a path ID we never used: recorded as abandoned).
    Done,
}

impl Paths {
    /// PATH_ABANDON from the peer (RFC 10069 §3.3).
    pub(crate) fn on_path_abandon(&mut self, path_id: PathId) -> Result<AbandonReceived, TransportError> {
        self.check_path_id_limit(path_id, "PATH_ABANDON for a path ID above our limit")?;
        let Some(mp) = self.multipath.as_mut() else { return Ok(AbandonReceived::Done) };
        if mp.abandoned.contains(&path_id) {
            return Ok(AbandonReceived::Done);
        }
        if self.table.contains_key(&path_id) {
            return Ok(AbandonReceived::Echo(path_id));
        }
        mp.abandoned.insert(path_id);
        self.cids.remove_remote(path_id);
        Ok(AbandonReceived::Done)
    }

    /// RFC 10069 §3.3: abandoning the last path ends the connection.
    pub(crate) fn check_viable(&self) -> Result<(), TransportError> {
        if self.usable().count() == 0 {
            return Err(TransportError::NO_VIABLE_PATH("the peer abandoned the last path"));
        }
        Ok(())
    }

    /// Marks `id` abandoned, to be forgotten at `forget_at`, and takes its outstanding packets:
    /// they are lost for good and their frames go elsewhere. `None` if the path is unknown or
    /// already abandoned. [`Paths::finish_abandon`] completes it once the connection has
    /// requeued the frames.
    pub(crate) fn begin_abandon(&mut self, id: PathId, forget_at: Instant) -> Option<Vec<SentPacket<SentFrames>>> {
        let path = self.table.get_mut(&id)?;
        if path.abandoned_at.is_some() {
            return None;
        }
        path.abandoned_at = Some(forget_at);
        let mut lost = Vec::new();
        path.recovery.abandon(&mut lost);
        Some(lost)
    }

    /// Second half of abandoning `id`: the peer's CIDs of this path are retired at once, without
    /// RETIRE frames (RFC 10069 §3.3); the path ID is never used again; `send_code` queues our
    /// PATH_ABANDON.
    pub(crate) fn finish_abandon(&mut self, id: PathId, send_code: Option<u64>) {
        self.cids.remove_remote(id);
        if let Some(mp) = self.multipath.as_mut() {
            mp.abandoned.insert(id);
            if let Some(code) = send_code {
                mp.pending.push_back(MpControl::Abandon(id, code));
            }
        }
    }

    /// Removes abandoned paths whose 3-PTO retention is over (RFC 10069 §3.3) and their CIDs;
    /// returns the CIDs we issued for them, which the endpoint stops routing.
    pub(crate) fn forget_abandoned(&mut self, now: Instant) -> SmallVec<[ConnectionId; 4]> {
        let mut retired = SmallVec::new();
        let expired: SmallVec<[PathId; 2]> =
            self.table.values().filter(|p| p.abandoned_at.is_some_and(|t| now >= t)).map(|p| p.id).collect();
        for id in expired {
            self.table.remove(&id);
            if let Some(local) = self.cids.local.remove(&id) {
                for (seq, cid) in local.iter() {
                    self.cids.issued.remove(&(id, seq));
                    retired.push(cid);
                }
            }
            self.cids.new_cids_pending.retain(|(p, _)| *p != id);
        }
        retired
    }
}
