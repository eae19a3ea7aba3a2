//! Fixtures for the io tests: a throw-away certificate with client and server TLS configurations
//! for our stack and for quinn, deterministic payloads, hashes, and a lossy UDP relay.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mpquic_io::Endpoint;
use mpquic_proto::{client_config_for_quic, quic_crypto_provider, server_config_for_quic};
use mpquic_proto::{ClientConfig, ServerConfig, TransportConfig};
use rand::{Rng, SeedableRng};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};

pub const ALPN: &[u8] = b"hq-interop";

/// A self-signed certificate for "localhost".
pub struct Cert {
    pub cert: CertificateDer<'static>,
    pub key: PrivatePkcs8KeyDer<'static>,
}

pub fn cert() -> Cert {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("certificate");
    Cert {
        cert: CertificateDer::from(c.cert.der().to_vec()),
        key: PrivatePkcs8KeyDer::from(c.signing_key.serialize_der()),
    }
}

pub fn provider(chacha_only: bool) -> Arc<rustls::crypto::CryptoProvider> {
    let mut p = quic_crypto_provider();
    if chacha_only {
        p.cipher_suites.retain(|s| s.suite() == rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256);
    }
    Arc::new(p)
}

pub fn rustls_server(cert: &Cert, chacha_only: bool) -> rustls::ServerConfig {
    server_config_for_quic(
        provider(chacha_only),
        vec![cert.cert.clone()],
        PrivateKeyDer::Pkcs8(cert.key.clone_key()),
        vec![ALPN.to_vec()],
    )
    .expect("server TLS")
}

pub fn rustls_client(cert: &Cert, chacha_only: bool) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.clone()).expect("root");
    client_config_for_quic(provider(chacha_only), roots, vec![ALPN.to_vec()]).expect("client TLS")
}

pub fn transport() -> TransportConfig {
    TransportConfig { max_idle_timeout: Some(Duration::from_secs(10)), ..TransportConfig::default() }
}

pub fn our_server_config(cert: &Cert, chacha_only: bool) -> ServerConfig {
    let mut c = ServerConfig::new(Arc::new(rustls_server(cert, chacha_only)));
    c.transport = Arc::new(transport());
    c
}

pub fn our_client_config(cert: &Cert, chacha_only: bool) -> ClientConfig {
    let mut c = ClientConfig::new(Arc::new(rustls_client(cert, chacha_only)));
    c.transport = Arc::new(transport());
    c
}

pub fn our_server(cert: &Cert) -> Endpoint {
    Endpoint::server(our_server_config(cert, false), "127.0.0.1:0".parse().unwrap()).expect("server endpoint")
}

pub fn our_client(cert: &Cert) -> Endpoint {
    let ep = Endpoint::client("127.0.0.1:0".parse().unwrap()).expect("client endpoint");
    ep.set_default_client_config(our_client_config(cert, false));
    ep
}

/// Deterministic bytes: the same `(seed, len)` always gives the same payload.
pub fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut v = vec![0u8; len];
    rng.fill(&mut v[..]);
    v
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Parses a request "GET /<seed>/<len>\r\n" of the tests' tiny download protocol.
pub fn parse_request(req: &[u8]) -> Option<(u64, usize)> {
    let s = std::str::from_utf8(req).ok()?.strip_prefix("GET /")?.trim_end();
    let (seed, len) = s.split_once('/')?;
    Some((seed.parse().ok()?, len.parse().ok()?))
}

/// A UDP relay between a client and `server`, dropping a fraction of datagrams each way.
pub struct Relay {
    pub addr: SocketAddr,
    pub dropped: Arc<AtomicU64>,
    pub forwarded: Arc<AtomicU64>,
}

pub async fn relay(server: SocketAddr, loss: f64, seed: u64) -> Relay {
    let sock = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("relay socket"));
    let addr = sock.local_addr().unwrap();
    let dropped = Arc::new(AtomicU64::new(0));
    let forwarded = Arc::new(AtomicU64::new(0));
    let (d, f) = (dropped.clone(), forwarded.clone());
    tokio::spawn(async move {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut client: Option<SocketAddr> = None;
        let mut buf = vec![0u8; 65536];
        loop {
            let Ok((n, from)) = sock.recv_from(&mut buf).await else { return };
            let to = if from == server {
                match client {
                    Some(c) => c,
                    None => continue,
                }
            } else {
                client = Some(from);
                server
            };
            if rng.random_bool(loss) {
                d.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            f.fetch_add(1, Ordering::Relaxed);
            let _ = sock.send_to(&buf[..n], to).await;
        }
    });
    Relay { addr, dropped, forwarded }
}

