//! QUIC streams and flow control (RFC 9000 §2-4), sans-IO: the set of all streams of one
//! connection.
//!
//! [`Streams`] owns every stream's send and receive state, stream-count limits in both
//! directions, connection-level flow control, the send scheduler (priorities, round-robin) and
//! the queue of pending control frames. It does no frame parsing or encoding: the connection
//! decodes frames and calls the `on_*` inputs frame by frame, and for each packet it builds it
//! takes typed [`ControlFrame`]s from [`Streams::poll_control`] and data from
//! [`Streams::next_stream_chunk`], then reports their fate (acknowledged or lost) back.
//!
//! # How a connection drives it
//! - After the handshake: [`Streams::set_peer_limits`] with the peer's transport parameters;
//!   advertise [`Streams::local_limits`] in ours.
//! - Per received frame: `on_stream_frame`, `on_reset_stream`, `on_stop_sending`, `on_max_data`,
//!   `on_max_stream_data`, `on_max_streams`, `on_data_blocked`, `on_stream_data_blocked`,
//!   `on_streams_blocked`. An `Err(TransportError)` closes the connection with its code.
//! - Per packet built: first `poll_control(now, rtt)` until `None` (or the packet is full; a
//!   frame that did not fit goes back with [`Streams::on_control_lost`]), then
//!   `next_stream_chunk(room)` while room is left. Remember what went into the packet.
//! - When the packet is acknowledged / declared lost: `on_stream_data_acked` / `_lost` for each
//!   chunk, and `on_control_acked` / `on_control_lost` for each control frame.
//! - Application events come out of [`Streams::poll_event`].
//!
//! Policies: lost data of any stream is sent before new data; new data goes to the
//! highest-priority streams first, round-robin (one frame per turn) among equal priorities.
//! Stream-level send credit is taken when the application writes (a write never buffers more
//! than the peer lets the stream carry); connection-level credit is taken when new data is first
//! put in a frame, so streams share it in scheduling order rather than in writing order.
//! Retransmissions never take credit again.

mod assembler;
mod copy;
mod flow_control;
mod pending;
mod recv;
mod send;

use core::time::Duration;
use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use thiserror::Error;

pub use assembler::Assembler;
pub use flow_control::{ReceiveWindow, SendCredit};
pub use recv::{ReadError, Received, RecvStream};
pub use send::{SendChunk, SendState, SendStream};

use crate::error::TransportError;
use crate::frame::FrameType;
use crate::shared::{Dir, Side, StreamId};
use crate::Instant;

// Frame types for error attribution (RFC 9000 §19).
const FRAME_RESET_STREAM: FrameType = FrameType(0x04);
const FRAME_STOP_SENDING: FrameType = FrameType(0x05);
const FRAME_STREAM: FrameType = FrameType(0x08);
const FRAME_MAX_STREAM_DATA: FrameType = FrameType(0x11);
const FRAME_MAX_STREAMS_BIDI: FrameType = FrameType(0x12);
const FRAME_STREAM_DATA_BLOCKED: FrameType = FrameType(0x15);
const FRAME_STREAMS_BLOCKED_BIDI: FrameType = FrameType(0x16);

/// RFC 9000 §4.6: a stream count above 2^60 cannot be expressed as a stream ID.
pub const MAX_STREAM_COUNT: u64 = 1 << 60;

/// Local stream and flow-control settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamsConfig {
    /// Bidirectional streams the peer may have open at once (initial_max_streams_bidi).
    pub max_concurrent_bidi_streams: u64,
    /// Unidirectional streams the peer may have open at once (initial_max_streams_uni).
    pub max_concurrent_uni_streams: u64,
    /// Initial per-stream receive window (initial_max_stream_data_*).
    pub stream_receive_window: u64,
    /// Largest per-stream window auto-tuning may reach.
    pub max_stream_receive_window: u64,
    /// Initial connection receive window (initial_max_data).
    pub connection_receive_window: u64,
    /// Largest connection window auto-tuning may reach.
    pub max_connection_receive_window: u64,
    /// Bytes written by the application and not yet acknowledged, over all streams.
    pub send_buffer_limit: u64,
}

impl Default for StreamsConfig {
    fn default() -> Self {
        Self {
            max_concurrent_bidi_streams: 100,
            max_concurrent_uni_streams: 100,
            stream_receive_window: 256 * 1024,
            max_stream_receive_window: 16 * 1024 * 1024,
            connection_receive_window: 1024 * 1024,
            max_connection_receive_window: 24 * 1024 * 1024,
            send_buffer_limit: 8 * 1024 * 1024,
        }
    }
}

/// Stream and flow-control transport parameters (RFC 9000 §18.2), as sent by one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PeerLimits {
    /// initial_max_data.
    pub initial_max_data: u64,
    /// initial_max_stream_data_bidi_local: for bidirectional streams the sender of the
    /// parameter opened.
    pub initial_max_stream_data_bidi_local: u64,
    /// initial_max_stream_data_bidi_remote: for bidirectional streams the other side opened.
    pub initial_max_stream_data_bidi_remote: u64,
    /// initial_max_stream_data_uni: for unidirectional streams the other side opened.
    pub initial_max_stream_data_uni: u64,
    /// initial_max_streams_bidi.
    pub initial_max_streams_bidi: u64,
    /// initial_max_streams_uni.
    pub initial_max_streams_uni: u64,
}

