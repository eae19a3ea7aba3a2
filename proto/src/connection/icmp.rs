//! ICMP errors the OS reported for datagrams we sent (RFC 9000 §14.2.1, RFC 8899 §4.6).
//!
//! ICMP is not authenticated, so it never ends a connection: a "packet too big" can only lower
//! the datagram size toward the 1200-byte floor, and "unreachable" only marks a path
//! potentially failed when other paths remain (multipath), which probes will undo if wrong.

use std::net::SocketAddr;

use super::Connection;
use crate::Instant;

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

impl Connection {
    /// Applies an ICMP error about a datagram we sent to `remote`.
    pub fn handle_icmp(&mut self, now: Instant, remote: SocketAddr, error: IcmpError) {
        let ids: smallvec::SmallVec<[crate::PathId; 4]> =
            self.paths.values().filter(|p| p.remote == remote && p.abandoned_at.is_none()).map(|p| p.id).collect();
        for id in ids {
            match error {
                IcmpError::PacketTooBig { mtu } => {
                    // IP and UDP headers are not part of the QUIC datagram size.
                    let overhead = if remote.is_ipv4() { 28 } else { 48 };
                    let size = u16::try_from(mtu.saturating_sub(overhead)).unwrap_or(u16::MAX);
                    let Some(path) = self.paths.get_mut(&id) else { continue };
                    let old = path.mtu();
                    if let Some(new) = path.mtud.on_packet_too_big(size) {
                        self.on_mtu_changed(now, id, old, new);
                    }
                }
                IcmpError::Unreachable => {
                    // Only while another path that is not failed remains.
                    let already = self.paths.get(&id).is_some_and(|p| p.failed_since.is_some());
                    let alternatives = self
                        .paths
                        .values()
                        .filter(|p| p.id != id && p.abandoned_at.is_none() && p.failed_since.is_none())
                        .count();
                    if self.multipath.is_some() && !already && alternatives > 0 {
                        self.mark_path_failed(now, id);
                    }
                }
            }
        }
    }
}
