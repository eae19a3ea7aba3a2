//! QUIC frames (RFC 9000 §12.4, §19; RFC 9221; RFC 10069 §4): the
//! [`Frame`] enum, a zero-copy decoder ([`Iter`]) and encoders.
//!
//! Decoding takes the decrypted payload of one packet as [`Bytes`]; every data field of a
//! decoded frame is a slice of it, and ACK ranges stay in their wire form, so decoding never
//! allocates. Errors carry the frame type and convert into the [`TransportError`] to close the
//! connection with.
//!
//! ```
//! use bytes::Bytes;
//! use mpquic_proto::frame::{self, Frame};
//!
//! let mut out = Vec::new();
//! Frame::Ping.encode(&mut out);
//! Frame::MaxData(1 << 20).encode(&mut out);
//! let frames: Vec<_> = frame::Iter::new(Bytes::from(out)).collect::<Result<_, _>>().unwrap();
//! assert_eq!(frames, vec![Frame::Ping, Frame::MaxData(1 << 20)]);
//! ```

mod ack;
mod cid;
mod close;
mod data;
mod multipath;
mod stream;
mod types;

use bytes::{Buf, BufMut, Bytes};
use thiserror::Error;

pub use ack::{encode_ack, Ack, AckIter, MAX_ACK_RANGES};
pub use cid::{NewConnectionId, RetireConnectionId};
pub use close::{ApplicationClose, ConnectionClose};
pub use data::{Crypto, Datagram, NewToken, Stream};
pub use multipath::{PathAbandon, PathCidsBlocked, PathStatus};
pub use stream::{
    encode_stream_header, stream_header_len, STREAM_BASE_TYPE, STREAM_FIN_BIT, STREAM_LEN_BIT, STREAM_OFF_BIT,
};
pub use crate::shared::FrameType;
pub use types::{FrameKind, MultipathVersion};

use crate::coding::{get_varint, put_varint, varint_size, BufExt, UnexpectedEnd};
use crate::error::{TransportError, TransportErrorCode};
use crate::packet::PacketType;
use crate::shared::{Dir, StreamId};
use mpquic_core::PathId;
use multipath::get_path_id;

/// RFC 9000 §19.11, §19.14: stream counts above 2^60 cannot be expressed as stream IDs.
const MAX_STREAM_COUNT: u64 = 1 << 60;

