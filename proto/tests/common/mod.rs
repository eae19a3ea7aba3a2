//! Shared fixtures for proto's behaviour tests: TLS configurations with a throw-away
//! certificate, and an in-memory network with virtual time that drives a client and a server
//! endpoint through links with delay, loss, reordering and duplication.

#![allow(dead_code)]

use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use mpquic_proto::{
    ClientConfig, ConnectionHandle, EcnCodepoint, Endpoint, EndpointConfig, Event, Instant, PathEvent, PathId,
    ServerConfig, TransportConfig,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub const ALPN: &[u8] = b"mpquic-test";

/// A self-signed certificate for "localhost" with client and server TLS configs trusting it.
pub struct Tls {
    pub server: Arc<rustls::ServerConfig>,
    pub client: Arc<rustls::ClientConfig>,
}

pub fn tls() -> Tls {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("certificate");
    let cert_der = rustls::pki_types::CertificateDer::from(cert.cert.der().to_vec());
    let key_der = rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).expect("key");
    let provider = Arc::new(mpquic_proto::quic_crypto_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("tls13")
        .with_no_client_auth()
        .with_single_cert(vec![cert_der.clone()], key_der)
        .expect("server config");
    server.alpn_protocols = vec![ALPN.to_vec()];
    server.max_early_data_size = 0;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert_der).expect("root");
    let mut client = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("tls13")
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = vec![ALPN.to_vec()];
    Tls { server: Arc::new(server), client: Arc::new(client) }
}

/// Events drained from one endpoint.
pub type Events = Vec<(ConnectionHandle, Event)>;

/// Impairments of one direction of the link.
#[derive(Debug, Clone, Copy)]
pub struct Link {
    pub delay: Duration,
    pub loss: f64,
    /// Probability that a datagram gets extra delay (and so arrives after later ones).
    pub reorder: f64,
    pub reorder_extra: Duration,
    pub duplicate: f64,
    /// Bytes per second; 0 for unlimited.
    pub rate_bytes_per_sec: u64,
    /// Drop-tail limit of a rate-limited link, as the longest wait in its queue; `None`:
    /// unlimited.
    pub max_queue_delay: Option<Duration>,
}

impl Default for Link {
    fn default() -> Self {
        Self {
            delay: Duration::from_millis(10),
            loss: 0.0,
            reorder: 0.0,
            reorder_extra: Duration::from_millis(5),
            duplicate: 0.0,
            rate_bytes_per_sec: 0,
            max_queue_delay: None,
        }
    }
}

impl Link {
    pub fn lossy(loss: f64) -> Self {
        Self { loss, reorder: 0.05, duplicate: 0.01, ..Self::default() }
    }
}

struct InFlight {
    at: Instant,
    seq: u64,
    to_server: bool,
    src: SocketAddr,
    dst: SocketAddr,
    ecn: Option<EcnCodepoint>,
    data: Vec<u8>,
}

impl PartialEq for InFlight {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for InFlight {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        // Min-heap on (time, sequence).
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

/// Rewrites a datagram on the way: (towards the server?, bytes).
pub type Tamper = Box<dyn FnMut(bool, &mut Vec<u8>)>;

/// A client endpoint and a server endpoint joined by two one-way links, in virtual time.
pub struct Pair {
    pub now: Instant,
    pub client: Endpoint,
    pub server: Endpoint,
    pub client_addr: SocketAddr,
    pub server_addr: SocketAddr,
    pub to_server: Link,
    pub to_client: Link,
    /// Drop datagrams only after this time (lets the handshake through when wanted).
    pub impair_after: Instant,
    queue: BinaryHeap<InFlight>,
    seq: u64,
    rng: ChaCha8Rng,
    link_free_at: std::collections::HashMap<((SocketAddr, SocketAddr), bool), Instant>,
    buf: Vec<u8>,
    pub datagrams_sent: u64,
    /// Per-path links, keyed by (client address, server address); others use `to_server` /
    /// `to_client`.
    pub path_links: std::collections::HashMap<(SocketAddr, SocketAddr), (Link, Link)>,
    /// Datagrams delivered per (client address, server address), both directions.
    pub delivered: std::collections::HashMap<(SocketAddr, SocketAddr), u64>,
    /// Datagrams sent per (towards the server?, ECN codepoint).
    pub ecn_sent: std::collections::HashMap<(bool, Option<EcnCodepoint>), u64>,
    /// Clear the ECN field of every datagram on the way (a bleaching network, RFC 9000 §13.4.2).
    pub bleach_ecn: bool,
    /// The most datagrams the client sent at one instant of virtual time (a burst).
    pub largest_client_burst: u64,
    /// The most datagrams of one client transmit (GSO segments), and the most bytes of any
    /// transmit of either endpoint.
    pub largest_client_transmit: usize,
    pub largest_transmit_bytes: usize,
    client_burst: (Instant, u64),
    /// Rewrites datagrams on the way (towards the server?, bytes): an attacker on the path.
    pub tamper: Option<Tamper>,
}

impl Pair {
    pub fn new(seed: u64, transport: TransportConfig) -> Self {
        Self::with_server_config(seed, transport, |_| {})
    }

