//! Interoperability with quinn 0.11 in both directions: our client against a quinn server and a
//! quinn client against our server. Handshake, a 10 MB download, 100 concurrent streams, Retry,
//! key update, ChaCha20-Poly1305 only, and a download through a relay that drops 5% of the
//! datagrams each way. Content is checked by SHA-256.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use mpquic_io::Endpoint;
use mpquic_proto::VarInt;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};

const BIG: usize = 10 * 1024 * 1024;

/// quinn needs AES-128-GCM for Initial packets even when the handshake offers only ChaCha20.
fn initial_suite() -> rustls::quic::Suite {
    rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256
        .tls13()
        .and_then(|s| s.quic_suite())
        .expect("AES-128-GCM QUIC suite")
}

fn quinn_transport() -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    t.max_idle_timeout(Some(Duration::from_secs(10).try_into().unwrap()));
    Arc::new(t)
}

/// A quinn server speaking the tests' download protocol.
fn quinn_server(cert: &Cert, chacha_only: bool, retry: bool) -> (quinn::Endpoint, SocketAddr) {
    quinn_server_with(cert, chacha_only, retry, quinn_transport())
}

fn quinn_server_with(
    cert: &Cert,
    chacha_only: bool,
    retry: bool,
    transport: Arc<quinn::TransportConfig>,
) -> (quinn::Endpoint, SocketAddr) {
    let tls = Arc::new(rustls_server(cert, chacha_only));
    let crypto = QuicServerConfig::with_initial(tls, initial_suite()).expect("quinn server crypto");
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(transport);
    let ep = quinn::Endpoint::server(config, "127.0.0.1:0".parse().unwrap()).expect("quinn server");
    let addr = ep.local_addr().unwrap();
    serve_quinn(ep.clone(), retry);
    (ep, addr)
}

fn quinn_client(cert: &Cert, chacha_only: bool) -> quinn::Endpoint {
    quinn_client_with(cert, chacha_only, quinn_transport())
}

fn quinn_client_with(cert: &Cert, chacha_only: bool, transport: Arc<quinn::TransportConfig>) -> quinn::Endpoint {
    let tls = Arc::new(rustls_client(cert, chacha_only));
    let crypto = QuicClientConfig::with_initial(tls, initial_suite()).expect("quinn client crypto");
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(transport);
    let mut ep = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).expect("quinn client");
    ep.set_default_client_config(config);
    ep
}

fn our_server_with(cert: &Cert, chacha_only: bool, retry: bool) -> Endpoint {
    let mut config = our_server_config(cert, chacha_only);
    config.retry = retry;
    Endpoint::server(config, "127.0.0.1:0".parse().unwrap()).expect("server")
}

async fn our_fetch(conn: &mpquic_io::Connection, seed: u64, len: usize) {
    let (mut send, mut recv) = conn.open_bi().await.expect("open");
    send.write_all(format!("GET /{seed}/{len}\r\n").as_bytes()).await.expect("request");
    send.finish().expect("finish");
    let body = recv.read_to_end(len + 1).await.expect("response");
    assert_eq!(body.len(), len);
    assert_eq!(sha256(&body), sha256(&payload(seed, len)), "content of /{seed}/{len}");
}

async fn quinn_fetch(conn: &quinn::Connection, seed: u64, len: usize) {
    let (mut send, mut recv) = conn.open_bi().await.expect("open");
    send.write_all(format!("GET /{seed}/{len}\r\n").as_bytes()).await.expect("request");
    send.finish().expect("finish");
    let body = recv.read_to_end(len + 1).await.expect("response");
    assert_eq!(body.len(), len);
    assert_eq!(sha256(&body), sha256(&payload(seed, len)), "content of /{seed}/{len}");
}

/// What a scenario does after the handshake.
#[derive(Clone, Copy, Debug)]
enum Work {
    /// 10 MB, then 100 concurrent streams.
    BigAndMany,
    /// 4 MB with a key update forced by the client half-way through, then 1 MB more.
    KeyUpdate,
    /// 1 MB.
    Small,
}

