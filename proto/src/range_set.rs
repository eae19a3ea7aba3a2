//! A set of `u64` values stored as sorted, disjoint, non-adjacent half-open ranges.
//!
//! Used for received packet numbers (ACK ranges, RFC 9000 §19.3), received and acknowledged
//! stream offsets, and anything else that is "mostly contiguous with a few holes". Backed by a
//! sorted `Vec`: the common cases (extend the last range, drop the first) touch one end only and
//! allocate nothing once the vector has grown to its working size.

use core::ops::Range;

/// Sorted, disjoint, non-adjacent half-open ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeSet {
    ranges: Vec<Range<u64>>,
}

impl RangeSet {
    /// An empty set.
    pub const fn new() -> Self {
        Self { ranges: Vec::new() }
    }

    /// Number of disjoint ranges.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// True when the set holds no value.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Smallest value, if any.
    pub fn min(&self) -> Option<u64> {
        self.ranges.first().map(|r| r.start)
    }

    /// Largest value, if any.
    pub fn max(&self) -> Option<u64> {
        self.ranges.last().map(|r| r.end - 1)
    }

    /// Total number of values in the set.
    pub fn count(&self) -> u64 {
        self.ranges.iter().map(|r| r.end - r.start).sum()
    }

    /// Whether `x` is in the set.
    pub fn contains(&self, x: u64) -> bool {
        // Index of the first range whose end is > x.
        let i = self.ranges.partition_point(|r| r.end <= x);
        self.ranges.get(i).is_some_and(|r| r.start <= x)
    }

    /// Whether every value of `range` is in the set.
    pub fn contains_range(&self, range: Range<u64>) -> bool {
        if range.is_empty() {
            return true;
        }
        let i = self.ranges.partition_point(|r| r.end <= range.start);
        self.ranges.get(i).is_some_and(|r| r.start <= range.start && range.end <= r.end)
    }

    /// Adds one value; returns true when it was not present.
    pub fn insert_one(&mut self, x: u64) -> bool {
        self.insert(x..x.saturating_add(1))
    }

    /// Adds `range`; returns true when any value of it was not present.
    pub fn insert(&mut self, range: Range<u64>) -> bool {
        if range.is_empty() {
            return false;
        }
        // Fast path: extends or follows the last range.
        if let Some(last) = self.ranges.last_mut() {
            if range.start >= last.start {
                if range.start > last.end {
                    self.ranges.push(range);
                    return true;
                }
                if range.end <= last.end {
                    return false;
                }
                last.end = range.end;
                return true;
            }
        } else {
            self.ranges.push(range);
            return true;
        }
        // First range that ends at or after range.start (touching counts, to merge adjacent).
        let lo = self.ranges.partition_point(|r| r.end < range.start);
        // First range that starts strictly after range.end (not touching).
        let hi = self.ranges.partition_point(|r| r.start <= range.end);
        if lo == hi {
            self.ranges.insert(lo, range);
            return true;
        }
        let new_start = self.ranges[lo].start.min(range.start);
        let new_end = self.ranges[hi - 1].end.max(range.end);
        let added = !(hi - lo == 1 && self.ranges[lo].start <= range.start && range.end <= self.ranges[lo].end);
        self.ranges[lo] = new_start..new_end;
        self.ranges.drain(lo + 1..hi);
        added
    }

    /// Removes `range`; returns true when any value was present.
    pub fn remove(&mut self, range: Range<u64>) -> bool {
        if range.is_empty() {
            return false;
        }
        let lo = self.ranges.partition_point(|r| r.end <= range.start);
        let hi = self.ranges.partition_point(|r| r.start < range.end);
        if lo >= hi {
            return false;
        }
        let first = self.ranges[lo].clone();
        let last = self.ranges[hi - 1].clone();
        let mut keep: [Option<Range<u64>>; 2] = [None, None];
        if first.start < range.start {
            keep[0] = Some(first.start..range.start);
        }
        if last.end > range.end {
            keep[1] = Some(range.end..last.end);
        }
        let replacement = keep.into_iter().flatten();
        self.ranges.splice(lo..hi, replacement);
        true
    }

