//! The endpoint: owns the connections of one local socket (or socket group), routes datagrams to
//! them by connection ID (RFC 9000 §5.2), creates server connections, and answers on its own
//! with Version Negotiation (§6), Retry (§8.1.2) and stateless resets (§10.3).
//!
//! It bounds what an unauthenticated peer can make it hold: a first Initial creates state only
//! once its packet protection opens (RFC 9001 §5.2); under handshake pressure, in total or from
//! one IP address, clients must first answer a stateless Retry (RFC 9000 §8.1.2); a handshake
//! whose client never proves its address gives up its slot after
//! [`ServerConfig::handshake_timeout`]; total connections are capped, and per-connection
//! buffered packets too (inside [`Connection`]).

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use thiserror::Error;

use crate::config::{ClientConfig, EndpointConfig, ServerConfig};
use crate::connection::{
    local_transport_parameters, Connection, ConnectionError, ConnectionParams, EndpointEvent, Event, Transmit,
};
use crate::crypto::{self, ResetKey, TlsConfigError, TlsSession, TokenKey, ValidToken};
use crate::error::TransportErrorCode;
use crate::packet::{self, LongType, PartialDecode, ProtectedHeader};
use crate::path::PathId;
use crate::shared::{ConnectionId, EcnCodepoint, Side};
use crate::timer_heap::TimerHeap;
use crate::Instant;

/// Identifies a connection of an [`Endpoint`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionHandle(pub usize);

/// Why [`Endpoint::connect`] failed.
#[derive(Debug, Error)]
pub enum ConnectError {
    /// The TLS configuration cannot be used for QUIC, or the server name is invalid.
    #[error("TLS configuration: {0}")]
    Tls(#[from] TlsConfigError),
    /// The version is not one this endpoint speaks.
    #[error("unsupported QUIC version {0:#x}")]
    UnsupportedVersion(u32),
    /// The endpoint holds as many connections as it may.
    #[error("too many connections")]
    TooManyConnections,
}

/// Smallest datagram that may carry a client's first Initial (RFC 9000 §14.1).
const MIN_INITIAL_SIZE: usize = 1200;
/// Smallest stateless reset we send (RFC 9000 §10.3: at least 21 bytes; we use more to look like
/// a real packet).
const MIN_RESET_SIZE: usize = 41;

#[derive(Debug)]
struct Slot {
    conn: Connection,
    server_name: Option<String>,
    /// The client's Initial DCID routed here during the handshake (server side).
    initial_alias: Option<(SocketAddr, ConnectionId)>,
    /// While the handshake is under way.
    handshake: Option<Handshake>,
    /// Every CID `by_cid` routes here, so that removal costs O(own CIDs), not O(all CIDs).
    cids: Vec<ConnectionId>,
    /// Every stateless reset token `by_reset_token` may map here, likewise.
    reset_tokens: Vec<[u8; 16]>,
    /// The connection's deadline as entered in [`Endpoint::timers`] (`None` also while a due
    /// entry has been taken out by `handle_timeout` and not entered again).
    deadline: Option<Instant>,
    /// In [`Endpoint::transmit_queue`].
    queued_transmit: bool,
    /// In [`Endpoint::event_queue`].
    queued_event: bool,
    /// In [`Endpoint::dirty`]: `deadline` may be out of date.
    timer_stale: bool,
}

/// A handshake in progress, as the endpoint's limits see it.
#[derive(Debug, Clone, Copy)]
struct Handshake {
    /// Server: when the handshake gives up its slot unless the client proved its address.
    deadline: Option<Instant>,
    /// Server: the client's IP address, when it came without a valid token (counted in
    /// [`Handshakes::unvalidated_by_ip`]).
    unvalidated_ip: Option<IpAddr>,
}

/// What handshakes in progress hold, against the limits of [`ServerConfig`].
#[derive(Debug, Default)]
struct Handshakes {
    total: usize,
    unvalidated_by_ip: HashMap<IpAddr, usize>,
}

impl Handshakes {
    fn start(&mut self, handshake: &Handshake) {
        self.total += 1;
        if let Some(ip) = handshake.unvalidated_ip {
            *self.unvalidated_by_ip.entry(ip).or_default() += 1;
        }
    }

    fn end(&mut self, handshake: &Handshake) {
        self.total -= 1;
        if let Some(ip) = handshake.unvalidated_ip {
            if let Some(n) = self.unvalidated_by_ip.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    self.unvalidated_by_ip.remove(&ip);
                }
            }
        }
    }

    fn unvalidated_from(&self, ip: IpAddr) -> usize {
        self.unvalidated_by_ip.get(&ip).copied().unwrap_or(0)
    }
}

/// The maps that route every datagram to its connection. They hash with foldhash: std's SipHash
/// cost about 330 instructions per datagram for the CID lookup alone (`mpquic bench` under
/// callgrind). Each map is seeded at random, as std's are, because peers choose some keys (a
/// client's first Destination CID, its address) and could otherwise aim for collisions.
type RouteMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A QUIC endpoint, sans-IO. See the crate documentation for the driver's loop.
#[derive(Debug)]
pub struct Endpoint {
    config: Arc<EndpointConfig>,
    server: Option<Arc<ServerConfig>>,
    rng: ChaCha20Rng,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    by_cid: RouteMap<ConnectionId, ConnectionHandle>,
    by_initial: RouteMap<(SocketAddr, ConnectionId), ConnectionHandle>,
    /// The stateless reset tokens our peers gave us (RFC 9000 §10.3), to the connection that
    /// holds each: an unroutable short-header datagram is checked in O(1), not against every
    /// connection.
    by_reset_token: RouteMap<[u8; 16], ConnectionHandle>,
    incoming: VecDeque<ConnectionHandle>,
    /// Packets the endpoint answers with on its own: (destination, source, bytes).
    responses: VecDeque<(SocketAddr, Option<SocketAddr>, Vec<u8>)>,
    events: VecDeque<(ConnectionHandle, Event)>,
    reset_key: Arc<ResetKey>,
    token_key: Arc<TokenKey>,
    handshakes: Handshakes,
    live: usize,
    /// Client: the latest NEW_TOKEN token per server name, for the next connection attempt
    /// only (RFC 9000 §8.1.3).
    tokens: HashMap<String, Bytes>,
    /// Connections that may have something to send: touched (a datagram, a command, a deadline)
    /// since `poll_transmit` last found nothing. Polling costs O(busy connections), not O(all).
    transmit_queue: VecDeque<usize>,
    /// Connections that may have application events, likewise.
    event_queue: VecDeque<usize>,
    /// Every connection's deadline, earliest first; an entry counts only while it equals its
    /// slot's `deadline` (see [`TimerHeap`]).
    timers: TimerHeap,
    /// Connections whose deadline may have moved since it was entered in `timers`: touched by
    /// a datagram, a transmit, a timeout or a caller of [`Endpoint::connection`]. Their
    /// deadlines are read again only when a timer decision needs them ([`Endpoint::poll_timeout`]
    /// and [`Endpoint::handle_timeout`]), once per connection however many packets it handled
    /// in between: asking a connection for its deadline after every packet was 13% of the
    /// simulator's CPU.
    dirty: Vec<usize>,
    /// Datagrams dropped before reaching a connection.
    pub dropped_datagrams: u64,
}

