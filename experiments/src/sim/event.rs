//! A priority queue of timed events: earliest first, ties broken by insertion order, which keeps
//! runs deterministic.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::Nanos;

/// A heap entry: the time, the insertion number, and where the event waits in the slab. The
/// events themselves (datagrams of a hundred bytes and more) stay put while the heap sifts.
#[derive(PartialEq, Eq)]
struct Entry {
    at: Nanos,
    seq: u64,
    slot: usize,
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: invert for earliest first. `seq` is unique, so `slot` never
        // decides.
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Events in virtual time, earliest first; equal times come out in insertion order.
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry>,
    slab: Vec<Option<E>>,
    free: Vec<usize>,
    seq: u64,
}

impl<E> std::fmt::Debug for EventQueue<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventQueue").field("len", &self.heap.len()).field("next", &self.peek_time()).finish()
    }
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self { heap: BinaryHeap::new(), slab: Vec::new(), free: Vec::new(), seq: 0 }
    }
}

impl<E> EventQueue<E> {
    /// Schedules `event` at `at`.
    pub fn push(&mut self, at: Nanos, event: E) {
        self.seq += 1;
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slab[slot] = Some(event);
                slot
            }
            None => {
                self.slab.push(Some(event));
                self.slab.len() - 1
            }
        };
        self.heap.push(Entry { at, seq: self.seq, slot });
    }

    /// Time of the earliest event.
    pub fn peek_time(&self) -> Option<Nanos> {
        self.heap.peek().map(|e| e.at)
    }

    /// Removes the earliest event if it is due at or before `now`.
    pub fn pop_due(&mut self, now: Nanos) -> Option<(Nanos, E)> {
        if self.heap.peek()?.at > now {
            return None;
        }
        let entry = self.heap.pop()?;
        let event = self.slab.get_mut(entry.slot)?.take()?;
        self.free.push(entry.slot);
        Some((entry.at, event))
    }

    /// Number of pending events.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// No pending events.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_then_insertion_order() {
        let mut q = EventQueue::default();
        q.push(5, "b");
        q.push(3, "a");
        q.push(5, "c");
        assert_eq!(q.pop_due(2), None);
        assert_eq!(q.pop_due(10), Some((3, "a")));
        assert_eq!(q.pop_due(10), Some((5, "b")));
        assert_eq!(q.pop_due(10), Some((5, "c")));
        assert!(q.is_empty());
    }

    #[test]
    fn slots_are_reused_and_order_survives_interleaving() {
        let mut q = EventQueue::default();
        let mut out = Vec::new();
        for round in 0..100u64 {
            q.push(round + 2, round * 10);
            q.push(round + 1, round * 10 + 1);
            while let Some((at, e)) = q.pop_due(round + 1) {
                out.push((at, e));
            }
        }
        while let Some(x) = q.pop_due(u64::MAX) {
            out.push(x);
        }
        assert_eq!(out.len(), 200);
        assert!(out.windows(2).all(|w| w[0].0 <= w[1].0), "time order");
        // Two live events at most between pops: the slab never grew past a few slots.
        assert!(q.slab.len() <= 3, "{}", q.slab.len());
    }
}
