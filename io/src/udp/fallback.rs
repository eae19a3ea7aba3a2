//! The portable path: one `send_to` per datagram and one `recv_from` per receive, without ECN,
//! GSO, GRO or source-address selection. It is what runs off Linux, and on Linux when
//! [`SocketConfig::portable`](super::SocketConfig::portable) asks for it (tests compare both).

use std::io;
use std::io::IoSliceMut;
use std::sync::atomic::Ordering;

use super::{RecvMeta, SocketState, Transmit};

/// Sends whole transmits, one datagram per system call.
pub(crate) fn send(
    socket: &tokio::net::UdpSocket,
    state: &SocketState,
    transmits: &[Transmit<'_>],
) -> io::Result<usize> {
    let mut done = 0;
    for t in transmits {
        let seg = t.segment_size.filter(|&s| s > 0).unwrap_or(t.contents.len()).max(1);
        for datagram in t.contents.chunks(seg) {
            match socket.try_send_to(datagram, t.dst) {
                Ok(_) => {
                    state.stats.datagrams_sent.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return if done == 0 { Err(e) } else { Ok(done) };
                }
                Err(e) => {
                    tracing::debug!(error = %e, dst = %t.dst, "dropping a datagram the OS refused");
                    state.stats.send_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        done += 1;
    }
    Ok(done)
}

/// Receives datagrams, one per buffer.
pub(crate) fn recv(
    socket: &tokio::net::UdpSocket,
    state: &SocketState,
    bufs: &mut [IoSliceMut<'_>],
    meta: &mut [RecvMeta],
) -> io::Result<usize> {
    let mut n = 0;
    while n < bufs.len().min(meta.len()) {
        match socket.try_recv_from(&mut bufs[n]) {
            Ok((len, src)) => {
                meta[n] = RecvMeta { src, dst_ip: None, ecn: None, len, stride: len };
                state.stats.datagrams_received.fetch_add(1, Ordering::Relaxed);
                n += 1;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && n > 0 => break,
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
