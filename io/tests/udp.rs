//! The socket layer on loopback: ECN codepoints survive the round trip, a GSO batch arrives as
//! its datagrams (or one GRO buffer of them), several super-buffers go out in one call, the
//! source address is chosen per datagram, and ICMP errors come back from the error queue.

use std::io::IoSliceMut;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use mpquic_io::udp::{IcmpKind, RecvArena, RecvMeta, SocketConfig, Transmit, UdpSocket, BATCH_SIZE, RECV_BUFFER_BYTES};
use mpquic_proto::EcnCodepoint;

mod common;

/// Receives until `want` datagrams arrived (or a timeout); returns (meta, payload) per datagram
/// with GRO buffers split.
async fn recv_datagrams(sock: &UdpSocket, want: usize) -> Vec<(RecvMeta, Vec<u8>)> {
    let mut storage = vec![vec![0u8; RECV_BUFFER_BYTES]; BATCH_SIZE];
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while out.len() < want {
        let mut bufs: Vec<IoSliceMut<'_>> = storage.iter_mut().map(|b| IoSliceMut::new(b)).collect();
        let mut meta = [RecvMeta::default(); BATCH_SIZE];
        let n = tokio::time::timeout_at(deadline, sock.recv(&mut bufs, &mut meta))
            .await
            .expect("datagrams did not arrive in time")
            .expect("recv");
        for i in 0..n {
            let m = meta[i];
            for seg in bufs[i][..m.len].chunks(m.stride) {
                out.push((m, seg.to_vec()));
            }
        }
    }
    out
}

fn cfg() -> SocketConfig {
    SocketConfig::default()
}

#[tokio::test]
async fn ecn_round_trip_ipv4_and_ipv6() {
    for (bind, dst_ip) in [("127.0.0.1:0", "127.0.0.1"), ("[::1]:0", "::1")] {
        let a = UdpSocket::bind(bind.parse().unwrap(), &cfg()).unwrap();
        let b = UdpSocket::bind(bind.parse().unwrap(), &cfg()).unwrap();
        assert!(a.capabilities().ecn && b.capabilities().ecn, "{:?}", a.capabilities());
        let dst = SocketAddr::new(dst_ip.parse().unwrap(), b.local_addr().port());
        for ecn in [Some(EcnCodepoint::Ect0), Some(EcnCodepoint::Ect1), Some(EcnCodepoint::Ce), None] {
            let t = Transmit { dst, src_ip: None, ecn, segment_size: None, contents: b"hello" };
            a.send(&[t]).await.unwrap();
            let got = recv_datagrams(&b, 1).await;
            assert_eq!(got[0].1, b"hello");
            assert_eq!(got[0].0.ecn, ecn, "{bind}");
            assert_eq!(got[0].0.src, a.local_addr());
            assert_eq!(got[0].0.dst_ip, Some(dst.ip()), "PKTINFO reports the local address");
        }
    }
}

