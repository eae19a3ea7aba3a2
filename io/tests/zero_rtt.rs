//! Session resumption and 0-RTT (RFC 9001 §4.6) with quinn 0.11, both directions: a first
//! connection earns a session ticket, a second one resumes it and sends its request in 0-RTT,
//! which the server accepts or rejects (then the request travels again in 1-RTT).

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use mpquic_io::Endpoint;
use mpquic_proto::{VarInt, ZeroRttStatus};
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};

const LEN: usize = 100_000;

fn request(seed: u64) -> String {
    format!("GET /{seed}/{LEN}\r\n")
}

fn early_client_tls(cert: &Cert) -> Arc<rustls::ClientConfig> {
    let mut tls = rustls_client(cert, false);
    // RFC 9001 §5.6: 0-RTT only when the application asks for it.
    tls.enable_early_data = true;
    Arc::new(tls)
}

fn quinn_server_config(tls: Arc<rustls::ServerConfig>) -> quinn::ServerConfig {
    let crypto = QuicServerConfig::try_from(tls).expect("quinn server crypto");
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let mut t = quinn::TransportConfig::default();
    t.max_idle_timeout(Some(Duration::from_secs(10).try_into().unwrap()));
    config.transport_config(Arc::new(t));
    config
}

/// A quinn server answering the download protocol, streams of 0-RTT data included.
fn quinn_server(tls: Arc<rustls::ServerConfig>) -> (quinn::Endpoint, SocketAddr) {
    let ep = quinn::Endpoint::server(quinn_server_config(tls), "127.0.0.1:0".parse().unwrap()).expect("quinn server");
    let addr = ep.local_addr().unwrap();
    serve_quinn(ep.clone(), false);
    (ep, addr)
}

async fn our_fetch_on(conn: &mpquic_io::Connection, seed: u64) {
    let (mut send, mut recv) = conn.open_bi().await.expect("open");
    send.write_all(request(seed).as_bytes()).await.expect("request");
    send.finish().expect("finish");
    let body = recv.read_to_end(LEN + 1).await.expect("response");
    assert_eq!(sha256(&body), sha256(&payload(seed, LEN)), "content of /{seed}");
}

async fn quinn_fetch_on(conn: &quinn::Connection, seed: u64) -> Result<(), String> {
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
    send.write_all(request(seed).as_bytes()).await.map_err(|e| e.to_string())?;
    send.finish().map_err(|e| e.to_string())?;
    let body = recv.read_to_end(LEN + 1).await.map_err(|e| e.to_string())?;
    assert_eq!(sha256(&body), sha256(&payload(seed, LEN)), "content of /{seed}");
    Ok(())
}

/// Our client against a quinn server; the second connection's server accepts 0-RTT or not.
async fn ours_to_quinn(accept: bool) {
    let cert = cert();
    let server_tls = Arc::new(rustls_server(&cert, false));
    assert_eq!(server_tls.max_early_data_size, u32::MAX, "server_config_for_quic offers 0-RTT");
    let (server, addr) = quinn_server(server_tls.clone());
    let client = Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let mut config = our_client_config(&cert, false);
    config.crypto = early_client_tls(&cert);
    client.set_default_client_config(config);
    let run = async {
        let first = client.connect(addr, "localhost").expect("connect").await.expect("first handshake");
        assert!(!first.is_resumed(), "nothing to resume yet");
        assert_eq!(first.zero_rtt(), ZeroRttStatus::NotAttempted);
        // The download also carries the server's NewSessionTicket.
        our_fetch_on(&first, 1).await;
        first.close(VarInt::from_u32(0), b"done");
        if !accept {
            // Same session cache (so the ticket resumes), but no early data: rustls answers
            // the 0-RTT attempt with a rejection (RFC 9001 §4.6.2).
            let mut tls = (*server_tls).clone();
            tls.max_early_data_size = 0;
            server.set_server_config(Some(quinn_server_config(Arc::new(tls))));
        }
        let connecting = client.connect(addr, "localhost").expect("connect");
        let second = connecting.into_0rtt().expect("a resumed session with early data offers 0-RTT");
        let (mut send, mut recv) = second.open_bi().await.expect("open in 0-RTT");
        let req = request(2);
        send.write_all(req.as_bytes()).await.expect("request");
        send.finish().expect("finish");
        assert!(matches!(second.zero_rtt(), ZeroRttStatus::Pending { .. }));
        let body = recv.read_to_end(LEN + 1).await.expect("response");
        assert_eq!(sha256(&body), sha256(&payload(2, LEN)));
        second.handshake_complete().await.expect("handshake");
        assert!(second.is_resumed(), "the second connection resumed the session");
        let bytes = req.len() as u64;
        let expected = if accept { ZeroRttStatus::Accepted { bytes } } else { ZeroRttStatus::Rejected { bytes } };
        assert_eq!(second.zero_rtt(), expected);
        second.close(VarInt::from_u32(0), b"done");
        client.wait_idle().await;
    };
    tokio::time::timeout(Duration::from_secs(30), run).await.expect("timed out");
}

