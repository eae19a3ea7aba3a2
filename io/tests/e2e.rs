//! Our client and our server over loopback: a 10 MB download and many concurrent streams,
//! content checked by hash; backpressure, datagrams, closing and idle.

mod common;

use std::time::Duration;

use common::*;
use mpquic_io::Connection;
use mpquic_proto::VarInt;

async fn fetch(conn: &Connection, seed: u64, len: usize) -> Vec<u8> {
    let (mut send, mut recv) = conn.open_bi().await.expect("open");
    send.write_all(format!("GET /{seed}/{len}\r\n").as_bytes()).await.expect("request");
    send.finish().expect("finish");
    recv.read_to_end(len + 1).await.expect("response")
}

#[tokio::test]
async fn ten_megabytes_and_many_streams() {
    let cert = cert();
    let server = our_server(&cert);
    let addr = server.local_addr();
    let _conns = serve(server.clone());
    let client = our_client(&cert);
    let conn = tokio::time::timeout(Duration::from_secs(5), client.connect(addr, "localhost").unwrap())
        .await
        .expect("handshake in time")
        .expect("handshake");
    assert_eq!(conn.alpn_protocol().as_deref(), Some(ALPN));

    let big = 10 * 1024 * 1024;
    let t0 = std::time::Instant::now();
    let body = tokio::time::timeout(Duration::from_secs(60), fetch(&conn, 1, big)).await.expect("10 MB in time");
    let elapsed = t0.elapsed();
    assert_eq!(sha256(&body), sha256(&payload(1, big)));
    eprintln!("10 MB in {elapsed:?} ({:.0} Mbit/s)", big as f64 * 8.0 / elapsed.as_secs_f64() / 1e6);

    let mut tasks = Vec::new();
    for i in 0..200u64 {
        let conn = conn.clone();
        tasks.push(tokio::spawn(async move {
            let len = 1000 + (i as usize * 7919) % 30_000;
            let body = fetch(&conn, 100 + i, len).await;
            assert_eq!(sha256(&body), sha256(&payload(100 + i, len)), "stream {i}");
        }));
    }
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(30), t).await.expect("streams in time").expect("stream task");
    }
    let stats = client.socket_stats();
    eprintln!("client socket: {stats:?}");
    eprintln!("server socket: {:?}", server.socket_stats());
    assert!(stats.recvmmsg_calls > 0);
    conn.close(VarInt::from_u32(0), b"done");
    tokio::time::timeout(Duration::from_secs(5), client.wait_idle()).await.expect("client idle");
}

#[tokio::test]
async fn datagrams_and_close_reason() {
    let cert = cert();
    let server = our_server(&cert);
    let addr = server.local_addr();
    let client = our_client(&cert);
    let conn = client.connect(addr, "localhost").unwrap().await.expect("handshake");
    let sconn = server.accept().await.expect("incoming").await.expect("server handshake");
    conn.send_datagram(bytes::Bytes::from_static(b"hello")).expect("datagram");
    let got = tokio::time::timeout(Duration::from_secs(5), sconn.read_datagram()).await.unwrap().unwrap();
    assert_eq!(&got[..], b"hello");
    sconn.close(VarInt::from_u32(42), b"bye");
    let reason = tokio::time::timeout(Duration::from_secs(5), conn.closed()).await.expect("closed in time");
    assert!(matches!(reason, mpquic_proto::ConnectionError::ApplicationClosed { code: 42, .. }), "{reason:?}");
}

#[tokio::test]
async fn flow_control_backpressure_reaches_the_writer() {
    let cert = cert();
    let server = our_server(&cert);
    let addr = server.local_addr();
    let client = our_client(&cert);
    let conn = client.connect(addr, "localhost").unwrap().await.expect("handshake");
    let sconn = server.accept().await.expect("incoming").await.expect("server handshake");
    let mut send = conn.open_uni().await.unwrap();
    // The server never reads: after the stream window and our send buffer fill, writes stall.
    let writer = tokio::spawn(async move {
        let chunk = vec![0u8; 64 * 1024];
        let mut written = 0usize;
        loop {
            match tokio::time::timeout(Duration::from_millis(500), send.write(&chunk)).await {
                Ok(Ok(n)) => written += n,
                Ok(Err(e)) => panic!("write failed: {e}"),
                Err(_) => return (written, send),
            }
        }
    });
    let (written, mut send) = writer.await.unwrap();
    assert!(written > 0 && written < 64 * 1024 * 1024, "writer stalled after {written} bytes");
    // Reading on the server side releases credit and the writer moves on.
    let mut recv = sconn.accept_uni().await.unwrap();
    let reader = tokio::spawn(async move { recv.read_to_end(usize::MAX).await.map(|v| v.len()) });
    send.write_all(&vec![1u8; 256 * 1024]).await.unwrap();
    send.finish().unwrap();
    let total = tokio::time::timeout(Duration::from_secs(10), reader).await.unwrap().unwrap().unwrap();
    assert_eq!(total, written + 256 * 1024);
}

#[tokio::test]
async fn key_update_between_our_endpoints() {
    let cert = cert();
    let server = our_server(&cert);
    let addr = server.local_addr();
    let conns = serve(server.clone());
    let client = our_client(&cert);
    let conn = client.connect(addr, "localhost").unwrap().await.expect("handshake");
    let body = fetch(&conn, 5, 1 << 20).await;
    assert_eq!(body.len(), 1 << 20);
    assert!(conn.force_key_update(), "client may start a key update after a download");
    let body = fetch(&conn, 6, 1 << 20).await;
    assert_eq!(sha256(&body), sha256(&payload(6, 1 << 20)));
    let server_updates: u64 = conns.lock().unwrap().iter().map(|c| c.stats().key_updates).sum();
    assert_eq!(server_updates, 1, "the server followed the client's update");
}
