//! Path identifiers (RFC 10069 §2).

use core::fmt;

/// Identifies one path of a connection.
///
/// Path 0 is the path of the handshake. Without multipath it is the only path; RFC 9000
/// migration changes its addresses but not its ID. With multipath each path ID owns its own
/// application-data packet-number space, connection IDs, recovery, congestion controller,
/// pacer, MTU and ECN state (RFC 10069 §2). Path IDs are never reused.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PathId(pub u32);

impl PathId {
    /// The handshake path.
    pub const ZERO: Self = Self(0);
    /// The largest path ID RFC 10069 allows (2^32 - 1, §2).
    pub const MAX: Self = Self(u32::MAX);

    /// The next path ID, or `None` past [`PathId::MAX`].
    pub fn next(self) -> Option<Self> {
        self.0.checked_add(1).map(Self)
    }

    /// The ID as a `u64`, as it is written on the wire.
    pub fn as_u64(self) -> u64 {
        u64::from(self.0)
    }
}

impl fmt::Debug for PathId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "path{}", self.0)
    }
}

impl fmt::Display for PathId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<u32> for PathId {
    fn from(x: u32) -> Self {
        Self(x)
    }
}