/// Serves the tests' download protocol on every connection of `server`; the connections are
/// kept in the returned list (for their statistics).
pub fn serve(server: Endpoint) -> Arc<std::sync::Mutex<Vec<mpquic_io::Connection>>> {
    let conns = Arc::new(std::sync::Mutex::new(Vec::new()));
    let list = conns.clone();
    tokio::spawn(async move {
        while let Some(connecting) = server.accept().await {
            let list = list.clone();
            tokio::spawn(async move {
                let Ok(conn) = connecting.await else { return };
                list.lock().unwrap().push(conn.clone());
                while let Ok((mut send, mut recv)) = conn.accept_bi().await {
                    tokio::spawn(async move {
                        let Ok(req) = recv.read_to_end(1024).await else { return };
                        let Some((seed, len)) = parse_request(&req) else { return };
                        if send.write_all(&payload(seed, len)).await.is_ok() {
                            let _ = send.finish();
                            let _ = send.stopped().await;
                        }
                    });
                }
            });
        }
    });
    conns
}

/// Serves the tests' download protocol on every connection a quinn endpoint accepts; with
/// `retry`, a client whose address is not validated gets a Retry first.
pub fn serve_quinn(server: quinn::Endpoint, retry: bool) {
    tokio::spawn(async move {
        while let Some(incoming) = server.accept().await {
            if retry && !incoming.remote_address_validated() {
                incoming.retry().expect("retry");
                continue;
            }
            tokio::spawn(async move {
                let Ok(conn) = incoming.await else { return };
                while let Ok((send, recv)) = conn.accept_bi().await {
                    tokio::spawn(answer_quinn(send, recv));
                }
            });
        }
    });
}

/// Answers one request of the download protocol on a quinn stream.
async fn answer_quinn(mut send: quinn::SendStream, mut recv: quinn::RecvStream) {
    let Ok(req) = recv.read_to_end(1024).await else { return };
    let Some((seed, len)) = parse_request(&req) else { return };
    if send.write_all(&payload(seed, len)).await.is_ok() {
        let _ = send.finish();
        let _ = send.stopped().await;
    }
}

/// The path `id` in `paths`.
pub fn path_of(paths: &[mpquic_io::PathInfo], id: mpquic_io::PathId) -> mpquic_io::PathInfo {
    paths.iter().find(|p| p.id == id).cloned().unwrap_or_else(|| panic!("no path {id}: {paths:?}"))
}

/// Downloads `/seed/len` (the test servers' request format) on a new bidirectional stream and
/// abandons `path` once half has arrived. Returns the body and the paths as they were at the
/// abandon.
pub async fn fetch_abandoning_halfway(
    conn: &mpquic_io::Connection,
    path: &mpquic_io::PathHandle,
    seed: u64,
    len: usize,
) -> (Vec<u8>, Vec<mpquic_io::PathInfo>) {
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    send.write_all(format!("GET /{seed}/{len}\r\n").as_bytes()).await.unwrap();
    send.finish().unwrap();
    let mut got = Vec::with_capacity(len);
    let mut at_abandon = None;
    let read = async {
        while let Some(chunk) = recv.read_chunk(usize::MAX).await.unwrap() {
            got.extend_from_slice(&chunk);
            if at_abandon.is_none() && got.len() >= len / 2 {
                at_abandon = Some(conn.paths());
                path.abandon(0).unwrap();
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read).await.expect("download finished in time");
    (got, at_abandon.expect("half the download arrived"))
}

/// For a test that cannot run in this environment (no root, no network namespaces, no IPv6, a
/// kernel without the feature): prints why, so that a pass is never mistaken for a run, and
/// fails when `CI=true`, since CI has all of these and a skip there hides a broken set-up.
pub fn skip_unless_ci(why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("cannot run under CI=true, where it must: {why}");
    }
    eprintln!("skipped: {why}");
}