/// A quinn client against our server; the second connection's server accepts 0-RTT or not.
async fn quinn_to_ours(accept: bool) {
    let cert = cert();
    let server_config = our_server_config(&cert, false);
    let server = Endpoint::server(server_config.clone(), "127.0.0.1:0".parse().unwrap()).expect("server");
    let conns = serve(server.clone());
    let addr = server.local_addr();
    let crypto = QuicClientConfig::try_from(early_client_tls(&cert)).expect("quinn client crypto");
    let mut client = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).expect("quinn client");
    client.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
    let run = async {
        let first = client.connect(addr, "localhost").expect("connect").await.expect("first handshake");
        quinn_fetch_on(&first, 1).await.expect("first download");
        first.close(0u32.into(), b"done");
        if !accept {
            // Same TLS configuration and session cache; only the server's 0-RTT switch is off.
            let mut config = server_config.clone();
            config.zero_rtt = false;
            server.set_server_config(Some(config));
        }
        let connecting = client.connect(addr, "localhost").expect("connect");
        let (second, accepted) = connecting.into_0rtt().map_err(|_| ()).expect("quinn attempts 0-RTT");
        let early = quinn_fetch_on(&second, 2);
        let (early, accepted) = tokio::join!(early, accepted);
        assert_eq!(accepted, accept, "quinn's view of our server's answer");
        if accept {
            early.expect("download requested in 0-RTT");
        } else {
            // quinn does not resend rejected 0-RTT data itself (its streams fail with
            // ZeroRttRejected); the application asks again in 1-RTT.
            assert!(early.is_err(), "quinn reports the rejected stream");
            quinn_fetch_on(&second, 3).await.expect("download after the rejection");
        }
        second.close(0u32.into(), b"done");
    };
    tokio::time::timeout(Duration::from_secs(30), run).await.expect("timed out");
    let ours = conns.lock().unwrap().last().cloned().expect("our server's second connection");
    assert!(ours.is_resumed(), "our server resumed quinn's session");
    match (accept, ours.zero_rtt()) {
        (true, ZeroRttStatus::Accepted { bytes }) => assert_eq!(bytes, request(2).len() as u64),
        (false, ZeroRttStatus::Rejected { .. }) => {}
        (_, other) => panic!("our server's 0-RTT status {other:?}, accept {accept}"),
    }
    client.wait_idle().await;
}

#[tokio::test]
async fn ours_to_quinn_0rtt_accepted() {
    ours_to_quinn(true).await;
}

#[tokio::test]
async fn ours_to_quinn_0rtt_rejected() {
    ours_to_quinn(false).await;
}

#[tokio::test]
async fn quinn_to_ours_0rtt_accepted() {
    quinn_to_ours(true).await;
}

#[tokio::test]
async fn quinn_to_ours_0rtt_rejected() {
    quinn_to_ours(false).await;
}
