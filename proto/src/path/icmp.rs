//! ICMP errors the OS reported for datagrams we sent (RFC 9000 §14.2.1, RFC 8899 §4.6).
//!
//! ICMP is not authenticated, so it never ends a connection: a "packet too big" can only lower
//! the datagram size toward the 1200-byte floor, and "unreachable" only marks a path
//! potentially failed when other paths remain (multipath), which probes will undo if wrong.

use std::net::SocketAddr;

use smallvec::SmallVec;

use super::{PathId, Paths};

/// What an ICMP error said about a datagram we sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpError {
    /// Destination or port unreachable.
    Unreachable,
    /// The datagram was larger than the path's MTU; `mtu` is the next-hop MTU (IP packet size).
    PacketTooBig {
        /// The reported MTU, in bytes of IP packet.
        mtu: u32,
    },
}

impl Paths {
    /// The paths in use that send to `remote`.
    pub(crate) fn sending_to(&self, remote: SocketAddr) -> SmallVec<[PathId; 4]> {
        self.table.values().filter(|p| p.remote == remote && p.abandoned_at.is_none()).map(|p| p.id).collect()
    }

    /// A "packet too big" reporting `mtu` (IP packet size) for `id`; returns the path's old and
    /// new datagram size when it lowered it.
    pub(crate) fn on_packet_too_big(&mut self, id: PathId, remote: SocketAddr, mtu: u32) -> Option<(u16, u16)> {
        // IP and UDP headers are not part of the QUIC datagram size.
        let overhead = if remote.is_ipv4() { 28 } else { 48 };
        let size = u16::try_from(mtu.saturating_sub(overhead)).unwrap_or(u16::MAX);
        let path = self.table.get_mut(&id)?;
        let old = path.mtu();
        path.mtud.on_packet_too_big(size).map(|new| (old, new))
    }

    /// Whether an "unreachable" for `id` marks it potentially failed: only with multipath, only
    /// once, and only while another path that is not failed remains.
    pub(crate) fn unreachable_marks_failed(&self, id: PathId) -> bool {
        let already = self.table.get(&id).is_some_and(|p| p.failed_since.is_some());
        let alternatives =
            self.table.values().filter(|p| p.id != id && p.abandoned_at.is_none() && p.failed_since.is_none()).count();
        self.multipath.is_some() && !already && alternatives > 0
    }
}
