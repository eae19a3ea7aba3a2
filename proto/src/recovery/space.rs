//! Sender- and receiver-side state of one packet-number space of a path (RFC 9002 Appendix
//! A.2-A.3): sent packets, `largest_acked_packet`, `loss_time`,
//! `time_of_last_ack_eliciting_packet`, ECN counts, and the [`AckTracker`] of packets received.

use super::ack_tracker::AckTracker;
use super::sent::SentPackets;
use crate::{EcnCounts, Instant, RangeSet};

/// How many ranges of packets declared lost are remembered to detect spurious losses.
pub(super) const MAX_LOST_RANGES: usize = 64;

pub use crate::packet::SpaceId;

/// The state of one packet-number space.
#[derive(Debug)]
pub struct PacketSpace<F> {
    /// Packets sent and not yet acknowledged or declared lost.
    pub(super) sent: SentPackets<F>,
    /// RFC 9002 A.3: the largest packet number acknowledged in this space so far.
    pub(super) largest_acked_packet: Option<u64>,
    /// RFC 9002 A.3: when the next packet of this space will be deemed lost by time threshold.
    pub(super) loss_time: Option<Instant>,
    /// RFC 9002 A.3: when the most recent ack-eliciting packet was sent.
    pub(super) time_of_last_ack_eliciting_packet: Option<Instant>,
    /// Ack-eliciting packets in flight.
    pub(super) ack_eliciting_in_flight: u64,
    /// This space's share of the path's bytes in flight (removed when its keys are discarded).
    pub(super) bytes_in_flight: u64,
    /// ECN counts of the last ACK frame whose counts were validated (RFC 9002 A.3
    /// `ecn_ce_counters`, extended to all three counts for validation).
    pub(super) ecn_acked: EcnCounts,
    /// Packets sent in this space with each ECN codepoint.
    pub(super) ecn_sent: EcnCounts,
    /// Packet numbers declared lost and not acknowledged since (spurious-loss detection).
    pub(super) lost: RangeSet,
    /// Receiver side: packets received in this space and the ACKs owed for them.
    pub(super) ack_tracker: AckTracker,
    /// The first ack-eliciting in-flight packet above the largest acknowledged (number and
    /// time sent), as last computed: what path failure detection counts from. Kept up to date
    /// on sends and ACKs so that `poll_timeout` need not walk the sent packets; a reader checks
    /// that the packet is still outstanding and walks them only if not.
    pub(super) failure_anchor: Option<(u64, Instant)>,
}

impl<F> PacketSpace<F> {
    /// A fresh space whose receiver side uses `ack_tracker`.
    pub(super) fn new(ack_tracker: AckTracker) -> Self {
        Self {
            sent: SentPackets::new(),
            largest_acked_packet: None,
            loss_time: None,
            time_of_last_ack_eliciting_packet: None,
            ack_eliciting_in_flight: 0,
            bytes_in_flight: 0,
            ecn_acked: EcnCounts::default(),
            ecn_sent: EcnCounts::default(),
            lost: RangeSet::new(),
            ack_tracker,
            failure_anchor: None,
        }
    }

    /// The largest packet number the peer acknowledged in this space.
    pub fn largest_acked_packet(&self) -> Option<u64> {
        self.largest_acked_packet
    }

    /// The time-threshold loss deadline of this space.
    #[cfg(any(test, feature = "internals"))]
    pub fn loss_time(&self) -> Option<Instant> {
        self.loss_time
    }

    /// When the last ack-eliciting packet of this space was sent.
    #[cfg(any(test, feature = "internals"))]
    pub fn time_of_last_ack_eliciting_packet(&self) -> Option<Instant> {
        self.time_of_last_ack_eliciting_packet
    }

    /// Hands every packet in flight to `f` and forgets it, with the space's in-flight counts
    /// and loss timers, without declaring anything lost; the packet-number sequence continues.
    /// Returns the bytes that were in flight.
    pub(super) fn forget_in_flight(&mut self, f: impl FnMut(super::SentPacket<F>)) -> u64 {
        self.sent.drain(f);
        self.ack_eliciting_in_flight = 0;
        self.loss_time = None;
        self.time_of_last_ack_eliciting_packet = None;
        core::mem::take(&mut self.bytes_in_flight)
    }

    /// Number of ack-eliciting packets in flight.
    pub fn ack_eliciting_in_flight(&self) -> u64 {
        self.ack_eliciting_in_flight
    }

    /// Bytes in flight sent in this space.
    #[cfg(any(test, feature = "internals"))]
    pub fn bytes_in_flight(&self) -> u64 {
        self.bytes_in_flight
    }

    /// The receiver side of this space.
    pub fn ack_tracker(&self) -> &AckTracker {
        &self.ack_tracker
    }

    /// The receiver side of this space, mutably.
    #[cfg(any(test, feature = "internals"))]
    pub fn ack_tracker_mut(&mut self) -> &mut AckTracker {
        &mut self.ack_tracker
    }
}
