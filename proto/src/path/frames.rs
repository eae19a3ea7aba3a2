//! The path frames: the one entry point for receiving them ([`Paths::on_frame`]) and the writer
//! of the path control frames we owe ([`Paths::write_control_frames`]).
//!
//! Receiving, by frame (RFC 10069 §4 for the multipath frames, RFC 9000 §19 for the others):
//!
//! | frame | handled in |
//! |---|---|
//! | PATH_ACK | here: routed to the recovery of the path it names (RFC 10069 §3.2) |
//! | PATH_CHALLENGE, PATH_RESPONSE | `validation.rs` |
//! | PATH_ABANDON | `abandon.rs` |
//! | PATH_STATUS_BACKUP, PATH_STATUS_AVAILABLE | `status.rs` |
//! | MAX_PATH_ID, PATHS_BLOCKED, PATH_CIDS_BLOCKED | `limits.rs` |
//! | (PATH_)NEW_CONNECTION_ID, (PATH_)RETIRE_CONNECTION_ID | `cid.rs` |

use super::abandon::AbandonReceived;
use super::{PathId, PathStatus, Paths};
use crate::error::TransportError;
use crate::frame::{self, Frame};
use crate::packet::SpaceId;
use crate::recovery::{MpControl, SentFrames};
use crate::shared::ConnectionId;
use crate::Instant;

/// What the packet around a path frame tells the manager.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameContext<'a> {
    /// The path the packet arrived on.
    pub path_id: PathId,
    /// The packet's Destination Connection ID.
    pub packet_dcid: &'a ConnectionId,
    /// The length of the CIDs we issue.
    pub local_cid_len: usize,
    /// The peer's initial_max_path_id (path 0 without one).
    pub peer_initial_max_path_id: PathId,
}

/// What the rest of the connection has to do after [`Paths::on_frame`].
#[derive(Debug)]
pub(crate) enum FrameOutcome {
    /// Nothing.
    None,
    /// Apply this ACK to the Application Data space of the path it names.
    Ack(PathId, frame::Ack),
    /// A PATH_RESPONSE validated the path.
    Validated(PathId),
    /// The peer's status hint for the path changed.
    PeerStatus(PathId, PathStatus),
    /// The peer abandoned a path we use: abandon it too, echo PATH_ABANDON (RFC 10069 §3.3),
    /// then check that a path is left ([`Paths::check_viable`]).
    Abandon(PathId),
    /// The peer's limits changed: issue CIDs.
    IssueCids,
    /// The peer retired one of our CIDs: the endpoint stops routing it, and a new one is due.
    RetiredLocalCid(ConnectionId),
}

impl Paths {
    /// Handles one path frame (see the table in the module documentation); `frame` must be one
    /// of them.
    pub(crate) fn on_frame(&mut self, cx: FrameContext<'_>, frame: Frame) -> Result<FrameOutcome, TransportError> {
        Ok(match frame {
            Frame::PathAck(ack) => {
                // RFC 10069 §3.2: PATH_ACK may arrive on any path; unknown or abandoned path IDs
                // are ignored, path IDs above our limit are a violation.
                let limit = self.multipath.as_ref().map_or(PathId::ZERO, |m| m.local_max_path_id);
                if ack.path_id > limit {
                    return Err(TransportError::PROTOCOL_VIOLATION("PATH_ACK for a path ID above our limit"));
                }
                if self.table.contains_key(&ack.path_id) {
                    FrameOutcome::Ack(ack.path_id, ack)
                } else {
                    FrameOutcome::None
                }
            }
            Frame::PathChallenge(token) => {
                self.on_path_challenge(cx.path_id, token);
                FrameOutcome::None
            }
            Frame::PathResponse(token) => {
                if self.on_path_response(cx.path_id, token) {
                    FrameOutcome::Validated(cx.path_id)
                } else {
                    FrameOutcome::None
                }
            }
            Frame::PathAbandon(a) => match self.on_path_abandon(a.path_id)? {
                AbandonReceived::Echo(id) => FrameOutcome::Abandon(id),
                AbandonReceived::Done => {
                    self.check_viable()?;
                    FrameOutcome::None
                }
            },
            Frame::PathStatusBackup(s) | Frame::PathStatusAvailable(s) => {
                let backup = matches!(frame, Frame::PathStatusBackup(_));
                match self.on_path_status(s.path_id, s.sequence, backup)? {
                    Some(status) => FrameOutcome::PeerStatus(s.path_id, status),
                    None => FrameOutcome::None,
                }
            }
            Frame::MaxPathId(max) => {
                if self.on_max_path_id(max, cx.peer_initial_max_path_id)? {
                    FrameOutcome::IssueCids
                } else {
                    FrameOutcome::None
                }
            }
            Frame::PathsBlocked(_) => {
                if self.multipath.is_none() {
                    return Err(TransportError::PROTOCOL_VIOLATION("multipath frame without multipath"));
                }
                FrameOutcome::None
            }
            Frame::PathCidsBlocked(b) => {
                self.on_path_cids_blocked(b.path_id, b.next_sequence)?;
                FrameOutcome::IssueCids
            }
            Frame::NewConnectionId(n) | Frame::PathNewConnectionId(n) => {
                self.on_new_connection_id(n)?;
                FrameOutcome::None
            }
            Frame::RetireConnectionId(r) | Frame::PathRetireConnectionId(r) => {
                match self.on_retire_connection_id(r, cx.packet_dcid, cx.local_cid_len)? {
                    Some(id) => FrameOutcome::RetiredLocalCid(id),
                    None => FrameOutcome::None,
                }
            }
            _ => FrameOutcome::None,
        })
    }