/// A flow-control or stream-management frame to send, with the values the connection encodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlFrame {
    /// MAX_DATA (RFC 9000 §19.9).
    MaxData(u64),
    /// MAX_STREAM_DATA (§19.10).
    MaxStreamData {
        /// The stream.
        id: StreamId,
        /// The new limit.
        max: u64,
    },
    /// MAX_STREAMS (§19.11).
    MaxStreams {
        /// Bidirectional or unidirectional.
        dir: Dir,
        /// Cumulative stream count.
        count: u64,
    },
    /// DATA_BLOCKED (§19.12).
    DataBlocked {
        /// The connection limit we are blocked at.
        limit: u64,
    },
    /// STREAM_DATA_BLOCKED (§19.13).
    StreamDataBlocked {
        /// The stream.
        id: StreamId,
        /// The stream limit we are blocked at.
        limit: u64,
    },
    /// STREAMS_BLOCKED (§19.14).
    StreamsBlocked {
        /// Bidirectional or unidirectional.
        dir: Dir,
        /// The stream count limit we are blocked at.
        limit: u64,
    },
    /// RESET_STREAM (§19.4).
    ResetStream {
        /// The stream.
        id: StreamId,
        /// Application error code.
        error_code: u64,
        /// Final size of the stream.
        final_size: u64,
    },
    /// STOP_SENDING (§19.5).
    StopSending {
        /// The stream.
        id: StreamId,
        /// Application error code.
        error_code: u64,
    },
}

/// Something the application should know about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEvent {
    /// The peer opened one or more streams; take them with [`Streams::accept`].
    Opened {
        /// Their direction.
        dir: Dir,
    },
    /// Data, the end of the stream, or a reset can be read.
    Readable {
        /// The stream.
        id: StreamId,
    },
    /// A stream whose write was blocked can take data again.
    Writable {
        /// The stream.
        id: StreamId,
    },
    /// All data and the FIN we sent were acknowledged.
    Finished {
        /// The stream.
        id: StreamId,
    },
    /// The peer asked us to stop sending (STOP_SENDING); the stream was reset.
    Stopped {
        /// The stream.
        id: StreamId,
        /// The peer's application error code.
        error_code: u64,
    },
    /// The peer raised its stream limit after [`Streams::open`] had failed.
    Available {
        /// The direction.
        dir: Dir,
    },
}

/// Why a write failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum WriteError {
    /// Flow control or the send buffer leaves no room now; a `Writable` event follows.
    #[error("blocked by flow control or the send buffer limit")]
    Blocked,
    /// The peer sent STOP_SENDING with this code.
    #[error("stopped by the peer with code {0}")]
    Stopped(u64),
    /// The stream does not exist, has no send side, or was finished or reset.
    #[error("stream closed or unknown")]
    ClosedStream,
}

/// Data read from a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Stream offset of the first byte.
    pub offset: u64,
    /// The data.
    pub bytes: Bytes,
}

/// A piece of stream data for one STREAM frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamChunk {
    /// The stream.
    pub id: StreamId,
    /// Offset of the first byte.
    pub offset: u64,
    /// The data (empty for a FIN-only frame).
    pub data: Bytes,
    /// The FIN bit.
    pub fin: bool,
}

// Per-stream pending control frames, as bits.
const CTRL_MAX_STREAM_DATA: u8 = 1;
const CTRL_STREAM_DATA_BLOCKED: u8 = 2;
const CTRL_RESET_STREAM: u8 = 4;
const CTRL_STOP_SENDING: u8 = 8;

/// One stream: its halves and its place in the queues.
#[derive(Debug)]
struct Stream {
    send: Option<SendStream>,
    recv: Option<RecvStream>,
    priority: i32,
    /// In a priority level's queue (has or had new data).
    queued_new: bool,
    /// In the retransmission queue.
    queued_retransmit: bool,
    /// Pending per-stream control frames (`CTRL_*` bits).
    control: u8,
    /// In `control_queue`.
    queued_control: bool,
    /// A write returned `Blocked`; a `Writable` event is owed.
    write_blocked: bool,
    /// A `Readable` event was emitted and the application has not read since.
    readable_notified: bool,
}

fn dir_index(dir: Dir) -> usize {
    match dir {
        Dir::Bi => 0,
        Dir::Uni => 1,
    }
}

const DIRS: [Dir; 2] = [Dir::Bi, Dir::Uni];

/// All streams of one connection. See the module documentation for how to drive it.
#[derive(Debug)]
pub struct Streams {
    side: Side,
    config: StreamsConfig,
    streams: BTreeMap<StreamId, Stream>,
    /// Locally initiated streams opened so far, per direction.
    next_local: [u64; 2],
    /// The peer's cumulative limit on our streams (MAX_STREAMS).
    peer_max_streams: [u64; 2],
    /// `open` failed at the current limit; an `Available` event is owed.
    open_blocked: [bool; 2],
    /// A STREAMS_BLOCKED frame is due.
    streams_blocked_pending: [bool; 2],
    /// The limit at which STREAMS_BLOCKED was last queued, so one goes out per limit.
    streams_blocked_at: [Option<u64>; 2],
    /// Remote streams opened so far (by the peer, explicitly or implicitly).
    next_remote: [u64; 2],
    /// Remote streams handed to the application by `accept`.
    next_accept: [u64; 2],
    /// Our cumulative limit on the peer's streams (what MAX_STREAMS says).
    max_remote: [u64; 2],
    /// A MAX_STREAMS frame is due.
    max_streams_pending: [bool; 2],
    peer: PeerLimits,
    /// Connection-level send credit (the peer's MAX_DATA).
    send_credit: SendCredit,
    /// A DATA_BLOCKED frame is due.
    data_blocked_pending: bool,
    /// Bytes written and not yet acknowledged, over all streams.
    unacked_buffered: u64,
    /// Bytes the application wrote over all streams since the start.
    written_total: u64,
    /// Connection-level receive credit (our MAX_DATA).
    recv_window: ReceiveWindow,
    /// A MAX_DATA frame is due.
    max_data_pending: bool,
    /// Streams with lost data, in the order losses were reported.
    retransmit_queue: VecDeque<StreamId>,
    /// Streams with new data, per priority, highest priority first.
    levels: Vec<(i32, VecDeque<StreamId>)>,
    /// Streams with pending control frames.
    control_queue: VecDeque<StreamId>,
    /// Streams whose write returned `Blocked`.
    write_blocked: Vec<StreamId>,
    events: VecDeque<StreamEvent>,
}

