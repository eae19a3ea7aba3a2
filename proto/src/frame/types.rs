//! Frame type code points.

use core::fmt;

/// A frame type as it appears on the wire (RFC 9000 §12.4).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameType(pub u64);

impl fmt::Debug for FrameType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "frame type {:#x}", self.0)
    }
}
