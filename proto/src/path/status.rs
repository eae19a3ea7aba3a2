//! PATH_STATUS_AVAILABLE and PATH_STATUS_BACKUP (RFC 10069 §3.2): our preference for a path,
//! which our scheduler honours and the peer is told, and the peer's hint for ours.

use super::{PathError, PathId, PathStatus, Paths};
use crate::error::TransportError;
use crate::recovery::MpControl;

impl Paths {
    /// Sets our status of `id` and queues the PATH_STATUS_* frame that tells the peer, replacing
    /// one not yet sent.
    pub(crate) fn set_local_status(&mut self, id: PathId, backup: bool) -> Result<(), PathError> {
        if self.multipath.is_none() {
            return Err(PathError::MultipathNotNegotiated);
        }
        let path = self.table.get_mut(&id).filter(|p| p.abandoned_at.is_none()).ok_or(PathError::UnknownPath)?;
        path.local_status = if backup { PathStatus::Backup } else { PathStatus::Available };
        path.status_sequence_sent += 1;
        let sequence = path.status_sequence_sent;
        if let Some(mp) = self.multipath.as_mut() {
            mp.pending.retain(|c| !matches!(c, MpControl::Status { path, .. } if *path == id));
            mp.pending.push_back(MpControl::Status { path: id, backup, sequence });
        }
        Ok(())
    }

    /// PATH_STATUS_BACKUP (`backup`) or PATH_STATUS_AVAILABLE from the peer. Returns the peer's
    /// new status of the path when the frame changed it, for the trace.
    pub(crate) fn on_path_status(
        &mut self,
        path_id: PathId,
        sequence: u64,
        backup: bool,
    ) -> Result<Option<PathStatus>, TransportError> {
        self.check_path_id_limit(path_id, "PATH_STATUS for a path ID above our limit")?;
        let Some(path) = self.table.get_mut(&path_id) else { return Ok(None) };
        // RFC 10069 §3.2: only a higher sequence number counts.
        if path.status_sequence_received.is_some_and(|seq| sequence <= seq) {
            return Ok(None);
        }
        path.status_sequence_received = Some(sequence);
        let status = if backup { PathStatus::Backup } else { PathStatus::Available };
        path.peer_status = Some(status);
        Ok(Some(status))
    }
}