    pub fn with_server_config(seed: u64, transport: TransportConfig, tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        let (server_tls, _) = cached_tls();
        let transport = Arc::new(transport);
        let mut server_config = ServerConfig::new(server_tls);
        server_config.transport = transport.clone();
        tweak(&mut server_config);
        let server = Endpoint::new(Arc::new(EndpointConfig::with_seed(seed)), Some(Arc::new(server_config)));
        let client = Endpoint::new(Arc::new(EndpointConfig::with_seed(seed.wrapping_add(1))), None);
        Self {
            now: Instant::from_nanos(1_000_000_000),
            client,
            server,
            client_addr: "127.0.0.1:40000".parse().unwrap(),
            server_addr: "127.0.0.1:4433".parse().unwrap(),
            to_server: Link::default(),
            to_client: Link::default(),
            impair_after: Instant::ZERO,
            queue: BinaryHeap::new(),
            seq: 0,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5eed),
            link_free_at: Default::default(),
            buf: Vec::with_capacity(64 * 1024),
            datagrams_sent: 0,
            path_links: Default::default(),
            delivered: Default::default(),
            ecn_sent: Default::default(),
            bleach_ecn: false,
            largest_client_burst: 0,
            largest_client_transmit: 0,
            largest_transmit_bytes: 0,
            client_burst: (Instant::ZERO, 0),
            tamper: None,
        }
    }

    pub fn client_config(&self, transport: TransportConfig) -> ClientConfig {
        let mut c = ClientConfig::new(tls_client());
        c.transport = Arc::new(transport);
        c
    }

    /// Starts a connection from the client; returns its handle.
    pub fn connect(&mut self, config: ClientConfig) -> ConnectionHandle {
        self.client.connect(self.now, config, self.client_addr, self.server_addr, "localhost").expect("connect")
    }

    /// Sends everything both endpoints want to send now into the links.
    fn flush(&mut self) {
        for to_server in [true, false] {
            loop {
                self.buf.clear();
                let ep = if to_server { &mut self.client } else { &mut self.server };
                let Some(t) = ep.poll_transmit(self.now, &mut self.buf) else { break };
                let seg = t.segment_size.unwrap_or(t.len).max(1);
                let (src, dst) = (t.src.unwrap_or(if to_server { self.client_addr } else { self.server_addr }), t.dst);
                let chunks: Vec<Vec<u8>> = self.buf[..t.len].chunks(seg).map(<[u8]>::to_vec).collect();
                self.largest_transmit_bytes = self.largest_transmit_bytes.max(t.len);
                if to_server {
                    self.largest_client_transmit = self.largest_client_transmit.max(chunks.len());
                }
                for chunk in chunks {
                    self.datagrams_sent += 1;
                    if to_server {
                        let (at, n) = self.client_burst;
                        self.client_burst = (self.now, if at == self.now { n + 1 } else { 1 });
                        self.largest_client_burst = self.largest_client_burst.max(self.client_burst.1);
                    }
                    *self.ecn_sent.entry((to_server, t.ecn)).or_default() += 1;
                    self.send_one(to_server, src, dst, t.ecn, chunk);
                }
            }
        }
    }

