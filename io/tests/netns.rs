//! Binding sockets inside a network namespace: two sockets bound in a fresh namespace talk over
//! its own loopback, which a socket of this process's namespace cannot reach. Needs root (to
//! make the namespace with `ip netns add`); skipped with a message otherwise, and failed when
//! `CI=true`.

mod common;

use std::io::IoSliceMut;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use mpquic_io::netns;
use mpquic_io::udp::{RecvMeta, SocketConfig, Transmit, UdpSocket, BATCH_SIZE, RECV_BUFFER_BYTES};

/// A namespace made for the test and deleted when dropped; `None` without root or `ip`.
struct Netns(String);

impl Netns {
    fn create(name: &str) -> Option<Self> {
        let ok = |args: &[&str]| Command::new("ip").args(args).status().is_ok_and(|s| s.success());
        if !ok(&["netns", "add", name]) {
            common::skip_unless_ci("cannot create a network namespace (needs root and iproute2's `ip`)");
            return None;
        }
        let ns = Self(name.to_owned());
        assert!(ok(&["-n", name, "link", "set", "lo", "up"]));
        Some(ns)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

async fn recv_one(sock: &UdpSocket, wait: Duration) -> Option<Vec<u8>> {
    let mut storage = vec![vec![0u8; RECV_BUFFER_BYTES]; BATCH_SIZE];
    let mut bufs: Vec<IoSliceMut<'_>> = storage.iter_mut().map(|b| IoSliceMut::new(b)).collect();
    let mut meta = [RecvMeta::default(); BATCH_SIZE];
    let n = tokio::time::timeout(wait, sock.recv(&mut bufs, &mut meta)).await.ok()?.ok()?;
    (n > 0).then(|| bufs[0][..meta[0].len].to_vec())
}

#[tokio::test]
async fn sockets_bound_in_a_namespace_use_its_loopback() {
    let Some(ns) = Netns::create(&format!("mpqio{}", std::process::id())) else { return };
    let path = netns::named(&ns.0);
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let cfg = SocketConfig::default();
    let a = UdpSocket::from_std(netns::bind_udp(&path, any).unwrap(), &cfg).unwrap();
    let b = UdpSocket::from_std(netns::bind_udp(&path, any).unwrap(), &cfg).unwrap();
    let t = Transmit { dst: b.local_addr(), src_ip: None, ecn: None, segment_size: None, contents: b"inside" };
    a.send(&[t]).await.unwrap();
    assert_eq!(recv_one(&b, Duration::from_secs(2)).await.as_deref(), Some(&b"inside"[..]));
    // From this process's own namespace the same address is another host's loopback.
    let outside = UdpSocket::bind(any, &cfg).unwrap();
    let t = Transmit { dst: b.local_addr(), src_ip: None, ecn: None, segment_size: None, contents: b"outside" };
    outside.send(&[t]).await.unwrap();
    assert_eq!(recv_one(&b, Duration::from_millis(300)).await, None, "the namespace is isolated");
    // A namespace that does not exist is a clear error.
    let e = netns::bind_udp(&netns::named("mpquic-no-such-namespace"), any).unwrap_err();
    assert!(e.to_string().contains("mpquic-no-such-namespace"), "{e}");
}