async fn our_client_work(conn: &mpquic_io::Connection, work: Work) {
    match work {
        Work::BigAndMany => {
            our_fetch(conn, 1, BIG).await;
            let tasks: Vec<_> = (0..100u64)
                .map(|i| {
                    let conn = conn.clone();
                    tokio::spawn(async move { our_fetch(&conn, 10 + i, 2000 + (i as usize * 997) % 20_000).await })
                })
                .collect();
            for t in tasks {
                t.await.expect("stream task");
            }
        }
        Work::KeyUpdate => {
            our_fetch(conn, 2, 4 << 20).await;
            // quinn updates keys on its own after its first 10..1000 packets; our side then
            // may not start another one before a packet of the new phase is acknowledged and
            // the old keys are dropped (RFC 9001 §6.1, §6.5). ACK-only packets are never
            // acknowledged, so ping until allowed.
            let mut started = false;
            for _ in 0..200 {
                if conn.force_key_update() {
                    started = true;
                    break;
                }
                conn.ping();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            assert!(started, "key update allowed");
            // The download after the update only succeeds if quinn follows it (it would fail to
            // open our packets otherwise). proto's `key_updates` counter counts only updates the
            // peer started, so it is not checked here.
            our_fetch(conn, 3, 1 << 20).await;
        }
        Work::Small => our_fetch(conn, 4, 1 << 20).await,
    }
}

async fn quinn_client_work(conn: &quinn::Connection, work: Work) {
    match work {
        Work::BigAndMany => {
            quinn_fetch(conn, 1, BIG).await;
            let tasks: Vec<_> = (0..100u64)
                .map(|i| {
                    let conn = conn.clone();
                    tokio::spawn(async move { quinn_fetch(&conn, 10 + i, 2000 + (i as usize * 997) % 20_000).await })
                })
                .collect();
            for t in tasks {
                t.await.expect("stream task");
            }
        }
        Work::KeyUpdate => {
            quinn_fetch(conn, 2, 4 << 20).await;
            conn.force_key_update();
            quinn_fetch(conn, 3, 1 << 20).await;
        }
        Work::Small => quinn_fetch(conn, 4, 1 << 20).await,
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Opts {
    chacha_only: bool,
    retry: bool,
    loss: f64,
}

/// Our client, quinn server.
async fn ours_to_quinn(work: Work, opts: Opts) {
    let cert = cert();
    let (_server, addr) = quinn_server(&cert, opts.chacha_only, opts.retry);
    let relay = if opts.loss > 0.0 { Some(relay(addr, opts.loss, 7).await) } else { None };
    let target = relay.as_ref().map_or(addr, |r| r.addr);
    let client = Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    client.set_default_client_config(our_client_config(&cert, opts.chacha_only));
    let run = async {
        let conn = client.connect(target, "localhost").expect("connect").await.expect("handshake with quinn");
        our_client_work(&conn, work).await;
        conn.close(VarInt::from_u32(0), b"done");
        client.wait_idle().await;
    };
    tokio::time::timeout(Duration::from_secs(60), run).await.unwrap_or_else(|_| panic!("{work:?} {opts:?} timed out"));
    if let Some(r) = &relay {
        let (dropped, forwarded) = (r.dropped.load(Ordering::Relaxed), r.forwarded.load(Ordering::Relaxed));
        assert!(dropped > 0 && forwarded > 10 * dropped, "relay dropped {dropped} of {}", dropped + forwarded);
    }
}

/// quinn client, our server.
async fn quinn_to_ours(work: Work, opts: Opts) {
    let cert = cert();
    let server = our_server_with(&cert, opts.chacha_only, opts.retry);
    let conns = serve(server.clone());
    let addr = server.local_addr();
    let relay = if opts.loss > 0.0 { Some(relay(addr, opts.loss, 8).await) } else { None };
    let target = relay.as_ref().map_or(addr, |r| r.addr);
    let client = quinn_client(&cert, opts.chacha_only);
    let run = async {
        let conn = client.connect(target, "localhost").expect("connect").await.expect("handshake with our server");
        quinn_client_work(&conn, work).await;
        conn.close(0u32.into(), b"done");
    };
    tokio::time::timeout(Duration::from_secs(60), run).await.unwrap_or_else(|_| panic!("{work:?} {opts:?} timed out"));
    if let Some(r) = &relay {
        let (dropped, forwarded) = (r.dropped.load(Ordering::Relaxed), r.forwarded.load(Ordering::Relaxed));
        assert!(dropped > 0 && forwarded > 10 * dropped, "relay dropped {dropped} of {}", dropped + forwarded);
    }
    if let Work::KeyUpdate = work {
        let list = conns.lock().unwrap();
        assert!(list.iter().any(|c| c.stats().key_updates >= 1), "our server saw quinn's key update");
    }
    client.wait_idle().await;
}

#[tokio::test]
async fn ours_to_quinn_big_and_100_streams() {
    ours_to_quinn(Work::BigAndMany, Opts::default()).await;
}

#[tokio::test]
async fn quinn_to_ours_big_and_100_streams() {
    quinn_to_ours(Work::BigAndMany, Opts::default()).await;
}

#[tokio::test]
async fn ours_to_quinn_key_update() {
    ours_to_quinn(Work::KeyUpdate, Opts::default()).await;
}

#[tokio::test]
async fn quinn_to_ours_key_update() {
    quinn_to_ours(Work::KeyUpdate, Opts::default()).await;
}

#[tokio::test]
async fn ours_to_quinn_chacha20_only() {
    ours_to_quinn(Work::Small, Opts { chacha_only: true, ..Opts::default() }).await;
}

#[tokio::test]
async fn quinn_to_ours_chacha20_only() {
    quinn_to_ours(Work::Small, Opts { chacha_only: true, ..Opts::default() }).await;
}

#[tokio::test]
async fn ours_to_quinn_retry() {
    ours_to_quinn(Work::Small, Opts { retry: true, ..Opts::default() }).await;
}

#[tokio::test]
async fn quinn_to_ours_retry() {
    quinn_to_ours(Work::Small, Opts { retry: true, ..Opts::default() }).await;
}

#[tokio::test]
async fn ours_to_quinn_lossy_relay() {
    ours_to_quinn(Work::Small, Opts { loss: 0.05, ..Opts::default() }).await;
}

#[tokio::test]
async fn quinn_to_ours_lossy_relay() {
    quinn_to_ours(Work::Small, Opts { loss: 0.05, ..Opts::default() }).await;
}

fn quinn_transport_idle(idle: Duration) -> Arc<quinn::TransportConfig> {
    let mut transport = quinn::TransportConfig::default();
    transport.max_idle_timeout(Some(idle.try_into().expect("idle timeout")));
    Arc::new(transport)
}

/// One handshake of a quinn client with `server` through its own relay dropping `loss` of the
/// datagrams each way, then a 1 KiB download. The time it took, or why it failed.
async fn quinn_lossy_handshake(
    cert: Arc<Cert>,
    server: SocketAddr,
    loss: f64,
    idle: Duration,
    seed: u64,
) -> Result<Duration, String> {
    let relay = relay(server, loss, seed).await;
    let client = quinn_client_with(&cert, false, quinn_transport_idle(idle));
    let start = tokio::time::Instant::now();
    let run = async {
        let conn = client.connect(relay.addr, "localhost").map_err(|e| format!("connect: {e}"))?;
        let conn = conn.await.map_err(|e| format!("handshake: {e}"))?;
        let fetch = async {
            let (mut send, mut recv) = conn.open_bi().await?;
            send.write_all(format!("GET /{seed}/1024\r\n").as_bytes()).await?;
            send.finish()?;
            let body = recv.read_to_end(2048).await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(body)
        };
        let body = fetch.await.map_err(|e| format!("download: {e} ({:?})", conn.close_reason()))?;
        if body != payload(seed, 1024) {
            return Err("wrong content".to_owned());
        }
        conn.close(0u32.into(), b"done");
        Ok(start.elapsed())
    };
    let result = tokio::time::timeout(2 * idle, run)
        .await
        .unwrap_or_else(|_| Err(format!("no handshake and download within {:?}", 2 * idle)));
    client.close(0u32.into(), b"done");
    result
}

/// One handshake of our client with `server` through its own relay dropping `loss` of the
/// datagrams each way, then a 1 KiB download. The time it took, or why it failed.
async fn our_lossy_handshake(
    cert: Arc<Cert>,
    server: SocketAddr,
    loss: f64,
    idle: Duration,
    seed: u64,
) -> Result<Duration, String> {
    let relay = relay(server, loss, seed).await;
    let client = Endpoint::client("127.0.0.1:0".parse().unwrap()).map_err(|e| format!("client endpoint: {e}"))?;
    let mut config = our_client_config(&cert, false);
    config.transport = Arc::new(mpquic_proto::TransportConfig { max_idle_timeout: Some(idle), ..transport() });
    client.set_default_client_config(config);
    let start = tokio::time::Instant::now();
    let run = async {
        let conn = client.connect(relay.addr, "localhost").map_err(|e| format!("connect: {e}"))?;
        let conn = conn.await.map_err(|e| format!("handshake: {e}"))?;
        let fetch = async {
            let (mut send, mut recv) = conn.open_bi().await?;
            send.write_all(format!("GET /{seed}/1024\r\n").as_bytes()).await?;
            send.finish()?;
            let body = recv.read_to_end(2048).await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(body)
        };
        let body = fetch.await.map_err(|e| format!("download: {e} ({:?})", conn.close_reason()))?;
        if body != payload(seed, 1024) {
            return Err("wrong content".to_owned());
        }
        conn.close(VarInt::from_u32(0), b"done");
        Ok(start.elapsed())
    };
    let result = tokio::time::timeout(2 * idle, run)
        .await
        .unwrap_or_else(|_| Err(format!("no handshake and download within {:?}", 2 * idle)));
    client.close(VarInt::from_u32(0), b"done");
    result
}

/// `count` handshakes at `loss` each way (issue 18, part 2), `parallel` at a time (fewer than
/// the server's `retry_threshold_per_address`, so that no Retry is involved): a quinn client
/// (`quinn_client`) or ours, with our server or, as the control, quinn's (`quinn`). Returns the
/// failures and the slowest success.
async fn lossy_handshakes(
    count: u64,
    parallel: usize,
    loss: f64,
    idle: Duration,
    quinn_client: bool,
    quinn: bool,
) -> (Vec<String>, Duration) {
    let cert = Arc::new(cert());
    // The control: a quinn server under the same loss and idle timeout.
    let (_quinn, addr) = if quinn {
        let (ep, addr) = quinn_server_with(&cert, false, false, quinn_transport_idle(idle));
        (Some(ep), addr)
    } else {
        let mut config = our_server_config(&cert, false);
        config.transport = Arc::new(mpquic_proto::TransportConfig { max_idle_timeout: Some(idle), ..transport() });
        let server = Endpoint::server(config, "127.0.0.1:0".parse().unwrap()).expect("server");
        let _conns = serve(server.clone());
        (None, server.local_addr())
    };
    let limit = Arc::new(tokio::sync::Semaphore::new(parallel));
    let mut tasks = tokio::task::JoinSet::new();
    for seed in 0..count {
        let (cert, limit) = (cert.clone(), limit.clone());
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await.expect("semaphore");
            let result = if quinn_client {
                quinn_lossy_handshake(cert, addr, loss, idle, 1000 + seed).await
            } else {
                our_lossy_handshake(cert, addr, loss, idle, 1000 + seed).await
            };
            (seed, result)
        });
    }
    let (mut failures, mut slowest) = (Vec::new(), Duration::ZERO);
    while let Some(done) = tasks.join_next().await {
        match done.expect("handshake task") {
            (_, Ok(took)) => slowest = slowest.max(took),
            (seed, Err(e)) => failures.push(format!("seed {seed}: {e}")),
        }
    }
    failures.sort();
    (failures, slowest)
}

/// Regression (issue 18, part 2): quinn clients did not always get through a handshake with
/// our server at 30% loss in both directions (1 in 10 never finished), because our server's PTO
/// probed the Handshake space with a PING while its certificate flight there was lost (see
/// proto's `handshakes_complete_at_30_percent_loss_both_ways`). Each handshake and a 1 KiB
/// download get 2 x the idle timeout, 30 s here on both sides: with 10 s, at 30% loss a few in
/// a hundred die of it with either server (the PTO backs off past 10 s of silence; measured
/// with quinn's own server too, see the issue notes). Reduced count; the full runs:
/// `MPQUIC_LOSSY_HANDSHAKES=200 [MPQUIC_LOSSY_IDLE_S=10] [MPQUIC_LOSSY_AGAINST_QUINN=1|0]
/// cargo test -p mpquic-io --test interop lossy_handshakes -- --nocapture` (1: the other side
/// is quinn's server, the control for quinn clients; 0: our own, the control for our client).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quinn_to_ours_lossy_handshakes_at_30_percent() {
    lossy_handshakes_at_30_percent(true).await;
}