/// One QUIC frame. Multipath frames carry their [`PathId`]; the RFC 9000 forms of ACK and the
/// CID frames carry [`PathId::ZERO`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A run of PADDING bytes (RFC 9000 §19.1), coalesced; the value is the number of bytes.
    Padding(usize),
    /// PING (RFC 9000 §19.2).
    Ping,
    /// ACK (RFC 9000 §19.3), types 0x02/0x03.
    Ack(Ack),
    /// RESET_STREAM (RFC 9000 §19.4).
    ResetStream {
        /// The stream.
        id: StreamId,
        /// Application Protocol Error Code.
        error_code: u64,
        /// Final Size of the stream.
        final_size: u64,
    },
    /// STOP_SENDING (RFC 9000 §19.5).
    StopSending {
        /// The stream.
        id: StreamId,
        /// Application Protocol Error Code.
        error_code: u64,
    },
    /// CRYPTO (RFC 9000 §19.6).
    Crypto(Crypto),
    /// NEW_TOKEN (RFC 9000 §19.7).
    NewToken(NewToken),
    /// STREAM (RFC 9000 §19.8), types 0x08..=0x0f; always encoded with a Length field.
    Stream(Stream),
    /// MAX_DATA (RFC 9000 §19.9): Maximum Data.
    MaxData(u64),
    /// MAX_STREAM_DATA (RFC 9000 §19.10).
    MaxStreamData {
        /// The stream.
        id: StreamId,
        /// Maximum Stream Data.
        max: u64,
    },
    /// MAX_STREAMS (RFC 9000 §19.11), types 0x12 (bidi) / 0x13 (uni).
    MaxStreams {
        /// Which kind of stream.
        dir: Dir,
        /// Maximum Streams, at most 2^60.
        count: u64,
    },
    /// DATA_BLOCKED (RFC 9000 §19.12): Maximum Data at which the sender was blocked.
    DataBlocked(u64),
    /// STREAM_DATA_BLOCKED (RFC 9000 §19.13).
    StreamDataBlocked {
        /// The stream.
        id: StreamId,
        /// Maximum Stream Data at which the sender was blocked.
        limit: u64,
    },
    /// STREAMS_BLOCKED (RFC 9000 §19.14), types 0x16 (bidi) / 0x17 (uni).
    StreamsBlocked {
        /// Which kind of stream.
        dir: Dir,
        /// Maximum Streams at which the sender was blocked, at most 2^60.
        limit: u64,
    },
    /// NEW_CONNECTION_ID (RFC 9000 §19.15); `path_id` is 0.
    NewConnectionId(NewConnectionId),
    /// RETIRE_CONNECTION_ID (RFC 9000 §19.16); `path_id` is 0.
    RetireConnectionId(RetireConnectionId),
    /// PATH_CHALLENGE (RFC 9000 §19.17).
    PathChallenge([u8; 8]),
    /// PATH_RESPONSE (RFC 9000 §19.18).
    PathResponse([u8; 8]),
    /// CONNECTION_CLOSE type 0x1c (RFC 9000 §19.19).
    ConnectionClose(ConnectionClose),
    /// CONNECTION_CLOSE type 0x1d (RFC 9000 §19.19).
    ApplicationClose(ApplicationClose),
    /// HANDSHAKE_DONE (RFC 9000 §19.20).
    HandshakeDone,
    /// DATAGRAM (RFC 9221 §4); always encoded with a Length field.
    Datagram(Datagram),
    /// PATH_ACK (RFC 10069 §4.1).
    PathAck(Ack),
    /// PATH_ABANDON (RFC 10069 §4.2).
    PathAbandon(PathAbandon),
    /// PATH_STATUS_BACKUP (RFC 10069 §4.3).
    PathStatusBackup(PathStatus),
    /// PATH_STATUS_AVAILABLE (RFC 10069 §4.4).
    PathStatusAvailable(PathStatus),
    /// PATH_NEW_CONNECTION_ID (RFC 10069 §4.5).
    PathNewConnectionId(NewConnectionId),
    /// PATH_RETIRE_CONNECTION_ID (RFC 10069 §4.6).
    PathRetireConnectionId(RetireConnectionId),
    /// MAX_PATH_ID (RFC 10069 §4.7): Maximum Path Identifier.
    MaxPathId(PathId),
    /// PATHS_BLOCKED (RFC 10069 §4.8): the limit at which the sender was blocked.
    PathsBlocked(PathId),
    /// PATH_CIDS_BLOCKED (RFC 10069 §4.9).
    PathCidsBlocked(PathCidsBlocked),
}

/// Why a frame could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum FrameErrorKind {
    /// The payload ended inside the frame.
    #[error("frame truncated")]
    Truncated,
    /// RFC 9000 §12.4: an unknown frame type is a FRAME_ENCODING_ERROR.
    #[error("unknown frame type")]
    UnknownType,
    /// A field has a value the RFC forbids (FRAME_ENCODING_ERROR).
    #[error("invalid frame: {0}")]
    Invalid(&'static str),
    /// RFC 10069 §4: a path ID above 2^32 - 1, necessarily above our limit
    /// (PROTOCOL_VIOLATION).
    #[error("path ID above 2^32 - 1")]
    PathIdTooLarge,
}

impl From<UnexpectedEnd> for FrameErrorKind {
    fn from(_: UnexpectedEnd) -> Self {
        Self::Truncated
    }
}

impl FrameErrorKind {
    /// The transport error code the connection closes with.
    pub fn code(self) -> TransportErrorCode {
        match self {
            Self::PathIdTooLarge => TransportErrorCode::PROTOCOL_VIOLATION,
            _ => TransportErrorCode::FRAME_ENCODING_ERROR,
        }
    }
}

/// A frame that could not be decoded, and its type when that much could be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("{kind}{}", frame_type.map(|t| format!(" ({t:?})")).unwrap_or_default())]
pub struct FrameError {
    /// The frame type, if it could be read.
    pub frame_type: Option<FrameType>,
    /// What was wrong.
    pub kind: FrameErrorKind,
}

impl From<FrameError> for TransportError {
    fn from(e: FrameError) -> Self {
        TransportError { code: e.kind.code(), frame: e.frame_type, reason: e.kind.to_string() }
    }
}

/// Decodes the frames of one decrypted packet payload, in order. After the first error the
/// iterator ends (a malformed frame makes the rest of the payload unparseable).
#[derive(Debug, Clone)]
pub struct Iter {
    buf: Bytes,
    mp: Option<MultipathVersion>,
    failed: bool,
}

