//! One QUIC connection, sans-IO.
//!
//! # The driver's contract
//!
//! A [`Connection`] never touches a socket or a clock. Its methods fall in four groups:
//!
//! - **inputs** (`handle_*`): [`Connection::handle_datagram`] for every UDP datagram routed to it,
//!   [`Connection::handle_timeout`] when the deadline from [`Connection::poll_timeout`] passes;
//! - **outputs** (`poll_*`): [`Connection::poll_transmit`] until it returns `None` after every
//!   input, [`Connection::poll_timeout`] for the next deadline, [`Connection::poll_event`] for
//!   application events, [`Connection::poll_endpoint_event`] for the owning endpoint;
//! - **commands**: streams ([`Connection::open_stream`], [`Connection::write`], ...), datagrams,
//!   [`Connection::close`], [`Connection::force_key_update`];
//! - **getters**: [`Connection::stats`], [`Connection::paths`], [`Connection::side`], ...
//!
//! After any input or command, a driver polls transmits, then the timeout, then events. Every
//! method takes `now`, so the same inputs at the same times give the same outputs.
//!
//! # Paths
//!
//! All per-path state lives in the path manager ([`crate::path::Paths`], `proto/src/path/`), keyed
//! by [`PathId`]. Path 0 carries the
//! handshake; without multipath it is the only path (RFC 9000 migration changes its addresses).

/// Hands an event to the connection's tracer, if it has one. A macro rather than a method so
/// that the event may borrow other fields of the connection while the tracer is borrowed.
macro_rules! trace_event {
    ($conn:expr, $now:expr, $event:expr) => {
        if let Some(tracer) = $conn.tracer.as_mut() {
            tracer.event($now, &$event);
        }
    };
}

mod ack_loss;
mod crypto_stream;
mod datagrams;
mod events;
mod paths;
mod recv;
mod send;
mod spaces;
mod zero_rtt;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

pub use datagrams::SendDatagramError;
pub use events::{ConnectionError, EndpointEvent, Event};
pub use send::MAX_GSO_BYTES;
pub use zero_rtt::ZeroRttStatus;

use crate::config::{EndpointConfig, TransportConfig};
use crate::crypto::{self, ResetKey, TlsSession, TokenKey};
use crate::error::TransportError;
use crate::packet::{PacketType, SpaceId};
use crate::path::{CidState, PathData, PathId, PathInfo, Paths, ResetTokenChange, Validation};
use crate::recovery::{PathKind, RecoveryOutput, SentFrames};
use crate::shared::{ConnectionId, Dir, EcnCodepoint, Side, StreamId};
use crate::stream::{Chunk, ReadError, Streams, StreamsConfig, WriteError};
use crate::trace::{ConnectionStateTrace, TraceEvent, TraceInfo, Tracer};
use crate::transport_parameters::TransportParameters;
use crate::{Instant, VarInt};
use crypto_stream::CryptoStream;
use datagrams::DatagramQueues;
use spaces::OneRttKeys;

/// What the driver must send: `len` bytes at the start of the buffer passed to
/// [`Connection::poll_transmit`], split into datagrams of `segment_size` bytes when set (GSO).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// The path the datagrams belong to.
    pub path: PathId,
    /// Source address to send from, when the connection cares (multipath, migration).
    pub src: Option<SocketAddr>,
    /// Destination address.
    pub dst: SocketAddr,
    /// ECN codepoint to set on every datagram.
    pub ecn: Option<EcnCodepoint>,
    /// Size of each datagram but the last when several are batched; `None` for one datagram.
    pub segment_size: Option<usize>,
    /// Total bytes written.
    pub len: usize,
}

/// Connection-wide counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionStats {
    /// UDP datagrams sent.
    pub datagrams_sent: u64,
    /// UDP datagrams received.
    pub datagrams_received: u64,
    /// Packets that could not be decrypted or parsed and were dropped.
    pub packets_dropped: u64,
    /// Duplicate packets dropped.
    pub duplicates_dropped: u64,
    /// Key updates completed (either side initiating).
    pub key_updates: u64,
    /// Stream bytes delivered to the application.
    pub stream_bytes_read: u64,
}

/// Life-cycle of a connection (RFC 9000 §10).
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Handshake,
    Established,
    /// We sent `frame` (CONNECTION_CLOSE); answer further packets with it until `deadline`,
    /// but only the packets that bring the count received while closing to `answer_at` (which
    /// then doubles: RFC 9000 §10.2.1 asks to limit the rate of these answers). `answer_pending`:
    /// the next transmit is that answer.
    Closing {
        deadline: Instant,
        frame: CloseFrame,
        received: u64,
        answer_at: u64,
        answer_pending: bool,
    },
    /// The peer closed; send nothing until `deadline`.
    Draining {
        deadline: Instant,
    },
    /// Gone.
    Drained,
}

/// The CONNECTION_CLOSE we send while closing.
#[derive(Debug, Clone, PartialEq, Eq)]
enum CloseFrame {
    Transport(TransportError),
    Application { code: u64, reason: Bytes },
}