#[tokio::test]
async fn gso_batch_arrives_as_its_datagrams() {
    let a = UdpSocket::bind("127.0.0.1:0".parse().unwrap(), &cfg()).unwrap();
    let b = UdpSocket::bind("127.0.0.1:0".parse().unwrap(), &cfg()).unwrap();
    assert!(a.max_gso_segments() > 1, "GSO expected on this kernel");
    // Ten segments of 1200 bytes and a short last one, each segment tagged with its index.
    let seg = 1200;
    let mut data = Vec::new();
    for i in 0..11u8 {
        let len = if i == 10 { 300 } else { seg };
        data.extend(std::iter::repeat_n(i, len));
    }
    let t = Transmit {
        dst: b.local_addr(),
        src_ip: None,
        ecn: Some(EcnCodepoint::Ect0),
        segment_size: Some(seg),
        contents: &data,
    };
    let before = a.stats();
    a.send(&[t]).await.unwrap();
    let after = a.stats();
    assert_eq!(after.sendmmsg_calls - before.sendmmsg_calls, 1);
    assert_eq!(after.gso_messages - before.gso_messages, 1, "one super-buffer");
    assert_eq!(after.datagrams_sent - before.datagrams_sent, 11);
    let got = recv_datagrams(&b, 11).await;
    assert_eq!(got.len(), 11);
    for (i, (m, d)) in got.iter().enumerate() {
        assert_eq!(d.len(), if i == 10 { 300 } else { seg });
        assert!(d.iter().all(|&x| x == i as u8), "segment {i} in order and intact");
        assert_eq!(m.ecn, Some(EcnCodepoint::Ect0));
    }
    let s = b.stats();
    assert_eq!(s.datagrams_received, 11);
    if b.capabilities().gro {
        // Loopback GRO hands a GSO batch sent in one call back as one coalesced buffer (or a few):
        // at least one receive buffer must have held several datagrams.
        assert!(s.gro_buffers >= 1, "GRO is on but every datagram arrived alone: {s:?}");
    } else {
        common::skip_unless_ci("the kernel does not offer UDP GRO; the GRO part is not checked");
    }
}

#[tokio::test]
async fn several_super_buffers_for_different_pairs_in_one_call() {
    let a = UdpSocket::bind("0.0.0.0:0".parse().unwrap(), &cfg()).unwrap();
    let b = UdpSocket::bind("127.0.0.1:0".parse().unwrap(), &cfg()).unwrap();
    let c = UdpSocket::bind("127.0.0.1:0".parse().unwrap(), &cfg()).unwrap();
    let port = a.local_addr().port();
    let x = vec![1u8; 3000];
    let y = vec![2u8; 2000];
    let ts = [
        Transmit {
            dst: b.local_addr(),
            src_ip: Some("127.0.0.1".parse().unwrap()),
            ecn: None,
            segment_size: Some(1000),
            contents: &x,
        },
        Transmit {
            dst: c.local_addr(),
            src_ip: Some("127.0.0.2".parse().unwrap()),
            ecn: Some(EcnCodepoint::Ect0),
            segment_size: Some(1000),
            contents: &y,
        },
    ];
    let before = a.stats();
    a.send(&ts).await.unwrap();
    let after = a.stats();
    assert_eq!(after.sendmmsg_calls - before.sendmmsg_calls, 1, "one system call");
    assert_eq!(after.gso_messages - before.gso_messages, 2, "two GSO super-buffers");
    let gb = recv_datagrams(&b, 3).await;
    let gc = recv_datagrams(&c, 2).await;
    assert!(gb.iter().all(|(m, d)| d == &vec![1u8; 1000] && m.src == SocketAddr::from(([127, 0, 0, 1], port))));
    assert!(
        gc.iter().all(|(m, d)| d == &vec![2u8; 1000] && m.src == SocketAddr::from(([127, 0, 0, 2], port))),
        "source chosen per message: {:?}",
        gc.iter().map(|(m, _)| m.src).collect::<Vec<_>>()
    );
    assert!(gc.iter().all(|(m, _)| m.ecn == Some(EcnCodepoint::Ect0)));
}

#[tokio::test]
async fn wildcard_socket_learns_local_address_and_answers_from_it() {
    let server = UdpSocket::bind("0.0.0.0:0".parse().unwrap(), &cfg()).unwrap();
    let port = server.local_addr().port();
    let client = UdpSocket::bind("127.0.0.1:0".parse().unwrap(), &cfg()).unwrap();
    let to: SocketAddr = SocketAddr::from(([127, 0, 0, 2], port));
    client.send(&[Transmit { dst: to, src_ip: None, ecn: None, segment_size: None, contents: b"ping" }]).await.unwrap();
    let got = recv_datagrams(&server, 1).await;
    let local: IpAddr = got[0].0.dst_ip.expect("pktinfo");
    assert_eq!(local, to.ip());
    server
        .send(&[Transmit { dst: got[0].0.src, src_ip: Some(local), ecn: None, segment_size: None, contents: b"pong" }])
        .await
        .unwrap();
    let back = recv_datagrams(&client, 1).await;
    assert_eq!(back[0].0.src, to, "the answer comes from the address the request went to");
}