impl Endpoint {
    /// An endpoint; with a server configuration it accepts incoming connections.
    pub fn new(config: Arc<EndpointConfig>, server: Option<Arc<ServerConfig>>) -> Self {
        let rng = ChaCha20Rng::seed_from_u64(config.rng_seed);
        let reset_key = Arc::new(ResetKey::new(&config.static_secret));
        let mut token_secret = config.static_secret;
        token_secret[0] ^= 0x5a;
        let token_key = Arc::new(TokenKey::new(&token_secret));
        Self {
            config,
            server,
            rng,
            slots: Vec::new(),
            free: Vec::new(),
            by_cid: RouteMap::default(),
            by_initial: RouteMap::default(),
            by_reset_token: RouteMap::default(),
            incoming: VecDeque::new(),
            responses: VecDeque::new(),
            events: VecDeque::new(),
            reset_key,
            token_key,
            handshakes: Handshakes::default(),
            live: 0,
            tokens: HashMap::new(),
            transmit_queue: VecDeque::new(),
            event_queue: VecDeque::new(),
            timers: TimerHeap::default(),
            dirty: Vec::new(),
            dropped_datagrams: 0,
        }
    }

    /// Replaces the server configuration (or stops accepting with `None`).
    pub fn set_server_config(&mut self, server: Option<Arc<ServerConfig>>) {
        self.server = server;
    }

    /// The endpoint's configuration.
    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// Number of connections held (including closing ones).
    pub fn connection_count(&self) -> usize {
        self.live
    }

    /// A connection, by handle.
    pub fn connection(&mut self, handle: ConnectionHandle) -> Option<&mut Connection> {
        // The caller may change anything: poll the connection again, and look at its deadline
        // again before the next timer decision.
        self.slots.get(handle.0)?.as_ref()?;
        self.wake(handle.0);
        self.mark_timer_stale(handle.0);
        self.slots.get_mut(handle.0)?.as_mut().map(|s| &mut s.conn)
    }

    /// A connection, by handle, read-only.
    pub fn connection_ref(&self, handle: ConnectionHandle) -> Option<&Connection> {
        self.slots.get(handle.0)?.as_ref().map(|s| &s.conn)
    }

