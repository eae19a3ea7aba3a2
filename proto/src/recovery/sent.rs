//! Bookkeeping of sent packets (RFC 9002 Appendix A.1) for one packet-number space.
//!
//! Packets are kept in a ring buffer indexed by `packet_number - base`: packet numbers of one
//! space are sent in increasing order and mostly acknowledged from the oldest, so a `VecDeque`
//! of slots grows at the back, shrinks at the front and stops allocating once it has reached the
//! size of the largest window in flight. Holes (acknowledged, lost or deliberately skipped packet
//! numbers) stay as empty slots until they reach the front. A `BTreeMap` would allocate a node
//! per few packets and scatter them in memory.

use std::collections::VecDeque;

use crate::{EcnCodepoint, Instant, RangeSet};

/// How many ranges of deliberately skipped packet numbers are remembered.
const MAX_SKIPPED_RANGES: usize = 16;

/// A packet this endpoint sent and still tracks (RFC 9002 Appendix A.1.1).
///
/// `F` is whatever the connection needs to know about the frames in it (stream ranges to mark
/// acknowledged or to retransmit, control frames to resend); recovery never looks inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentPacket<F> {
    /// The packet number.
    pub packet_number: u64,
    /// When it was sent.
    pub time_sent: Instant,
    /// Its size in bytes (the UDP payload it took), counted in bytes in flight when `in_flight`.
    pub size: u64,
    /// Whether it contained an ack-eliciting frame (RFC 9000 §13.2).
    pub ack_eliciting: bool,
    /// Whether it counts toward bytes in flight (ack-eliciting or PADDING, RFC 9002 §2).
    pub in_flight: bool,
    /// The Largest Acknowledged of the ACK frame for this same packet-number space that the
    /// packet carried, if any: when this packet is acknowledged, the receiver side can forget
    /// the packet numbers at or below it (RFC 9000 §13.2.4).
    pub largest_acked: Option<u64>,
    /// The ECN codepoint the packet was sent with (RFC 9000 §13.4.2 validation).
    pub ecn: Option<EcnCodepoint>,
    /// The packet was a DPLPMTUD probe. RFC 9000 §14.4: its loss is not a reliable sign of
    /// congestion, so recovery keeps it out of congestion events and of persistent
    /// congestion (RFC 8899 §4.4 and §3 item 7), while it still counts in bytes in flight.
    pub mtu_probe: bool,
    /// The connection's own frame bookkeeping.
    pub frames: F,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Slot<F> {
    /// Still outstanding.
    Sent(SentPacket<F>),
    /// Acknowledged, or removed as lost or discarded; kept only until it reaches the front.
    Acked,
    /// Never sent, or removed without acknowledgement (lost or discarded).
    Gone,
}

/// What a slot says about a packet number, for acknowledgement processing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotState {
    /// Outstanding.
    Outstanding,
    /// Acknowledged before.
    Acked,
    /// No longer tracked (lost, discarded or too old to remember).
    Forgotten,
    /// Deliberately skipped: never sent.
    Skipped,
    /// Not sent yet.
    NotSent,
}

/// The sent packets of one packet-number space, ordered by packet number.
#[derive(Debug, Clone)]
pub struct SentPackets<F> {
    slots: VecDeque<Slot<F>>,
    /// Packet number of `slots[0]`.
    base: u64,
    /// The next packet number to be sent (one past the largest sent or skipped).
    next: u64,
    /// Number of `Slot::Sent` entries.
    outstanding: usize,
    /// Recent packet numbers skipped on purpose (RFC 9000 §21.4), kept apart from the slots so
    /// they outlive the window of outstanding packets.
    skipped: RangeSet,
}

impl<F> Default for SentPackets<F> {
    fn default() -> Self {
        Self::new()
    }
}

impl<F> SentPackets<F> {
    /// An empty store; the first packet number is 0.
    pub fn new() -> Self {
        Self { slots: VecDeque::new(), base: 0, next: 0, outstanding: 0, skipped: RangeSet::new() }
    }

    /// The packet number the next packet must use (at least).
    pub fn next_packet_number(&self) -> u64 {
        self.next
    }