/// The other direction: our client with a quinn server, 20 handshakes at 30% loss each way
/// (`MPQUIC_LOSSY_AGAINST_QUINN=0`: with our own server, the control).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ours_to_quinn_lossy_handshakes_at_30_percent() {
    lossy_handshakes_at_30_percent(false).await;
}

async fn lossy_handshakes_at_30_percent(quinn_client: bool) {
    let count = std::env::var("MPQUIC_LOSSY_HANDSHAKES").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let idle_s = std::env::var("MPQUIC_LOSSY_IDLE_S").ok().and_then(|v| v.parse().ok()).unwrap_or(30);
    // quinn clients meet our server unless told otherwise; our client meets quinn's server
    // unless told otherwise (`MPQUIC_LOSSY_AGAINST_QUINN=0`: our own).
    let against = std::env::var("MPQUIC_LOSSY_AGAINST_QUINN").ok();
    let quinn_server = match against.as_deref() {
        Some("0") => false,
        Some(_) => true,
        None => !quinn_client,
    };
    let (failures, slowest) =
        lossy_handshakes(count, 8, 0.3, Duration::from_secs(idle_s), quinn_client, quinn_server).await;
    let client = if quinn_client { "quinn's client" } else { "our client" };
    let server = if quinn_server { "quinn's server" } else { "our server" };
    println!(
        "{} of {count} handshakes and downloads of {client} with {server} completed (idle timeout {idle_s} s); slowest {slowest:?}",
        count - failures.len() as u64
    );
    assert!(failures.is_empty(), "{} of {count} failed:\n{}", failures.len(), failures.join("\n"));
}
