//! Path validation (RFC 9000 §8.2): PATH_CHALLENGE and PATH_RESPONSE.
//!
//! A new path, and a path whose addresses changed, is validated before it carries data: we send
//! a PATH_CHALLENGE with 8 unpredictable bytes and the path is validated when the same bytes come
//! back in a PATH_RESPONSE. Every PATH_CHALLENGE the peer sends is answered on the path it came
//! on. Validation gives up after max(3 PTO, 6 initial RTTs) (§8.2.4).

use std::time::Duration;

use super::{PathData, PathId, Paths, Validation};
use crate::frame::Frame;
use crate::packet::SpaceId;
use crate::Instant;

/// What [`PathData::write_validation_frames`] put in a packet.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ValidationFramesWritten {
    /// Any frame at all (both kinds are ack-eliciting).
    pub ack_eliciting: bool,
    /// A PATH_CHALLENGE or PATH_RESPONSE: RFC 9000 §8.2.1 and §8.2.2 want the datagram
    /// expanded to 1200 bytes (within the anti-amplification budget), which checks that the
    /// path carries datagrams of that size in both directions.
    pub pad_to_1200: bool,
}

impl PathData {
    /// Writes the PATH_RESPONSEs owed on this path, then its PATH_CHALLENGE if one is due, into
    /// `buf` up to `limit`. Validation frames (RFC 9000 §8.2) are not held back by congestion
    /// control: they are small and needed to make progress.
    pub(crate) fn write_validation_frames(
        &mut self,
        now: Instant,
        buf: &mut Vec<u8>,
        limit: usize,
    ) -> ValidationFramesWritten {
        const FRAME_LEN: usize = 9;
        let mut written = ValidationFramesWritten::default();
        while let Some(token) = self.path_responses.first().copied() {
            if buf.len() + FRAME_LEN > limit {
                break;
            }
            Frame::PathResponse(token).encode(buf);
            self.path_responses.remove(0);
            written.ack_eliciting = true;
            written.pad_to_1200 = true;
        }
        if let Validation::Pending { token, sent: None, deadline } = self.validation {
            if buf.len() + FRAME_LEN <= limit {
                Frame::PathChallenge(token).encode(buf);
                self.validation = Validation::Pending { token, sent: Some(now), deadline };
                written.ack_eliciting = true;
                written.pad_to_1200 = true;
            }
        }
        written
    }
}

/// PATH_RESPONSE payloads owed per path, a bound on what a peer can make us hold.
const MAX_PENDING_PATH_RESPONSES: usize = 4;

/// What a path's validation timer asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValidationTimeout {
    /// Nothing (no validation pending, or not yet due).
    None,
    /// The deadline passed: the path is no longer being validated.
    Failed,
}

impl Paths {
    /// PATH_CHALLENGE on `path_id`: RFC 9000 §8.2.2: answer each challenge; keep only the
    /// newest few.
    pub(crate) fn on_path_challenge(&mut self, path_id: PathId, token: [u8; 8]) {
        if let Some(path) = self.table.get_mut(&path_id) {
            if path.path_responses.len() >= MAX_PENDING_PATH_RESPONSES {
                path.path_responses.remove(0);
            }
            path.path_responses.push(token);
        }
    }

    /// PATH_RESPONSE on `path_id`; returns whether it validated the path (RFC 9000 §8.2.3).
    pub(crate) fn on_path_response(&mut self, path_id: PathId, token: [u8; 8]) -> bool {
        let Some(path) = self.table.get_mut(&path_id) else { return false };
        if let Validation::Pending { token: expected, .. } = path.validation {
            if expected == token {
                path.validation = Validation::Validated;
                return true;
            }
        }
        false
    }

    /// Starts validating a new path: RFC 9000 §8.2.4: give up after max(3 PTO, 6 initial RTTs).
    pub(crate) fn new_path_validation(&self, now: Instant, token: [u8; 8], initial_rtt: Duration) -> Validation {
        let timeout = (6 * initial_rtt).max(3 * self.max_pto());
        Validation::Pending { token, sent: None, deadline: now + timeout }
    }

    /// The validation timer of `id`: gives up past the deadline, or makes the challenge due again
    /// after a PTO without an answer (RFC 9000 §8.2.1: new data per challenge is allowed, the
    /// same is fine).
    pub(crate) fn on_validation_timer(&mut self, now: Instant, id: PathId) -> ValidationTimeout {
        let Some(path) = self.table.get_mut(&id) else { return ValidationTimeout::None };
        if let Validation::Pending { sent, deadline, token } = path.validation {
            if now >= deadline {
                path.validation = Validation::Unvalidated;
                return ValidationTimeout::Failed;
            } else if sent.is_some_and(|s| now >= s + path.recovery.pto_duration(SpaceId::Data)) {
                path.validation = Validation::Pending { token, sent: None, deadline };
            }
        }
        ValidationTimeout::None
    }
}
