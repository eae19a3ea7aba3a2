//! Typed connection events for tracing: what a qlog writer, a CSV exporter or a test snapshot
//! needs to see of a connection, each stamped with `now` and, where the event belongs to one,
//! with its [`PathId`].
//!
//! A [`TracerFactory`] in [`TransportConfig::tracer_factory`](crate::TransportConfig) builds one
//! [`Tracer`] per connection; the connection calls [`Tracer::event`] as things happen. Nothing
//! here writes files: the tracer is the driver's (the `mpquic` command writes qlog JSON-SEQ from
//! these events), so proto stays sans-IO. Without a factory the connection builds no event at
//! all, and tracing costs one branch per packet.
//!
//! The events follow the qlog QUIC event definitions (draft-ietf-quic-qlog-quic-events) so
//! that a qlog writer maps them one to one: `connection_started`, `parameters_set`,
//! `connection_state_updated`, `connection_closed`, `packet_sent`, `packet_received`,
//! `packet_dropped`, `packet_lost`, `recovery_metrics_updated` (whose congestion state also gives
//! `congestion_state_updated`), `key_updated`, `mtu_updated`, plus the multipath path life cycle
//! (RFC 10069 §3) as [`TraceEvent::Path`].

use std::fmt;
use std::net::SocketAddr;

use crate::error::ConnectionError;
use crate::path::PathEvent;
use crate::shared::{ConnectionId, Side};
use crate::Instant;

// The wire types the events carry: decoded frames (RFC 9000 §19, RFC 9221, RFC 10069 §4),
// packet types (RFC 9000 §17) and transport parameters (RFC 9000 §18). They are public here, and
// only here, so that a tracer can read every field; their codecs stay internal.
pub use crate::crypto::ResetToken;
pub use crate::frame::{
    Ack, AckIter, ApplicationClose, ConnectionClose, Crypto, Datagram, Frame, FrameError, FrameErrorKind, FrameKind,
    NewConnectionId, NewToken, PathAbandon, PathCidsBlocked, PathStatus as PathStatusFrame, RetireConnectionId, Stream,
};
pub use crate::packet::{LongType, PacketType, SpaceId};
pub use crate::recovery::RecoveryMetrics;
pub use crate::transport_parameters::{PreferredAddress, TransportParameters};
use mpquic_core::{PathId, PathStatus};

/// What a factory knows about the connection it builds a tracer for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceInfo {
    /// Which side the connection is.
    pub side: Side,
    /// The Destination Connection ID of the client's first Initial: the identifier both sides
    /// share (qlog's `group_id`, and the usual file name of a trace).
    pub original_dst_cid: ConnectionId,
    /// When the connection was created.
    pub created: Instant,
}

/// Receives the events of one connection.
pub trait Tracer: Send + fmt::Debug {
    /// Whether to report [`TraceEvent::PacketSent`] and [`TraceEvent::PacketReceived`] with
    /// their decoded frames. Decoding costs a copy of each packet's payload; a tracer that only
    /// wants metrics and state changes returns `false`, and packets are not decoded for it.
    fn wants_packets(&self) -> bool {
        true
    }

    /// One event at `now`.
    fn event(&mut self, now: Instant, event: &TraceEvent<'_>);
}

/// Builds one [`Tracer`] per connection. Factories are values in the transport configuration.
pub trait TracerFactory: Send + Sync + fmt::Debug {
    /// A tracer for a new connection, or `None` not to trace it.
    fn tracer(&self, info: &TraceInfo) -> Option<Box<dyn Tracer>>;
}

/// The header facts of a packet, as qlog's `PacketHeader` has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketHeaderInfo {
    /// Packet type.
    pub packet_type: PacketType,
    /// Full packet number.
    pub packet_number: u64,
    /// Bytes of the packet on the wire (header, payload and tag; a coalesced packet counts only
    /// its own bytes).
    pub length: u64,
    /// Destination Connection ID.
    pub dst_cid: ConnectionId,
    /// Source Connection ID (long headers only).
    pub src_cid: Option<ConnectionId>,
    /// Key phase bit of a 1-RTT packet.
    pub key_phase: Option<bool>,
}

/// Why a received packet was dropped (qlog `packet_dropped` triggers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The header could not be parsed, or the packet breaks a size rule (a server got an
    /// Initial in a datagram under 1200 bytes, RFC 9000 §14.1).
    HeaderParseError,
    /// The Destination Connection ID belongs to no path of this connection, or a client got a
    /// long header whose Source Connection ID is not the one the server chose (RFC 9000 §7.2).
    UnknownConnectionId,
    /// The keys to open it are not (or no longer) available.
    KeyUnavailable,
    /// Header or packet protection failed (RFC 9001 §5).
    DecryptionFailure,
    /// A packet number seen before (RFC 9000 §12.3).
    Duplicate,
    /// A packet type this connection does not process (a 0-RTT packet reaching a client, RFC 9001
    /// §5.6).
    Unsupported,
}

