//! Socket setup on Linux: the options that turn the fast paths on (UDP GRO, ECN and packet-info
//! reception, ICMP error queue, DF bit for path MTU discovery), buffer sizing, binding to an
//! interface, and probing what the kernel accepts. Anything the kernel refuses is switched off
//! in [`Capabilities`](super::Capabilities) and logged, never fatal.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, RawFd};

use super::{Capabilities, SocketConfig, KERNEL_MAX_GSO_SEGMENTS};

fn setsockopt<T: Copy>(fd: RawFd, level: libc::c_int, name: libc::c_int, value: T) -> io::Result<()> {
    // SAFETY: `value` is a live T and the length passed is its size; the kernel copies it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &value as *const T as *const libc::c_void,
            mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn getsockopt_int(fd: RawFd, level: libc::c_int, name: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: value and len are live and len holds value's size.
    let rc = unsafe { libc::getsockopt(fd, level, name, &mut value as *mut _ as *mut libc::c_void, &mut len) };
    if rc == 0 {
        Ok(value)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Turns an option on; says whether the kernel accepted it.
fn enable(fd: RawFd, level: libc::c_int, name: libc::c_int, what: &str) -> bool {
    match setsockopt(fd, level, name, 1 as libc::c_int) {
        Ok(()) => true,
        Err(e) => {
            tracing::debug!(error = %e, option = what, "socket option refused");
            false
        }
    }
}

/// Sets a buffer size, trying the privileged variant first (it ignores `net.core.*mem_max`), and
/// returns the size the kernel reports afterwards.
fn size_buffer(fd: RawFd, force: libc::c_int, normal: libc::c_int, bytes: usize) -> usize {
    let want = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    if want > 0 && setsockopt(fd, libc::SOL_SOCKET, force, want).is_err() {
        let _ = setsockopt(fd, libc::SOL_SOCKET, normal, want);
    }
    getsockopt_int(fd, libc::SOL_SOCKET, normal).map_or(0, |v| usize::try_from(v).unwrap_or(0))
}

/// Configures `socket` and reports what works.
pub(crate) fn configure(socket: &impl AsRawFd, ipv6: bool, config: &SocketConfig) -> io::Result<Capabilities> {
    let fd = socket.as_raw_fd();
    if let Some(device) = &config.bind_device {
        // SO_BINDTODEVICE: packets leave (and are accepted) only through this interface, for
        // per-path sockets pinned to a link.
        let name = device.as_bytes();
        // SAFETY: name points to name.len() valid bytes.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_BINDTODEVICE,
                name.as_ptr() as *const libc::c_void,
                name.len() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::new(
                io::Error::last_os_error().kind(),
                format!("binding the socket to interface {device:?}: {}", io::Error::last_os_error()),
            ));
        }
    }
    let recv_buffer_bytes = size_buffer(fd, libc::SO_RCVBUFFORCE, libc::SO_RCVBUF, config.recv_buffer_bytes);
    let send_buffer_bytes = size_buffer(fd, libc::SO_SNDBUFFORCE, libc::SO_SNDBUF, config.send_buffer_bytes);

    // ECN (RFC 9000 §13.4): read the TOS / traffic class byte of every datagram. A dual-stack
    // IPv6 socket receives IPv4 packets too, so ask for both.
    let mut ecn = config.ecn;
    let mut pktinfo = true;
    let mut recverr = true;
    if ipv6 {
        ecn &= enable(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVTCLASS, "IPV6_RECVTCLASS");
        pktinfo &= enable(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, "IPV6_RECVPKTINFO");
        recverr &= enable(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVERR, "IPV6_RECVERR");
        // RFC 9000 §14: QUIC datagrams must not be fragmented. PROBE sets DF and lets DPLPMTUD
        // (RFC 8899) send probes larger than the kernel's cached path MTU.
        let _ = setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_MTU_DISCOVER, libc::IPV6_PMTUDISC_PROBE);
        // Best effort for IPv4-mapped traffic on dual-stack sockets.
        let _ = setsockopt(fd, libc::IPPROTO_IP, libc::IP_RECVTOS, 1 as libc::c_int);
        let _ = setsockopt(fd, libc::IPPROTO_IP, libc::IP_PKTINFO, 1 as libc::c_int);
        let _ = setsockopt(fd, libc::IPPROTO_IP, libc::IP_RECVERR, 1 as libc::c_int);
        let _ = setsockopt(fd, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER, libc::IP_PMTUDISC_PROBE);
    } else {
        ecn &= enable(fd, libc::IPPROTO_IP, libc::IP_RECVTOS, "IP_RECVTOS");
        pktinfo &= enable(fd, libc::IPPROTO_IP, libc::IP_PKTINFO, "IP_PKTINFO");
        recverr &= enable(fd, libc::IPPROTO_IP, libc::IP_RECVERR, "IP_RECVERR");
        let _ = setsockopt(fd, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER, libc::IP_PMTUDISC_PROBE);
    }

    // UDP GSO (Linux 4.18): probing the option tells whether the kernel knows it. A segment size
    // of 0 means "no default segmentation"; each send carries its own in a cmsg.
    let max_gso_segments = if config.gso && setsockopt(fd, libc::SOL_UDP, libc::UDP_SEGMENT, 0 as libc::c_int).is_ok() {
        KERNEL_MAX_GSO_SEGMENTS
    } else {
        1
    };
    // UDP GRO (Linux 5.0): the kernel coalesces same-size datagrams of one flow into one buffer
    // and tells the segment size in a UDP_GRO cmsg.
    let gro = config.gro && enable(fd, libc::SOL_UDP, libc::UDP_GRO, "UDP_GRO");
    Ok(Capabilities { max_gso_segments, gro, ecn, pktinfo, recverr, recv_buffer_bytes, send_buffer_bytes })
}