    /// Handles of every connection.
    pub fn handles(&self) -> impl Iterator<Item = ConnectionHandle> + '_ {
        self.slots.iter().enumerate().filter(|(_, s)| s.is_some()).map(|(i, _)| ConnectionHandle(i))
    }

    /// The next connection a client opened to us.
    pub fn accept(&mut self) -> Option<ConnectionHandle> {
        self.incoming.pop_front()
    }

    fn random_cid(&mut self, len: usize) -> ConnectionId {
        let mut bytes = [0u8; crate::MAX_CID_SIZE];
        self.rng.fill_bytes(&mut bytes[..len]);
        ConnectionId::new(&bytes[..len]).unwrap_or(ConnectionId::EMPTY)
    }

    fn insert(&mut self, slot: Slot) -> ConnectionHandle {
        self.live += 1;
        let h = if let Some(i) = self.free.pop() {
            self.slots[i] = Some(slot);
            ConnectionHandle(i)
        } else {
            self.slots.push(Some(slot));
            ConnectionHandle(self.slots.len() - 1)
        };
        self.refresh_timer(h.0);
        self.wake(h.0);
        h
    }

    /// Queues a connection to be polled for transmits and events.
    fn wake(&mut self, idx: usize) {
        let Some(slot) = self.slots.get_mut(idx).and_then(Option::as_mut) else { return };
        if !slot.queued_transmit {
            slot.queued_transmit = true;
            self.transmit_queue.push_back(idx);
        }
        if !slot.queued_event {
            slot.queued_event = true;
            self.event_queue.push_back(idx);
        }
    }

    /// Notes that a connection's deadline may have moved (see [`Endpoint::dirty`]).
    fn mark_timer_stale(&mut self, idx: usize) {
        if let Some(slot) = self.slots.get_mut(idx).and_then(Option::as_mut) {
            if !slot.timer_stale {
                slot.timer_stale = true;
                self.dirty.push(idx);
            }
        }
    }

    /// Enters a connection's current deadline in the timer set.
    fn refresh_timer(&mut self, idx: usize) {
        let Some(slot) = self.slots.get_mut(idx).and_then(Option::as_mut) else { return };
        slot.timer_stale = false;
        let deadline =
            [slot.conn.poll_timeout(), slot.handshake.and_then(|hs| hs.deadline)].into_iter().flatten().min();
        if deadline == slot.deadline {
            return;
        }
        slot.deadline = deadline;
        if let Some(new) = deadline {
            let slots = &self.slots;
            let current = || slots.iter().enumerate().filter_map(|(i, s)| Some((s.as_ref()?.deadline?, i))).collect();
            self.timers.enter(new, idx, slots.len(), current);
        }
    }

    /// Whether `at` is the deadline of the connection in slot `idx`.
    fn timer_is_current(slots: &[Option<Slot>], at: Instant, idx: usize) -> bool {
        slots.get(idx).and_then(Option::as_ref).is_some_and(|s| s.deadline == Some(at))
    }

    /// Re-reads the deadlines of the connections touched since the last timer decision.
    fn flush_dirty(&mut self) {
        while let Some(idx) = self.dirty.pop() {
            self.refresh_timer(idx);
        }
    }

    /// Starts a connection to `remote`, verifying the server's certificate for `server_name`.
    pub fn connect(
        &mut self,
        now: Instant,
        config: ClientConfig,
        local: impl Into<Option<SocketAddr>>,
        remote: SocketAddr,
        server_name: &str,
    ) -> Result<ConnectionHandle, ConnectError> {
        if !self.config.supported_versions.contains(&config.version) {
            return Err(ConnectError::UnsupportedVersion(config.version));
        }
        let local_cid = self.random_cid(self.config.local_cid_len);
        // RFC 9000 §7.2: the first Destination CID is unpredictable and at least 8 bytes.
        let dst_cid = self.random_cid(16);
        let params = local_transport_parameters(&config.transport, &self.config, local_cid);
        let tls = TlsSession::client(config.crypto.clone(), server_name, &params)?;
        // RFC 9000 §8.1.3: a client SHOULD NOT reuse a NEW_TOKEN token for different
        // connection attempts (reuse lets observers link them): it is taken, not copied.
        let token = self.tokens.remove(server_name).unwrap_or_default();
        let seed = self.rng.random();
        let conn = Connection::new(
            now,
            ConnectionParams {
                side: Side::Client,
                version: config.version,
                endpoint_config: self.config.clone(),
                transport: config.transport.clone(),
                tls,
                local: local.into(),
                remote,
                local_cid,
                remote_cid: dst_cid,
                initial_dst_cid: dst_cid,
                original_dst_cid: dst_cid,
                token,
                address_validated: true,
                reset_key: self.reset_key.clone(),
                token_key: None,
                rng_seed: seed,
                params,
            },
        );
        let handshake = Handshake { deadline: None, unvalidated_ip: None };
        self.handshakes.start(&handshake);
        let handle = self.insert(Slot {
            conn,
            server_name: Some(server_name.to_owned()),
            initial_alias: None,
            handshake: Some(handshake),
            cids: vec![local_cid],
            reset_tokens: Vec::new(),
            deadline: None,
            queued_transmit: false,
            queued_event: false,
            timer_stale: false,
        });
        self.by_cid.insert(local_cid, handle);
        self.after_connection_call(handle);
        Ok(handle)
    }

    /// Handles a datagram that arrived on `local` from `remote`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        ecn: Option<EcnCodepoint>,
        data: BytesMut,
    ) {
        let len = data.len();
        if len == 0 {
            return;
        }
        let cid_len = self.config.local_cid_len;
        // Route on the Destination CID (RFC 9000 §5.2) without copying the datagram.
        let Some(dcid) = peek_dst_cid(&data, cid_len) else {
            self.dropped_datagrams += 1;
            return;
        };
        if let Some(&h) = self.by_cid.get(&dcid) {
            return self.deliver(now, h, local, remote, ecn, data);
        }
        let is_long = data[0] & 0x80 != 0;
        if is_long {
            if let Some(&h) = self.by_initial.get(&(remote, dcid)) {
                return self.deliver(now, h, local, remote, ecn, data);
            }
            self.handle_unrouted_long(now, local, remote, ecn, data);
        } else {
            // RFC 9000 §10.3.1: an unroutable short-header datagram may be a stateless reset
            // for one of our connections; its last 16 bytes are then the token, looked up in
            // the index of every peer's tokens and confirmed by the connection.
            if len >= 21 {
                let mut tail = [0u8; 16];
                tail.copy_from_slice(&data[len - 16..]);
                if let Some(&h) = self.by_reset_token.get(&tail) {
                    let holds =
                        self.slots.get(h.0).and_then(Option::as_ref).is_some_and(|s| s.conn.is_stateless_reset(&tail));
                    if holds {
                        return self.deliver(now, h, local, remote, ecn, data);
                    }
                }
            }
            self.send_stateless_reset(local, remote, &dcid, len);
        }
    }

    fn deliver(
        &mut self,
        now: Instant,
        h: ConnectionHandle,
        local: SocketAddr,
        remote: SocketAddr,
        ecn: Option<EcnCodepoint>,
        data: BytesMut,
    ) {
        if let Some(slot) = self.slots.get_mut(h.0).and_then(Option::as_mut) {
            slot.conn.handle_datagram(now, Some(local), remote, ecn, data);
            self.wake(h.0);
            self.after_connection_call(h);
        }
    }

    fn handle_unrouted_long(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        ecn: Option<EcnCodepoint>,
        data: BytesMut,
    ) {
        let datagram_len = data.len();
        let Some(server) = self.server.clone() else {
            self.dropped_datagrams += 1;
            return;
        };
        let Ok((partial, _rest)) = PartialDecode::new(data.clone(), self.config.local_cid_len) else {
            self.dropped_datagrams += 1;
            return;
        };
        match *partial.header() {
            ProtectedHeader::UnsupportedVersion { .. } => {
                // RFC 9000 §6.1: answer with Version Negotiation, only to datagrams large enough
                // to be a first Initial (§14.1), so it cannot amplify.
                if datagram_len >= MIN_INITIAL_SIZE {
                    let mut buf = Vec::with_capacity(64);
                    let unused: u8 = self.rng.random();
                    packet::encode_version_negotiation(
                        &mut buf,
                        partial.dst_cid(),
                        partial.src_cid(),
                        &self.config.supported_versions,
                        unused,
                    );
                    self.responses.push_back((remote, Some(local), buf));
                }
            }
            ProtectedHeader::Long { ty: LongType::Initial, version, dst_cid, src_cid } => {
                if datagram_len < MIN_INITIAL_SIZE || dst_cid.len() < 8 {
                    // RFC 9000 §14.1 and §7.2.
                    self.dropped_datagrams += 1;
                    return;
                }
                let token = partial.token().to_vec();
                // RFC 9001 §5.2: anyone can derive Initial keys from the DCID, but a datagram
                // whose first packet does not open with them is not a client's first flight.
                // Checking this before any state exists means that junk (the forged Initials of
                // a flood) costs one decryption and no handshake slot.
                if !opens_as_first_initial(partial, &dst_cid) {
                    tracing::trace!(%remote, "first Initial failed authentication; dropped");
                    self.dropped_datagrams += 1;
                    return;
                }
                self.accept_initial(now, &server, local, remote, ecn, data, version, dst_cid, src_cid, &token);
            }
            _ => self.dropped_datagrams += 1,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn accept_initial(
        &mut self,
        now: Instant,
        server: &Arc<ServerConfig>,
        local: SocketAddr,
        remote: SocketAddr,
        ecn: Option<EcnCodepoint>,
        data: BytesMut,
        version: u32,
        dst_cid: ConnectionId,
        src_cid: ConnectionId,
        token: &[u8],
    ) {
        let mut address_validated = false;
        let mut original_dst_cid = dst_cid;
        let mut retry_src_cid = None;
        if !token.is_empty() {
            match self.token_key.validate(token, remote, now) {
                Ok(ValidToken::Retry { original_dcid, retry_scid }) => {
                    if retry_scid != dst_cid {
                        // RFC 9000 §8.1.2: an invalid Retry token in an otherwise valid Initial
                        // closes the attempt with INVALID_TOKEN (the client will not accept
                        // another Retry), without state.
                        self.refuse(local, remote, version, dst_cid, src_cid, TransportErrorCode::INVALID_TOKEN);
                        return;
                    }
                    address_validated = true;
                    original_dst_cid = original_dcid;
                    retry_src_cid = Some(retry_scid);
                }
                Ok(ValidToken::NewToken) => address_validated = true,
                // RFC 9000 §8.1.3: an unusable token is ignored (a Retry follows if required).
                Err(_) => {}
            }
        }
        if self.live >= server.max_connections {
            tracing::debug!(%remote, "refusing connection: connection limit reached");
            self.refuse(local, remote, version, dst_cid, src_cid, TransportErrorCode::CONNECTION_REFUSED);
            return;
        }
        let client_ip = remote.ip().to_canonical();
        if !address_validated {
            // RFC 9000 §8.1.2: a Retry defers the state and processing costs of a connection
            // until the client proved it receives at its address. Under handshake pressure (in
            // total, or from this IP address) every client must do so first, so spoofed Initials
            // can hold at most `retry_threshold` slots, and real clients still get in.
            let pressure = self.handshakes.total >= server.retry_threshold.min(server.max_incoming_handshakes / 2);
            let busy_address = self.handshakes.unvalidated_from(client_ip) >= server.retry_threshold_per_address;
            if server.retry || pressure || busy_address {
                self.send_retry(now, local, remote, version, dst_cid, src_cid);
                return;
            }
        }
        if self.handshakes.total >= server.max_incoming_handshakes {
            // RFC 9000 §5.2.2: refuse with CONNECTION_REFUSED.
            tracing::debug!(%remote, "refusing connection: handshake limit reached");
            self.refuse(local, remote, version, dst_cid, src_cid, TransportErrorCode::CONNECTION_REFUSED);
            return;
        }
        let local_cid = self.random_cid(self.config.local_cid_len);
        let mut params = local_transport_parameters(&server.transport, &self.config, local_cid);
        params.original_destination_connection_id = Some(original_dst_cid);
        params.retry_source_connection_id = retry_src_cid;
        params.stateless_reset_token = Some(self.reset_key.token(&local_cid));
        params.disable_active_migration = !server.migration;
        if server.preferred_address_v4.is_some() || server.preferred_address_v6.is_some() {
            // RFC 9000 §9.6: the preferred address comes with a CID of sequence number 1.
            let connection_id = self.random_cid(self.config.local_cid_len.max(8));
            params.preferred_address = Some(crate::transport_parameters::PreferredAddress {
                address_v4: server.preferred_address_v4,
                address_v6: server.preferred_address_v6,
                connection_id,
                stateless_reset_token: self.reset_key.token(&connection_id),
            });
        }
        let tls = match TlsSession::server(server.crypto.clone(), &params, server.zero_rtt) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "server TLS configuration unusable for QUIC");
                self.dropped_datagrams += 1;
                return;
            }
        };
        let seed = self.rng.random();
        let conn = Connection::new(
            now,
            ConnectionParams {
                side: Side::Server,
                version,
                endpoint_config: self.config.clone(),
                transport: server.transport.clone(),
                tls,
                local: Some(local),
                remote,
                local_cid,
                remote_cid: src_cid,
                initial_dst_cid: dst_cid,
                original_dst_cid,
                token: Bytes::new(),
                address_validated,
                reset_key: self.reset_key.clone(),
                token_key: Some(self.token_key.clone()),
                rng_seed: seed,
                params,
            },
        );
        let alias = (remote, dst_cid);
        let handshake = Handshake {
            deadline: (!address_validated).then(|| now + server.handshake_timeout),
            unvalidated_ip: (!address_validated).then_some(client_ip),
        };
        self.handshakes.start(&handshake);
        let handle = self.insert(Slot {
            conn,
            server_name: None,
            initial_alias: Some(alias),
            handshake: Some(handshake),
            cids: vec![local_cid],
            reset_tokens: Vec::new(),
            deadline: None,
            queued_transmit: false,
            queued_event: false,
            timer_stale: false,
        });
        self.by_cid.insert(local_cid, handle);
        self.by_initial.insert(alias, handle);
        self.incoming.push_back(handle);
        self.deliver(now, handle, local, remote, ecn, data);
    }

    fn send_retry(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        version: u32,
        dst_cid: ConnectionId,
        src_cid: ConnectionId,
    ) {
        let retry_scid = self.random_cid(self.config.local_cid_len.max(8));
        let token = self.token_key.seal_retry_token(&mut self.rng, remote, now, &dst_cid, &retry_scid);
        let mut buf = Vec::with_capacity(128 + token.len());
        packet::encode_retry(&mut buf, version, &src_cid, &retry_scid, &token);
        let Some(tag) = crypto::retry_integrity_tag(&dst_cid, &buf) else { return };
        buf.put_slice(&tag);
        self.responses.push_back((remote, Some(local), buf));
    }

    /// Refuses a connection attempt with a CONNECTION_CLOSE of `error_code` in an Initial packet
    /// (RFC 9000 §5.2.2: CONNECTION_REFUSED; §8.1.2: INVALID_TOKEN), without keeping state.
    fn refuse(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        version: u32,
        dst_cid: ConnectionId,
        src_cid: ConnectionId,
        error_code: TransportErrorCode,
    ) {
        let keys = crypto::initial_keys(&dst_cid, Side::Server);
        let local_cid = self.random_cid(self.config.local_cid_len);
        let mut buf = Vec::with_capacity(128);
        let layout = packet::encode_long_header(&mut buf, LongType::Initial, version, &src_cid, &local_cid, &[], 0, 4);
        crate::frame::Frame::ConnectionClose(crate::frame::ConnectionClose {
            error_code,
            frame_type: crate::frame::FrameType::PADDING,
            reason: Bytes::new(),
        })
        .encode(&mut buf);
        let tag_len = keys.packet.local.tag_len();
        buf.resize(buf.len().max(layout.pn_offset + 4), 0);
        buf.put_bytes(0, tag_len);
        if layout.set_length(&mut buf).is_err()
            || keys.packet.local.encrypt_packet(PathId::ZERO, 0, &mut buf, layout.header_len).is_err()
            || keys.header.local.apply(&mut buf, layout.pn_offset).is_err()
        {
            return;
        }
        self.responses.push_back((remote, Some(local), buf));
    }

    /// RFC 9000 §10.3: a stateless reset for a short-header packet we cannot route. It is
    /// smaller than the packet that triggered it, so resets cannot loop or amplify (§10.3.3).
    fn send_stateless_reset(&mut self, local: SocketAddr, remote: SocketAddr, dcid: &ConnectionId, received: usize) {
        if self.config.local_cid_len == 0 || received <= MIN_RESET_SIZE {
            self.dropped_datagrams += 1;
            return;
        }
        let len = (received - 1).min(MIN_RESET_SIZE + 16);
        let mut buf = vec![0u8; len];
        self.rng.fill_bytes(&mut buf[..len - 16]);
        // First byte: short header form with the fixed bit, the rest unpredictable.
        buf[0] = 0x40 | (buf[0] & 0x3f);
        buf[len - 16..].copy_from_slice(&self.reset_key.token(dcid).0);
        self.responses.push_back((remote, Some(local), buf));
    }

    /// Applies what a connection told its endpoint, and frees it once drained.
    fn after_connection_call(&mut self, h: ConnectionHandle) {
        let Some(slot) = self.slots.get_mut(h.0).and_then(Option::as_mut) else { return };
        let mut drained = false;
        while let Some(ev) = slot.conn.poll_endpoint_event() {
            match ev {
                EndpointEvent::NewLocalCid { id, .. } => {
                    self.by_cid.insert(id, h);
                    if !slot.cids.contains(&id) {
                        slot.cids.push(id);
                    }
                }
                EndpointEvent::RetiredLocalCid(id) => {
                    if self.by_cid.get(&id) == Some(&h) {
                        self.by_cid.remove(&id);
                    }
                    slot.cids.retain(|c| *c != id);
                }
                EndpointEvent::NewPeerResetToken(token) => {
                    self.by_reset_token.insert(token, h);
                    if !slot.reset_tokens.contains(&token) {
                        slot.reset_tokens.push(token);
                    }
                }
                EndpointEvent::RetiredPeerResetToken(token) => {
                    // The peer may have given the same token with another CID still held.
                    if !slot.conn.holds_reset_token(&token) {
                        slot.reset_tokens.retain(|t| *t != token);
                        if self.by_reset_token.get(&token) == Some(&h) {
                            self.by_reset_token.remove(&token);
                        }
                    }
                }
                EndpointEvent::HandshakeDone => {
                    if let Some(handshake) = slot.handshake.take() {
                        self.handshakes.end(&handshake);
                    }
                    if let Some(alias) = slot.initial_alias.take() {
                        self.by_initial.remove(&alias);
                    }
                }
                EndpointEvent::Drained => drained = true,
            }
        }
        // Borrowed, not cloned: this runs after every call into a client connection.
        if let Some(name) = slot.server_name.as_ref() {
            for token in slot.conn.take_new_tokens() {
                self.tokens.insert(name.clone(), token);
            }
        }
        if drained {
            self.remove(h);
        } else {
            self.mark_timer_stale(h.0);
        }
    }

    fn remove(&mut self, h: ConnectionHandle) {
        // Its timer entry, if any, is stale from now on and skipped.
        let Some(mut slot) = self.slots.get_mut(h.0).and_then(Option::take) else { return };
        // Stale entries of the transmit and event queues are skipped (or poll a later
        // connection in the same slot once more, which is harmless).
        while let Some(e) = slot.conn.poll_event() {
            self.events.push_back((h, e));
        }
        // O(the connection's own CIDs): `slot.cids` holds every CID routed here.
        for id in &slot.cids {
            if self.by_cid.get(id) == Some(&h) {
                self.by_cid.remove(id);
            }
        }
        for token in &slot.reset_tokens {
            if self.by_reset_token.get(token) == Some(&h) {
                self.by_reset_token.remove(token);
            }
        }
        if let Some(alias) = slot.initial_alias {
            self.by_initial.remove(&alias);
        }
        if let Some(handshake) = slot.handshake {
            self.handshakes.end(&handshake);
        }
        self.incoming.retain(|x| *x != h);
        self.live -= 1;
        self.free.push(h.0);
    }

    /// Applies an ICMP error about a datagram sent to `remote` to every connection with a path
    /// there (see [`Connection::handle_icmp`]).
    pub fn handle_icmp(&mut self, now: Instant, remote: SocketAddr, error: crate::IcmpError) {
        for i in 0..self.slots.len() {
            if let Some(slot) = self.slots[i].as_mut() {
                slot.conn.handle_icmp(now, remote, error);
                self.wake(i);
                self.after_connection_call(ConnectionHandle(i));
            }
        }
    }

    /// Writes the next datagram(s) to send into `buf` (cleared first by the caller).
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        if let Some((dst, src, bytes)) = self.responses.pop_front() {
            let len = bytes.len();
            buf.extend_from_slice(&bytes);
            return Some(Transmit { path: PathId::ZERO, src, dst, ecn: None, segment_size: None, len });
        }
        // Each connection in the queue once: one that sends goes to the back (round-robin
        // among busy connections), one that has nothing leaves the queue until touched again.
        for _ in 0..self.transmit_queue.len() {
            let Some(idx) = self.transmit_queue.pop_front() else { break };
            let Some(slot) = self.slots.get_mut(idx).and_then(Option::as_mut) else { continue };
            slot.queued_transmit = false;
            let sent = slot.conn.poll_transmit(now, buf);
            if !slot.queued_event {
                // Sending (or finding nothing to send) may have raised events.
                slot.queued_event = true;
                self.event_queue.push_back(idx);
            }
            if let Some(t) = sent {
                if let Some(slot) = self.slots.get_mut(idx).and_then(Option::as_mut) {
                    slot.queued_transmit = true;
                    self.transmit_queue.push_back(idx);
                }
                self.after_connection_call(ConnectionHandle(idx));
                return Some(t);
            }
            self.after_connection_call(ConnectionHandle(idx));
        }
        None
    }

    /// The earliest deadline of any connection.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.flush_dirty();
        let slots = &self.slots;
        self.timers.earliest(|at, idx| Self::timer_is_current(slots, at, idx))
    }

    /// Handles every connection deadline that passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.flush_dirty();
        // The connections due now, each handled once (a deadline that stays in the past waits
        // for the next call).
        let slots = &self.slots;
        let due = self.timers.take_due(now, |at, idx| Self::timer_is_current(slots, at, idx));
        // Taken out of the heap: each is entered again, with its new deadline or the same one
        // (a deadline that stays in the past waits for the next call).
        for &idx in &due {
            if let Some(slot) = self.slots.get_mut(idx).and_then(Option::as_mut) {
                slot.deadline = None;
            }
            self.mark_timer_stale(idx);
        }
        for idx in due {
            let Some(slot) = self.slots.get_mut(idx).and_then(Option::as_mut) else { continue };
            if let Some(handshake) = slot.handshake.as_mut().filter(|hs| hs.deadline.is_some_and(|d| d <= now)) {
                // The client proved its address (RFC 9000 §8.1: a Handshake packet from it): a
                // real client on a slow or lossy path, left to the idle timeout. Otherwise its
                // Initial was likely forged: the slot goes back now, silently (no packet to an
                // address that may be spoofed).
                if slot.conn.path(PathId::ZERO).is_some_and(|p| p.validated) {
                    handshake.deadline = None;
                    self.refresh_timer(idx);
                } else {
                    tracing::debug!(remote = %slot.conn.remote_address(), "handshake timed out");
                    let h = ConnectionHandle(idx);
                    self.remove(h);
                    self.events.push_back((h, Event::ConnectionLost(ConnectionError::TimedOut)));
                    continue;
                }
            }
            let Some(slot) = self.slots.get_mut(idx).and_then(Option::as_mut) else { continue };
            if slot.conn.poll_timeout().is_some_and(|t| t <= now) {
                slot.conn.handle_timeout(now);
                self.wake(idx);
                self.after_connection_call(ConnectionHandle(idx));
            }
        }
    }

    /// The next application event of any connection.
    pub fn poll_event(&mut self) -> Option<(ConnectionHandle, Event)> {
        if let Some(e) = self.events.pop_front() {
            return Some(e);
        }
        // A connection stays at the front while it has events.
        while let Some(&idx) = self.event_queue.front() {
            if let Some(slot) = self.slots.get_mut(idx).and_then(Option::as_mut) {
                if let Some(e) = slot.conn.poll_event() {
                    return Some((ConnectionHandle(idx), e));
                }
                slot.queued_event = false;
            }
            self.event_queue.pop_front();
        }
        None
    }

    /// Runs a command on a connection and applies its consequences for routing.
    pub fn with_connection<R>(&mut self, h: ConnectionHandle, f: impl FnOnce(&mut Connection) -> R) -> Option<R> {
        let slot = self.slots.get_mut(h.0)?.as_mut()?;
        let r = f(&mut slot.conn);
        self.wake(h.0);
        self.after_connection_call(h);
        Some(r)
    }
}