impl Iter {
    /// Decodes `payload` with the RFC 10069 (draft-21) multipath code points recognised.
    #[cfg(any(test, feature = "internals"))]
    pub fn new(payload: Bytes) -> Self {
        Self::with_multipath(payload, Some(MultipathVersion::default()))
    }

    /// Decodes `payload` with the multipath code points of `mp`; with `None` (multipath not
    /// negotiated) multipath frame types are unknown types.
    pub fn with_multipath(payload: Bytes, mp: Option<MultipathVersion>) -> Self {
        Self { buf: payload, mp, failed: false }
    }

    /// Bytes not decoded yet.
    #[cfg(any(test, feature = "internals"))]
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }
}

impl Iterator for Iter {
    type Item = Result<Frame, FrameError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.buf.is_empty() {
            return None;
        }
        let result = decode_one(&mut self.buf, self.mp);
        if result.is_err() {
            self.failed = true;
            self.buf.clear();
        }
        Some(result)
    }
}

fn decode_one(buf: &mut Bytes, mp: Option<MultipathVersion>) -> Result<Frame, FrameError> {
    // Non-minimal encodings of the type are accepted (RFC 9000 §12.4 makes rejecting them optional).
    let ty = FrameType(get_varint(buf).map_err(|_| FrameError { frame_type: None, kind: FrameErrorKind::Truncated })?);
    decode_body(buf, ty, mp).map_err(|kind| FrameError { frame_type: Some(ty), kind })
}

fn get_stream_count(buf: &mut Bytes) -> Result<u64, FrameErrorKind> {
    let count = get_varint(buf)?;
    // RFC 9000 §19.11, §19.14: above 2^60 is a FRAME_ENCODING_ERROR.
    if count > MAX_STREAM_COUNT {
        return Err(FrameErrorKind::Invalid("stream count above 2^60"));
    }
    Ok(count)
}

fn decode_body(buf: &mut Bytes, ty: FrameType, mp: Option<MultipathVersion>) -> Result<Frame, FrameErrorKind> {
    use FrameKind as K;
    let kind = ty.kind(mp).ok_or(FrameErrorKind::UnknownType)?;
    let dir = |bidi: FrameType| if ty == bidi { Dir::Bi } else { Dir::Uni };
    Ok(match kind {
        K::Padding => {
            // RFC 9000 §19.1: coalesce the run of PADDING bytes into one item.
            let run = buf.iter().take_while(|&&b| b == 0).count();
            buf.advance(run);
            Frame::Padding(run + 1)
        }
        K::Ping => Frame::Ping,
        K::Ack => Frame::Ack(decode_ack(buf, PathId::ZERO, ty == FrameType::ACK_ECN)?),
        K::ResetStream => Frame::ResetStream {
            id: StreamId(get_varint(buf)?),
            error_code: get_varint(buf)?,
            final_size: get_varint(buf)?,
        },
        K::StopSending => Frame::StopSending { id: StreamId(get_varint(buf)?), error_code: get_varint(buf)? },
        K::Crypto => Frame::Crypto(Crypto::decode(buf)?),
        K::NewToken => Frame::NewToken(NewToken::decode(buf)?),
        K::Stream => Frame::Stream(Stream::decode(buf, ty.0)?),
        K::MaxData => Frame::MaxData(get_varint(buf)?),
        K::MaxStreamData => Frame::MaxStreamData { id: StreamId(get_varint(buf)?), max: get_varint(buf)? },
        K::MaxStreams => Frame::MaxStreams { dir: dir(FrameType::MAX_STREAMS_BIDI), count: get_stream_count(buf)? },
        K::DataBlocked => Frame::DataBlocked(get_varint(buf)?),
        K::StreamDataBlocked => Frame::StreamDataBlocked { id: StreamId(get_varint(buf)?), limit: get_varint(buf)? },
        K::StreamsBlocked => {
            Frame::StreamsBlocked { dir: dir(FrameType::STREAMS_BLOCKED_BIDI), limit: get_stream_count(buf)? }
        }
        K::NewConnectionId => Frame::NewConnectionId(NewConnectionId::decode(buf, PathId::ZERO)?),
        K::RetireConnectionId => {
            Frame::RetireConnectionId(RetireConnectionId { path_id: PathId::ZERO, sequence: get_varint(buf)? })
        }
        K::PathChallenge => Frame::PathChallenge(buf.try_get_array()?),
        K::PathResponse => Frame::PathResponse(buf.try_get_array()?),
        K::ConnectionClose => Frame::ConnectionClose(ConnectionClose::decode(buf)?),
        K::ApplicationClose => Frame::ApplicationClose(ApplicationClose::decode(buf)?),
        K::HandshakeDone => Frame::HandshakeDone,
        K::Datagram => Frame::Datagram(Datagram::decode(buf, ty == FrameType::DATAGRAM_LEN)?),
        K::PathAck => {
            let with_ecn = mp.is_some_and(|mp| ty == mp.codes().path_ack_ecn);
            let path_id = get_path_id(buf)?;
            Frame::PathAck(decode_ack(buf, path_id, with_ecn)?)
        }
        K::PathAbandon => Frame::PathAbandon(PathAbandon { path_id: get_path_id(buf)?, error_code: get_varint(buf)? }),
        K::PathStatusBackup => {
            Frame::PathStatusBackup(PathStatus { path_id: get_path_id(buf)?, sequence: get_varint(buf)? })
        }
        K::PathStatusAvailable => {
            Frame::PathStatusAvailable(PathStatus { path_id: get_path_id(buf)?, sequence: get_varint(buf)? })
        }
        K::PathNewConnectionId => {
            let path_id = get_path_id(buf)?;
            Frame::PathNewConnectionId(NewConnectionId::decode(buf, path_id)?)
        }
        K::PathRetireConnectionId => {
            Frame::PathRetireConnectionId(RetireConnectionId { path_id: get_path_id(buf)?, sequence: get_varint(buf)? })
        }
        K::MaxPathId => Frame::MaxPathId(get_path_id(buf)?),
        K::PathsBlocked => Frame::PathsBlocked(get_path_id(buf)?),
        K::PathCidsBlocked => {
            Frame::PathCidsBlocked(PathCidsBlocked { path_id: get_path_id(buf)?, next_sequence: get_varint(buf)? })
        }
    })
}

