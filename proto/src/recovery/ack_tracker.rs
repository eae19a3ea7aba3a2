//! The receiver side of acknowledgements for one packet-number space (RFC 9000 §13.2):
//! which packet numbers arrived, duplicate detection, ECN counts of received packets and when
//! an ACK frame is due.

use core::time::Duration;

use crate::{EcnCodepoint, EcnCounts, Instant, RangeSet};

/// Default number of ranges remembered (for ACK frames and for duplicate detection).
pub const DEFAULT_MAX_RANGES: usize = 256;

/// RFC 9000 §13.2.2: acknowledge at least every second ack-eliciting packet.
pub const DEFAULT_ACK_ELICITING_THRESHOLD: u64 = 2;

/// Receiver-side ACK state of one packet-number space.
#[derive(Debug, Clone)]
pub struct AckTracker {
    /// Packet numbers still to be reported in ACK frames (pruned by acknowledgement of our
    /// ACKs, RFC 9000 §13.2.4).
    pending: RangeSet,
    /// Packet numbers ever received, for duplicate detection (RFC 9000 §12.3), at most
    /// `max_ranges` ranges; below `floor` every packet counts as a duplicate.
    seen: RangeSet,
    floor: u64,
    max_ranges: usize,
    /// The largest packet number received and when it arrived (RFC 9000 §13.2.5 ACK Delay).
    largest_received: Option<(u64, Instant)>,
    /// Largest ack-eliciting packet number received (RFC 9000 §13.2.1 reordering rule).
    largest_ack_eliciting: Option<u64>,
    ecn: EcnCounts,
    ecn_seen: bool,
    /// Ack-eliciting packets received since the last ACK frame was sent.
    ack_eliciting_since_ack: u64,
    /// Arrival of the first ack-eliciting packet not yet acknowledged.
    first_unacked_ack_eliciting: Option<Instant>,
    /// An ACK must be sent without delay (from the given time).
    immediate: Option<Instant>,
    /// New packet numbers arrived since the last ACK frame (it may be bundled).
    new_since_ack: bool,
    ack_eliciting_threshold: u64,
    max_ack_delay: Duration,
    /// Initial and Handshake spaces acknowledge every ack-eliciting packet at once.
    always_immediate: bool,
}

impl AckTracker {
    /// A tracker that acknowledges every ack-eliciting packet immediately, for the Initial and
    /// Handshake spaces (RFC 9000 §13.2.1).
    pub fn immediate() -> Self {
        let mut t = Self::new(Duration::ZERO, 1);
        t.always_immediate = true;
        t
    }

    /// A tracker for an application-data space that delays ACKs by at most `max_ack_delay`
    /// (our transport parameter) and acknowledges after `ack_eliciting_threshold` ack-eliciting
    /// packets (RFC 9000 §13.2.2; at least 1).
    pub fn new(max_ack_delay: Duration, ack_eliciting_threshold: u64) -> Self {
        Self {
            pending: RangeSet::new(),
            seen: RangeSet::new(),
            floor: 0,
            max_ranges: DEFAULT_MAX_RANGES,
            largest_received: None,
            largest_ack_eliciting: None,
            ecn: EcnCounts::default(),
            ecn_seen: false,
            ack_eliciting_since_ack: 0,
            first_unacked_ack_eliciting: None,
            immediate: None,
            new_since_ack: false,
            ack_eliciting_threshold: ack_eliciting_threshold.max(1),
            max_ack_delay,
            always_immediate: false,
        }
    }

    /// Sets how many ranges are remembered (at least 1).
    #[cfg(any(test, feature = "internals"))]
    pub fn set_max_ranges(&mut self, max_ranges: usize) {
        self.max_ranges = max_ranges.max(1);
    }

    /// Whether `packet_number` was already received (or is too old to tell): the packet must be
    /// dropped without processing (RFC 9000 §12.3).
    pub fn is_duplicate(&self, packet_number: u64) -> bool {
        packet_number < self.floor || self.seen.contains(packet_number)
    }