/// Whether the first packet of a datagram that would start a connection is a genuine client
/// Initial: its header and payload protection open with the Initial keys of its Destination
/// Connection ID (RFC 9001 §5.2), and its reserved bits are zero (RFC 9000 §17.2). Works on
/// `partial`'s own copy of the packet.
fn opens_as_first_initial(mut partial: PartialDecode, dst_cid: &ConnectionId) -> bool {
    let keys = crypto::initial_keys(dst_cid, Side::Server);
    let pn_offset = partial.pn_offset();
    if keys.header.remote.remove(partial.packet_mut(), pn_offset).is_err() {
        return false;
    }
    let Ok(header) = partial.finish() else { return false };
    // The first packet of a connection: no packet number received yet in its space.
    let pn = header.full_pn(None);
    header.reserved_bits_zero
        && keys.packet.remote.decrypt_packet(PathId::ZERO, pn, partial.packet_mut(), header.header_len).is_ok()
}

/// The Destination Connection ID of a datagram's first packet, read without copying
/// (RFC 8999 §5: its place is version-independent).
fn peek_dst_cid(data: &[u8], local_cid_len: usize) -> Option<ConnectionId> {
    let first = *data.first()?;
    if first & 0x80 != 0 {
        let len = usize::from(*data.get(5)?);
        if len > crate::MAX_CID_SIZE {
            // Longer CIDs exist in other versions; route nothing, maybe answer with VN.
            return Some(ConnectionId::EMPTY);
        }
        ConnectionId::new(data.get(6..6 + len)?)
    } else {
        ConnectionId::new(data.get(1..1 + local_cid_len)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{client_config_for_quic, quic_crypto_provider, server_config_for_quic};
    use core::time::Duration;

    fn endpoints() -> (Endpoint, Endpoint, ClientConfig) {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("certificate");
        let der = rustls::pki_types::CertificateDer::from(cert.cert.der().to_vec());
        let key = rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).expect("key");
        let provider = Arc::new(quic_crypto_provider());
        let server_tls = server_config_for_quic(provider.clone(), vec![der.clone()], key, vec![b"t".to_vec()]);
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der).expect("root");
        let client_tls = client_config_for_quic(provider, roots, vec![b"t".to_vec()]).expect("client TLS");
        let server_config = ServerConfig::new(Arc::new(server_tls.expect("server TLS")));
        let server = Endpoint::new(Arc::new(EndpointConfig::with_seed(1)), Some(Arc::new(server_config)));
        let client = Endpoint::new(Arc::new(EndpointConfig::with_seed(2)), None);
        (client, server, ClientConfig::new(Arc::new(client_tls)))
    }

    /// Passes datagrams both ways without delay or loss until both endpoints are quiet.
    fn exchange(now: Instant, client: &mut Endpoint, server: &mut Endpoint, client_addr: SocketAddr) {
        let server_addr: SocketAddr = "127.0.0.1:4433".parse().unwrap();
        let mut buf = Vec::new();
        loop {
            let mut quiet = true;
            while let Some(t) = client.poll_transmit(now, {
                buf.clear();
                &mut buf
            }) {
                quiet = false;
                for d in buf[..t.len].chunks(t.segment_size.unwrap_or(t.len)) {
                    server.handle_datagram(now, server_addr, t.src.unwrap_or(client_addr), None, BytesMut::from(d));
                }
            }
            while let Some(t) = server.poll_transmit(now, {
                buf.clear();
                &mut buf
            }) {
                quiet = false;
                for d in buf[..t.len].chunks(t.segment_size.unwrap_or(t.len)) {
                    client.handle_datagram(now, client_addr, server_addr, None, BytesMut::from(d));
                }
            }
            if quiet {
                return;
            }
        }
    }

    /// Every routed CID is in its connection's own list, and only there: what lets `remove`
    /// forget a connection in O(its own CIDs) instead of scanning every CID of the endpoint.
    fn check_routing(ep: &Endpoint) {
        let listed: usize = ep.slots.iter().flatten().map(|s| s.cids.len()).sum();
        assert_eq!(ep.by_cid.len(), listed, "routed CIDs and per-connection lists disagree");
        for (cid, h) in &ep.by_cid {
            let slot = ep.slots[h.0].as_ref().expect("a CID routes to a removed connection");
            assert!(slot.cids.contains(cid));
        }
    }

    #[test]
    fn removal_forgets_exactly_the_connections_own_cids() {
        let (mut client, mut server, config) = endpoints();
        let now = Instant::from_nanos(1_000_000_000);
        let server_addr: SocketAddr = "127.0.0.1:4433".parse().unwrap();
        for port in 0..8u16 {
            let client_addr = SocketAddr::from(([127, 0, 0, 1], 5000 + port));
            client.connect(now, config.clone(), client_addr, server_addr, "localhost").expect("connect");
            exchange(now, &mut client, &mut server, client_addr);
        }
        assert_eq!(server.connection_count(), 8);
        assert_eq!(server.handshakes.total, 0, "every handshake completed");
        // After the handshake each connection issued more CIDs (NEW_CONNECTION_ID).
        let per_connection: Vec<usize> = server.slots.iter().flatten().map(|s| s.cids.len()).collect();
        assert!(per_connection.iter().all(|&n| n > 1), "{per_connection:?}");
        check_routing(&server);
        let victim = server.handles().nth(3).expect("a connection");
        let own = server.slots[victim.0].as_ref().unwrap().cids.clone();
        let before = server.by_cid.len();
        server.remove(victim);
        assert_eq!(server.by_cid.len(), before - own.len());
        assert!(own.iter().all(|cid| !server.by_cid.contains_key(cid)));
        check_routing(&server);
        assert_eq!(server.connection_count(), 7);
    }

    /// Every indexed stateless reset token belongs to the connection it maps to, and is in that
    /// connection's own list, so that removal forgets it in O(own tokens).
    fn check_reset_index(ep: &Endpoint) {
        for (token, h) in &ep.by_reset_token {
            let slot = ep.slots[h.0].as_ref().expect("a reset token maps to a removed connection");
            assert!(slot.conn.holds_reset_token(token), "indexed token not held by its connection");
            assert!(slot.reset_tokens.contains(token));
        }
    }

    /// RFC 9000 §10.3.1: an unroutable datagram ending in a peer's reset token resets the
    /// connection that holds the token, found through the endpoint's index, not by asking
    /// every connection.
    #[test]
    fn stateless_reset_is_found_through_the_token_index() {
        let (mut client, mut server, config) = endpoints();
        let now = Instant::from_nanos(1_000_000_000);
        let server_addr: SocketAddr = "127.0.0.1:4433".parse().unwrap();
        let mut handles = Vec::new();
        for port in 0..8u16 {
            let client_addr = SocketAddr::from(([127, 0, 0, 1], 6000 + port));
            handles.push(client.connect(now, config.clone(), client_addr, server_addr, "localhost").expect("connect"));
            exchange(now, &mut client, &mut server, client_addr);
        }
        // The server's stateless_reset_token parameter and its NEW_CONNECTION_IDs.
        for h in &handles {
            let n = client.slots[h.0].as_ref().unwrap().reset_tokens.len();
            assert!(n > 1, "connection {h:?} indexed {n} reset tokens");
        }
        let indexed: usize = client.slots.iter().flatten().map(|s| s.reset_tokens.len()).sum();
        assert_eq!(client.by_reset_token.len(), indexed);
        check_reset_index(&client);
        while client.poll_event().is_some() {}

        let victim = handles[5];
        // RFC 9000 §10.3.1: of the tokens indexed, only the one of the CID the client sends to
        // counts; the spare CIDs' tokens (from NEW_CONNECTION_ID) must not match.
        let slot = client.slots[victim.0].as_ref().unwrap();
        let (used, spare): (Vec<[u8; 16]>, Vec<[u8; 16]>) =
            slot.reset_tokens.iter().partition(|t| slot.conn.is_stateless_reset(t));
        assert_eq!(used.len(), 1, "tokens that count: {used:?}");
        assert!(!spare.is_empty());
        let token = used[0];
        // A short-header datagram to a CID nobody routes, ending in `tail`.
        let datagram = |tail: &[u8; 16]| {
            let mut d = vec![0x40 | 0x13];
            d.extend_from_slice(&[0xee; 30]);
            d.extend_from_slice(tail);
            BytesMut::from(&d[..])
        };
        let mut other = token;
        other[15] ^= 1;
        let client_addr = SocketAddr::from(([127, 0, 0, 1], 6005));
        client.handle_datagram(now, client_addr, server_addr, None, datagram(&other));
        assert!(client.poll_event().is_none(), "a datagram with an unknown token reset a connection");
        client.handle_datagram(now, client_addr, server_addr, None, datagram(&spare[0]));
        assert!(client.poll_event().is_none(), "the token of an unused CID reset a connection");
        client.handle_datagram(now, client_addr, server_addr, None, datagram(&token));
        let mut reset = Vec::new();
        while let Some((h, e)) = client.poll_event() {
            if e == Event::ConnectionLost(ConnectionError::Reset) {
                reset.push(h);
            }
        }
        assert_eq!(reset, vec![victim]);
        // RFC 9000 §10.3.1: the connection drains, sending nothing, and is forgotten after it.
        let conn = client.connection(victim).expect("a reset connection drains");
        assert!(conn.is_closed() && !conn.is_drained());
        let deadline = conn.poll_timeout().expect("draining timer");
        assert!(conn.poll_transmit(now, &mut Vec::new()).is_none(), "a reset connection sent a packet");
        client.handle_timeout(deadline);
        assert!(client.connection(victim).is_none(), "a reset connection is forgotten after draining");
        assert!(!client.by_reset_token.contains_key(&token));
        assert_eq!(client.connection_count(), 7);
        check_reset_index(&client);
    }

    /// RFC 9002 §6.2.3 (issue 18, part 2): when the server's first flight is lost and the
    /// client's next Initial arrives before the server's PTO, the server answers with its
    /// unacknowledged CRYPTO data at once, not only with an ACK: the client then completes the
    /// handshake without waiting for the server's (backed-off) PTO.
    #[test]
    fn server_resends_its_flight_when_the_client_initial_comes_again() {
        let (mut client, mut server, config) = endpoints();
        let t0 = Instant::from_nanos(1_000_000_000);
        let server_addr: SocketAddr = "127.0.0.1:4433".parse().unwrap();
        let client_addr: SocketAddr = "127.0.0.1:7000".parse().unwrap();
        let ch = client.connect(t0, config, client_addr, server_addr, "localhost").expect("connect");
        let mut buf = Vec::new();
        let mut drain = |ep: &mut Endpoint, now: Instant| {
            let mut out = Vec::new();
            loop {
                buf.clear();
                let Some(t) = ep.poll_transmit(now, &mut buf) else { break };
                out.extend(buf[..t.len].chunks(t.segment_size.unwrap_or(t.len)).map(<[u8]>::to_vec));
            }
            out
        };
        for d in drain(&mut client, t0) {
            server.handle_datagram(t0, server_addr, client_addr, None, BytesMut::from(&d[..]));
        }
        // The server's whole first flight is lost.
        assert!(!drain(&mut server, t0).is_empty());
        // The client's PTO: it sends its Initial again.
        let pto = client.poll_timeout().expect("client PTO armed");
        client.handle_timeout(pto);
        let probes = drain(&mut client, pto);
        assert!(!probes.is_empty());
        // It reaches the server before the server's own PTO.
        let t1 = t0 + Duration::from_millis(300);
        assert!(server.poll_timeout().is_some_and(|t| t > t1));
        for d in &probes {
            server.handle_datagram(t1, server_addr, client_addr, None, BytesMut::from(&d[..]));
        }
        for d in drain(&mut server, t1) {
            client.handle_datagram(t1, client_addr, server_addr, None, BytesMut::from(&d[..]));
        }
        let mut connected = false;
        while let Some((h, e)) = client.poll_event() {
            connected |= h == ch && e == Event::Connected;
        }
        assert!(connected, "the server answered the repeated Initial without its handshake data");
    }

    /// The earliest deadline over the endpoint's connections, read from the connections
    /// themselves.
    fn deadline_of_connections(ep: &Endpoint) -> Option<Instant> {
        ep.slots
            .iter()
            .flatten()
            .flat_map(|s| [s.conn.poll_timeout(), s.handshake.and_then(|hs| hs.deadline)])
            .flatten()
            .min()
    }

    /// `poll_timeout` reads a connection's deadline again only when it is asked, however many
    /// datagrams, transmits and timeouts came in between (see `Endpoint::dirty`); what it
    /// returns must still be, after every call, the earliest deadline of the connections.
    /// Three handshakes and their aftermath through a path that drops every fifth datagram (so
    /// PTOs, retransmissions and ACK timers all move the deadlines).
    #[test]
    fn deadline_is_the_connections_earliest_after_every_call() {
        let (mut client, mut server, config) = endpoints();
        let server_addr: SocketAddr = "127.0.0.1:4433".parse().unwrap();
        let mut now = Instant::from_nanos(1_000_000_000);
        let mut most_entries = 0;
        let mut check = |ep: &mut Endpoint, what: &str| {
            let expected = deadline_of_connections(ep);
            assert_eq!(ep.poll_timeout(), expected, "{what}");
            // Stale entries stay until they surface.
            most_entries = most_entries.max(ep.timers.len());
        };
        for port in 0..3u16 {
            let client_addr = SocketAddr::from(([127, 0, 0, 1], 6000 + port));
            client.connect(now, config.clone(), client_addr, server_addr, "localhost").expect("connect");
            check(&mut client, "after connect");
        }
        let mut buf = Vec::new();
        let mut sent = 0u32;
        let mut connected = 0;
        for step in 0..400 {
            for from_client in [true, false] {
                loop {
                    buf.clear();
                    let (from, to) = if from_client { (&mut client, &mut server) } else { (&mut server, &mut client) };
                    let Some(t) = from.poll_transmit(now, &mut buf) else { break };
                    for d in buf[..t.len].chunks(t.segment_size.unwrap_or(t.len)) {
                        sent += 1;
                        if sent % 5 == 0 {
                            continue;
                        }
                        // Client datagrams come from the connection's own address; server ones
                        // go to it.
                        let (local, remote) = if from_client {
                            (server_addr, t.src.expect("the client names its source address"))
                        } else {
                            (t.dst, server_addr)
                        };
                        to.handle_datagram(now, local, remote, None, BytesMut::from(d));
                    }
                }
            }
            check(&mut client, &format!("client, step {step}"));
            check(&mut server, &format!("server, step {step}"));
            while let Some((_, e)) = client.poll_event() {
                connected += usize::from(e == Event::Connected);
            }
            let Some(next) = [client.poll_timeout(), server.poll_timeout()].into_iter().flatten().min() else { break };
            now = now.max(next);
            client.handle_timeout(now);
            check(&mut client, &format!("client after a timeout, step {step}"));
            server.handle_timeout(now);
            check(&mut server, &format!("server after a timeout, step {step}"));
        }
        assert_eq!(connected, 3, "every handshake completed despite the losses");
        assert!(sent > 50, "{sent} datagrams");
        assert!(most_entries > 3 * 3, "stale entries piled up and were skipped: at most {most_entries}");
    }
}
