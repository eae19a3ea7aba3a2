//! What the fuzz targets share: a TLS identity, a server endpoint, and a client and server
//! joined in memory and in virtual time, for the targets that need a real connection.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arbitrary::Arbitrary;
use bytes::{Bytes, BytesMut};
use mpquic_proto::fuzz::{handle_payload, FrameSpec};
use mpquic_proto::{
    ClientConfig, ConnectionHandle, Dir, Endpoint, EndpointConfig, Event, Instant, PathEvent, PathId, ServerConfig,
    TransportConfig,
};

const ALPN: &[u8] = b"mpquic-fuzz";

struct Tls {
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
}

/// One Ed25519 certificate per process (the cheapest signature to make and check, so that the
/// connection target spends its time in QUIC, not in TLS).
fn tls() -> &'static Tls {
    static TLS: OnceLock<Tls> = OnceLock::new();
    TLS.get_or_init(|| {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("Ed25519 key");
        let params = rcgen::CertificateParams::new(vec!["localhost".into()]).expect("certificate parameters");
        let cert = params.self_signed(&key).expect("self-signed certificate");
        let cert_der = rustls::pki_types::CertificateDer::from(cert.der().to_vec());
        let key_der = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).expect("key");
        let provider = Arc::new(mpquic_proto::quic_crypto_provider());
        let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("TLS 1.3")
            .with_no_client_auth()
            .with_single_cert(vec![cert_der.clone()], key_der)
            .expect("server config");
        server.alpn_protocols = vec![ALPN.to_vec()];
        server.max_early_data_size = 0;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert_der).expect("root");
        let mut client = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("TLS 1.3")
            .with_root_certificates(roots)
            .with_no_client_auth();
        client.alpn_protocols = vec![ALPN.to_vec()];
        Tls { server: Arc::new(server), client: Arc::new(client) }
    })
}

/// Multipath, DATAGRAM and small limits, so that more fuzzed frames are valid.
fn transport() -> TransportConfig {
    TransportConfig {
        initial_max_path_id: Some(4),
        datagram_receive_buffer_bytes: Some(64 * 1024),
        ..TransportConfig::default()
    }
}

fn server_endpoint() -> Endpoint {
    let mut config = ServerConfig::new(tls().server.clone());
    config.transport = Arc::new(transport());
    Endpoint::new(Arc::new(EndpointConfig::with_seed(1)), Some(Arc::new(config)))
}

fn client_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 40000))
}

fn second_client_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 2], 40001))
}

fn server_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 4433))
}

/// `data` as one datagram from a client to a fresh server endpoint, which then runs its
/// timers and sends what it wants to.
pub fn datagram_to_server(data: &[u8]) {
    let mut server = server_endpoint();
    let mut now = Instant::from_nanos(1_000_000_000);
    server.handle_datagram(now, server_addr(), client_addr(), None, BytesMut::from(data));
    let mut buf = Vec::new();
    for _ in 0..3 {
        while server.poll_transmit(now, &mut buf).is_some() {
            buf.clear();
        }
        while server.poll_event().is_some() {}
        match server.poll_timeout() {
            Some(t) => now = now.max(t),
            None => break,
        }
        server.handle_timeout(now);
    }
}

/// A client and a server endpoint with one connection between them, in virtual time.
struct Pair {
    now: Instant,
    client: Endpoint,
    server: Endpoint,
    buf: Vec<u8>,
}

impl Pair {
    /// Sends everything both endpoints want to send, delivered at once (no loss, no delay:
    /// virtual time only moves on timers).
    fn exchange(&mut self) {
        for _ in 0..64 {
            let mut moved = false;
            for to_server in [true, false] {
                loop {
                    self.buf.clear();
                    let (from, to) = if to_server {
                        (&mut self.client, &mut self.server)
                    } else {
                        (&mut self.server, &mut self.client)
                    };
                    let Some(t) = from.poll_transmit(self.now, &mut self.buf) else { break };
                    moved = true;
                    let default_src = if to_server { client_addr() } else { server_addr() };
                    let src = t.src.unwrap_or(default_src);
                    let segment = t.segment_size.unwrap_or(t.len).max(1);
                    for chunk in self.buf[..t.len].chunks(segment) {
                        to.handle_datagram(self.now, t.dst, src, t.ecn, BytesMut::from(chunk));
                    }
                }
            }
            if !moved {
                break;
            }
        }
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        for ep in [&mut self.client, &mut self.server] {
            if ep.poll_timeout().is_some_and(|t| t <= self.now) {
                ep.handle_timeout(self.now);
            }
        }
    }

    /// Exchanges and steps time (1 ms at a time) until `done` or 2 s of virtual time.
    fn drive(&mut self, mut done: impl FnMut(&mut Self) -> bool) -> bool {
        for _ in 0..2000 {
            self.exchange();
            if done(self) {
                return true;
            }
            self.advance(Duration::from_millis(1));
        }
        false
    }
}

