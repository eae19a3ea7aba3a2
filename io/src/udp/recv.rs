//! Receiving on Linux: many datagrams per `recvmmsg(2)` call, each buffer possibly a UDP GRO
//! batch of equal-size datagrams (the UDP_GRO cmsg gives their size), with the ECN bits of the
//! TOS / traffic class byte and the local address the datagram was sent to (IP_PKTINFO /
//! IPV6_PKTINFO).

use std::io;
use std::mem;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;

use mpquic_proto::EcnCodepoint;

use super::addr::{self, canonical_ip};
use super::cmsg::{self, ControlBuffer};
use super::{RecvMeta, SocketState, BATCH_SIZE};

/// Receives up to `min(iovs.len(), meta.len(), BATCH_SIZE)` messages into `iovs[i]` described
/// by `meta[i]`; returns how many entries were used (an entry with `len` 0 carries nothing).
/// `WouldBlock` when none is queued.
///
/// Each `iovs[i]` must point to `iov_len` bytes that may be written (they need not be
/// initialised: only the kernel writes them).
pub(crate) fn recv(
    socket: &impl AsRawFd,
    state: &SocketState,
    iovs: &mut [libc::iovec],
    meta: &mut [RecvMeta],
) -> io::Result<usize> {
    let fd = socket.as_raw_fd();
    let n = iovs.len().min(meta.len()).min(BATCH_SIZE);
    if n == 0 {
        return Ok(0);
    }
    // SAFETY: plain old data; zeroes are valid values.
    let mut hdrs: [libc::mmsghdr; BATCH_SIZE] = unsafe { mem::zeroed() };
    // SAFETY: as above.
    let mut names: [libc::sockaddr_storage; BATCH_SIZE] = unsafe { mem::zeroed() };
    let mut controls = [ControlBuffer::ZERO; BATCH_SIZE];
    for i in 0..n {
        let hdr = &mut hdrs[i].msg_hdr;
        hdr.msg_name = &mut names[i] as *mut _ as *mut libc::c_void;
        hdr.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        hdr.msg_iov = &mut iovs[i];
        hdr.msg_iovlen = 1;
        hdr.msg_control = controls[i].0.as_mut_ptr().cast();
        hdr.msg_controllen = cmsg::CONTROL_LEN as _;
    }
    let rc = loop {
        // SAFETY: hdrs[..n] point to live names, buffers and control buffers for the call.
        let rc = unsafe { libc::recvmmsg(fd, hdrs.as_mut_ptr(), n as libc::c_uint, 0, std::ptr::null_mut()) };
        if rc >= 0 {
            break rc as usize;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    };
    state.stats.recvmmsg_calls.fetch_add(1, Ordering::Relaxed);
    for i in 0..rc {
        meta[i] = RecvMeta::default();
        let hdr = &hdrs[i].msg_hdr;
        let Some(src) = addr::from_storage(&names[i], hdr.msg_namelen) else { continue };
        let len = hdrs[i].msg_len as usize;
        let mut m = RecvMeta { src, dst_ip: None, ecn: None, len, stride: len };
        // SAFETY: the header was filled in by a successful recvmmsg.
        unsafe {
            cmsg::for_each(hdr, |c| match (c.level, c.ty) {
                (libc::IPPROTO_IP, libc::IP_TOS) | (libc::IPPROTO_IPV6, libc::IPV6_TCLASS) => {
                    m.ecn = c.read_int().and_then(|v| EcnCodepoint::from_bits(v as u8));
                }
                (libc::IPPROTO_IP, libc::IP_PKTINFO) => {
                    if let Some(info) = c.read::<libc::in_pktinfo>() {
                        m.dst_ip = Some(IpAddr::V4(Ipv4Addr::from(info.ipi_addr.s_addr.to_ne_bytes())));
                    }
                }
                (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
                    if let Some(info) = c.read::<libc::in6_pktinfo>() {
                        m.dst_ip = Some(canonical_ip(IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr))));
                    }
                }
                (libc::SOL_UDP, libc::UDP_GRO) => {
                    if let Some(size) = c.read_int().filter(|&s| s > 0) {
                        m.stride = size as usize;
                    }
                }
                _ => {}
            });
        }
        if hdr.msg_flags & libc::MSG_TRUNC != 0 {
            // Larger than the buffer: never a valid QUIC datagram for us.
            continue;
        }
        if m.stride < m.len {
            state.stats.gro_buffers.fetch_add(1, Ordering::Relaxed);
        }
        state.stats.datagrams_received.fetch_add(m.len.div_ceil(m.stride.max(1)) as u64, Ordering::Relaxed);
        meta[i] = m;
    }
    Ok(rc)
}
