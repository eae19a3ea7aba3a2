//! Parts of a matrix run by separate processes: a range of cells (`--cell-range A..B`, what each
//! task of a Slurm job array runs) or shard K of N (`--shard K/N`, for GNU parallel or an ssh
//! loop). Both are contiguous ranges of the matrix order, so that cells that share single-path
//! baselines (the same CSV row with each path first) mostly run in one process, which runs those
//! baselines once.

use std::ops::Range;
use std::str::FromStr;

/// Parses `A..B` (cells A to B-1, matrix order) and checks it against a matrix of `cells` cells.
pub fn parse_cell_range(text: &str, cells: usize) -> Result<Range<usize>, String> {
    let bad =
        || format!("cell range `{text}`: expected A..B with 0 <= A < B <= {cells} (the matrix has {cells} cells)");
    let (a, b) = text.split_once("..").ok_or_else(bad)?;
    let a: usize = a.trim().parse().map_err(|_| bad())?;
    let b: usize = b.trim().parse().map_err(|_| bad())?;
    if a >= b || b > cells {
        return Err(bad());
    }
    Ok(a..b)
}

/// Shard `index` (1-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which shard, 1..=count.
    pub index: usize,
    /// How many shards.
    pub count: usize,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("shard `{text}`: expected K/N with 1 <= K <= N (e.g. 3/8)");
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let index: usize = k.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

impl Shard {
    /// The cells of this shard in a matrix of `cells` cells: the shards are contiguous, in
    /// order, and their sizes differ by at most one (a shard may be empty when there are more
    /// shards than cells).
    pub fn range(&self, cells: usize) -> Range<usize> {
        let at = |k: usize| k * cells / self.count;
        at(self.index - 1)..at(self.index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_the_matrix_once_in_order() {
        for cells in [0, 1, 7, 10, 4048] {
            for count in [1, 2, 3, 8, 13] {
                let ranges: Vec<Range<usize>> = (1..=count).map(|index| Shard { index, count }.range(cells)).collect();
                assert_eq!(ranges[0].start, 0);
                assert_eq!(ranges[count - 1].end, cells);
                for w in ranges.windows(2) {
                    assert_eq!(w[0].end, w[1].start);
                }
                let sizes: Vec<usize> = ranges.iter().map(|r| r.len()).collect();
                let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
                assert!(max - min <= 1, "{cells} cells, {count} shards: {sizes:?}");
            }
        }
    }

    #[test]
    fn bad_shards_and_ranges_are_refused_with_the_expected_form() {
        for bad in ["0/4", "5/4", "1", "a/b", "1/0", "-1/2"] {
            let e = bad.parse::<Shard>().unwrap_err();
            assert!(e.contains(bad) && e.contains("K/N"), "{e}");
        }
        assert_eq!("2/4".parse::<Shard>().unwrap(), Shard { index: 2, count: 4 });
        assert_eq!(parse_cell_range("3..7", 10).unwrap(), 3..7);
        for bad in ["3..3", "7..3", "0..11", "3-7", "..4", "a..b"] {
            let e = parse_cell_range(bad, 10).unwrap_err();
            assert!(e.contains(bad) && e.contains("10 cells"), "{e}");
        }
    }
}