/// Undecryptable packets buffered while waiting for keys (RFC 9001 §5.7).
const MAX_BUFFERED_UNDECRYPTABLE: usize = 16;
/// How many times a server resends its handshake CRYPTO data before a PTO (RFC 9002 §6.2.3: "a
/// limited number of times per connection"); the anti-amplification limit bounds each.
const MAX_EARLY_CRYPTO_RESENDS: u8 = 4;

/// Parameters a new connection gets from its endpoint.
#[derive(Debug)]
pub(crate) struct ConnectionParams {
    pub side: Side,
    pub version: u32,
    pub endpoint_config: Arc<EndpointConfig>,
    pub transport: Arc<TransportConfig>,
    pub tls: TlsSession,
    pub local: Option<SocketAddr>,
    pub remote: SocketAddr,
    /// Our first source CID.
    pub local_cid: ConnectionId,
    /// The peer's CID we send to first (client: random Initial DCID; server: client's SCID).
    pub remote_cid: ConnectionId,
    /// The DCID whose Initial keys protect the first flight.
    pub initial_dst_cid: ConnectionId,
    /// Client: its first DCID (for authenticating the server's parameters).
    pub original_dst_cid: ConnectionId,
    /// Client: the token to put in Initial packets (from NEW_TOKEN).
    pub token: Bytes,
    /// Server: whether the client address is already validated (valid token).
    pub address_validated: bool,
    pub reset_key: Arc<ResetKey>,
    pub token_key: Option<Arc<TokenKey>>,
    pub rng_seed: u64,
    pub params: TransportParameters,
}

/// NEW_TOKEN frames (RFC 9000 §8.1.3, §19.7).
#[derive(Debug, Default)]
struct NewTokens {
    /// NEW_TOKEN to send (server), if any.
    pending: Option<Bytes>,
    /// The NEW_TOKEN last sent, to send again if its packet is lost.
    sent: Option<Bytes>,
    /// NEW_TOKEN tokens received (client), newest last.
    received: VecDeque<Bytes>,
}

/// The connection IDs and token of the handshake (RFC 9000 §7.2, §7.3, §17.2.5).
#[derive(Debug)]
struct HandshakeIds {
    /// The DCID whose Initial keys protect the first flight (changed by a Retry).
    initial_dst_cid: ConnectionId,
    /// Client: its first DCID (for authenticating the server's parameters).
    original_dst_cid: ConnectionId,
    /// Our Source CID of the handshake.
    local_cid: ConnectionId,
    /// Client: the server's Source CID from its first Initial (to authenticate).
    peer_cid: Option<ConnectionId>,
    /// The Source CID of the Retry, if one was processed.
    retry_src_cid: Option<ConnectionId>,
    /// Client: a Retry was processed (only one is accepted, RFC 9000 §17.2.5.2).
    retry_received: bool,
    /// Client: token carried in Initial packets.
    token: Bytes,
}

/// The idle timeout (RFC 9000 §10.1) and keep-alive.
#[derive(Debug)]
struct IdleTimers {
    /// Negotiated idle timeout (RFC 9000 §10.1).
    idle_timeout: Option<Duration>,
    idle_deadline: Option<Instant>,
    /// Time of the last ack-eliciting packet sent since the last packet received (§10.1).
    first_ack_eliciting_since_receive: Option<Instant>,
    keep_alive_deadline: Option<Instant>,
}

/// A QUIC connection. See the module documentation for how to drive it.
#[derive(Debug)]
pub struct Connection {
    side: Side,
    version: u32,
    config: Arc<TransportConfig>,
    endpoint_config: Arc<EndpointConfig>,
    rng: ChaCha20Rng,
    state: State,
    error: Option<ConnectionError>,
    tls: TlsSession,
    /// Initial, Handshake keys; `None` before they exist and after discard.
    initial_keys: Option<crypto::Keys>,
    handshake_keys: Option<crypto::Keys>,
    one_rtt: Option<OneRttKeys>,
    crypto: [CryptoStream; 3],
    /// Handshake completed in TLS (RFC 9001 §4.1.1).
    handshake_complete: bool,
    /// Handshake confirmed (RFC 9001 §4.1.2).
    handshake_confirmed: bool,
    connected_reported: bool,
    /// Every path and its CIDs, the multipath limits and the scheduler: the path manager.
    paths: Paths,
    reset_key: Arc<ResetKey>,
    token_key: Option<Arc<TokenKey>>,
    /// NEW_TOKEN frames, both ways.
    new_tokens: NewTokens,
    /// The connection IDs and token of the handshake.
    handshake_ids: HandshakeIds,
    local_params: TransportParameters,
    peer_params: Option<TransportParameters>,
    streams: Streams,
    datagrams: DatagramQueues,
    handshake_done_pending: bool,
    /// CRYPTO data resent before a PTO because the client's Initials show it lacks ours
    /// (RFC 9002 §6.2.3), limited per connection.
    early_crypto_resends: u8,
    events: VecDeque<Event>,
    endpoint_events: VecDeque<EndpointEvent>,
    /// Idle timeout and keep-alive.
    timers: IdleTimers,
    /// Packets that arrived before their keys.
    undecryptable: VecDeque<(SocketAddr, Option<SocketAddr>, Option<EcnCodepoint>, bytes::BytesMut)>,
    recovery_out: RecoveryOutput<SentFrames>,
    stats: ConnectionStats,
    /// Raw frame bytes to put verbatim into the next 1-RTT packet (conformance tests only).
    raw_frames: Option<(SpaceId, Bytes)>,
    /// Receives typed events for qlog and the like ([`crate::trace`]); `None` without a
    /// tracer factory.
    tracer: Option<Box<dyn Tracer>>,
    /// Key updates already reported to the tracer.
    key_updates_traced: u64,
    /// Received packets that failed authentication, with any key (RFC 9001 §6.6).
    failed_authentications: u64,
    /// 0-RTT keys, the remembered limits and the server's answer (RFC 9001 §4.6).
    zero_rtt: zero_rtt::ZeroRtt,
    /// Server: a 1-RTT packet was received, so 0-RTT keys are no longer needed (RFC 9001 §4.9.3).
    one_rtt_received: bool,
}

