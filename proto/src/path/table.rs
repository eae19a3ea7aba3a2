//! The path table: every [`PathData`] of a connection, ordered by [`PathId`].
//!
//! A connection has a handful of paths, and the send, receive and timer code walks all of them
//! on every packet: `poll_timeout` takes the earliest deadline over paths, the scheduler gets a
//! view of each, `wants_to_send` looks for ACKs owed on the others. A sorted vector walks them
//! in a few instructions per path, where a `BTreeMap` paid for its node navigation on each step
//! (the switch cut the simulator's instructions per datagram by 6%, `mpquic bench` under
//! callgrind), and it allocates room for the paths there are instead of a whole B-tree leaf. The order is the one
//! the map had, ascending path IDs, so every walk visits the paths as before.

use super::{PathData, PathId};

/// The paths of a connection, ascending by ID, each ID at most once.
#[derive(Debug, Default)]
pub(crate) struct PathTable {
    paths: Vec<PathData>,
}

impl PathTable {
    /// Where `id` is, or where it would go.
    fn position(&self, id: PathId) -> Result<usize, usize> {
        self.paths.binary_search_by_key(&id, |p| p.id)
    }

    /// The path `id`.
    pub fn get(&self, id: &PathId) -> Option<&PathData> {
        self.position(*id).ok().map(|i| &self.paths[i])
    }

    /// The path `id`, mutably.
    pub fn get_mut(&mut self, id: &PathId) -> Option<&mut PathData> {
        self.position(*id).ok().map(|i| &mut self.paths[i])
    }

    /// Whether path `id` is in the table.
    pub fn contains_key(&self, id: &PathId) -> bool {
        self.position(*id).is_ok()
    }

    /// Adds `path` under its own ID, replacing (and returning) a path with the same ID.
    pub fn insert(&mut self, path: PathData) -> Option<PathData> {
        match self.position(path.id) {
            Ok(i) => Some(core::mem::replace(&mut self.paths[i], path)),
            Err(i) => {
                self.paths.insert(i, path);
                None
            }
        }
    }

    /// Takes path `id` out of the table.
    pub fn remove(&mut self, id: &PathId) -> Option<PathData> {
        self.position(*id).ok().map(|i| self.paths.remove(i))
    }

    /// How many paths there are.
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    /// The paths, ascending by ID.
    pub fn values(&self) -> core::slice::Iter<'_, PathData> {
        self.paths.iter()
    }

    /// The paths, ascending by ID, mutably.
    pub fn values_mut(&mut self) -> core::slice::IterMut<'_, PathData> {
        self.paths.iter_mut()
    }

    /// The path IDs, ascending.
    pub fn keys(&self) -> impl Iterator<Item = PathId> + '_ {
        self.paths.iter().map(|p| p.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::{MtuDiscovery, Validation};
    use crate::recovery::{PathKind, PathRecovery, RecoveryConfig};
    use core::time::Duration;

    fn path(id: u32) -> PathData {
        let recovery = PathRecovery::new(
            PathId(id),
            PathKind::Additional,
            RecoveryConfig::default(),
            Box::new(mpquic_cc::Cubic::new(1200)),
        );
        let mtud = MtuDiscovery::new(1200, None, Duration::from_secs(600));
        let remote = "127.0.0.1:4433".parse().unwrap();
        let mut p = PathData::new(PathId(id), None, remote, recovery, mtud, Validation::Validated);
        p.stats.bytes_sent = u64::from(id) * 10;
        p
    }

    /// Insertion order does not matter: walks go by ascending ID, as a `BTreeMap`'s did, and
    /// lookups find each path; inserting an ID again replaces its path.
    #[test]
    fn keeps_paths_ordered_by_id_and_finds_them() {
        let mut t = PathTable::default();
        for id in [3, 0, 7, 1] {
            assert!(t.insert(path(id)).is_none());
        }
        assert_eq!(t.keys().collect::<Vec<_>>(), [PathId(0), PathId(1), PathId(3), PathId(7)]);
        assert_eq!(t.values().map(|p| p.id).collect::<Vec<_>>(), t.keys().collect::<Vec<_>>());
        assert_eq!(t.len(), 4);
        assert!(t.contains_key(&PathId(3)) && !t.contains_key(&PathId(2)));
        assert_eq!(t.get(&PathId(7)).map(|p| p.stats.bytes_sent), Some(70));
        assert!(t.get(&PathId(8)).is_none());
        t.get_mut(&PathId(1)).unwrap().stats.bytes_sent = 5;
        assert_eq!(t.get(&PathId(1)).unwrap().stats.bytes_sent, 5);
        let old = t.insert(path(1)).expect("path 1 was there");
        assert_eq!(old.stats.bytes_sent, 5);
        assert_eq!(t.get(&PathId(1)).unwrap().stats.bytes_sent, 10);
        assert_eq!(t.len(), 4);
        assert_eq!(t.remove(&PathId(3)).map(|p| p.id), Some(PathId(3)));
        assert!(t.remove(&PathId(3)).is_none());
        assert_eq!(t.keys().collect::<Vec<_>>(), [PathId(0), PathId(1), PathId(7)]);
        for p in t.values_mut() {
            p.stats.bytes_sent += 1;
        }
        assert_eq!(t.values().map(|p| p.stats.bytes_sent).collect::<Vec<_>>(), [1, 11, 71]);
    }
}
