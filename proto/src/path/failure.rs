//! Path failure detection (multipath): a path whose data goes unacknowledged for too long is
//! marked potentially failed, its in-flight stream data is sent again on the other paths at
//! once, and the scheduler avoids it until an acknowledgement shows it works. RFC 10069 §5
//! leaves the policy to implementations ("Path failure"); the thresholds are in
//! [`crate::PathFailureDetection`].

use std::time::Duration;

use super::{PathData, PathId, Paths};
use crate::packet::SpaceId;
use crate::Instant;

/// [`Paths::failure_deadline`] of `path`, multipath being negotiated.
fn failure_deadline_of(path: &PathData, cfg: &PathFailureDetection, max_ack_delay: Duration) -> Option<Instant> {
    if path.abandoned_at.is_some() || path.failed_since.is_some() || !path.is_validated() {
        return None;
    }
    let due = path.recovery.first_unacked_eliciting_sent(SpaceId::Data)?;
    // A path that just recovered gets a whole timeout again: packets it carried while failed
    // may be old, and an ACK has just shown that the path works.
    let due = path.recovered_at.map_or(due, |t| due.max(t));
    let rtt = path.recovery.rtt();
    // The latest sample too: when a queue builds up (bufferbloat), the smoothed RTT lags
    // behind the RTT the next packets see, and the path would flap failed/recovered.
    let base = rtt.smoothed().max(rtt.latest());
    let timeout = base.mul_f64(cfg.rtt_factor) + 4 * rtt.rttvar() + max_ack_delay;
    Some(due + timeout.max(cfg.min_timeout))
}

impl Paths {
    /// When `id` counts as failed if nothing is acknowledged before: the first ack-eliciting
    /// packet sent after the largest acknowledged one is due back within one RTT; it is late
    /// after `rtt_factor` x max(smoothed_rtt, latest_rtt) + 4 x rttvar + the peer's
    /// max_ack_delay (the probe timeout of RFC 9002 §6.2.1 with `rtt_factor` = 1, counted from
    /// that packet rather than from the last one sent), and never before `min_timeout`. Packets
    /// older than the largest acknowledged do not count: loss detection declares them (RFC 9002
    /// §6.1).
    pub(crate) fn failure_deadline(
        &self,
        id: PathId,
        cfg: &PathFailureDetection,
        max_ack_delay: Duration,
    ) -> Option<Instant> {
        self.multipath.as_ref()?;
        failure_deadline_of(self.table.get(&id)?, cfg, max_ack_delay)
    }

    /// The earliest failure-detection or abandon deadline over all paths. Read on every
    /// `poll_timeout`, so one plain walk of the table, and none at all for a single-path
    /// connection that never abandons.
    pub(crate) fn failure_timeout(&self, cfg: &PathFailureDetection, max_ack_delay: Duration) -> Option<Instant> {
        let multipath = self.multipath.is_some();
        if !multipath && cfg.abandon_after.is_none() {
            return None;
        }
        let mut earliest: Option<Instant> = None;
        let mut consider = |t: Instant| earliest = Some(earliest.map_or(t, |e| e.min(t)));
        for p in self.table.values() {
            if multipath {
                if let Some(t) = failure_deadline_of(p, cfg, max_ack_delay) {
                    consider(t);
                }
            }
            if let (Some(after), Some(since)) = (cfg.abandon_after, p.failed_since) {
                consider(since + after);
            }
        }
        earliest
    }

    /// Whether `id` is to be marked potentially failed now: `consecutive_ptos` PTOs in a row,
    /// or its failure deadline passed.
    pub(crate) fn failure_due(
        &self,
        now: Instant,
        id: PathId,
        cfg: &PathFailureDetection,
        max_ack_delay: Duration,
    ) -> bool {
        let by_pto = self.table.get(&id).is_some_and(|p| {
            p.failed_since.is_none() && p.abandoned_at.is_none() && p.recovery.pto_count() >= cfg.consecutive_ptos
        });
        by_pto || self.failure_deadline(id, cfg, max_ack_delay).is_some_and(|t| now >= t)
    }

    /// Whether `id` has been potentially failed for `abandon_after` while another path is
    /// usable: it is then abandoned.
    pub(crate) fn failed_too_long(&self, now: Instant, id: PathId, cfg: &PathFailureDetection) -> bool {
        match (cfg.abandon_after, self.table.get(&id).and_then(|p| p.failed_since)) {
            (Some(after), Some(since)) => now >= since + after && self.usable().filter(|p| *p != id).count() > 0,
            _ => false,
        }
    }

    /// Marks `id` potentially failed; returns whether it was known.
    pub(crate) fn set_failed(&mut self, now: Instant, id: PathId) -> bool {
        let Some(path) = self.table.get_mut(&id) else { return false };
        path.failed_since = Some(now);
        true
    }

    /// An ACK acknowledged new packets of `id`; returns whether the path was potentially failed
    /// and has recovered.
    pub(crate) fn on_acked_recovers(&mut self, now: Instant, id: PathId) -> bool {
        let Some(path) = self.table.get_mut(&id) else { return false };
        if path.failed_since.take().is_some() {
            path.recovered_at = Some(now);
            return true;
        }
        false
    }
}

/// Path failure detection (multipath). A path is *potentially failed* when the first
/// ack-eliciting packet sent on it after its largest acknowledged one stays unacknowledged for
/// `rtt_factor` x max(smoothed RTT, latest RTT) + 4 x rttvar + the peer's max_ack_delay (at least
/// `min_timeout`; counted again from the moment it last recovered), or after `consecutive_ptos`
/// PTOs. Its unacknowledged data is then re-injected on the other paths at once, the scheduler
/// stops using it, and PTO probes keep testing it; the first acknowledgement restores it. With
/// `abandon_after` set, a path failed that long is abandoned (PATH_ABANDON on another path).
///
/// The default `rtt_factor` of 1.5 comes from the simulator (commands in papers/conext17-mpquic):
/// 1.0 detects a black-holed 60 ms path 35 ms sooner but also marked a healthy path failed twice
/// in the aggregation scenario; 2.0 left a 133 ms delivery gap where 1.5 leaves 87 ms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PathFailureDetection {
    /// Multiple of the path's RTT (the larger of smoothed and latest).
    pub rtt_factor: f64,
    /// Lower bound of the silence that marks a path failed.
    pub min_timeout: Duration,
    /// Consecutive PTOs that mark a path failed.
    pub consecutive_ptos: u32,
    /// Abandon a path after it has been failed this long; `None` keeps probing it forever.
    pub abandon_after: Option<Duration>,
}

impl Default for PathFailureDetection {
    fn default() -> Self {
        Self { rtt_factor: 1.5, min_timeout: Duration::from_millis(30), consecutive_ptos: 2, abandon_after: None }
    }
}