fn decode_ack(buf: &mut Bytes, path_id: PathId, with_ecn: bool) -> Result<Ack, FrameErrorKind> {
    Ack::decode_body(buf, path_id, with_ecn).map_err(|e| match e {
        ack::AckDecodeError::Truncated => FrameErrorKind::Truncated,
        ack::AckDecodeError::Underflow => FrameErrorKind::Invalid("ACK range below packet number 0"),
    })
}

/// Where encoders write: a real buffer or a byte counter, so that lengths always match encodings.
pub(crate) trait Sink {
    fn u8(&mut self, b: u8);
    fn slice(&mut self, s: &[u8]);
    fn var(&mut self, x: u64);
    fn stream_header(&mut self, id: StreamId, offset: u64, len: Option<usize>, fin: bool);
}

/// A [`Sink`] writing into a [`BufMut`].
pub(crate) struct BufSink<'a, B: ?Sized>(pub(crate) &'a mut B);

impl<B: BufMut + ?Sized> Sink for BufSink<'_, B> {
    fn u8(&mut self, b: u8) {
        self.0.put_u8(b)
    }
    fn slice(&mut self, s: &[u8]) {
        self.0.put_slice(s)
    }
    fn var(&mut self, x: u64) {
        put_varint(self.0, x)
    }
    fn stream_header(&mut self, id: StreamId, offset: u64, len: Option<usize>, fin: bool) {
        encode_stream_header(self.0, id, offset, len, fin)
    }
}

/// A [`Sink`] that only counts bytes.
pub(crate) struct Counter(pub(crate) usize);

impl Sink for Counter {
    fn u8(&mut self, _: u8) {
        self.0 += 1
    }
    fn slice(&mut self, s: &[u8]) {
        self.0 += s.len()
    }
    fn var(&mut self, x: u64) {
        self.0 += varint_size(x)
    }
    fn stream_header(&mut self, id: StreamId, offset: u64, len: Option<usize>, _: bool) {
        self.0 += stream_header_len(id, offset, len)
    }
}