/// A connected pair with a second, validated path; `None` if the set-up failed (it is
/// deterministic, so that would fail every run).
fn connected() -> Option<(Pair, ConnectionHandle, ConnectionHandle)> {
    let mut client = Endpoint::new(Arc::new(EndpointConfig::with_seed(2)), None);
    let now = Instant::from_nanos(1_000_000_000);
    let mut config = ClientConfig::new(tls().client.clone());
    config.transport = Arc::new(transport());
    let ch = client.connect(now, config, client_addr(), server_addr(), "localhost").ok()?;
    let mut pair = Pair { now, client, server: server_endpoint(), buf: Vec::with_capacity(64 * 1024) };
    let mut sh = None;
    let mut client_up = false;
    let ok = pair.drive(|p| {
        while let Some((h, e)) = p.server.poll_event() {
            if e == Event::Connected {
                sh = Some(h);
            }
        }
        while let Some((_, e)) = p.client.poll_event() {
            client_up |= e == Event::Connected;
        }
        client_up && sh.is_some()
    });
    let sh = sh.filter(|_| ok)?;
    // The client may open a path once the handshake is confirmed (HANDSHAKE_DONE) and it has
    // the server's CIDs for path 1.
    let mut path = None;
    pair.drive(|p| {
        let now = p.now;
        path = p.client.connection(ch).and_then(|c| c.open_path(now, Some(second_client_addr()), server_addr()).ok());
        path.is_some()
    });
    let path = path?;
    let mut validated = false;
    pair.drive(|p| {
        while let Some((_, e)) = p.client.poll_event() {
            validated |= e == Event::Path(PathEvent::Validated(path));
        }
        validated
    });
    if std::env::var_os("MPQUIC_FUZZ_DEBUG").is_some() {
        eprintln!(
            "set-up took {:?} of virtual time",
            pair.now.saturating_duration_since(Instant::from_nanos(1_000_000_000))
        );
    }
    validated.then_some((pair, ch, sh))
}

/// One step of the connection target, applied to the server's connection.
#[derive(Debug, Clone, Arbitrary)]
pub enum ConnectionOp {
    /// A 1-RTT packet with these frames, received on path `path % 3` (path 2 does not exist).
    Frames {
        /// Path.
        path: u8,
        /// Frames, most of them well-formed.
        frames: Vec<FrameSpec>,
    },
    /// A 1-RTT packet whose payload is these bytes.
    Raw {
        /// Path.
        path: u8,
        /// Payload.
        payload: Vec<u8>,
    },
    /// Time passes; due timers fire; the server sends what it wants to (into the void: the
    /// client would not understand acknowledgements of packets it never sent).
    Advance {
        /// Milliseconds.
        millis: u16,
    },
    /// The application on the server reads every stream and datagram it can.
    Read,
    /// The application on the server writes on a stream it opens or on one it accepted.
    Write {
        /// Bytes.
        len: u16,
        /// Bidirectional.
        bidi: bool,
        /// Finish the stream afterwards.
        fin: bool,
    },
    /// The server sends a DATAGRAM.
    SendDatagram {
        /// Bytes.
        len: u16,
    },
    /// The server closes the connection.
    Close,
}

/// Runs `ops` against the server connection of a freshly connected pair.
pub fn run_connection(ops: &[ConnectionOp]) {
    let Some((mut pair, _ch, sh)) = connected() else { panic!("set-up failed: handshake or second path") };
    let mut accepted = Vec::new();
    for op in ops.iter().take(64) {
        let now = pair.now;
        match op {
            ConnectionOp::Frames { path, frames } => {
                let payload = mpquic_proto::fuzz::encode_frames(&frames[..frames.len().min(32)]);
                if let Some(conn) = pair.server.connection(sh) {
                    handle_payload(conn, now, PathId(u32::from(path % 3)), payload);
                }
            }
            ConnectionOp::Raw { path, payload } => {
                if let Some(conn) = pair.server.connection(sh) {
                    handle_payload(conn, now, PathId(u32::from(path % 3)), Bytes::copy_from_slice(payload));
                }
            }
            ConnectionOp::Advance { millis } => {
                pair.advance(Duration::from_millis(u64::from(*millis)));
            }
            ConnectionOp::Read => {
                let Some(conn) = pair.server.connection(sh) else { continue };
                for dir in [Dir::Bi, Dir::Uni] {
                    while let Some(id) = conn.accept_stream(dir) {
                        accepted.push(id);
                    }
                }
                for &id in &accepted {
                    while let Ok(Some(_)) = conn.read(id, 4096) {}
                }
                while conn.recv_datagram().is_some() {}
            }
            ConnectionOp::Write { len, bidi, fin } => {
                let Some(conn) = pair.server.connection(sh) else { continue };
                let dir = if *bidi { Dir::Bi } else { Dir::Uni };
                let id = match accepted.iter().find(|id| id.dir() == Dir::Bi) {
                    Some(&id) if *bidi => Some(id),
                    _ => conn.open_stream(dir),
                };
                if let Some(id) = id {
                    let _ = conn.write(id, &vec![0xab; usize::from(*len)]);
                    if *fin {
                        let _ = conn.finish(id);
                    }
                }
            }
            ConnectionOp::SendDatagram { len } => {
                if let Some(conn) = pair.server.connection(sh) {
                    let _ = conn.send_datagram(Bytes::from(vec![0xcd; usize::from(*len)]));
                }
            }
            ConnectionOp::Close => {
                if let Some(conn) = pair.server.connection(sh) {
                    conn.close(now, 0u32.into(), Bytes::from_static(b"fuzz"));
                }
            }
        }
        while pair.server.poll_event().is_some() {}
        pair.buf.clear();
        while pair.server.poll_transmit(pair.now, &mut pair.buf).is_some() {
            pair.buf.clear();
        }
    }
}