    fn send_one(
        &mut self,
        to_server: bool,
        src: SocketAddr,
        dst: SocketAddr,
        ecn: Option<EcnCodepoint>,
        mut data: Vec<u8>,
    ) {
        if let Some(tamper) = self.tamper.as_mut() {
            tamper(to_server, &mut data);
        }
        let key = if to_server { (src, dst) } else { (dst, src) };
        let link = match self.path_links.get(&key) {
            Some((up, down)) => {
                if to_server {
                    *up
                } else {
                    *down
                }
            }
            None if to_server => self.to_server,
            None => self.to_client,
        };
        let impaired = self.now >= self.impair_after;
        // Serialisation on a rate-limited link, behind a drop-tail queue.
        let mut depart = self.now;
        if let Some(nanos) = (data.len() as u64 * 1_000_000_000).checked_div(link.rate_bytes_per_sec) {
            let free = self.link_free_at.entry((key, to_server)).or_insert(Instant::ZERO);
            if link.max_queue_delay.is_some_and(|max| free.saturating_duration_since(self.now) > max) {
                return;
            }
            depart = depart.max(*free);
            let tx = Duration::from_nanos(nanos);
            *free = depart + tx;
            depart += tx;
        }
        if impaired && self.rng.random_bool(link.loss) {
            return;
        }
        let copies = if impaired && self.rng.random_bool(link.duplicate) { 2 } else { 1 };
        for _ in 0..copies {
            let mut at = depart + link.delay;
            if impaired && self.rng.random_bool(link.reorder) {
                at += link.reorder_extra;
            }
            self.seq += 1;
            self.queue.push(InFlight { at, seq: self.seq, to_server, src, dst, ecn, data: data.clone() });
        }
    }

    /// Advances virtual time by one step: deliver due datagrams, fire due timers, flush.
    /// Returns false when nothing at all is scheduled.
    pub fn step(&mut self) -> bool {
        self.step_until(None)
    }

    /// Like [`Pair::step`], but never moves time past `end`.
    pub fn step_until(&mut self, end: Option<Instant>) -> bool {
        self.flush();
        let next_arrival = self.queue.peek().map(|d| d.at);
        let next_timer = [self.client.poll_timeout(), self.server.poll_timeout()].into_iter().flatten().min();
        let Some(next) = [next_arrival, next_timer].into_iter().flatten().min() else { return false };
        if let Some(end) = end {
            if next > end {
                self.now = self.now.max(end);
                return true;
            }
        }
        self.now = self.now.max(next);
        while self.queue.peek().is_some_and(|d| d.at <= self.now) {
            let d = self.queue.pop().expect("peeked");
            let key = if d.to_server { (d.src, d.dst) } else { (d.dst, d.src) };
            *self.delivered.entry(key).or_default() += 1;
            let ep = if d.to_server { &mut self.server } else { &mut self.client };
            let ecn = if self.bleach_ecn { None } else { d.ecn };
            ep.handle_datagram(self.now, d.dst, d.src, ecn, BytesMut::from(&d.data[..]));
        }
        for ep in [&mut self.client, &mut self.server] {
            if ep.poll_timeout().is_some_and(|t| t <= self.now) {
                ep.handle_timeout(self.now);
            }
        }
        self.flush();
        true
    }

    /// Steps until `done` returns true or `limit` of virtual time passes.
    pub fn drive_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Self) -> bool) -> bool {
        let end = self.now + limit;
        while self.now < end {
            if done(self) {
                return true;
            }
            if !self.step_until(Some(end)) {
                return done(self);
            }
        }
        done(self)
    }

    /// Drains the events of both endpoints into two lists (client, server).
    pub fn events(&mut self) -> (Events, Events) {
        let mut c = Vec::new();
        while let Some(e) = self.client.poll_event() {
            c.push(e);
        }
        let mut s = Vec::new();
        while let Some(e) = self.server.poll_event() {
            s.push(e);
        }
        (c, s)
    }

    /// Connects and drives until both sides report Connected; returns (client, server) handles.
    pub fn connect_default(&mut self) -> (ConnectionHandle, ConnectionHandle) {
        let cfg = self.client_config(TransportConfig::default());
        self.connect_with(cfg)
    }

    pub fn connect_with(&mut self, cfg: ClientConfig) -> (ConnectionHandle, ConnectionHandle) {
        let ch = self.connect(cfg);
        let mut client_up = false;
        let mut server = None;
        let mut other = Vec::new();
        let ok = self.drive_until(Duration::from_secs(10), |p| {
            while let Some((h, e)) = p.client.poll_event() {
                if h == ch && e == Event::Connected {
                    client_up = true;
                } else {
                    other.push(e);
                }
            }
            while let Some((h, e)) = p.server.poll_event() {
                if e == Event::Connected {
                    server = Some(h);
                }
            }
            client_up && server.is_some()
        });
        assert!(ok, "handshake did not complete; client events {other:?}");
        (ch, server.expect("server connection"))
    }
}

