//! What a connection tells its application ([`Event`]) and its endpoint ([`EndpointEvent`]).

pub use crate::error::ConnectionError;
use crate::path::{PathEvent, PathId};
use crate::shared::{ConnectionId, Dir, StreamId};

/// Events for the application; drain with `Connection::poll_event`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The handshake produced 1-RTT keys and the peer's transport parameters were accepted.
    Connected,
    /// The handshake is confirmed (RFC 9001 §4.1.2).
    HandshakeConfirmed,
    /// The connection ended; no more events follow but the endpoint's cleanup (`EndpointEvent::Drained`).
    ConnectionLost(ConnectionError),
    /// The peer opened streams of this direction: accept them.
    StreamOpened(Dir),
    /// A stream has data (or a FIN, or a reset) to read.
    StreamReadable(StreamId),
    /// A stream that was blocked can take more data.
    StreamWritable(StreamId),
    /// Everything we wrote on a stream, and its FIN, was acknowledged.
    StreamFinished(StreamId),
    /// The peer asked us to stop sending on a stream (STOP_SENDING) with this error code.
    StreamStopped(StreamId, u64),
    /// More streams of this direction can be opened.
    StreamsAvailable(Dir),
    /// A datagram (RFC 9221) arrived: read it with `Connection::recv_datagram`.
    DatagramReceived,
    /// A path changed state.
    Path(PathEvent),
}

/// Events for the endpoint that owns the connection: CID routing changes and the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointEvent {
    /// Route datagrams with this CID to this connection; `reset_token` identifies its stateless reset.
    NewLocalCid {
        /// The path ID space the CID belongs to.
        path: PathId,
        /// Sequence number.
        sequence: u64,
        /// The CID.
        id: ConnectionId,
        /// Its stateless reset token.
        reset_token: [u8; 16],
    },
    /// Stop routing this CID here.
    RetiredLocalCid(ConnectionId),
    /// The peer gave us a CID with this stateless reset token (RFC 9000 §10.3): a datagram
    /// ending in it may be a reset for this connection.
    NewPeerResetToken([u8; 16]),
    /// A CID with this stateless reset token was retired or forgotten (the connection may still
    /// hold the token under another CID).
    RetiredPeerResetToken([u8; 16]),
    /// The connection left the handshake (the endpoint's count of handshakes in progress drops).
    HandshakeDone,
    /// The connection is fully gone: forget it.
    Drained,
}
