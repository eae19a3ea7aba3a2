//! Sockets in another network namespace (Linux). A socket belongs to the namespace of the
//! thread that creates it and keeps it for its whole life, whichever thread uses it later; so a
//! short-lived thread joins the namespace (`setns(2)`), binds, and hands the socket back. One
//! process can then hold a client in one namespace and a server in another (the `--netns`
//! topology of `mpquic run --real`).
//!
//! The namespace is named by a file: `/var/run/netns/NAME` for those made with `ip netns add
//! NAME` ([`named`]). Joining one needs CAP_SYS_ADMIN (root).

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The file of a namespace made with `ip netns add NAME`.
pub fn named(name: &str) -> PathBuf {
    Path::new("/var/run/netns").join(name)
}

/// Binds a UDP socket on `addr` inside the network namespace whose file is `netns` (e.g.
/// [`named`]); pass it to [`UdpSocket::from_std`](crate::udp::UdpSocket::from_std).
#[cfg(target_os = "linux")]
pub fn bind_udp(netns: &Path, addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    enter(netns, || std::net::UdpSocket::bind(addr))
}

/// Runs `make` on a short-lived thread that has joined the network namespace whose file is
/// `netns`, and returns what it made: a socket or a TUN device made there belongs to that
/// namespace for its whole life, whichever thread uses it later.
#[cfg(target_os = "linux")]
pub fn enter<T: Send>(netns: &Path, make: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T> {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(netns)
        .map_err(|e| io::Error::new(e.kind(), format!("network namespace {}: {e}", netns.display())))?;
    let fd = file.as_raw_fd();
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                // SAFETY: `fd` is an open file descriptor (the namespace file stays open until the
                // scope ends); setns only changes the namespace of this thread, which ends after
                // `make`.
                let rc = unsafe { libc::setns(fd, libc::CLONE_NEWNET) };
                if rc != 0 {
                    let e = io::Error::last_os_error();
                    return Err(io::Error::new(e.kind(), format!("joining {}: {e}", netns.display())));
                }
                make()
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the thread working in the namespace panicked")))
    })
}

/// Network namespaces exist on Linux only.
#[cfg(not(target_os = "linux"))]
pub fn enter<T: Send>(netns: &Path, _make: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T> {
    Err(io::Error::new(io::ErrorKind::Unsupported, format!("network namespace {}: Linux only", netns.display())))
}

/// Network namespaces exist on Linux only.
#[cfg(not(target_os = "linux"))]
pub fn bind_udp(netns: &Path, _addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    Err(io::Error::new(io::ErrorKind::Unsupported, format!("network namespace {}: Linux only", netns.display())))
}
