//! Bulk throughput over loopback, ours and quinn 0.11 side by side in one run.
//!
//! ```text
//! cargo run --release -p mpquic-io --example bench -- [MEGABYTES] [ROUNDS]
//! ```
//!
//! Each round downloads MEGABYTES (default 200) on one stream of one connection, first with our
//! client and server, then with quinn's, each in a fresh two-thread tokio runtime in this
//! process. Reported per stack: goodput, CPU seconds per GB (user + system of the whole
//! process, client and server together, from getrusage) and our/quinn ratios.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mpquic_proto::crypto::{client_config_for_quic, quic_crypto_provider, server_config_for_quic};
use mpquic_proto::VarInt;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

const ALPN: &[u8] = b"bench";
const CHUNK: usize = 1 << 20;

struct Tls {
    server: rustls::ServerConfig,
    client: rustls::ClientConfig,
}

fn tls() -> Tls {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("certificate");
    let cert = CertificateDer::from(c.cert.der().to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(c.signing_key.serialize_der()));
    let provider = Arc::new(quic_crypto_provider());
    let server = server_config_for_quic(provider.clone(), vec![cert.clone()], key, vec![ALPN.to_vec()]).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let client = client_config_for_quic(provider, roots, vec![ALPN.to_vec()]).unwrap();
    Tls { server, client }
}

/// CPU time (user + system) of this process so far.
fn cpu_time() -> Duration {
    // SAFETY: getrusage fills the struct we pass; zeroed is a valid initial value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a live rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

struct Sample {
    secs: f64,
    cpu_secs: f64,
    bytes: u64,
}

fn measure(bytes: u64, f: impl FnOnce() -> u64) -> Sample {
    let cpu0 = cpu_time();
    let t0 = Instant::now();
    let got = f();
    let secs = t0.elapsed().as_secs_f64();
    let cpu_secs = (cpu_time() - cpu0).as_secs_f64();
    assert_eq!(got, bytes, "received everything");
    Sample { secs, cpu_secs, bytes }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn ours(tls: &Tls, bytes: u64) -> u64 {
    runtime().block_on(async {
        let server = mpquic_io::Endpoint::server(
            mpquic_proto::ServerConfig::new(Arc::new(tls.server.clone())),
            "127.0.0.1:0".parse().unwrap(),
        )
        .unwrap();
        let addr = server.local_addr();
        let s = server.clone();
        tokio::spawn(async move {
            let conn = s.accept().await.unwrap().await.unwrap();
            let mut send = conn.open_uni().await.unwrap();
            let chunk = bytes::Bytes::from(vec![0xabu8; CHUNK]);
            let mut left = bytes;
            while left > 0 {
                let n = left.min(CHUNK as u64) as usize;
                send.write_chunk(chunk.slice(..n)).await.unwrap();
                left -= n as u64;
            }
            send.finish().unwrap();
            let _ = conn.closed().await;
        });
        let client = mpquic_io::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        let conn = client
            .connect_with(mpquic_proto::ClientConfig::new(Arc::new(tls.client.clone())), addr, "localhost")
            .unwrap()
            .await
            .unwrap();
        let mut recv = conn.accept_uni().await.unwrap();
        let mut got = 0u64;
        while let Some(c) = recv.read_chunk(usize::MAX).await.unwrap() {
            got += c.len() as u64;
        }
        conn.close(VarInt::from_u32(0), b"");
        client.wait_idle().await;
        eprintln!("  ours: client socket {:?}", client.socket_stats());
        got
    })
}

fn quinn(tls: &Tls, bytes: u64) -> u64 {
    use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
    runtime().block_on(async {
        let sc = quinn::ServerConfig::with_crypto(Arc::new(QuicServerConfig::try_from(tls.server.clone()).unwrap()));
        let server = quinn::Endpoint::server(sc, "127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = server.local_addr().unwrap();
        let s = server.clone();
        tokio::spawn(async move {
            let conn = s.accept().await.unwrap().await.unwrap();
            let mut send = conn.open_uni().await.unwrap();
            let chunk = bytes::Bytes::from(vec![0xabu8; CHUNK]);
            let mut left = bytes;
            while left > 0 {
                let n = left.min(CHUNK as u64) as usize;
                send.write_chunk(chunk.slice(..n)).await.unwrap();
                left -= n as u64;
            }
            send.finish().unwrap();
            let _ = conn.closed().await;
        });
        let mut client = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        client.set_default_client_config(quinn::ClientConfig::new(Arc::new(
            QuicClientConfig::try_from(tls.client.clone()).unwrap(),
        )));
        let conn = client.connect(addr, "localhost").unwrap().await.unwrap();
        let mut recv = conn.accept_uni().await.unwrap();
        let mut got = 0u64;
        while let Some(c) = recv.read_chunk(usize::MAX, true).await.unwrap() {
            got += c.bytes.len() as u64;
        }
        conn.close(0u32.into(), b"");
        client.wait_idle().await;
        got
    })
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mb: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let bytes = mb << 20;
    let tls = tls();
    println!("bulk download of {mb} MiB over loopback, {rounds} round(s), one connection, one stream");
    let mut rows = Vec::new();
    for round in 0..rounds {
        let a = measure(bytes, || ours(&tls, bytes));
        let b = measure(bytes, || quinn(&tls, bytes));
        rows.push((round, a, b));
    }
    println!(
        "{:<6} {:>14} {:>14} {:>16} {:>16} {:>14} {:>12}",
        "round", "ours Mbit/s", "quinn Mbit/s", "ours CPU s/GB", "quinn CPU s/GB", "goodput ratio", "CPU ratio"
    );
    for (round, a, b) in &rows {
        let g = |s: &Sample| s.bytes as f64 * 8.0 / s.secs / 1e6;
        let c = |s: &Sample| s.cpu_secs / (s.bytes as f64 / 1e9);
        println!(
            "{:<6} {:>14.0} {:>14.0} {:>16.2} {:>16.2} {:>14.2} {:>12.2}",
            round,
            g(a),
            g(b),
            c(a),
            c(b),
            g(a) / g(b),
            c(a) / c(b)
        );
    }
}