impl Connection {
    pub(crate) fn new(now: Instant, p: ConnectionParams) -> Self {
        let config = p.transport.clone();
        let streams = Streams::new(p.side, streams_config(&config));
        let mut rng = ChaCha20Rng::seed_from_u64(p.rng_seed);
        let _ = rng.next_u32();
        let cids = CidState::new(p.local_cid, p.remote_cid, config.active_connection_id_limit);
        let tracer = config
            .tracer_factory
            .as_ref()
            .and_then(|f| f.tracer(&TraceInfo { side: p.side, original_dst_cid: p.original_dst_cid, created: now }));
        let mut this = Self {
            side: p.side,
            version: p.version,
            endpoint_config: p.endpoint_config,
            rng,
            state: State::Handshake,
            error: None,
            tls: p.tls,
            initial_keys: Some(crypto::initial_keys(&p.initial_dst_cid, p.side)),
            handshake_keys: None,
            one_rtt: None,
            crypto: Default::default(),
            handshake_complete: false,
            handshake_confirmed: false,
            connected_reported: false,
            paths: Paths::new(
                cids,
                mpquic_scheduler::SchedulerHandle::from_factory(&*config.scheduler_factory, config.redundancy_cap),
            ),
            reset_key: p.reset_key,
            token_key: p.token_key,
            new_tokens: NewTokens::default(),
            handshake_ids: HandshakeIds {
                initial_dst_cid: p.initial_dst_cid,
                original_dst_cid: p.original_dst_cid,
                local_cid: p.local_cid,
                peer_cid: None,
                retry_src_cid: p.params.retry_source_connection_id,
                retry_received: false,
                token: p.token,
            },
            local_params: p.params,
            peer_params: None,
            streams,
            datagrams: DatagramQueues::default(),
            handshake_done_pending: false,
            early_crypto_resends: 0,
            events: VecDeque::new(),
            endpoint_events: VecDeque::new(),
            timers: IdleTimers {
                idle_timeout: config.max_idle_timeout,
                idle_deadline: None,
                first_ack_eliciting_since_receive: None,
                keep_alive_deadline: None,
            },
            undecryptable: VecDeque::new(),
            recovery_out: RecoveryOutput::default(),
            stats: ConnectionStats::default(),
            raw_frames: None,
            tracer,
            key_updates_traced: 0,
            failed_authentications: 0,
            zero_rtt: zero_rtt::ZeroRtt::default(),
            one_rtt_received: false,
            config,
        };
        trace_event!(
            this,
            now,
            TraceEvent::ConnectionStarted {
                local: p.local,
                remote: p.remote,
                version: p.version,
                src_cid: &p.local_cid,
                dst_cid: &p.remote_cid,
            }
        );
        trace_event!(this, now, TraceEvent::ParametersSet { local: true, params: &this.local_params });
        let kind = match p.side {
            Side::Client => PathKind::HandshakeClient,
            Side::Server => PathKind::HandshakeServer,
        };
        let validation =
            if p.side.is_client() || p.address_validated { Validation::Validated } else { Validation::Unvalidated };
        this.add_path(now, PathId::ZERO, kind, p.local, p.remote, validation);
        if let Some(pa) = this.local_params.preferred_address {
            // RFC 9000 §9.6: the preferred address's CID is our sequence number 1.
            let id = pa.connection_id;
            if let Some(local) = this.paths.cids.local.get_mut(&PathId::ZERO) {
                let sequence = local.issue(id);
                this.paths.cids.issued.insert((PathId::ZERO, sequence), (id, pa.stateless_reset_token.0));
                this.endpoint_events.push_back(EndpointEvent::NewLocalCid {
                    path: PathId::ZERO,
                    sequence,
                    id,
                    reset_token: pa.stateless_reset_token.0,
                });
            }
        }
        this.reset_idle_timer(now);
        if p.side.is_client() {
            this.drive_tls(now);
            this.start_client_0rtt();
        }
        this
    }

    /// Reports a path's recovery state to the tracer.
    pub(super) fn trace_metrics(&mut self, now: Instant, id: PathId) {
        if self.tracer.is_none() {
            return;
        }
        if let Some(path) = self.paths.table.get(&id) {
            trace_event!(self, now, TraceEvent::MetricsUpdated { path: id, metrics: path.recovery.trace_metrics() });
        }
    }

    /// Reports a dropped packet to the tracer.
    fn trace_drop(&mut self, now: Instant, path: Option<PathId>, length: u64, reason: crate::trace::DropReason) {
        trace_event!(self, now, TraceEvent::PacketDropped { path, length, reason });
    }

