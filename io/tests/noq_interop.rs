//! Multipath interoperability with noq 1.4 (iroh's multipath fork of quinn, draft-21 code
//! points), both directions: two paths over 127.0.0.1 and 127.0.0.2, a 20 MB download on which
//! both paths carry data, then the second path abandoned mid-transfer; content checked by
//! SHA-256.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use mpquic_io::{multipath_transport_config, Endpoint, PathId};
use mpquic_proto::{ClientConfig, ServerConfig, VarInt};
use noq::crypto::rustls::{QuicClientConfig, QuicServerConfig};

const BIG: usize = 20 * 1024 * 1024;
const MAX_PATHS: u32 = 4;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// noq needs AES-128-GCM for Initial packets.
fn initial_suite() -> rustls::quic::Suite {
    rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256
        .tls13()
        .and_then(|s| s.quic_suite())
        .expect("AES-128-GCM QUIC suite")
}

fn noq_transport() -> Arc<noq::TransportConfig> {
    let mut t = noq::TransportConfig::default();
    t.max_idle_timeout(Some(Duration::from_secs(10).try_into().unwrap()));
    // Multipath on: initial_max_path_id = MAX_PATHS - 1.
    t.max_concurrent_multipath_paths(MAX_PATHS);
    // Windows larger than noq's defaults (which keep a fast sender blocked on flow control), but
    // a stream window of 1 MiB, under 1024 full-size packets: round-robin interleaves the stream
    // over both paths packet by packet, so the receiver may hold one gap per packet in flight,
    // and noq closes the connection past 1024 gaps in a stream ("too many gaps in stream
    // buffer", its assembler's MAX_CHUNKS). With 8 MiB it did, once, in a full suite run under load.
    t.stream_receive_window((1u32 << 20).into());
    t.receive_window((16u32 << 20).into());
    Arc::new(t)
}

/// A noq endpoint on a socket with a 4 MB receive buffer: with the kernel default (208 KB) a
/// receiver on loopback drops whole GSO bursts of ours, on both paths at once.
fn noq_endpoint(server: Option<noq::ServerConfig>, local: SocketAddr) -> noq::Endpoint {
    use std::os::fd::AsRawFd;
    let socket = std::net::UdpSocket::bind(local).expect("noq socket");
    let size: libc::c_int = 4 << 20;
    // SAFETY: a valid socket and a c_int option value of the stated length.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_RCVBUF");
    noq::Endpoint::new(noq::EndpointConfig::default(), server, socket, Arc::new(noq::TokioRuntime))
        .expect("noq endpoint")
}

/// Our side's settings. Round-robin, not MinRTT: the tests check that both paths carry data, and
/// MinRTT's choice between two near-identical loopback paths is a coin toss (with pacing it keeps
/// nearly everything on path 0, whose window rarely fills when the CPU, not a link, is the limit).
fn our_transport() -> Arc<mpquic_proto::TransportConfig> {
    Arc::new(mpquic_proto::TransportConfig {
        max_idle_timeout: Some(Duration::from_secs(10)),
        scheduler_factory: mpquic_scheduler::RoundRobin::factory(),
        ..multipath_transport_config(MAX_PATHS)
    })
}