/// The life cycle of a connection (qlog `connection_state_updated`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionStateTrace {
    /// TLS completed the handshake (RFC 9001 §4.1.1).
    HandshakeCompleted,
    /// The handshake is confirmed (RFC 9001 §4.1.2).
    HandshakeConfirmed,
    /// We sent CONNECTION_CLOSE (RFC 9000 §10.2.1).
    Closing,
    /// The peer closed (RFC 9000 §10.2.2).
    Draining,
    /// The connection is gone.
    Closed,
}

/// What happened to a path (RFC 10069 §3, RFC 9000 §8-9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathTrace {
    /// The path was created (opened locally, by the peer, or as the handshake path).
    Created,
    /// An application-visible path event.
    Event(PathEvent),
    /// The peer announced the path's status (PATH_STATUS_BACKUP / PATH_STATUS_AVAILABLE).
    PeerStatus(PathStatus),
}

/// One traced event. Borrowed fields point into the connection's state: a tracer copies what it
/// keeps.
#[derive(Debug, Clone)]
pub enum TraceEvent<'a> {
    /// The connection exists (client: its first Initial is about to be built; server: the
    /// client's first Initial was accepted).
    ConnectionStarted {
        /// Our address, when known.
        local: Option<SocketAddr>,
        /// The peer's address.
        remote: SocketAddr,
        /// QUIC version.
        version: u32,
        /// Our Source Connection ID.
        src_cid: &'a ConnectionId,
        /// The Destination Connection ID we send to first.
        dst_cid: &'a ConnectionId,
    },
    /// Transport parameters: ours (`Side` of this connection) or the peer's once accepted.
    ParametersSet {
        /// True for the parameters we send.
        local: bool,
        /// The parameters.
        params: &'a TransportParameters,
    },
    /// The connection's state changed.
    ConnectionStateUpdated(ConnectionStateTrace),
    /// The connection ended with this error.
    ConnectionClosed {
        /// True when we closed it (including on a protocol error we detected).
        local: bool,
        /// Why.
        error: &'a ConnectionError,
    },
    /// A packet was sent on `path`.
    PacketSent {
        /// The path.
        path: PathId,
        /// Its header.
        header: PacketHeaderInfo,
        /// Its frames, decoded from the plaintext before protection.
        frames: &'a [Frame],
    },
    /// A packet was received on `path`, authenticated and decrypted.
    PacketReceived {
        /// The path.
        path: PathId,
        /// Its header.
        header: PacketHeaderInfo,
        /// Its frames.
        frames: &'a [Frame],
    },
    /// A received packet or datagram was dropped.
    PacketDropped {
        /// The path, when known.
        path: Option<PathId>,
        /// Bytes dropped.
        length: u64,
        /// Why.
        reason: DropReason,
    },
    /// A sent packet was declared lost (RFC 9002 §6.1) or stranded on a failed path.
    PacketLost {
        /// The path it was sent on.
        path: PathId,
        /// Its packet type (by space).
        packet_type: PacketType,
        /// Its packet number.
        packet_number: u64,
        /// Its size in bytes.
        length: u64,
    },
    /// A path's RTT, window or bytes in flight after an acknowledgement, a loss or a timeout.
    MetricsUpdated {
        /// The path.
        path: PathId,
        /// The values now.
        metrics: RecoveryMetrics,
    },
    /// The 1-RTT keys were updated (RFC 9001 §6).
    KeyUpdated {
        /// True when we initiated the update.
        local: bool,
        /// The key phase now in use, counting updates from 0.
        generation: u64,
    },
    /// A path's maximum datagram size changed (DPLPMTUD, RFC 9000 §14).
    MtuUpdated {
        /// The path.
        path: PathId,
        /// The previous size.
        old: u16,
        /// The new size.
        new: u16,
    },
    /// A path's life cycle, with the path's addresses at the time.
    Path {
        /// The path.
        path: PathId,
        /// What happened.
        what: PathTrace,
        /// Our address on it, when known.
        local: Option<SocketAddr>,
        /// The peer's address on it.
        remote: SocketAddr,
    },
}

impl TraceEvent<'_> {
    /// The path the event belongs to, if it belongs to one.
    pub fn path(&self) -> Option<PathId> {
        match self {
            Self::PacketSent { path, .. }
            | Self::PacketReceived { path, .. }
            | Self::PacketLost { path, .. }
            | Self::MetricsUpdated { path, .. }
            | Self::MtuUpdated { path, .. }
            | Self::Path { path, .. } => Some(*path),
            Self::PacketDropped { path, .. } => *path,
            _ => None,
        }
    }
}