    /// Records a successfully decrypted packet. Returns false for a duplicate, which the caller
    /// should not process (nothing is recorded).
    pub fn on_packet_received(
        &mut self,
        now: Instant,
        packet_number: u64,
        ack_eliciting: bool,
        ecn: Option<EcnCodepoint>,
    ) -> bool {
        if self.is_duplicate(packet_number) {
            return false;
        }
        if let Some(cp) = ecn {
            // RFC 9000 §13.4.1: count the codepoint of every packet processed.
            self.ecn.count(cp);
            self.ecn_seen = true;
        }
        if ack_eliciting {
            let out_of_order = match self.largest_ack_eliciting {
                // RFC 9000 §13.2.1: smaller than an ack-eliciting packet already received, or
                // larger with missing packets in between: acknowledge at once.
                Some(largest) if packet_number < largest => true,
                Some(largest) => !self.seen.contains_range(largest + 1..packet_number),
                None => false,
            };
            // RFC 9000 §13.2.1: CE-marked packets are acknowledged immediately.
            let ce = ecn == Some(EcnCodepoint::Ce);
            if self.always_immediate || out_of_order || ce {
                self.immediate.get_or_insert(now);
            }
            self.ack_eliciting_since_ack += 1;
            if self.ack_eliciting_since_ack >= self.ack_eliciting_threshold {
                self.immediate.get_or_insert(now);
            }
            self.first_unacked_ack_eliciting.get_or_insert(now);
            self.largest_ack_eliciting =
                Some(self.largest_ack_eliciting.map_or(packet_number, |l| l.max(packet_number)));
        }
        if self.largest_received.is_none_or(|(largest, _)| packet_number > largest) {
            self.largest_received = Some((packet_number, now));
        }
        self.seen.insert_one(packet_number);
        if self.seen.len() > self.max_ranges {
            self.seen.truncate_to_highest(self.max_ranges);
            // RFC 9000 §12.3: a minimum packet number below which everything is dropped.
            self.floor = self.floor.max(self.seen.min().unwrap_or(0));
        }
        self.pending.insert_one(packet_number);
        self.pending.truncate_to_highest(self.max_ranges);
        self.new_since_ack = true;
        true
    }

    /// When an ACK frame must be sent at the latest, if one is owed: at once after a packet
    /// that requires an immediate ACK, else `max_ack_delay` after the first unacknowledged
    /// ack-eliciting packet arrived (RFC 9000 §13.2.1).
    pub fn ack_deadline(&self) -> Option<Instant> {
        if let Some(t) = self.immediate {
            return Some(t);
        }
        self.first_unacked_ack_eliciting.map(|t| t + self.max_ack_delay)
    }

    /// Whether an ACK frame must be sent now.
    pub fn should_send_now(&self, now: Instant) -> bool {
        self.ack_deadline().is_some_and(|d| d <= now)
    }

    /// Whether an ACK frame would carry new information: worth bundling in a packet that is
    /// sent anyway, but never a reason to send a packet by itself (RFC 9000 §13.2.1: no
    /// non-ack-eliciting packet in response to a non-ack-eliciting one).
    pub fn can_bundle(&self) -> bool {
        self.new_since_ack && !self.pending.is_empty()
    }

    /// The ranges to put in an ACK frame, highest first (the frame's order, RFC 9000 §19.3).
    #[cfg(any(test, feature = "internals"))]
    pub fn ranges(&self) -> impl Iterator<Item = core::ops::Range<u64>> + '_ {
        self.pending.iter().rev()
    }

    /// The received packet numbers still to be acknowledged, ascending.
    pub fn pending(&self) -> &RangeSet {
        &self.pending
    }

    /// The largest packet number received, if any.
    pub fn largest_received(&self) -> Option<u64> {
        self.largest_received.map(|(pn, _)| pn)
    }

    /// The ACK Delay to report at `now`: time since the largest packet number arrived
    /// (RFC 9000 §13.2.5). The caller encodes it with its ack_delay_exponent and sends zero in
    /// Initial and Handshake packets.
    pub fn ack_delay(&self, now: Instant) -> Duration {
        self.largest_received.map_or(Duration::ZERO, |(_, t)| now.saturating_duration_since(t))
    }

    /// The ECN counts of received packets, if any packet carried a codepoint (an ACK frame of
    /// type 0x03 is then due, RFC 9000 §13.4.1).
    pub fn ecn_counts(&self) -> Option<EcnCounts> {
        self.ecn_seen.then_some(self.ecn)
    }

    /// An ACK frame was sent at `now`.
    pub fn on_ack_sent(&mut self, now: Instant) {
        let _ = now;
        self.ack_eliciting_since_ack = 0;
        self.first_unacked_ack_eliciting = None;
        self.immediate = None;
        self.new_since_ack = false;
    }

    /// An ACK frame of ours whose Largest Acknowledged was `largest_acked` was acknowledged:
    /// packet numbers up to it need not be reported again (RFC 9000 §13.2.4).
    pub fn on_ack_of_ack(&mut self, largest_acked: u64) {
        self.pending.remove_below(largest_acked.saturating_add(1));
    }
}