/// A noq server with multipath, speaking the tests' download protocol.
fn noq_server(cert: &Cert) -> (noq::Endpoint, SocketAddr) {
    let tls = Arc::new(rustls_server(cert, false));
    let crypto = QuicServerConfig::with_initial(tls, initial_suite()).expect("noq server crypto");
    let mut config = noq::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(noq_transport());
    let ep = noq_endpoint(Some(config), addr("127.0.0.1:0"));
    let local = ep.local_addr().unwrap();
    let server = ep.clone();
    tokio::spawn(async move {
        while let Some(incoming) = server.accept().await {
            tokio::spawn(async move {
                let Ok(conn) = incoming.await else { return };
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
    (ep, local)
}

#[tokio::test]
async fn our_client_with_noq_server_two_paths_then_abandon() {
    let _ = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).try_init();
    let cert = cert();
    let (_noq, server) = noq_server(&cert);
    let client = Endpoint::client(addr("0.0.0.0:0")).unwrap();
    let mut config = ClientConfig::new(Arc::new(rustls_client(&cert, false)));
    config.transport = our_transport();
    let conn = client.connect_from(config, addr("127.0.0.1:0"), server, "localhost").unwrap().await.unwrap();
    assert!(conn.is_multipath(), "noq did not negotiate multipath");
    let path = conn.open_path(addr("127.0.0.2:0"), server).await.expect("open a second path");
    tokio::time::timeout(Duration::from_secs(5), path.validated()).await.expect("validated in time").unwrap();

    let (got, before) = fetch_abandoning_halfway(&conn, &path, 9, BIG).await;
    assert_eq!(got.len(), BIG);
    assert_eq!(sha256(&got), sha256(&payload(9, BIG)), "content differs");
    for id in [PathId(0), PathId(1)] {
        let p = path_of(&before, id);
        assert!(p.stats.bytes_received > 1_000_000, "path {id} carried too little before the abandon: {p:?}");
    }
    let after = path_of(&conn.paths(), PathId(0));
    assert!(after.stats.bytes_received > path_of(&before, PathId(0)).stats.bytes_received + 1_000_000);
    conn.close(VarInt::from_u32(0), b"done");
    client.wait_idle().await;
}

#[tokio::test]
async fn noq_client_with_our_server_two_paths_then_abandon() {
    let _ = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).try_init();
    let cert = cert();
    let mut server_config = ServerConfig::new(Arc::new(rustls_server(&cert, false)));
    server_config.transport = our_transport();
    let server = Endpoint::server_on(server_config, &[addr("127.0.0.1:0")]).unwrap();
    let server_addr = server.local_addr();
    let served = serve(server.clone());

    let tls = Arc::new(rustls_client(&cert, false));
    let crypto = QuicClientConfig::with_initial(tls, initial_suite()).expect("noq client crypto");
    let mut config = noq::ClientConfig::new(Arc::new(crypto));
    config.transport_config(noq_transport());
    let ep = noq_endpoint(None, addr("0.0.0.0:0"));
    ep.set_default_client_config(config);
    let conn = ep.connect(server_addr, "localhost").unwrap().await.expect("noq handshake");
    // Like ours, noq cannot open a path before the peer's PATH_NEW_CONNECTION_ID for it
    // arrived (RemoteCidsExhausted right after the handshake): retry for a while.
    let tuple = noq::FourTuple::new(server_addr, Some(addr("127.0.0.2:0").ip()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let path = loop {
        let opened = tokio::time::timeout(Duration::from_secs(5), conn.open_path(tuple, noq::PathStatus::Available))
            .await
            .expect("path opened in time");
        match opened {
            Ok(p) => break p,
            Err(noq::PathError::RemoteCidsExhausted) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(e) => panic!("noq could not open a second path: {e:?}"),
        }
    };

    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    send.write_all(format!("GET /11/{BIG}\r\n").as_bytes()).await.unwrap();
    send.finish().unwrap();
    let mut got = Vec::with_capacity(BIG);
    let mut at_abandon = None;
    let read = async {
        while let Some(chunk) = recv.read_chunk(usize::MAX).await.unwrap() {
            got.extend_from_slice(&chunk);
            if at_abandon.is_none() && got.len() >= BIG / 2 {
                let ours = served.lock().unwrap()[0].paths();
                at_abandon = Some((ours, conn.path(path.id()).map(|p| p.stats())));
                path.close().expect("noq abandons the path");
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read).await.expect("download finished in time");
    assert_eq!(got.len(), BIG);
    assert_eq!(sha256(&got), sha256(&payload(11, BIG)), "content differs");
    let (ours, theirs) = at_abandon.unwrap();
    eprintln!("noq path 1 at the abandon: {theirs:?}");
    eprintln!("noq connection stats: {:?}", conn.stats());
    for id in [PathId(0), PathId(1)] {
        let p = path_of(&ours, id);
        assert!(p.stats.bytes_sent > 1_000_000, "path {id} carried too little before the abandon: {p:?}");
    }
    let theirs = theirs.expect("noq path stats");
    assert!(theirs.udp_rx.bytes > 1_000_000, "noq saw too little on path 1: {theirs:?}");
    let server_conn = served.lock().unwrap()[0].clone();
    let after = path_of(&server_conn.paths(), PathId(0));
    assert!(after.stats.bytes_sent > path_of(&ours, PathId(0)).stats.bytes_sent + 1_000_000);
    conn.close(0u32.into(), b"done");
    ep.wait_idle().await;
}