fn tls_client() -> Arc<rustls::ClientConfig> {
    // One certificate per process is enough; the server of every Pair uses its own, so the client
    // config must trust that one: `Pair::client_config` is only valid with the Pair's TLS. To keep
    // it simple, both come from the same cached fixture.
    CACHED.with(|c| c.client.clone())
}

thread_local! {
    static CACHED: Tls = tls();
}

/// Same as [`tls`] but the process-wide (per test thread) cached pair used by [`Pair`].
pub fn cached_tls() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
    CACHED.with(|c| (c.server.clone(), c.client.clone()))
}

/// Deterministic pseudo-random payload of `len` bytes.
pub fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut v = vec![0u8; len];
    rng.fill(&mut v[..]);
    v
}

/// A client-to-server upload on one unidirectional stream, advanced one driver step at a time.
pub struct Upload {
    id: mpquic_proto::StreamId,
    sent: usize,
    finished: bool,
    rid: Option<mpquic_proto::StreamId>,
    /// Bytes the server has read so far.
    pub got: Vec<u8>,
}

impl Upload {
    /// Opens the stream on client connection `c`.
    pub fn start(pair: &mut Pair, c: ConnectionHandle) -> Self {
        let id =
            pair.client.connection(c).expect("client connection").open_stream(mpquic_proto::Dir::Uni).expect("stream");
        Self { id, sent: 0, finished: false, rid: None, got: Vec::new() }
    }

    /// Writes what flow control allows, finishes once everything is written, and reads what
    /// arrived at server connection `s`. True once the server read the FIN.
    pub fn step(&mut self, pair: &mut Pair, c: ConnectionHandle, s: ConnectionHandle, data: &[u8]) -> bool {
        let conn = pair.client.connection(c).expect("client connection");
        while self.sent < data.len() {
            match conn.write(self.id, &data[self.sent..]) {
                Ok(n) if n > 0 => self.sent += n,
                _ => break,
            }
        }
        if self.sent == data.len() && !self.finished {
            conn.finish(self.id).expect("finish");
            self.finished = true;
        }
        let server = pair.server.connection(s).expect("server connection");
        if self.rid.is_none() {
            self.rid = server.accept_stream(mpquic_proto::Dir::Uni);
        }
        let Some(rid) = self.rid else { return false };
        loop {
            match server.read(rid, usize::MAX) {
                Ok(Some(chunk)) => self.got.extend_from_slice(&chunk.bytes),
                Ok(None) => return true,
                Err(_) => return false,
            }
        }
    }
}

/// The client address of the second path in multipath tests.
pub fn second_addr() -> SocketAddr {
    "127.0.0.2:40001".parse().unwrap()
}

/// Connects with `transport` on both sides (multipath on: `initial_max_path_id` set), opens a
/// second path from [`second_addr`] over the `secondary` link and waits for its validation.
pub fn two_paths(
    seed: u64,
    transport: TransportConfig,
    primary: Link,
    secondary: Link,
) -> (Pair, ConnectionHandle, ConnectionHandle, PathId) {
    two_paths_with(seed, transport.clone(), transport, primary, secondary)
}