    /// Reports the key update we started, once, at the next chance with a clock.
    fn trace_local_key_update(&mut self, now: Instant) {
        let generation = self.one_rtt.as_ref().map_or(0, |k| k.updates);
        if generation > self.key_updates_traced {
            self.key_updates_traced = generation;
            trace_event!(self, now, TraceEvent::KeyUpdated { local: true, generation });
        }
    }

    /// Reports a state change to the tracer.
    fn trace_state(&mut self, now: Instant, state: ConnectionStateTrace) {
        trace_event!(self, now, TraceEvent::ConnectionStateUpdated(state));
    }

    /// Reports the end of the connection to the tracer.
    fn trace_closed(&mut self, now: Instant, local: bool) {
        if let Some(error) = &self.error {
            trace_event!(self, now, TraceEvent::ConnectionClosed { local, error });
        }
    }

    // ---------------------------------------------------------------- getters

    /// Which side we are.
    pub fn side(&self) -> Side {
        self.side
    }

    /// Whether the handshake is still under way.
    pub fn is_handshaking(&self) -> bool {
        self.state == State::Handshake
    }

    /// Whether the connection is closing, draining or gone.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closing { .. } | State::Draining { .. } | State::Drained)
    }

    /// Whether the connection is fully gone and its endpoint may forget it.
    pub fn is_drained(&self) -> bool {
        self.state == State::Drained
    }

    /// Why the connection ended, if it did.
    pub fn error(&self) -> Option<&ConnectionError> {
        self.error.as_ref()
    }

    /// The ALPN protocol negotiated, once the handshake got that far.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.tls.alpn_protocol()
    }

    /// Whether the TLS handshake resumed an earlier session (RFC 8446 §2.2) instead of a full
    /// handshake with certificates.
    pub fn is_resumed(&self) -> bool {
        self.tls.handshake_kind() == Some(rustls::HandshakeKind::Resumed)
    }

    /// The peer's transport parameters, once received.
    pub fn peer_params(&self) -> Option<&TransportParameters> {
        self.peer_params.as_ref()
    }

    /// Connection-wide counters.
    pub fn stats(&self) -> ConnectionStats {
        self.stats
    }

    /// Every path with its state and counters.
    pub fn paths(&self) -> Vec<PathInfo> {
        self.paths.infos()
    }

    /// One path's state and counters.
    pub fn path(&self, id: PathId) -> Option<PathInfo> {
        self.paths.table.get(&id).map(PathData::info)
    }

    /// The peer's address: path 0's, or once path 0 is abandoned (multipath), that of the open
    /// path with the lowest ID.
    pub fn remote_address(&self) -> SocketAddr {
        self.paths
            .table
            .get(&PathId::ZERO)
            .filter(|p| p.abandoned_at.is_none())
            .or_else(|| self.paths.table.values().find(|p| p.abandoned_at.is_none()))
            .or_else(|| self.paths.table.get(&PathId::ZERO))
            .map(|p| p.remote)
            .unwrap_or_else(|| ([0, 0, 0, 0], 0).into())
    }

    /// NEW_TOKEN tokens the server gave us (client), for the next connection to the same server.
    pub fn take_new_tokens(&mut self) -> impl Iterator<Item = Bytes> + '_ {
        self.new_tokens.received.drain(..)
    }

    /// Whether `tail`, the last 16 bytes of a datagram, is the stateless reset token of a CID
    /// we send to (RFC 9000 §10.3.1: not of a spare or retired one; compared in constant time).
    pub fn is_stateless_reset(&self, tail: &[u8; 16]) -> bool {
        self.paths.cids.is_stateless_reset(tail)
    }

    /// Whether `token` is the stateless reset token of any CID the peer gave us, used or not:
    /// the endpoint's index of tokens covers them all.
    pub(crate) fn holds_reset_token(&self, token: &[u8; 16]) -> bool {
        self.paths.cids.holds_reset_token(token)
    }

    /// The CIDs we issued that the endpoint routes to us.
    pub fn local_cids(&self) -> impl Iterator<Item = ConnectionId> + '_ {
        self.paths.cids.all_local()
    }

    // ---------------------------------------------------------------- stream commands

    /// Opens a stream of direction `dir`, or `None` when the peer's stream limit is reached
    /// (a [`Event::StreamsAvailable`] follows when it rises).
    pub fn open_stream(&mut self, dir: Dir) -> Option<StreamId> {
        if self.is_closed() {
            return None;
        }
        self.streams.open(dir)
    }

    /// Takes the next stream the peer opened in direction `dir`.
    pub fn accept_stream(&mut self, dir: Dir) -> Option<StreamId> {
        self.streams.accept(dir)
    }

    /// Writes as much of `data` as flow control and the send buffer allow; returns the bytes taken.
    pub fn write(&mut self, id: StreamId, data: &[u8]) -> Result<usize, WriteError> {
        self.check_writable()?;
        self.streams.write(id, data)
    }

    /// Like [`Connection::write`] without copying: takes a prefix of `data`.
    pub fn write_bytes(&mut self, id: StreamId, data: Bytes) -> Result<usize, WriteError> {
        self.check_writable()?;
        self.streams.write_bytes(id, data)
    }

    /// Bytes that [`Connection::write`] would take now.
    pub fn write_capacity(&self, id: StreamId) -> Result<u64, WriteError> {
        self.streams.write_capacity(id)
    }

    fn check_writable(&self) -> Result<(), WriteError> {
        if self.is_closed() {
            Err(WriteError::ClosedStream)
        } else {
            Ok(())
        }
    }

    /// Ends the stream after the data written so far (FIN).
    pub fn finish(&mut self, id: StreamId) -> Result<(), WriteError> {
        self.streams.finish(id)
    }

    /// Abandons sending on a stream (RESET_STREAM).
    pub fn reset(&mut self, id: StreamId, error_code: VarInt) -> Result<(), WriteError> {
        self.streams.reset(id, error_code.into_inner())
    }

    /// Reads up to `max_len` bytes in order. `Ok(None)` means the stream ended (FIN read).
    pub fn read(&mut self, id: StreamId, max_len: usize) -> Result<Option<Chunk>, ReadError> {
        let chunk = self.streams.read(id, max_len)?;
        if let Some(c) = &chunk {
            self.stats.stream_bytes_read += c.bytes.len() as u64;
        }
        Ok(chunk)
    }

    /// Asks the peer to stop sending on a stream (STOP_SENDING).
    pub fn stop_sending(&mut self, id: StreamId, error_code: VarInt) -> Result<(), ReadError> {
        self.streams.stop_sending(id, error_code.into_inner())
    }

    /// Sets a stream's send priority (higher goes first; equal priorities share round-robin).
    pub fn set_priority(&mut self, id: StreamId, priority: i32) -> Result<(), WriteError> {
        self.streams.set_priority(id, priority)
    }

    // ---------------------------------------------------------------- datagrams

    /// Queues an unreliable datagram (RFC 9221).
    pub fn send_datagram(&mut self, data: Bytes) -> Result<(), SendDatagramError> {
        let max = self.max_datagram_size()?;
        if data.len() > max {
            return Err(SendDatagramError::TooLarge { size: data.len(), max });
        }
        self.datagrams.push_outgoing(data, self.config.datagram_send_buffer_bytes);
        Ok(())
    }

    /// The largest datagram [`Connection::send_datagram`] accepts now.
    pub fn max_datagram_size(&self) -> Result<usize, SendDatagramError> {
        let peer = self
            .peer_params
            .as_ref()
            .and_then(|p| p.max_datagram_frame_size)
            .ok_or(SendDatagramError::UnsupportedByPeer)?;
        // Short header with the longest CID, packet number, AEAD tag, frame type and length.
        let overhead = 1 + crate::MAX_CID_SIZE + 4 + 16 + 1 + 2;
        let mtu = self.paths.table.values().map(|p| usize::from(p.mtu())).min().unwrap_or(1200);
        let frame_max = usize::try_from(peer.into_inner()).unwrap_or(usize::MAX).saturating_sub(3);
        Ok(frame_max.min(mtu - overhead))
    }

    /// The oldest datagram received and not yet read.
    pub fn recv_datagram(&mut self) -> Option<Bytes> {
        self.datagrams.pop_incoming()
    }

    // ---------------------------------------------------------------- connection commands

    /// Closes the connection with an application error code (CONNECTION_CLOSE 0x1d).
    pub fn close(&mut self, now: Instant, error_code: VarInt, reason: Bytes) {
        if self.is_closed() {
            return;
        }
        self.error = Some(ConnectionError::LocallyClosed);
        self.enter_closing(now, CloseFrame::Application { code: error_code.into_inner(), reason });
    }

    /// Starts a 1-RTT key update now (RFC 9001 §6), if one is allowed: the handshake is
    /// confirmed and the previous update was acknowledged. Returns whether it started.
    pub fn force_key_update(&mut self) -> bool {
        if !self.handshake_confirmed {
            return false;
        }
        let started = match self.one_rtt.as_mut() {
            Some(keys) if keys.can_initiate_update() => keys.initiate_update(&mut self.tls),
            _ => false,
        };
        if started {
            self.stats.key_updates += 1;
        }
        started
    }

    /// Starts a 1-RTT key update now even if RFC 9001 §6.1 forbids it (the previous update was
    /// not acknowledged yet). Returns false without 1-RTT keys.
    ///
    /// This exists for conformance tests that play a peer updating keys twice without waiting
    /// (RFC 9001 §6.2, KEY_UPDATE_ERROR); applications use [`Connection::force_key_update`].
    #[doc(hidden)]
    pub fn force_key_update_unchecked(&mut self) -> bool {
        let Some(keys) = self.one_rtt.as_mut() else { return false };
        keys.initiate_update_unchecked(&mut self.tls);
        self.stats.key_updates += 1;
        true
    }

    /// Puts `frames` (already encoded, possibly malformed) verbatim into the next 1-RTT packet.
    ///
    /// This exists for conformance tests that play a misbehaving peer (RFC 9000 §20 error
    /// codes); applications have no use for it.
    #[cfg(feature = "internals")]
    pub fn inject_raw_frames(&mut self, frames: Bytes) {
        self.raw_frames = Some((SpaceId::Data, frames));
    }

    /// Like [`Connection::inject_raw_frames`], into the next packet of `space` (to test the
    /// frame-placement rules of RFC 9000 §12.4).
    #[cfg(feature = "internals")]
    pub fn inject_raw_frames_in(&mut self, space: SpaceId, frames: Bytes) {
        self.raw_frames = Some((space, frames));
    }

    /// Sends a PING on every path (e.g. to measure RTT or keep NAT bindings).
    pub fn ping(&mut self) {
        for path in self.paths.table.values_mut() {
            path.ping_pending = true;
        }
    }

    // ---------------------------------------------------------------- outputs

    /// The next application event.
    pub fn poll_event(&mut self) -> Option<Event> {
        if let Some(e) = self.events.pop_front() {
            return Some(e);
        }
        self.streams.poll_event().map(stream_event)
    }

    /// The next event for the endpoint.
    pub(crate) fn poll_endpoint_event(&mut self) -> Option<EndpointEvent> {
        match self.paths.cids.poll_reset_token_change() {
            Some(ResetTokenChange::Added(token)) => return Some(EndpointEvent::NewPeerResetToken(token)),
            Some(ResetTokenChange::Removed(token)) => return Some(EndpointEvent::RetiredPeerResetToken(token)),
            None => {}
        }
        self.endpoint_events.pop_front()
    }

    /// The next time [`Connection::handle_timeout`] must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Drained => return None,
            State::Closing { deadline, .. } | State::Draining { deadline } => return Some(deadline),
            _ => {}
        }
        let mut t = self.timers.idle_deadline;
        let mut consider = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t: Instant| t.min(x)));
            }
        };
        consider(self.timers.keep_alive_deadline);
        consider(self.failure_timeout());
        if let Some(k) = &self.one_rtt {
            consider(k.discard_deadline());
        }
        // Only deadlines that handle_timeout or poll_transmit can act on count: a deadline that
        // stays in the past would make a driver spin.
        let other_path_can_send =
            |id: PathId| self.paths.table.values().any(|p| p.id != id && p.abandoned_at.is_none());
        for path in self.paths.table.values() {
            consider(path.abandoned_at);
            if path.abandoned_at.is_some() {
                // Its ACKs travel on the other paths (RFC 10069 §3.3).
                if other_path_can_send(path.id) {
                    consider(path.recovery.ack_deadline());
                }
                continue;
            }
            consider(path.recovery.loss_detection_timer());
            if path.amplification_budget() >= 64 {
                consider(path.recovery.ack_deadline());
            }
            consider(path.pacing_release);
            if let Validation::Pending { sent: Some(sent), deadline, .. } = path.validation {
                consider(Some(deadline));
                consider(Some(sent + path.recovery.pto_duration(SpaceId::Data)));
            }
            if self.handshake_confirmed && path.recovery.can_send(u64::from(path.mtu())) {
                consider(path.mtud.next_probe_time());
            }
        }
        t
    }

    /// Handles every deadline that passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.paths.scheduled = None;
        match self.state {
            State::Drained => return,
            State::Closing { deadline, .. } | State::Draining { deadline } => {
                if now >= deadline {
                    self.set_drained(now);
                }
                return;
            }
            _ => {}
        }
        if self.timers.idle_deadline.is_some_and(|d| now >= d) {
            // RFC 9000 §10.1: silently close.
            self.error = Some(ConnectionError::TimedOut);
            self.events.push_back(Event::ConnectionLost(ConnectionError::TimedOut));
            self.trace_closed(now, true);
            self.set_drained(now);
            return;
        }
        if self.timers.keep_alive_deadline.is_some_and(|d| now >= d) {
            self.timers.keep_alive_deadline = None;
            if let Some(p) = self.paths.table.get_mut(&PathId::ZERO) {
                p.ping_pending = true;
            }
        }
        if let Some(k) = self.one_rtt.as_mut() {
            k.on_timeout(now);
        }
        let ids: smallvec::SmallVec<[PathId; 4]> = self.paths.table.keys().collect();
        for id in ids {
            self.path_timeouts(now, id);
        }
        self.detect_path_failures(now);
        self.forget_abandoned_paths(now);
    }

    fn path_timeouts(&mut self, now: Instant, id: PathId) {
        let Some(path) = self.paths.table.get_mut(&id) else { return };
        if path.pacing_release.is_some_and(|t| now >= t) {
            path.pacing_release = None;
        }
        if path.abandoned_at.is_some() {
            return;
        }
        if self.validation_timeout(now, id) {
            return;
        }
        let Some(path) = self.paths.table.get_mut(&id) else { return };
        if path.recovery.loss_detection_timer().is_some_and(|t| now >= t) {
            self.recovery_out.clear();
            self.paths.snapshot_for_cc();
            let Some(path) = self.paths.table.get_mut(&id) else { return };
            let paths = mpquic_cc::Paths { paths: &self.paths.cc_snapshots, this_path: id };
            let action = path.recovery.on_loss_detection_timeout(now, Some(paths), &mut self.recovery_out);
            self.paths.scheduled = None;
            self.on_loss_action(now, id, action);
            self.trace_metrics(now, id);
        }
    }

    // ---------------------------------------------------------------- internals

    fn reset_idle_timer(&mut self, now: Instant) {
        self.timers.idle_deadline = self.effective_idle_timeout().map(|t| now + t);
        if let Some(k) = self.config.keep_alive_interval {
            self.timers.keep_alive_deadline = Some(now + k);
        }
    }

    /// RFC 9000 §10.1: the minimum of both sides' values, and at least 3 PTOs.
    fn effective_idle_timeout(&self) -> Option<Duration> {
        let peer = self.peer_params.as_ref().and_then(|p| p.max_idle_timeout_duration());
        let t = match (self.timers.idle_timeout, peer) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        // RFC 10069 §3.4 counts closing periods in the largest PTO over paths;
        // the idle timeout's floor follows it (path 0 may be gone).
        let pto =
            self.paths.table.values().map(|p| p.recovery.pto_duration(SpaceId::Data)).max().unwrap_or(Duration::ZERO);
        Some(t.max(3 * pto))
    }

    /// The largest PTO over paths ([`Paths::max_pto`]).
    fn max_pto(&self) -> Duration {
        self.paths.max_pto()
    }

    fn enter_closing(&mut self, now: Instant, frame: CloseFrame) {
        let deadline = now + 3 * self.max_pto();
        self.state = State::Closing { deadline, frame, received: 0, answer_at: 1, answer_pending: true };
        self.trace_closed(now, true);
        self.trace_state(now, ConnectionStateTrace::Closing);
        self.emit_handshake_done_if_needed();
    }

    /// A packet arrived while closing. RFC 9000 §10.2.1: an endpoint SHOULD limit the rate at
    /// which it answers with CONNECTION_CLOSE, "for instance, wait for a progressively
    /// increasing number of received packets": the 1st, 2nd, 4th, 8th, ... packet is answered.
    fn on_packet_while_closing(&mut self) {
        if let State::Closing { received, answer_at, answer_pending, .. } = &mut self.state {
            *received += 1;
            if *received >= *answer_at {
                *answer_at = answer_at.saturating_mul(2);
                *answer_pending = true;
            }
        }
    }

    fn enter_draining(&mut self, now: Instant, error: ConnectionError) {
        if matches!(self.state, State::Draining { .. } | State::Drained) {
            return;
        }
        let deadline = now + 3 * self.max_pto();
        if !matches!(self.state, State::Closing { .. }) {
            self.events.push_back(Event::ConnectionLost(error.clone()));
            self.error = Some(error);
            self.trace_closed(now, false);
        }
        self.state = State::Draining { deadline };
        self.trace_state(now, ConnectionStateTrace::Draining);
        self.emit_handshake_done_if_needed();
    }

    /// Closes because of a transport error we detected.
    fn close_with_error(&mut self, now: Instant, error: TransportError) {
        if self.is_closed() {
            return;
        }
        tracing::debug!(%error, side = ?self.side, "closing connection");
        let ce = ConnectionError::TransportError(error.clone());
        self.events.push_back(Event::ConnectionLost(ce.clone()));
        self.error = Some(ce);
        self.enter_closing(now, CloseFrame::Transport(error));
    }

    fn set_drained(&mut self, now: Instant) {
        if self.state != State::Drained {
            self.state = State::Drained;
            self.trace_state(now, ConnectionStateTrace::Closed);
            self.emit_handshake_done_if_needed();
            self.endpoint_events.push_back(EndpointEvent::Drained);
        }
    }

    fn emit_handshake_done_if_needed(&mut self) {
        if !self.connected_reported && !self.endpoint_events.contains(&EndpointEvent::HandshakeDone) {
            self.endpoint_events.push_back(EndpointEvent::HandshakeDone);
            self.connected_reported = true;
        }
    }

    /// Feeds TLS until it has nothing more to say, installing keys as they come.
    fn drive_tls(&mut self, now: Instant) {
        loop {
            let level = self.tls.write_level();
            let mut out = Vec::new();
            let change = self.tls.write_handshake(&mut out);
            if !out.is_empty() {
                self.crypto[spaces::level_space(level).index()].write(&out);
            }
            match change {
                Some(crypto::KeyChange::Handshake { keys }) => {
                    self.handshake_keys = Some(keys);
                    if let Some(p) = self.paths.table.get_mut(&PathId::ZERO) {
                        p.recovery.set_handshake_keys_available(now);
                    }
                }
                Some(crypto::KeyChange::OneRtt { keys }) => {
                    self.one_rtt = Some(OneRttKeys::new(keys, &mut self.tls));
                }
                None => {
                    if out.is_empty() {
                        break;
                    }
                }
            }
        }
    }

    /// RFC 9001 §6.6: how many packets one 1-RTT key may seal (the AEAD's confidentiality
    /// limit), lowered by [`TransportConfig::confidentiality_limit_packets`].
    fn confidentiality_limit(&self) -> u64 {
        let aead = self.one_rtt.as_ref().map_or(u64::MAX, |k| k.local().confidentiality_limit());
        self.config.confidentiality_limit_packets.map_or(aead, |cap| cap.min(aead))
    }

    /// RFC 9001 §6.6: the integrity limit of the AEAD protecting `space` (or of the negotiated
    /// suite once keys are gone), lowered by [`TransportConfig::integrity_limit_packets`].
    fn integrity_limit(&self, space: SpaceId) -> u64 {
        let aead = match space {
            SpaceId::Initial => self.initial_keys.as_ref().map(|k| k.packet.remote.integrity_limit()),
            SpaceId::Handshake => self.handshake_keys.as_ref().map(|k| k.packet.remote.integrity_limit()),
            SpaceId::Data => match (&self.one_rtt, &self.zero_rtt.keys) {
                (Some(k), _) => Some(k.local().integrity_limit()),
                (None, Some(k)) => Some(k.packet.integrity_limit()),
                (None, None) => None,
            },
        };
        let aead = aead.unwrap_or(u64::MAX);
        self.config.integrity_limit_packets.map_or(aead, |cap| cap.min(aead))
    }

    fn space_keys_available(&self, space: SpaceId) -> bool {
        match space {
            SpaceId::Initial => self.initial_keys.is_some(),
            SpaceId::Handshake => self.handshake_keys.is_some(),
            SpaceId::Data => self.one_rtt.is_some(),
        }
    }

    /// RFC 9001 §4.9: drop a space's keys and its recovery state.
    fn discard_space(&mut self, now: Instant, space: SpaceId) {
        match space {
            SpaceId::Initial => {
                if self.initial_keys.take().is_none() {
                    return;
                }
            }
            SpaceId::Handshake => {
                if self.handshake_keys.take().is_none() {
                    return;
                }
            }
            SpaceId::Data => return,
        }
        if let Some(p) = self.paths.table.get_mut(&PathId::ZERO) {
            p.recovery.discard_space(now, space);
        }
        self.crypto[space.index()] = CryptoStream::default();
    }
}