impl Frame {
    /// What kind of frame this is.
    pub fn kind(&self) -> FrameKind {
        use FrameKind as K;
        match self {
            Self::Padding(_) => K::Padding,
            Self::Ping => K::Ping,
            Self::Ack(_) => K::Ack,
            Self::ResetStream { .. } => K::ResetStream,
            Self::StopSending { .. } => K::StopSending,
            Self::Crypto(_) => K::Crypto,
            Self::NewToken(_) => K::NewToken,
            Self::Stream(_) => K::Stream,
            Self::MaxData(_) => K::MaxData,
            Self::MaxStreamData { .. } => K::MaxStreamData,
            Self::MaxStreams { .. } => K::MaxStreams,
            Self::DataBlocked(_) => K::DataBlocked,
            Self::StreamDataBlocked { .. } => K::StreamDataBlocked,
            Self::StreamsBlocked { .. } => K::StreamsBlocked,
            Self::NewConnectionId(_) => K::NewConnectionId,
            Self::RetireConnectionId(_) => K::RetireConnectionId,
            Self::PathChallenge(_) => K::PathChallenge,
            Self::PathResponse(_) => K::PathResponse,
            Self::ConnectionClose(_) => K::ConnectionClose,
            Self::ApplicationClose(_) => K::ApplicationClose,
            Self::HandshakeDone => K::HandshakeDone,
            Self::Datagram(_) => K::Datagram,
            Self::PathAck(_) => K::PathAck,
            Self::PathAbandon(_) => K::PathAbandon,
            Self::PathStatusBackup(_) => K::PathStatusBackup,
            Self::PathStatusAvailable(_) => K::PathStatusAvailable,
            Self::PathNewConnectionId(_) => K::PathNewConnectionId,
            Self::PathRetireConnectionId(_) => K::PathRetireConnectionId,
            Self::MaxPathId(_) => K::MaxPathId,
            Self::PathsBlocked(_) => K::PathsBlocked,
            Self::PathCidsBlocked(_) => K::PathCidsBlocked,
        }
    }

    /// RFC 9002 §2 (see [`FrameKind::is_ack_eliciting`]).
    pub fn is_ack_eliciting(&self) -> bool {
        self.kind().is_ack_eliciting()
    }

    /// RFC 9000 §9.1 (see [`FrameKind::is_probing`]).
    pub fn is_probing(&self) -> bool {
        self.kind().is_probing()
    }

    /// RFC 9000 §12.4 Table 3 (see [`FrameKind::allowed_in`]).
    pub fn allowed_in(&self, packet: PacketType) -> bool {
        self.kind().allowed_in(packet)
    }

    /// The frame type [`Frame::encode_with`] writes under `mp`.
    pub fn frame_type(&self, mp: MultipathVersion) -> FrameType {
        let c = mp.codes();
        let bidi = |dir: &Dir, bi: FrameType, uni: FrameType| if *dir == Dir::Bi { bi } else { uni };
        match self {
            Self::Padding(_) => FrameType::PADDING,
            Self::Ping => FrameType::PING,
            Self::Ack(a) => a.frame_type(false, mp),
            Self::ResetStream { .. } => FrameType::RESET_STREAM,
            Self::StopSending { .. } => FrameType::STOP_SENDING,
            Self::Crypto(_) => FrameType::CRYPTO,
            Self::NewToken(_) => FrameType::NEW_TOKEN,
            Self::Stream(s) => {
                let mut ty = u64::from(STREAM_BASE_TYPE | STREAM_LEN_BIT);
                if s.offset != 0 {
                    ty |= u64::from(STREAM_OFF_BIT);
                }
                if s.fin {
                    ty |= u64::from(STREAM_FIN_BIT);
                }
                FrameType(ty)
            }
            Self::MaxData(_) => FrameType::MAX_DATA,
            Self::MaxStreamData { .. } => FrameType::MAX_STREAM_DATA,
            Self::MaxStreams { dir, .. } => bidi(dir, FrameType::MAX_STREAMS_BIDI, FrameType::MAX_STREAMS_UNI),
            Self::DataBlocked(_) => FrameType::DATA_BLOCKED,
            Self::StreamDataBlocked { .. } => FrameType::STREAM_DATA_BLOCKED,
            Self::StreamsBlocked { dir, .. } => {
                bidi(dir, FrameType::STREAMS_BLOCKED_BIDI, FrameType::STREAMS_BLOCKED_UNI)
            }
            Self::NewConnectionId(_) => FrameType::NEW_CONNECTION_ID,
            Self::RetireConnectionId(_) => FrameType::RETIRE_CONNECTION_ID,
            Self::PathChallenge(_) => FrameType::PATH_CHALLENGE,
            Self::PathResponse(_) => FrameType::PATH_RESPONSE,
            Self::ConnectionClose(_) => FrameType::CONNECTION_CLOSE,
            Self::ApplicationClose(_) => FrameType::APPLICATION_CLOSE,
            Self::HandshakeDone => FrameType::HANDSHAKE_DONE,
            Self::Datagram(_) => FrameType::DATAGRAM_LEN,
            Self::PathAck(a) => a.frame_type(true, mp),
            Self::PathAbandon(_) => c.path_abandon,
            Self::PathStatusBackup(_) => c.path_status_backup,
            Self::PathStatusAvailable(_) => c.path_status_available,
            Self::PathNewConnectionId(_) => c.path_new_connection_id,
            Self::PathRetireConnectionId(_) => c.path_retire_connection_id,
            Self::MaxPathId(_) => c.max_path_id,
            Self::PathsBlocked(_) => c.paths_blocked,
            Self::PathCidsBlocked(_) => c.path_cids_blocked,
        }
    }