    /// Removes every value below `x`.
    pub fn remove_below(&mut self, x: u64) {
        if self.min().is_some_and(|m| m < x) {
            self.remove(0..x);
        }
    }

    /// Removes and returns the lowest range.
    pub fn pop_min(&mut self) -> Option<Range<u64>> {
        if self.ranges.is_empty() {
            None
        } else {
            Some(self.ranges.remove(0))
        }
    }

    /// The lowest range.
    pub fn peek_min(&self) -> Option<Range<u64>> {
        self.ranges.first().cloned()
    }

    /// Keeps only the highest `max_ranges` ranges.
    pub fn truncate_to_highest(&mut self, max_ranges: usize) {
        if self.ranges.len() > max_ranges {
            let excess = self.ranges.len() - max_ranges;
            self.ranges.drain(..excess);
        }
    }

    /// The ranges in ascending order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Range<u64>> + ExactSizeIterator + '_ {
        self.ranges.iter().cloned()
    }

    /// The ranges in ascending order, borrowed.
    pub fn as_slice(&self) -> &[Range<u64>] {
        &self.ranges
    }

    /// Parts of `range` that are not in the set, in ascending order.
    pub fn gaps_in(&self, range: Range<u64>) -> impl Iterator<Item = Range<u64>> + '_ {
        let start_idx = self.ranges.partition_point(|r| r.end <= range.start);
        let mut cursor = range.start;
        let end = range.end;
        let mut idx = start_idx;
        core::iter::from_fn(move || {
            while cursor < end {
                match self.ranges.get(idx) {
                    Some(r) if r.start <= cursor => {
                        cursor = cursor.max(r.end);
                        idx += 1;
                    }
                    Some(r) if r.start < end => {
                        let gap = cursor..r.start;
                        cursor = r.end;
                        idx += 1;
                        return Some(gap);
                    }
                    _ => {
                        let gap = cursor..end;
                        cursor = end;
                        return Some(gap);
                    }
                }
            }
            None
        })
    }

    /// Removes every value.
    pub fn clear(&mut self) {
        self.ranges.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn merge_and_split() {
        let mut s = RangeSet::new();
        assert!(s.insert(5..10));
        assert!(s.insert(0..2));
        assert!(s.insert(2..5));
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![(0..10)]);
        assert!(!s.insert(3..4));
        assert!(s.remove(3..4));
        assert_eq!(s.as_slice(), &[0..3, 4..10]);
        assert_eq!(s.gaps_in(0..12).collect::<Vec<_>>(), vec![3..4, 10..12]);
        s.remove_below(5);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![(5..10)]);
        assert!(s.contains_range(6..10));
        assert!(!s.contains_range(6..11));
    }

    proptest! {
        #[test]
        fn behaves_like_a_set(ops in proptest::collection::vec((any::<bool>(), 0u64..200, 0u64..20), 0..100)) {
            let mut s = RangeSet::new();
            let mut model = BTreeSet::new();
            for (add, start, len) in ops {
                let r = start..start + len;
                if add {
                    let new = r.clone().any(|x| !model.contains(&x));
                    prop_assert_eq!(s.insert(r.clone()), new);
                    model.extend(r);
                } else {
                    let present = r.clone().any(|x| model.contains(&x));
                    prop_assert_eq!(s.remove(r.clone()), present);
                    for x in r { model.remove(&x); }
                }
                // Invariant: sorted, disjoint, non-adjacent, non-empty.
                for w in s.as_slice().windows(2) {
                    prop_assert!(w[0].end < w[1].start);
                }
                for r in s.as_slice() { prop_assert!(r.start < r.end); }
                prop_assert_eq!(s.count(), model.len() as u64);
                for x in 0..220 { prop_assert_eq!(s.contains(x), model.contains(&x)); }
                let gaps: u64 = s.gaps_in(0..220).map(|g| g.end - g.start).sum();
                prop_assert_eq!(gaps, 220 - model.iter().filter(|&&x| x < 220).count() as u64);
            }
        }
    }
}