/// [`two_paths`] with the server's and the client's own transport configurations.
pub fn two_paths_with(
    seed: u64,
    server: TransportConfig,
    client: TransportConfig,
    primary: Link,
    secondary: Link,
) -> (Pair, ConnectionHandle, ConnectionHandle, PathId) {
    let mut pair = Pair::new(seed, server);
    let cfg = pair.client_config(client);
    pair.to_server = primary;
    pair.to_client = primary;
    pair.path_links.insert((second_addr(), pair.server_addr), (secondary, secondary));
    let (c, s) = pair.connect_with(cfg);
    // Wait for HANDSHAKE_DONE and the peer's CIDs for path 1.
    let mut path = None;
    let ok = pair.drive_until(Duration::from_secs(5), |p| {
        let now = p.now;
        let server_addr = p.server_addr;
        let conn = p.client.connection(c).unwrap();
        if path.is_none() {
            path = conn.open_path(now, Some(second_addr()), server_addr).ok();
        }
        path.is_some()
    });
    assert!(ok, "could not open a second path");
    let path = path.unwrap();
    let mut validated = false;
    let ok = pair.drive_until(Duration::from_secs(5), |p| {
        while let Some((_, e)) = p.client.poll_event() {
            if e == Event::Path(PathEvent::Validated(path)) {
                validated = true;
            }
        }
        validated
    });
    assert!(ok, "second path not validated");
    assert!(pair.client.connection(c).unwrap().is_multipath());
    (pair, c, s, path)
}

/// Sends `len` bytes client -> server on one stream; `during` runs at every step with the bytes
/// received so far. Returns the received data.
pub fn bulk(
    pair: &mut Pair,
    c: ConnectionHandle,
    s: ConnectionHandle,
    data: &[u8],
    limit: Duration,
    mut during: impl FnMut(&mut Pair, usize),
) -> Vec<u8> {
    let mut upload = Upload::start(pair, c);
    let ok = pair.drive_until(limit, |p| {
        during(p, upload.got.len());
        while let Some((_, e)) = p.client.poll_event() {
            assert!(!matches!(e, Event::ConnectionLost(_)), "client: {e:?}");
        }
        while let Some((_, e)) = p.server.poll_event() {
            assert!(!matches!(e, Event::ConnectionLost(_)), "server: {e:?}");
        }
        upload.step(p, c, s, data)
    });
    let got = upload.got;
    assert!(ok, "transfer incomplete: {} of {} bytes", got.len(), data.len());
    got
}

/// The Destination and Source Connection IDs of a datagram starting with a long header, if it
/// does and is long enough.
pub fn long_header_cids(d: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    if d.first()? & 0x80 == 0 {
        return None;
    }
    let dcid_len = usize::from(*d.get(5)?);
    let dcid = d.get(6..6 + dcid_len)?.to_vec();
    let scid_len = usize::from(*d.get(6 + dcid_len)?);
    let scid = d.get(7 + dcid_len..7 + dcid_len + scid_len)?.to_vec();
    Some((dcid, scid))
}

/// An Initial packet of side `from` as anyone who saw the client's first Initial can build one:
/// packet number `pn`, `frames` (padded to at least 20 bytes with PADDING so that header
/// protection has its sample), protected with `from`'s Initial keys for the client's first DCID
/// `original_dcid` (RFC 9001 §5.2).
pub fn forge_initial(
    from: mpquic_proto::Side,
    original_dcid: &[u8],
    dcid: &[u8],
    scid: &[u8],
    token: &[u8],
    pn: u64,
    frames: &[u8],
) -> Vec<u8> {
    use mpquic_proto::packet::{encode_long_header, LongType};
    let keys = mpquic_proto::crypto::initial_keys(original_dcid, from);
    let dcid = mpquic_proto::ConnectionId::new(dcid).expect("dcid");
    let scid = mpquic_proto::ConnectionId::new(scid).expect("scid");
    let mut buf = Vec::new();
    let layout = encode_long_header(&mut buf, LongType::Initial, 1, &dcid, &scid, token, pn, 4);
    buf.extend_from_slice(frames);
    buf.resize(buf.len().max(layout.header_len + 20), 0);
    buf.resize(buf.len() + keys.packet.local.tag_len(), 0);
    layout.set_length(&mut buf).expect("length");
    keys.packet.local.encrypt_packet(PathId::ZERO, pn, &mut buf, layout.header_len).expect("seal");
    keys.header.local.apply(&mut buf, layout.pn_offset).expect("header protection");
    buf
}