    /// Number of outstanding (neither acknowledged nor removed) packets.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.outstanding
    }

    /// True when no packet is outstanding.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.outstanding == 0
    }

    /// Lowest packet number that may still be outstanding.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Marks `packet_number` as deliberately skipped (RFC 9000 §21.4); it must be at least
    /// [`Self::next_packet_number`]. Returns false (and does nothing) otherwise.
    pub fn skip(&mut self, packet_number: u64) -> bool {
        if packet_number < self.next {
            return false;
        }
        self.fill_to(packet_number);
        if !self.slots.is_empty() {
            self.slots.push_back(Slot::Gone);
        } else {
            self.base = packet_number + 1;
        }
        self.next = packet_number + 1;
        self.skipped.insert_one(packet_number);
        self.skipped.truncate_to_highest(MAX_SKIPPED_RANGES);
        true
    }

    /// Records a sent packet. Its packet number must be at least [`Self::next_packet_number`];
    /// numbers in between are left as holes (use [`Self::skip`] to have acknowledgements of
    /// them detected). Returns the packet back if the number went
    /// backwards (a caller bug).
    pub fn insert(&mut self, packet: SentPacket<F>) -> Result<(), SentPacket<F>> {
        if packet.packet_number < self.next {
            return Err(packet);
        }
        self.fill_to(packet.packet_number);
        self.next = packet.packet_number + 1;
        self.slots.push_back(Slot::Sent(packet));
        self.outstanding += 1;
        Ok(())
    }

    fn fill_to(&mut self, packet_number: u64) {
        if self.slots.is_empty() {
            // Nothing tracked: restart the window at the new number instead of filling holes.
            self.base = packet_number;
            return;
        }
        while self.next < packet_number {
            self.slots.push_back(Slot::Gone);
            self.next += 1;
        }
    }

    fn index(&self, packet_number: u64) -> Option<usize> {
        let offset = packet_number.checked_sub(self.base)?;
        let i = usize::try_from(offset).ok()?;
        (i < self.slots.len()).then_some(i)
    }

    /// The state of `packet_number`.
    pub fn state(&self, packet_number: u64) -> SlotState {
        if packet_number >= self.next {
            return SlotState::NotSent;
        }
        if self.skipped.contains(packet_number) {
            return SlotState::Skipped;
        }
        match self.index(packet_number).map(|i| &self.slots[i]) {
            None | Some(Slot::Gone) => SlotState::Forgotten,
            Some(Slot::Sent(_)) => SlotState::Outstanding,
            Some(Slot::Acked) => SlotState::Acked,
        }
    }

    /// The first deliberately skipped packet number in `range`, if any is remembered.
    pub fn skipped_in(&self, range: core::ops::Range<u64>) -> Option<u64> {
        let mut cursor = range.start;
        for gap in self.skipped.gaps_in(range.clone()) {
            if gap.start > cursor {
                return Some(cursor);
            }
            cursor = gap.end;
        }
        (cursor < range.end).then_some(cursor)
    }

    /// The outstanding packet `packet_number`, if any.
    pub fn get(&self, packet_number: u64) -> Option<&SentPacket<F>> {
        match self.slots.get(self.index(packet_number)?) {
            Some(Slot::Sent(p)) => Some(p),
            _ => None,
        }
    }

    /// Removes outstanding packet `packet_number` because it was acknowledged.
    pub fn take_acked(&mut self, packet_number: u64) -> Option<SentPacket<F>> {
        self.take(packet_number, Slot::Acked)
    }

    /// Removes outstanding packet `packet_number` without acknowledgement (lost or discarded).
    /// Unlike the other removals it leaves the front of the buffer in place, so that a caller
    /// walking the packets in order still sees which ones were acknowledged; call
    /// [`Self::compact`] afterwards.
    pub fn take_gone(&mut self, packet_number: u64) -> Option<SentPacket<F>> {
        let i = self.index(packet_number)?;
        if !matches!(self.slots[i], Slot::Sent(_)) {
            return None;
        }
        let Slot::Sent(packet) = core::mem::replace(&mut self.slots[i], Slot::Gone) else { return None };
        self.outstanding -= 1;
        Some(packet)
    }

    /// Forgets the holes at the front of the buffer.
    pub fn compact(&mut self) {
        self.pop_front_holes();
    }

    fn take(&mut self, packet_number: u64, mark: Slot<F>) -> Option<SentPacket<F>> {
        let i = self.index(packet_number)?;
        if !matches!(self.slots[i], Slot::Sent(_)) {
            return None;
        }
        let Slot::Sent(packet) = core::mem::replace(&mut self.slots[i], mark) else { return None };
        self.outstanding -= 1;
        self.pop_front_holes();
        Some(packet)
    }

    fn pop_front_holes(&mut self) {
        while matches!(self.slots.front(), Some(s) if !matches!(s, Slot::Sent(_))) {
            self.slots.pop_front();
            self.base += 1;
        }
        if self.slots.is_empty() {
            self.base = self.next;
        }
    }

    /// Outstanding packets with numbers in `range`, ascending.
    pub fn iter_range(&self, range: core::ops::Range<u64>) -> impl Iterator<Item = &SentPacket<F>> + '_ {
        let start = range.start.max(self.base);
        let end = range.end.min(self.next);
        let skip = usize::try_from(start.saturating_sub(self.base)).unwrap_or(usize::MAX);
        let take = usize::try_from(end.saturating_sub(start)).unwrap_or(usize::MAX);
        self.slots.iter().skip(skip).take(take).filter_map(|s| match s {
            Slot::Sent(p) => Some(p),
            _ => None,
        })
    }

    /// All outstanding packets, ascending.
    pub fn iter(&self) -> impl Iterator<Item = &SentPacket<F>> + '_ {
        self.iter_range(0..u64::MAX)
    }

    /// Whether any packet in `range` (exclusive of both ends of the open interval
    /// `after..before`) was acknowledged and is still remembered. Used by persistent congestion
    /// (RFC 9002 §7.6.2: no packet sent between the two lost ones may be acknowledged).
    #[cfg(test)]
    pub fn any_acked_between(&self, after: u64, before: u64) -> bool {
        let start = after.saturating_add(1).max(self.base);
        let end = before.min(self.next);
        if start >= end {
            return false;
        }
        let skip = usize::try_from(start - self.base).unwrap_or(usize::MAX);
        let take = usize::try_from(end - start).unwrap_or(usize::MAX);
        self.slots.iter().skip(skip).take(take).any(|s| matches!(s, Slot::Acked))
    }

    /// Removes every outstanding packet, in ascending order, handing each to `f`.
    pub fn drain(&mut self, mut f: impl FnMut(SentPacket<F>)) {
        for slot in self.slots.drain(..) {
            if let Slot::Sent(p) = slot {
                f(p);
            }
        }
        self.outstanding = 0;
        self.base = self.next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(pn: u64) -> SentPacket<()> {
        SentPacket {
            packet_number: pn,
            time_sent: Instant::from_nanos(pn),
            size: 100,
            ack_eliciting: true,
            in_flight: true,
            largest_acked: None,
            ecn: None,
            mtu_probe: false,
            frames: (),
        }
    }

    #[test]
    fn ring_buffer_with_holes() {
        let mut s = SentPackets::new();
        for pn in 0..5 {
            s.insert(pkt(pn)).unwrap();
        }
        assert!(s.skip(5));
        s.insert(pkt(7)).unwrap(); // 6 skipped implicitly
        assert_eq!(s.len(), 6);
        assert_eq!(s.state(6), SlotState::Forgotten);
        assert_eq!(s.state(5), SlotState::Skipped);
        assert_eq!(s.state(8), SlotState::NotSent);
        assert!(s.insert(pkt(3)).is_err());
        assert_eq!(s.take_acked(2).map(|p| p.packet_number), Some(2));
        assert_eq!(s.state(2), SlotState::Acked);
        assert!(s.take_acked(2).is_none());
        assert!(s.any_acked_between(0, 4));
        assert!(!s.any_acked_between(2, 4));
        assert_eq!(s.take_gone(0).map(|p| p.packet_number), Some(0));
        assert_eq!(s.base(), 0);
        s.compact();
        assert_eq!(s.base(), 1);
        s.take_acked(1).unwrap();
        assert_eq!(s.base(), 3); // 1 and 2 gone from the front
        assert_eq!(s.state(0), SlotState::Forgotten);
        assert_eq!(s.state(5), SlotState::Skipped);
        assert_eq!(s.skipped_in(0..5), None);
        assert_eq!(s.skipped_in(3..7), Some(5));
        assert_eq!(s.state(6), SlotState::Forgotten);
        assert_eq!(s.iter().map(|p| p.packet_number).collect::<Vec<_>>(), vec![3, 4, 7]);
        assert_eq!(s.iter_range(4..8).map(|p| p.packet_number).collect::<Vec<_>>(), vec![4, 7]);
        let mut drained = Vec::new();
        s.drain(|p| drained.push(p.packet_number));
        assert_eq!(drained, vec![3, 4, 7]);
        assert!(s.is_empty());
        assert_eq!(s.next_packet_number(), 8);
        s.insert(pkt(100)).unwrap(); // empty store jumps without filling
        assert_eq!(s.base(), 100);
        assert_eq!(s.state(50), SlotState::Forgotten);
    }
}