    /// Writes the frame with the RFC 10069 (draft-21) multipath code points.
    pub fn encode<B: BufMut + ?Sized>(&self, buf: &mut B) {
        self.encode_with(MultipathVersion::default(), buf)
    }

    /// Writes the frame with the multipath code points of `mp`.
    pub fn encode_with<B: BufMut + ?Sized>(&self, mp: MultipathVersion, buf: &mut B) {
        self.encode_to(mp, &mut BufSink(buf))
    }

    /// Bytes written by [`Frame::encode`].
    pub fn encoded_len(&self) -> usize {
        self.encoded_len_with(MultipathVersion::default())
    }

    /// Bytes written by [`Frame::encode_with`].
    pub fn encoded_len_with(&self, mp: MultipathVersion) -> usize {
        let mut counter = Counter(0);
        self.encode_to(mp, &mut counter);
        counter.0
    }

    fn encode_to(&self, mp: MultipathVersion, s: &mut impl Sink) {
        match self {
            Self::Padding(n) => {
                for _ in 0..*n {
                    s.u8(0);
                }
                return;
            }
            Self::Stream(st) => {
                s.stream_header(st.id, st.offset, Some(st.data.len()), st.fin);
                s.slice(&st.data);
                return;
            }
            Self::Datagram(d) => return d.encode_to(s, true),
            _ => {}
        }
        s.var(self.frame_type(mp).0);
        match self {
            Self::Padding(_) | Self::Stream(_) | Self::Datagram(_) => {}
            Self::Ping | Self::HandshakeDone => {}
            Self::Ack(a) => a.encode_body(s),
            Self::ResetStream { id, error_code, final_size } => {
                s.var(id.0);
                s.var(*error_code);
                s.var(*final_size);
            }
            Self::StopSending { id, error_code } => {
                s.var(id.0);
                s.var(*error_code);
            }
            Self::Crypto(c) => c.encode_body(s),
            Self::NewToken(t) => t.encode_body(s),
            Self::MaxData(x) | Self::DataBlocked(x) => s.var(*x),
            Self::MaxStreamData { id, max: x } | Self::StreamDataBlocked { id, limit: x } => {
                s.var(id.0);
                s.var(*x);
            }
            Self::MaxStreams { count: x, .. } | Self::StreamsBlocked { limit: x, .. } => s.var(*x),
            Self::NewConnectionId(n) => n.encode_body(s),
            Self::RetireConnectionId(r) => s.var(r.sequence),
            Self::PathChallenge(d) | Self::PathResponse(d) => s.slice(d),
            Self::ConnectionClose(c) => c.encode_body(s),
            Self::ApplicationClose(c) => c.encode_body(s),
            Self::PathAck(a) => {
                s.var(a.path_id.as_u64());
                a.encode_body(s);
            }
            Self::PathAbandon(p) => {
                s.var(p.path_id.as_u64());
                s.var(p.error_code);
            }
            Self::PathStatusBackup(p) | Self::PathStatusAvailable(p) => {
                s.var(p.path_id.as_u64());
                s.var(p.sequence);
            }
            Self::PathNewConnectionId(n) => {
                s.var(n.path_id.as_u64());
                n.encode_body(s);
            }
            Self::PathRetireConnectionId(r) => {
                s.var(r.path_id.as_u64());
                s.var(r.sequence);
            }
            Self::MaxPathId(p) | Self::PathsBlocked(p) => s.var(p.as_u64()),
            Self::PathCidsBlocked(p) => {
                s.var(p.path_id.as_u64());
                s.var(p.next_sequence);
            }
        }
    }
}

#[cfg(test)]
mod tests;