/// Decodes a packet's plaintext frames for a tracer. A frame that fails to decode ends the list
/// (the receive path reports the error itself).
fn decode_for_trace(payload: &[u8], mp: Option<crate::frame::MultipathVersion>) -> Vec<crate::frame::Frame> {
    crate::frame::Iter::with_multipath(Bytes::copy_from_slice(payload), mp).map_while(Result::ok).collect()
}

/// The packet type of a packet-number space (for traces of packets no longer at hand).
fn space_packet_type(space: SpaceId) -> PacketType {
    match space {
        SpaceId::Initial => PacketType::Initial,
        SpaceId::Handshake => PacketType::Handshake,
        SpaceId::Data => PacketType::OneRtt,
    }
}

fn streams_config(config: &TransportConfig) -> StreamsConfig {
    StreamsConfig {
        max_concurrent_bidi_streams: config.max_concurrent_bidi_streams,
        max_concurrent_uni_streams: config.max_concurrent_uni_streams,
        stream_receive_window: config.stream_receive_window,
        max_stream_receive_window: config.max_stream_receive_window,
        connection_receive_window: config.receive_window,
        max_connection_receive_window: config.max_receive_window,
        send_buffer_limit: config.send_window,
    }
}

fn stream_event(e: crate::stream::StreamEvent) -> Event {
    use crate::stream::StreamEvent as S;
    match e {
        S::Opened { dir } => Event::StreamOpened(dir),
        S::Readable { id } => Event::StreamReadable(id),
        S::Writable { id } => Event::StreamWritable(id),
        S::Finished { id } => Event::StreamFinished(id),
        S::Stopped { id, error_code } => Event::StreamStopped(id, error_code),
        S::Available { dir } => Event::StreamsAvailable(dir),
    }
}

