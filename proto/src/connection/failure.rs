//! Path failure detection and re-injection (multipath): a path whose data goes unacknowledged
//! for too long is marked potentially failed, its in-flight stream data is sent again on the
//! other paths at once, and the scheduler avoids it until an acknowledgement shows it works.
//! draft-ietf-quic-multipath-21 §5 leaves the policy to implementations ("Path failure"); the
//! thresholds are in [`crate::PathFailureDetection`].

use std::time::Duration;

use super::{Connection, PathEvent};
use crate::packet::SpaceId;
use crate::path::PathId;
use crate::Instant;

impl Connection {
    /// When `id` counts as failed if nothing is acknowledged before: the first ack-eliciting
    /// packet sent after the largest acknowledged one is due back within one RTT; it is late
    /// after `rtt_factor` x max(smoothed_rtt, latest_rtt) + 4 x rttvar + the peer's
    /// max_ack_delay (the probe timeout of RFC 9002 §6.2.1 with `rtt_factor` = 1, counted from
    /// that packet rather than from the last one sent), and never before `min_timeout`. Packets
    /// older than the largest acknowledged do not count: loss detection declares them (RFC 9002
    /// §6.1).
    fn failure_deadline(&self, id: PathId) -> Option<Instant> {
        self.multipath.as_ref()?;
        let path = self.paths.get(&id)?;
        if path.abandoned_at.is_some() || path.failed_since.is_some() || !path.is_validated() {
            return None;
        }
        let largest_acked = path.recovery.space(SpaceId::Data).and_then(|s| s.largest_acked_packet());
        let due = path
            .recovery
            .outstanding(SpaceId::Data)
            .find(|p| p.ack_eliciting && p.in_flight && largest_acked.is_none_or(|l| p.packet_number > l))
            .map(|p| p.time_sent)?;
        // A path that just recovered gets a whole timeout again: packets it carried while failed
        // may be old, and an ACK has just shown that the path works.
        let due = path.recovered_at.map_or(due, |t| due.max(t));
        let cfg = &self.config.path_failure;
        let max_ack_delay = self.peer_params.as_ref().map_or(Duration::from_millis(25), |p| p.max_ack_delay_duration());
        let rtt = path.recovery.rtt();
        // The latest sample too: when a queue builds up (bufferbloat), the smoothed RTT lags
        // behind the RTT the next packets see, and the path would flap failed/recovered.
        let base = rtt.smoothed().max(rtt.latest());
        let timeout = base.mul_f64(cfg.rtt_factor) + 4 * rtt.rttvar() + max_ack_delay;
        Some(due + timeout.max(cfg.min_timeout))
    }

    /// The earliest failure-detection or abandon deadline over all paths.
    pub(super) fn failure_timeout(&self) -> Option<Instant> {
        let abandon = self.config.path_failure.abandon_after;
        self.paths
            .values()
            .filter_map(|p| {
                let detect = self.failure_deadline(p.id);
                let give_up = abandon.and_then(|d| p.failed_since.map(|t| t + d));
                [detect, give_up].into_iter().flatten().min()
            })
            .min()
    }

    /// Marks paths failed whose deadline passed, and abandons those failed for too long.
    pub(super) fn detect_path_failures(&mut self, now: Instant) {
        if self.multipath.is_none() {
            return;
        }
        let ids: smallvec::SmallVec<[PathId; 4]> = self.paths.keys().copied().collect();
        for id in ids {
            let ptos = self.config.path_failure.consecutive_ptos;
            let by_pto = self.paths.get(&id).is_some_and(|p| {
                p.failed_since.is_none() && p.abandoned_at.is_none() && p.recovery.pto_count() >= ptos
            });
            if by_pto || self.failure_deadline(id).is_some_and(|t| now >= t) {
                self.mark_path_failed(now, id);
            }
            if let (Some(after), Some(since)) =
                (self.config.path_failure.abandon_after, self.paths.get(&id).and_then(|p| p.failed_since))
            {
                if now >= since + after && self.usable_paths().filter(|p| *p != id).count() > 0 {
                    let code = self.mp_version().unwrap_or_default().codes().path_unstable_or_poor;
                    let _ = self.abandon_path(now, id, code);
                }
            }
        }
    }

    /// Marks `id` potentially failed and re-injects what is in flight on it.
    pub(super) fn mark_path_failed(&mut self, now: Instant, id: PathId) {
        let Some(path) = self.paths.get_mut(&id) else { return };
        path.failed_since = Some(now);
        // Re-inject: everything in flight on this path (stream data, flow-control updates, CIDs,
        // ...) is queued again for the other paths right away. A black hole never acknowledges
        // anything, so RFC 9002 would never declare these packets lost. They stay in flight here;
        // if they are acknowledged after all, the copies were redundant but harmless.
        let frames: Vec<super::SentFrames> =
            path.recovery.outstanding(SpaceId::Data).map(|p| p.frames.clone()).collect();
        for f in &frames {
            self.requeue_frames(SpaceId::Data, f);
        }
        self.path_event(now, PathEvent::PotentiallyFailed(id));
    }

    /// Whether `id` is potentially failed while another path is usable: it then carries only
    /// probes and path-bound frames.
    pub(super) fn failed_with_alternative(&self, id: PathId) -> bool {
        self.paths.get(&id).is_some_and(|p| p.failed_since.is_some())
            && self.paths.values().any(|p| p.id != id && p.abandoned_at.is_none() && p.failed_since.is_none())
    }

    /// An ACK acknowledged new packets of `id`: the path works.
    pub(super) fn on_path_acked(&mut self, now: Instant, id: PathId) {
        let Some(path) = self.paths.get_mut(&id) else { return };
        if path.failed_since.take().is_some() {
            path.recovered_at = Some(now);
            self.path_event(now, PathEvent::Recovered(id));
        }
    }
}