impl Streams {
    /// The streams of a connection on `side` with our settings `config`. The peer's limits are
    /// all zero until [`Streams::set_peer_limits`].
    pub fn new(side: Side, config: StreamsConfig) -> Self {
        let max_remote = [
            config.max_concurrent_bidi_streams.min(MAX_STREAM_COUNT),
            config.max_concurrent_uni_streams.min(MAX_STREAM_COUNT),
        ];
        Self {
            side,
            recv_window: ReceiveWindow::new(config.connection_receive_window, config.max_connection_receive_window),
            config,
            streams: BTreeMap::new(),
            next_local: [0; 2],
            peer_max_streams: [0; 2],
            open_blocked: [false; 2],
            streams_blocked_pending: [false; 2],
            streams_blocked_at: [None; 2],
            next_remote: [0; 2],
            next_accept: [0; 2],
            max_remote,
            max_streams_pending: [false; 2],
            peer: PeerLimits::default(),
            send_credit: SendCredit::new(0),
            data_blocked_pending: false,
            unacked_buffered: 0,
            written_total: 0,
            max_data_pending: false,
            retransmit_queue: VecDeque::new(),
            levels: Vec::new(),
            control_queue: VecDeque::new(),
            write_blocked: Vec::new(),
            events: VecDeque::new(),
        }
    }

    /// The transport parameters to advertise for our settings.
    #[cfg(any(test, feature = "internals"))]
    pub fn local_limits(&self) -> PeerLimits {
        PeerLimits {
            initial_max_data: self.config.connection_receive_window,
            initial_max_stream_data_bidi_local: self.config.stream_receive_window,
            initial_max_stream_data_bidi_remote: self.config.stream_receive_window,
            initial_max_stream_data_uni: self.config.stream_receive_window,
            initial_max_streams_bidi: self.max_remote[0],
            initial_max_streams_uni: self.max_remote[1],
        }
    }

    /// Applies the peer's transport parameters. Limits only grow, also for streams already open.
    pub fn set_peer_limits(&mut self, limits: PeerLimits) {
        self.peer = limits;
        self.send_credit.raise(limits.initial_max_data);
        let side = self.side;
        for (&id, stream) in self.streams.iter_mut() {
            if let Some(send) = stream.send.as_mut() {
                send.credit.raise(Self::initial_send_limit(side, &limits, id));
            }
        }
        self.raise_peer_max_streams(Dir::Bi, limits.initial_max_streams_bidi);
        self.raise_peer_max_streams(Dir::Uni, limits.initial_max_streams_uni);
        self.notify_writable(None);
    }