#[tokio::test]
async fn ipv4_peer_on_dual_stack_socket() {
    let server = match UdpSocket::bind("[::]:0".parse().unwrap(), &cfg()) {
        Ok(s) => s,
        Err(e) => return common::skip_unless_ci(&format!("no IPv6 dual-stack socket: {e}")),
    };
    let client = UdpSocket::bind("127.0.0.1:0".parse().unwrap(), &cfg()).unwrap();
    let to = SocketAddr::from(([127, 0, 0, 1], server.local_addr().port()));
    client
        .send(&[Transmit { dst: to, src_ip: None, ecn: Some(EcnCodepoint::Ect0), segment_size: None, contents: b"hi" }])
        .await
        .unwrap();
    let got = recv_datagrams(&server, 1).await;
    assert_eq!(got[0].0.src, client.local_addr(), "IPv4-mapped source comes back as IPv4");
    assert_eq!(got[0].0.dst_ip, Some(to.ip()));
    assert_eq!(got[0].0.ecn, Some(EcnCodepoint::Ect0));
    server
        .send(&[Transmit {
            dst: got[0].0.src,
            src_ip: Some(to.ip()),
            ecn: Some(EcnCodepoint::Ect0),
            segment_size: None,
            contents: b"ok",
        }])
        .await
        .unwrap();
    let back = recv_datagrams(&client, 1).await;
    assert_eq!(back[0].0.src, to);
    assert_eq!(back[0].0.ecn, Some(EcnCodepoint::Ect0));
}

#[tokio::test]
async fn icmp_port_unreachable_is_reported() {
    let a = UdpSocket::bind("127.0.0.1:0".parse().unwrap(), &cfg()).unwrap();
    assert!(a.capabilities().recverr);
    // A port nobody listens on: bind and drop a socket to find one.
    let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    a.send(&[Transmit { dst: closed, src_ip: None, ecn: None, segment_size: None, contents: b"x" }]).await.unwrap();
    let mut errors = Vec::new();
    for _ in 0..50 {
        errors.extend(a.take_icmp_errors());
        if !errors.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].kind, IcmpKind::Unreachable { code: 3 });
    assert_eq!(errors[0].dst, Some(closed));
    assert_eq!(errors[0].errno, libc_econnrefused());
}

fn libc_econnrefused() -> i32 {
    std::io::Error::from(std::io::ErrorKind::ConnectionRefused).raw_os_error().unwrap_or(111)
}

#[tokio::test]
async fn portable_path_and_disabled_gso_still_deliver() {
    for config in [SocketConfig { portable: true, ..cfg() }, SocketConfig { gso: false, gro: false, ..cfg() }] {
        let a = UdpSocket::bind("127.0.0.1:0".parse().unwrap(), &config).unwrap();
        let b = UdpSocket::bind("127.0.0.1:0".parse().unwrap(), &config).unwrap();
        assert_eq!(a.max_gso_segments(), 1);
        let data = vec![7u8; 2500];
        a.send(&[Transmit { dst: b.local_addr(), src_ip: None, ecn: None, segment_size: Some(1000), contents: &data }])
            .await
            .unwrap();
        let got = recv_datagrams(&b, 3).await;
        let lens: Vec<usize> = got.iter().map(|(_, d)| d.len()).collect();
        assert_eq!(lens, vec![1000, 1000, 500], "{config:?}");
    }
}

