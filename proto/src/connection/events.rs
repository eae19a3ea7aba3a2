//! What a connection tells its application ([`Event`]) and its endpoint ([`EndpointEvent`]), and
//! the error the application sees when a connection ends ([`ConnectionError`]).

use thiserror::Error;

use crate::error::{TransportError, TransportErrorCode};
use crate::path::{PathEvent, PathId};
use crate::shared::{ConnectionId, Dir, StreamId};

/// Why a connection ended, as the application sees it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConnectionError {
    /// The peer does not speak any version we offered (RFC 9000 §6).
    #[error("the peer does not support our QUIC version")]
    VersionMismatch,
    /// We detected a protocol error and closed the connection with it. (Not marked as the
    /// error's source: the message already contains it, and error chains would print it twice.)
    #[error("closed locally after a transport error: {0}")]
    TransportError(TransportError),
    /// The peer closed the connection with a transport error code.
    #[error("closed by peer: {code}{}", if reason.is_empty() { String::new() } else { format!(" ({reason})") })]
    ConnectionClosed {
        /// The peer's error code.
        code: TransportErrorCode,
        /// The peer's reason phrase.
        reason: String,
    },
    /// The peer's application closed the connection.
    #[error("closed by peer application: error {code}{}", if reason.is_empty() { String::new() } else { format!(" ({reason})") })]
    ApplicationClosed {
        /// The application error code.
        code: u64,
        /// The reason phrase.
        reason: String,
    },
    /// The peer sent a stateless reset (RFC 9000 §10.3).
    #[error("reset by peer")]
    Reset,
    /// No packet arrived within the idle timeout (RFC 9000 §10.1).
    #[error("timed out")]
    TimedOut,
    /// The local application closed the connection.
    #[error("closed locally")]
    LocallyClosed,
}

impl From<TransportError> for ConnectionError {
    fn from(e: TransportError) -> Self {
        Self::TransportError(e)
    }
}

/// Events for the application; drain with `Connection::poll_event`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The handshake produced 1-RTT keys and the peer's transport parameters were accepted.
    Connected,
    /// The handshake is confirmed (RFC 9001 §4.1.2).
    HandshakeConfirmed,
    /// The connection ended; no more events follow but [`Event::Drained`]-like cleanup.
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
    /// The connection left the handshake (the endpoint's count of handshakes in progress drops).
    HandshakeDone,
    /// The connection is fully gone: forget it.
    Drained,
}