    /// 0-RTT was rejected (RFC 9001 §4.6.2): the limits we wrote under were the remembered ones
    /// (RFC 9000 §7.4.1), and the server starts from `limits`, which may be lower. Every limit is
    /// replaced by the new one, which only works while what was already written and opened fits
    /// under it; otherwise nothing changes and the error says which limit.
    pub fn restart_peer_limits(&mut self, limits: PeerLimits) -> Result<(), &'static str> {
        let side = self.side;
        let fits = |c: &SendCredit, max: u64| c.used() <= max;
        if !fits(&self.send_credit, limits.initial_max_data) {
            return Err("data written exceeds the new initial_max_data");
        }
        for (&id, stream) in &self.streams {
            if let Some(send) = stream.send.as_ref() {
                if !fits(&send.credit, Self::initial_send_limit(side, &limits, id)) {
                    return Err("data written on a stream exceeds its new initial_max_stream_data");
                }
            }
        }
        if self.next_local[0] > limits.initial_max_streams_bidi || self.next_local[1] > limits.initial_max_streams_uni {
            return Err("streams opened exceed the new initial_max_streams");
        }
        self.peer = limits;
        self.send_credit.restart_at(limits.initial_max_data);
        for (&id, stream) in self.streams.iter_mut() {
            if let Some(send) = stream.send.as_mut() {
                send.credit.restart_at(Self::initial_send_limit(side, &limits, id));
            }
        }
        self.peer_max_streams = [limits.initial_max_streams_bidi, limits.initial_max_streams_uni];
        Ok(())
    }

    /// The peer's initial limit on what we send on `id` (RFC 9000 §18.2).
    fn initial_send_limit(side: Side, peer: &PeerLimits, id: StreamId) -> u64 {
        match (id.dir(), id.initiator() == side) {
            (Dir::Uni, _) => peer.initial_max_stream_data_uni,
            // We opened it: "remote" from the peer's point of view.
            (Dir::Bi, true) => peer.initial_max_stream_data_bidi_remote,
            (Dir::Bi, false) => peer.initial_max_stream_data_bidi_local,
        }
    }

    fn raise_peer_max_streams(&mut self, dir: Dir, count: u64) {
        let i = dir_index(dir);
        if count > self.peer_max_streams[i] {
            self.peer_max_streams[i] = count;
            if core::mem::take(&mut self.open_blocked[i]) {
                self.events.push_back(StreamEvent::Available { dir });
            }
        }
    }

    fn new_stream(&self, id: StreamId) -> Stream {
        let local = id.initiator() == self.side;
        let has_send = id.dir() == Dir::Bi || local;
        let has_recv = id.dir() == Dir::Bi || !local;
        Stream {
            send: has_send.then(|| SendStream::new(Self::initial_send_limit(self.side, &self.peer, id))),
            recv: has_recv
                .then(|| RecvStream::new(self.config.stream_receive_window, self.config.max_stream_receive_window)),
            priority: 0,
            queued_new: false,
            queued_retransmit: false,
            control: 0,
            queued_control: false,
            write_blocked: false,
            readable_notified: false,
        }
    }

    // ---------------------------------------------------------------- application side

    /// Opens a new local stream, or `None` when the peer's MAX_STREAMS does not allow one yet
    /// (a STREAMS_BLOCKED frame is then queued and an `Available` event follows the increase).
    pub fn open(&mut self, dir: Dir) -> Option<StreamId> {
        let i = dir_index(dir);
        if self.next_local[i] >= self.peer_max_streams[i] {
            // RFC 9000 §4.6: SHOULD send STREAMS_BLOCKED when wanting to open a stream but unable.
            self.open_blocked[i] = true;
            let limit = self.peer_max_streams[i];
            if self.streams_blocked_at[i] != Some(limit) {
                self.streams_blocked_at[i] = Some(limit);
                self.streams_blocked_pending[i] = true;
            }
            return None;
        }
        let id = StreamId::new(self.side, dir, self.next_local[i]);
        self.next_local[i] += 1;
        let stream = self.new_stream(id);
        self.streams.insert(id, stream);
        Some(id)
    }

    /// The next stream the peer opened, in stream ID order.
    pub fn accept(&mut self, dir: Dir) -> Option<StreamId> {
        let i = dir_index(dir);
        if self.next_accept[i] >= self.next_remote[i] {
            return None;
        }
        let id = StreamId::new(!self.side, dir, self.next_accept[i]);
        self.next_accept[i] += 1;
        Some(id)
    }

    /// Whether `id` is currently tracked (not yet opened, or closed and forgotten, gives false).
    #[cfg(any(test, feature = "internals"))]
    pub fn contains(&self, id: StreamId) -> bool {
        self.streams.contains_key(&id)
    }

    /// Number of streams currently tracked.
    #[cfg(any(test, feature = "internals"))]
    pub fn len(&self) -> usize {
        self.streams.len()
    }

    /// True when no stream is tracked.
    #[cfg(any(test, feature = "internals"))]
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// Bytes written and not yet acknowledged, over all streams.
    #[cfg(any(test, feature = "internals"))]
    pub fn unacked_buffered(&self) -> u64 {
        self.unacked_buffered
    }

    /// The connection-level receive window (for stats and tests).
    #[cfg(any(test, feature = "internals"))]
    pub fn connection_receive_window(&self) -> &ReceiveWindow {
        &self.recv_window
    }

    /// How many bytes a write to `id` could take now.
    pub fn write_capacity(&self, id: StreamId) -> Result<u64, WriteError> {
        let send = self.streams.get(&id).and_then(|s| s.send.as_ref()).ok_or(WriteError::ClosedStream)?;
        if let Some(code) = send.stop_code() {
            return Err(WriteError::Stopped(code));
        }
        if !send.is_writable() {
            return Err(WriteError::ClosedStream);
        }
        Ok(send.credit.available().min(self.send_buffer_room()))
    }

    fn send_buffer_room(&self) -> u64 {
        self.config.send_buffer_limit.saturating_sub(self.unacked_buffered)
    }

    /// Copies as much of `data` as the stream's credit and the send buffer allow; returns how
    /// much. `Err(Blocked)` when nothing fits; a `Writable` event follows when room appears.
    pub fn write(&mut self, id: StreamId, data: &[u8]) -> Result<usize, WriteError> {
        let cap = self.write_capacity(id)?;
        if cap == 0 && !data.is_empty() {
            self.on_write_blocked(id);
            return Err(WriteError::Blocked);
        }
        let n = usize::try_from(cap).unwrap_or(usize::MAX).min(data.len());
        self.write_bytes(id, Bytes::copy_from_slice(&data[..n]))
    }

    /// Queues a prefix of `data` without copying; returns its length (the caller keeps the
    /// rest). `Err(Blocked)` when nothing fits; a `Writable` event follows when room appears.
    pub fn write_bytes(&mut self, id: StreamId, mut data: Bytes) -> Result<usize, WriteError> {
        let cap = self.write_capacity(id)?;
        if data.is_empty() {
            return Ok(0);
        }
        if cap == 0 {
            self.on_write_blocked(id);
            return Err(WriteError::Blocked);
        }
        let n = usize::try_from(cap).unwrap_or(usize::MAX).min(data.len());
        data.truncate(n);
        let Some(stream) = self.streams.get_mut(&id) else { return Err(WriteError::ClosedStream) };
        let Some(send) = stream.send.as_mut() else { return Err(WriteError::ClosedStream) };
        send.write(data);
        self.unacked_buffered += n as u64;
        self.written_total += n as u64;
        self.schedule_new(id);
        Ok(n)
    }

    fn on_write_blocked(&mut self, id: StreamId) {
        // RFC 9000 §4.1: a sender SHOULD send STREAM_DATA_BLOCKED when it has data to write but
        // is blocked by flow control.
        let Some(stream) = self.streams.get_mut(&id) else { return };
        if let Some(send) = stream.send.as_mut() {
            if send.credit.available() == 0 && send.credit.take_blocked() {
                Self::queue_control(&mut self.control_queue, id, stream, CTRL_STREAM_DATA_BLOCKED);
            }
        }
        if !stream.write_blocked {
            stream.write_blocked = true;
            self.write_blocked.push(id);
        }
    }

    /// Ends the stream after the data written so far.
    pub fn finish(&mut self, id: StreamId) -> Result<(), WriteError> {
        self.write_capacity(id)?;
        let Some(send) = self.streams.get_mut(&id).and_then(|s| s.send.as_mut()) else {
            return Err(WriteError::ClosedStream);
        };
        send.finish();
        self.schedule_new(id);
        Ok(())
    }

    /// Abandons sending on `id` with `error_code` (RESET_STREAM, RFC 9000 §3.1). Resetting an
    /// already reset stream does nothing; a fully acknowledged one gives `ClosedStream`.
    pub fn reset(&mut self, id: StreamId, error_code: u64) -> Result<(), WriteError> {
        let stream = self.streams.get_mut(&id).ok_or(WriteError::ClosedStream)?;
        let send = stream.send.as_mut().ok_or(WriteError::ClosedStream)?;
        match send.state() {
            SendState::ResetSent | SendState::ResetRecvd => return Ok(()),
            SendState::DataRecvd => return Err(WriteError::ClosedStream),
            _ => {}
        }
        if let Some(freed) = send.reset(error_code) {
            self.unacked_buffered -= freed;
            Self::queue_control(&mut self.control_queue, id, stream, CTRL_RESET_STREAM);
            self.notify_writable(None);
        }
        Ok(())
    }

    /// Reads up to `max_len` bytes of `id` in order. `Ok(None)`: the stream ended and all its
    /// data was read. `Err(Blocked)`: nothing yet (a `Readable` event follows).
    pub fn read(&mut self, id: StreamId, max_len: usize) -> Result<Option<Chunk>, ReadError> {
        let stream = self.streams.get_mut(&id).ok_or(ReadError::ClosedStream)?;
        let recv = stream.recv.as_mut().ok_or(ReadError::ClosedStream)?;
        stream.readable_notified = false;
        let result = recv.read(max_len);
        if let Ok(Some((_, data))) = &result {
            // RFC 9000 §4.2: send MAX_STREAM_DATA / MAX_DATA as the application consumes data.
            if recv.wants_max_stream_data() {
                Self::queue_control(&mut self.control_queue, id, stream, CTRL_MAX_STREAM_DATA);
            }
            if self.recv_window.on_consumed(data.len() as u64) {
                self.max_data_pending = true;
            }
        }
        let out = result.map(|o| o.map(|(offset, bytes)| Chunk { offset, bytes }));
        if !matches!(out, Ok(Some(_)) | Err(ReadError::Blocked)) {
            self.maybe_free(id);
        }
        out
    }

    /// The application no longer reads `id`: discard its data and send STOP_SENDING with
    /// `error_code` (RFC 9000 §3.5).
    pub fn stop_sending(&mut self, id: StreamId, error_code: u64) -> Result<(), ReadError> {
        let stream = self.streams.get_mut(&id).ok_or(ReadError::ClosedStream)?;
        let recv = stream.recv.as_mut().ok_or(ReadError::ClosedStream)?;
        let (send_frame, released) = recv.stop(error_code);
        if send_frame {
            Self::queue_control(&mut self.control_queue, id, stream, CTRL_STOP_SENDING);
        }
        self.release_connection_credit(released);
        self.maybe_free(id);
        Ok(())
    }

    /// Sets the send priority of `id`: higher goes first; equal priorities share round-robin.
    pub fn set_priority(&mut self, id: StreamId, priority: i32) -> Result<(), WriteError> {
        let stream = self.streams.get_mut(&id).ok_or(WriteError::ClosedStream)?;
        if stream.send.is_none() {
            return Err(WriteError::ClosedStream);
        }
        let old = core::mem::replace(&mut stream.priority, priority);
        if stream.queued_new && old != priority {
            if let Some(level) = self.levels.iter_mut().find(|(p, _)| *p == old) {
                level.1.retain(|&x| x != id);
            }
            Self::level(&mut self.levels, priority).push_back(id);
        }
        Ok(())
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<StreamEvent> {
        self.events.pop_front()
    }

    // ---------------------------------------------------------------- network input

    /// Validates a frame's stream ID and opens peer streams up to it. `receiving` is true for
    /// frames about the peer's sending part (STREAM, RESET_STREAM, STREAM_DATA_BLOCKED), false
    /// for frames about ours (MAX_STREAM_DATA, STOP_SENDING). Returns whether the stream is
    /// still tracked (false: it was closed and forgotten, the frame is ignored).
    fn stream_for_frame(&mut self, id: StreamId, receiving: bool) -> Result<bool, TransportError> {
        let local = id.initiator() == self.side;
        if id.dir() == Dir::Uni && local == receiving {
            // RFC 9000 §19.4, §19.5, §19.8, §19.10, §19.13: a frame for the direction a
            // unidirectional stream does not have is a STREAM_STATE_ERROR.
            return Err(TransportError::STREAM_STATE_ERROR(if receiving {
                "peer sent data-side frame on our send-only stream"
            } else {
                "peer sent receive-side frame on its send-only stream"
            }));
        }
        let i = dir_index(id.dir());
        if local {
            if id.index() >= self.next_local[i] {
                return Err(TransportError::STREAM_STATE_ERROR("frame for a local stream not yet opened"));
            }
        } else {
            if id.index() >= self.max_remote[i] {
                // RFC 9000 §4.6: a stream beyond the advertised limit is a STREAM_LIMIT_ERROR.
                return Err(TransportError::STREAM_LIMIT_ERROR("peer opened a stream beyond MAX_STREAMS"));
            }
            if id.index() >= self.next_remote[i] {
                // RFC 9000 §3.2: opening a stream implicitly opens all lower-numbered ones of the
                // same type.
                for index in self.next_remote[i]..=id.index() {
                    let sid = StreamId::new(!self.side, id.dir(), index);
                    let stream = self.new_stream(sid);
                    self.streams.insert(sid, stream);
                }
                self.next_remote[i] = id.index() + 1;
                self.events.push_back(StreamEvent::Opened { dir: id.dir() });
            }
        }
        Ok(self.streams.contains_key(&id))
    }

    /// A STREAM frame (RFC 9000 §19.8).
    pub fn on_stream_frame(&mut self, id: StreamId, offset: u64, fin: bool, data: Bytes) -> Result<(), TransportError> {
        if !self.stream_for_frame(id, true).map_err(|e| e.with_frame(FRAME_STREAM))? {
            return Ok(());
        }
        let available = self.recv_window.available();
        let Some(stream) = self.streams.get_mut(&id) else { return Ok(()) };
        let Some(recv) = stream.recv.as_mut() else { return Ok(()) };
        let out = recv.on_stream_frame(offset, data, fin, available).map_err(|e| e.with_frame(FRAME_STREAM))?;
        self.after_receive(id, out);
        Ok(())
    }

    /// A RESET_STREAM frame (RFC 9000 §19.4).
    pub fn on_reset_stream(&mut self, id: StreamId, error_code: u64, final_size: u64) -> Result<(), TransportError> {
        if !self.stream_for_frame(id, true).map_err(|e| e.with_frame(FRAME_RESET_STREAM))? {
            return Ok(());
        }
        let available = self.recv_window.available();
        let Some(stream) = self.streams.get_mut(&id) else { return Ok(()) };
        let Some(recv) = stream.recv.as_mut() else { return Ok(()) };
        let out = recv.on_reset(error_code, final_size, available).map_err(|e| e.with_frame(FRAME_RESET_STREAM))?;
        self.after_receive(id, out);
        Ok(())
    }

    fn after_receive(&mut self, id: StreamId, out: Received) {
        self.recv_window.on_received(out.new_bytes);
        self.release_connection_credit(out.released);
        if let Some(stream) = self.streams.get_mut(&id) {
            if out.readable && !stream.readable_notified {
                stream.readable_notified = true;
                self.events.push_back(StreamEvent::Readable { id });
            }
        }
        self.maybe_free(id);
    }

    fn release_connection_credit(&mut self, bytes: u64) {
        if bytes > 0 && self.recv_window.on_consumed(bytes) {
            self.max_data_pending = true;
        }
    }

    /// A STOP_SENDING frame (RFC 9000 §19.5): reset the stream with the peer's code (§3.5).
    pub fn on_stop_sending(&mut self, id: StreamId, error_code: u64) -> Result<(), TransportError> {
        if !self.stream_for_frame(id, false).map_err(|e| e.with_frame(FRAME_STOP_SENDING))? {
            return Ok(());
        }
        let Some(stream) = self.streams.get_mut(&id) else { return Ok(()) };
        let Some(send) = stream.send.as_mut() else { return Ok(()) };
        let first = send.stop_code().is_none();
        if let Some(freed) = send.on_stop_sending(error_code) {
            self.unacked_buffered -= freed;
            Self::queue_control(&mut self.control_queue, id, stream, CTRL_RESET_STREAM);
        }
        if first {
            self.events.push_back(StreamEvent::Stopped { id, error_code });
        }
        self.notify_writable(None);
        Ok(())
    }

    /// A MAX_DATA frame (RFC 9000 §19.9).
    pub fn on_max_data(&mut self, max: u64) {
        self.send_credit.raise(max);
    }

    /// A MAX_STREAM_DATA frame (RFC 9000 §19.10).
    pub fn on_max_stream_data(&mut self, id: StreamId, max: u64) -> Result<(), TransportError> {
        if !self.stream_for_frame(id, false).map_err(|e| e.with_frame(FRAME_MAX_STREAM_DATA))? {
            return Ok(());
        }
        let raised = self.streams.get_mut(&id).and_then(|s| s.send.as_mut()).is_some_and(|send| send.credit.raise(max));
        if raised {
            self.notify_writable(Some(id));
        }
        Ok(())
    }

    /// A MAX_STREAMS frame (RFC 9000 §19.11).
    pub fn on_max_streams(&mut self, dir: Dir, count: u64) -> Result<(), TransportError> {
        if count > MAX_STREAM_COUNT {
            return Err(TransportError::FRAME_ENCODING_ERROR("MAX_STREAMS above 2^60")
                .with_frame(FrameType(FRAME_MAX_STREAMS_BIDI.0 + dir_index(dir) as u64)));
        }
        self.raise_peer_max_streams(dir, count);
        Ok(())
    }

    /// A DATA_BLOCKED frame (RFC 9000 §19.12): if our limit is already above it, the peer
    /// missed our MAX_DATA, so send it again.
    pub fn on_data_blocked(&mut self, limit: u64) {
        if self.recv_window.max_data() > limit {
            self.max_data_pending = true;
        }
    }

    /// A STREAM_DATA_BLOCKED frame (RFC 9000 §19.13).
    pub fn on_stream_data_blocked(&mut self, id: StreamId, limit: u64) -> Result<(), TransportError> {
        if !self.stream_for_frame(id, true).map_err(|e| e.with_frame(FRAME_STREAM_DATA_BLOCKED))? {
            return Ok(());
        }
        let Some(stream) = self.streams.get_mut(&id) else { return Ok(()) };
        let resend = stream.recv.as_ref().is_some_and(|r| {
            r.final_size().is_none() && r.wants_stop_sending().is_none() && r.window.max_data() > limit
        });
        if resend {
            Self::queue_control(&mut self.control_queue, id, stream, CTRL_MAX_STREAM_DATA);
        }
        Ok(())
    }

    /// A STREAMS_BLOCKED frame (RFC 9000 §19.14).
    pub fn on_streams_blocked(&mut self, dir: Dir, limit: u64) -> Result<(), TransportError> {
        if limit > MAX_STREAM_COUNT {
            return Err(TransportError::FRAME_ENCODING_ERROR("STREAMS_BLOCKED above 2^60")
                .with_frame(FrameType(FRAME_STREAMS_BLOCKED_BIDI.0 + dir_index(dir) as u64)));
        }
        if self.max_remote[dir_index(dir)] > limit {
            self.max_streams_pending[dir_index(dir)] = true;
        }
        Ok(())
    }

    // ---------------------------------------------------------------- network output

    fn queue_control(queue: &mut VecDeque<StreamId>, id: StreamId, stream: &mut Stream, bit: u8) {
        stream.control |= bit;
        if !stream.queued_control {
            stream.queued_control = true;
            queue.push_back(id);
        }
    }

    /// The next control frame to send, with values as of `now`; `rtt` is the smoothed RTT used
    /// for receive-window auto-tuning. Each pending frame comes out once; give it back with
    /// [`Streams::on_control_lost`] if it is lost or did not fit.
    pub fn poll_control(&mut self, now: Instant, rtt: Duration) -> Option<ControlFrame> {
        if core::mem::take(&mut self.max_data_pending) {
            let unread = self.streams.values().filter_map(|s| s.recv.as_ref()).map(RecvStream::unread).sum();
            return Some(ControlFrame::MaxData(self.recv_window.poll_max_data(now, rtt, unread)));
        }
        for dir in DIRS {
            let i = dir_index(dir);
            if core::mem::take(&mut self.max_streams_pending[i]) {
                return Some(ControlFrame::MaxStreams { dir, count: self.max_remote[i] });
            }
        }
        if core::mem::take(&mut self.data_blocked_pending) && self.send_credit.available() == 0 {
            return Some(ControlFrame::DataBlocked { limit: self.send_credit.max_data() });
        }
        for dir in DIRS {
            let i = dir_index(dir);
            if core::mem::take(&mut self.streams_blocked_pending[i]) && self.next_local[i] >= self.peer_max_streams[i] {
                return Some(ControlFrame::StreamsBlocked { dir, limit: self.peer_max_streams[i] });
            }
        }
        while let Some(&id) = self.control_queue.front() {
            let Some(stream) = self.streams.get_mut(&id) else {
                self.control_queue.pop_front();
                continue;
            };
            let mut frame = None;
            while frame.is_none() && stream.control != 0 {
                let bit = stream.control & stream.control.wrapping_neg();
                stream.control &= !bit;
                frame = match bit {
                    CTRL_MAX_STREAM_DATA => match stream.recv.as_mut() {
                        Some(recv) if recv.final_size().is_none() && recv.wants_stop_sending().is_none() => {
                            let max = recv.poll_max_stream_data(now, rtt);
                            // Keep the connection window ahead of any one stream's window.
                            let window = recv.window.window();
                            self.recv_window.ensure_window(window.saturating_add(window / 2));
                            Some(ControlFrame::MaxStreamData { id, max })
                        }
                        _ => None,
                    },
                    CTRL_STREAM_DATA_BLOCKED => stream
                        .send
                        .as_ref()
                        .filter(|s| s.is_writable() && s.credit.available() == 0)
                        .map(|s| ControlFrame::StreamDataBlocked { id, limit: s.credit.max_data() }),
                    CTRL_RESET_STREAM => stream
                        .send
                        .as_ref()
                        .filter(|s| s.state() == SendState::ResetSent)
                        .and_then(|s| s.reset_info())
                        .map(|(error_code, final_size)| ControlFrame::ResetStream { id, error_code, final_size }),
                    CTRL_STOP_SENDING => stream
                        .recv
                        .as_ref()
                        .and_then(|r| r.wants_stop_sending())
                        .map(|error_code| ControlFrame::StopSending { id, error_code }),
                    _ => None,
                };
            }
            if stream.control == 0 {
                stream.queued_control = false;
                self.control_queue.pop_front();
            }
            if frame.is_some() {
                return frame;
            }
        }
        None
    }

    /// A control frame was lost (or taken but not sent): queue it again if it still matters.
    /// The values are refreshed when it is next polled.
    pub fn on_control_lost(&mut self, frame: &ControlFrame) {
        match *frame {
            ControlFrame::MaxData(_) => self.max_data_pending = true,
            ControlFrame::MaxStreams { dir, .. } => self.max_streams_pending[dir_index(dir)] = true,
            ControlFrame::DataBlocked { limit } => {
                if self.send_credit.is_blocked_at(limit) {
                    self.data_blocked_pending = true;
                }
            }
            ControlFrame::StreamsBlocked { dir, limit } => {
                let i = dir_index(dir);
                if self.peer_max_streams[i] == limit && self.next_local[i] >= limit {
                    self.streams_blocked_pending[i] = true;
                }
            }
            ControlFrame::MaxStreamData { id, .. } => self.requeue_stream_control(id, CTRL_MAX_STREAM_DATA),
            ControlFrame::StreamDataBlocked { id, limit } => {
                let still =
                    self.streams.get(&id).and_then(|s| s.send.as_ref()).is_some_and(|s| s.credit.is_blocked_at(limit));
                if still {
                    self.requeue_stream_control(id, CTRL_STREAM_DATA_BLOCKED);
                }
            }
            ControlFrame::ResetStream { id, .. } => self.requeue_stream_control(id, CTRL_RESET_STREAM),
            ControlFrame::StopSending { id, .. } => self.requeue_stream_control(id, CTRL_STOP_SENDING),
        }
    }

    fn requeue_stream_control(&mut self, id: StreamId, bit: u8) {
        // Whether the frame still matters is checked when it is polled.
        if let Some(stream) = self.streams.get_mut(&id) {
            Self::queue_control(&mut self.control_queue, id, stream, bit);
        }
    }

    /// A control frame was acknowledged. RFC 9000 §3.1: an acknowledged RESET_STREAM moves the
    /// send side to ResetRecvd.
    pub fn on_control_acked(&mut self, frame: &ControlFrame) {
        if let ControlFrame::ResetStream { id, .. } = *frame {
            if let Some(send) = self.streams.get_mut(&id).and_then(|s| s.send.as_mut()) {
                send.on_reset_acked();
            }
            self.maybe_free(id);
        }
    }

    /// Whether [`Streams::next_stream_chunk`] has anything to send.
    pub fn has_stream_data(&self) -> bool {
        let has = |id: &StreamId, retransmit: bool| {
            self.streams.get(id).and_then(|s| s.send.as_ref()).is_some_and(|s| {
                if retransmit {
                    s.has_retransmits()
                } else {
                    s.has_new_data()
                }
            })
        };
        self.retransmit_queue.iter().any(|id| has(id, true))
            || (self.send_credit.available() > 0 && self.levels.iter().any(|(_, q)| q.iter().any(|id| has(id, false))))
    }

    /// The next STREAM frame's content, for a frame of at most `max_frame_len` bytes including
    /// its header (sized with an explicit Length field). Lost data first, then new data by
    /// priority and round-robin. `None` when nothing is pending or nothing fits.
    pub fn next_stream_chunk(&mut self, max_frame_len: usize) -> Option<StreamChunk> {
        while let Some(&id) = self.retransmit_queue.front() {
            let Some(stream) = self.streams.get_mut(&id) else {
                self.retransmit_queue.pop_front();
                continue;
            };
            let Some(send) = stream.send.as_mut().filter(|s| s.has_retransmits()) else {
                stream.queued_retransmit = false;
                self.retransmit_queue.pop_front();
                continue;
            };
            let chunk = send.poll_retransmit(id, max_frame_len)?;
            if !send.has_retransmits() {
                stream.queued_retransmit = false;
                self.retransmit_queue.pop_front();
            }
            return Some(StreamChunk { id, offset: chunk.offset, data: chunk.data, fin: chunk.fin });
        }
        let credit = self.send_credit.available();
        if credit == 0 {
            // RFC 9000 §4.1: blocked by connection flow control with data to send: DATA_BLOCKED.
            if self.levels.iter().any(|(_, q)| !q.is_empty()) && self.send_credit.take_blocked() {
                self.data_blocked_pending = true;
            }
            return None;
        }
        for (_, queue) in self.levels.iter_mut() {
            while let Some(&id) = queue.front() {
                let Some(stream) = self.streams.get_mut(&id) else {
                    queue.pop_front();
                    continue;
                };
                let Some(send) = stream.send.as_mut().filter(|s| s.has_new_data()) else {
                    stream.queued_new = false;
                    queue.pop_front();
                    continue;
                };
                let chunk = send.poll_new(id, max_frame_len, credit)?;
                self.send_credit.consume(chunk.data.len() as u64);
                queue.pop_front();
                if send.has_new_data() {
                    // Round-robin: to the back of its priority level.
                    queue.push_back(id);
                } else {
                    stream.queued_new = false;
                }
                return Some(StreamChunk { id, offset: chunk.offset, data: chunk.data, fin: chunk.fin });
            }
        }
        None
    }

    fn level(levels: &mut Vec<(i32, VecDeque<StreamId>)>, priority: i32) -> &mut VecDeque<StreamId> {
        // Sorted by descending priority.
        let pos = match levels.binary_search_by(|(p, _)| priority.cmp(p)) {
            Ok(pos) => pos,
            Err(pos) => {
                levels.insert(pos, (priority, VecDeque::new()));
                pos
            }
        };
        &mut levels[pos].1
    }

    fn schedule_new(&mut self, id: StreamId) {
        let Some(stream) = self.streams.get_mut(&id) else { return };
        if !stream.queued_new && stream.send.as_ref().is_some_and(|s| s.has_new_data()) {
            stream.queued_new = true;
            Self::level(&mut self.levels, stream.priority).push_back(id);
        }
    }

    /// Data `[offset, offset + len)` of `id` (and its FIN when `fin`) was acknowledged.
    pub fn on_stream_data_acked(&mut self, id: StreamId, offset: u64, len: u64, fin: bool) {
        let Some(send) = self.streams.get_mut(&id).and_then(|s| s.send.as_mut()) else { return };
        let (freed, finished) = send.on_ack(offset, len, fin);
        self.unacked_buffered -= freed;
        if finished {
            self.events.push_back(StreamEvent::Finished { id });
            self.maybe_free(id);
        }
        if freed > 0 {
            self.notify_writable(None);
        }
    }

    /// Data `[offset, offset + len)` of `id` (and its FIN when `fin`) was declared lost.
    pub fn on_stream_data_lost(&mut self, id: StreamId, offset: u64, len: u64, fin: bool) {
        let Some(stream) = self.streams.get_mut(&id) else { return };
        let Some(send) = stream.send.as_mut() else { return };
        if send.on_lost(offset, len, fin) && !stream.queued_retransmit {
            stream.queued_retransmit = true;
            self.retransmit_queue.push_back(id);
        }
    }

    /// Emits `Writable` for blocked streams that can take data again (only `only` if given).
    fn notify_writable(&mut self, only: Option<StreamId>) {
        if self.write_blocked.is_empty() {
            return;
        }
        let buffer_room = self.send_buffer_room();
        let streams = &mut self.streams;
        let events = &mut self.events;
        self.write_blocked.retain(|&id| {
            if only.is_some_and(|o| o != id) {
                return true;
            }
            let Some(stream) = streams.get_mut(&id) else { return false };
            let writable = match stream.send.as_ref() {
                // Stopped or closed: the next write reports it, so wake the writer.
                Some(send) if send.is_writable() && send.stop_code().is_none() => {
                    send.credit.available().min(buffer_room) > 0
                }
                _ => true,
            };
            if writable {
                stream.write_blocked = false;
                events.push_back(StreamEvent::Writable { id });
            }
            !writable
        });
    }

    /// Forgets `id` once both halves are done; RFC 9000 §4.6: then grants the peer one more
    /// stream of that type with MAX_STREAMS.
    fn maybe_free(&mut self, id: StreamId) {
        let Some(stream) = self.streams.get(&id) else { return };
        let send_done = stream.send.as_ref().is_none_or(|s| s.is_done());
        let recv_done = stream.recv.as_ref().is_none_or(|r| r.is_done());
        if !(send_done && recv_done) {
            return;
        }
        self.streams.remove(&id);
        if id.initiator() != self.side {
            let i = dir_index(id.dir());
            if self.max_remote[i] < MAX_STREAM_COUNT {
                self.max_remote[i] += 1;
                self.max_streams_pending[i] = true;
            }
        }
    }
}

#[cfg(test)]
mod tests;