/// Sends `count` datagrams numbered from `first` (sizes cycle through 200 to 1400 bytes, each
/// byte the datagram's number) and receives them into `arena`; returns the datagrams' bytes
/// and the most messages one call returned.
async fn arena_exchange(
    a: &UdpSocket,
    b: &UdpSocket,
    arena: &mut RecvArena,
    first: usize,
    count: usize,
) -> (Vec<bytes::Bytes>, usize) {
    let payload = |i: usize| vec![(i % 251) as u8; 200 + (i * 97) % 1201];
    let sent: Vec<Vec<u8>> = (first..first + count).map(payload).collect();
    let transmits: Vec<Transmit<'_>> = sent
        .iter()
        .map(|d| Transmit { dst: b.local_addr(), src_ip: None, ecn: None, segment_size: None, contents: d })
        .collect();
    a.send(&transmits).await.unwrap();
    let mut got = Vec::new();
    let mut most = 0;
    let mut meta = [RecvMeta::default(); BATCH_SIZE];
    while got.len() < count {
        let Ok(r) = tokio::time::timeout(Duration::from_secs(5), b.recv_arena(arena, &mut meta)).await else {
            panic!("{} of datagrams {first}.. arrived; b: {:?}", got.len(), b.stats());
        };
        let (n, mut batch) = r.expect("recv");
        most = most.max(n);
        for m in &meta[..n] {
            let mut message = batch.split_to(m.len).freeze();
            while !message.is_empty() {
                got.push(message.split_to(m.stride.min(message.len())));
            }
        }
        assert!(batch.is_empty(), "the batch holds exactly the messages' bytes");
    }
    for (i, (g, s)) in got.iter().zip(&sent).enumerate() {
        assert_eq!(&g[..], &s[..], "datagram {} changed on the way", first + i);
    }
    (got, most)
}

/// Receiving into an arena: every datagram arrives whole and in order, with several messages
/// per call moved together; the arena is reused while nothing holds its datagrams, new ones are
/// made while datagrams are held, and those come back once the datagrams are dropped. The
/// portable path gives the same bytes.
#[tokio::test]
async fn arena_receive_keeps_datagrams_and_reuses_storage() {
    let big = SocketConfig { recv_buffer_bytes: 8 << 20, ..cfg() };
    for config in [big.clone(), SocketConfig { portable: true, ..big }] {
        let a = UdpSocket::bind("127.0.0.1:0".parse().unwrap(), &config).unwrap();
        let b = UdpSocket::bind("127.0.0.1:0".parse().unwrap(), &config).unwrap();
        let slot = if b.capabilities().gro { RECV_BUFFER_BYTES } else { 4096 };
        let mut arena = RecvArena::new(slot);
        // About 8 MiB in exchanges of 64 datagrams (the portable socket keeps the default receive
        // buffer), each exchange's datagrams dropped after it: two arenas are enough (an
        // exchange still holds its datagrams when the arena runs out under it), then reused;
        // the second half of the rounds goes through the arenas twice more.
        const N: usize = 64;
        let mut next = 0;
        let mut most = 0;
        let mut after_half = 0;
        for round in 0..160 {
            let (_, m) = arena_exchange(&a, &b, &mut arena, next, N).await;
            most = most.max(m);
            next += N;
            if round == 79 {
                after_half = arena.allocations();
            }
        }
        assert!(most > 1, "{config:?}: one message per call, nothing to move together");
        assert!(after_half <= 2, "{config:?}: {after_half} arenas for datagrams that were dropped");
        assert_eq!(arena.allocations(), after_half, "{config:?}: the arenas were not reused");
        // About 8 MiB kept: new arenas.
        let mut held = Vec::new();
        for _ in 0..160 {
            held.extend(arena_exchange(&a, &b, &mut arena, next, N).await.0);
            next += N;
        }
        let while_held = arena.allocations();
        assert!(while_held >= 4, "{config:?}: {while_held} arenas for 8 MiB of held datagrams");
        // Dropped: the retired arenas are reused.
        drop(held);
        for _ in 0..160 {
            arena_exchange(&a, &b, &mut arena, next, N).await;
            next += N;
        }
        assert_eq!(arena.allocations(), while_held, "{config:?}: freed arenas were not reused");
    }
}