    /// Writes the path control frames we owe (PATH_ABANDON, PATH_STATUS_*, MAX_PATH_ID, then
    /// PATHS_BLOCKED) into `buf` up to `limit`, recording in `frames` those resent when lost.
    pub(crate) fn write_control_frames(&mut self, buf: &mut Vec<u8>, limit: usize, frames: &mut SentFrames) {
        let Some(mp) = self.multipath.as_mut() else { return };
        let v = mp.version;
        while let Some(&c) = mp.pending.front() {
            let f = match c {
                MpControl::Abandon(path_id, error_code) => {
                    Frame::PathAbandon(frame::PathAbandon { path_id, error_code })
                }
                MpControl::Status { path, backup, sequence } => {
                    let s = frame::PathStatus { path_id: path, sequence };
                    if backup {
                        Frame::PathStatusBackup(s)
                    } else {
                        Frame::PathStatusAvailable(s)
                    }
                }
                MpControl::MaxPathId(m) => Frame::MaxPathId(m),
            };
            if buf.len() + f.encoded_len_with(v) > limit {
                return;
            }
            f.encode_with(v, buf);
            frames.rare_mut().mp_control.push(c);
            mp.pending.pop_front();
        }
        if let Some(blocked) = mp.paths_blocked {
            let f = Frame::PathsBlocked(blocked);
            if buf.len() + f.encoded_len_with(v) <= limit {
                f.encode_with(v, buf);
                mp.paths_blocked = None;
            }
        }
    }

    /// PATH_ACKs for paths other than `path_id` (RFC 10069 §3.2): an abandoned path's, whose
    /// ACKs can only travel on the others, or every path's when `any_path` (the
    /// [`crate::AckPathPolicy::AnyPath`] policy). `ack_exponent` is our ack_delay_exponent.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn write_other_path_acks(
        &mut self,
        now: Instant,
        path_id: PathId,
        any_path: bool,
        ack_exponent: u32,
        buf: &mut Vec<u8>,
        limit: usize,
        frames: &mut SentFrames,
    ) {
        let mp = self.mp_version().unwrap_or_default();
        for path in self.table.values_mut() {
            let other = path.id;
            if other == path_id || !(any_path || path.abandoned_at.is_some()) {
                continue;
            }
            let Some(tracker) = path.recovery.ack_tracker_mut(SpaceId::Data) else { continue };
            if !tracker.can_bundle() {
                continue;
            }
            let delay = (tracker.ack_delay(now).as_micros() as u64) >> ack_exponent;
            let ecn = tracker.ecn_counts();
            let room = limit.saturating_sub(buf.len());
            if let Some(w) = frame::encode_ack(
                buf,
                Some(other),
                mp,
                tracker.pending(),
                delay,
                ecn.as_ref(),
                frame::MAX_ACK_RANGES,
                room,
            ) {
                tracker.on_ack_sent(now);
                frames.path_acks.push((other, w.largest));
            }
        }
    }

    /// The path control frames of a lost packet go out again unless superseded (RFC 10069 §4:
    /// only the latest status matters; a higher MAX_PATH_ID replaces a lower one).
    pub(crate) fn requeue_control_frames(&mut self, lost: &[MpControl]) {
        let Some(mp) = self.multipath.as_mut() else { return };
        for c in lost {
            let superseded = match c {
                MpControl::Status { path, sequence, .. } => {
                    self.table.get(path).is_none_or(|p| p.status_sequence_sent != *sequence || p.abandoned_at.is_some())
                }
                MpControl::MaxPathId(m) => *m < mp.local_max_path_id,
                MpControl::Abandon(..) => false,
            };
            if !superseded && !mp.pending.contains(c) {
                mp.pending.push_back(*c);
            }
        }
    }
}