#[cfg(test)]
// Lists of ACK ranges with a single range are meant as such.
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Instant {
        Instant::from_nanos(ms * 1_000_000)
    }

    #[test]
    fn ack_every_second_packet() {
        let mut a = AckTracker::new(Duration::from_millis(25), 2);
        assert_eq!(a.ack_deadline(), None);
        assert!(a.on_packet_received(t(0), 0, true, None));
        assert_eq!(a.ack_deadline(), Some(t(25)));
        assert!(!a.should_send_now(t(10)));
        assert!(a.should_send_now(t(25)));
        assert!(a.on_packet_received(t(5), 1, true, None));
        assert!(a.should_send_now(t(5)));
        assert_eq!(a.ack_delay(t(7)), Duration::from_millis(2));
        assert_eq!(a.ranges().collect::<Vec<_>>(), vec![0..2]);
        a.on_ack_sent(t(7));
        assert_eq!(a.ack_deadline(), None);
        // A non-ack-eliciting packet never makes an ACK due by itself.
        assert!(a.on_packet_received(t(8), 2, false, None));
        assert_eq!(a.ack_deadline(), None);
        assert!(a.can_bundle());
    }

    #[test]
    fn immediate_on_gap_reorder_and_ce() {
        let mut a = AckTracker::new(Duration::from_millis(25), 10);
        a.on_packet_received(t(0), 0, true, None);
        assert!(!a.should_send_now(t(0)));
        a.on_packet_received(t(1), 1, false, None);
        // 2 follows 0 with only a non-ack-eliciting 1 between: not a gap.
        a.on_packet_received(t(2), 2, true, None);
        assert!(!a.should_send_now(t(2)));
        // 5 leaves a gap (3, 4).
        a.on_packet_received(t(3), 5, true, None);
        assert!(a.should_send_now(t(3)));
        a.on_ack_sent(t(3));
        // 4 arrives late: out of order.
        a.on_packet_received(t(4), 4, true, None);
        assert!(a.should_send_now(t(4)));
        a.on_ack_sent(t(4));
        a.on_packet_received(t(5), 6, true, Some(EcnCodepoint::Ce));
        assert!(a.should_send_now(t(5)));
        assert_eq!(a.ecn_counts(), Some(EcnCounts { ect0: 0, ect1: 0, ce: 1 }));
        assert_eq!(a.ranges().collect::<Vec<_>>(), vec![4..7, 0..3]);
    }

    #[test]
    fn handshake_spaces_ack_immediately() {
        let mut a = AckTracker::immediate();
        a.on_packet_received(t(1), 0, true, None);
        assert!(a.should_send_now(t(1)));
    }

    #[test]
    fn duplicates_and_pruning() {
        let mut a = AckTracker::new(Duration::from_millis(25), 2);
        a.set_max_ranges(3);
        for pn in [0, 2, 4, 6] {
            assert!(a.on_packet_received(t(0), pn, true, None));
        }
        assert!(a.is_duplicate(2));
        assert!(!a.on_packet_received(t(0), 2, true, None));
        // Four ranges collapsed to the highest three: 0 fell below the floor, 1 too.
        assert!(a.is_duplicate(0));
        assert!(a.is_duplicate(1));
        assert!(!a.is_duplicate(3));
        assert_eq!(a.pending().len(), 3);
        a.on_ack_of_ack(4);
        assert_eq!(a.ranges().collect::<Vec<_>>(), vec![6..7]);
        // A late packet below the acknowledged ACK is still new and is reported again.
        assert!(a.on_packet_received(t(1), 3, true, None));
        assert_eq!(a.ranges().collect::<Vec<_>>(), vec![6..7, 3..4]);
    }
}