/// The transport parameters we send, from our configuration.
pub(crate) fn local_transport_parameters(
    config: &TransportConfig,
    endpoint: &EndpointConfig,
    initial_source: ConnectionId,
) -> TransportParameters {
    TransportParameters {
        max_idle_timeout: VarInt::from_u64_saturating(
            config.max_idle_timeout.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        ),
        max_udp_payload_size: VarInt::from_u32(u32::from(endpoint.max_udp_payload_size)),
        initial_max_data: VarInt::from_u64_saturating(config.receive_window),
        initial_max_stream_data_bidi_local: VarInt::from_u64_saturating(config.stream_receive_window),
        initial_max_stream_data_bidi_remote: VarInt::from_u64_saturating(config.stream_receive_window),
        initial_max_stream_data_uni: VarInt::from_u64_saturating(config.stream_receive_window),
        initial_max_streams_bidi: VarInt::from_u64_saturating(config.max_concurrent_bidi_streams),
        initial_max_streams_uni: VarInt::from_u64_saturating(config.max_concurrent_uni_streams),
        ack_delay_exponent: VarInt::from(config.ack_delay_exponent),
        max_ack_delay: VarInt::from_u64_saturating(config.max_ack_delay.as_millis() as u64),
        active_connection_id_limit: VarInt::from_u64_saturating(config.active_connection_id_limit),
        initial_source_connection_id: Some(initial_source),
        max_datagram_frame_size: config
            .datagram_receive_buffer_bytes
            .map(|_| VarInt::from_u64_saturating(u64::from(endpoint.max_udp_payload_size))),
        // RFC 10069 §2: multipath needs non-zero-length CIDs.
        initial_max_path_id: config.initial_max_path_id.filter(|_| endpoint.local_cid_len > 0).map(PathId),
        multipath_version: config.multipath_version,
        ..TransportParameters::default()
    }
}
