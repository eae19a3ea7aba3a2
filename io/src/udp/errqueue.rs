//! ICMP errors through the socket error queue (IP_RECVERR / IPV6_RECVERR, `ip(7)`): destination
//! unreachable and packet too big messages about datagrams we sent, read with `MSG_ERRQUEUE`.
//!
//! An unconnected UDP socket only hears of ICMP errors with these options on. The kernel
//! reports an error once through the next socket call (e.g. ECONNREFUSED from `recvmmsg`) and
//! keeps the details in the queue drained here.

use std::io;
use std::mem;
use std::os::fd::AsRawFd;

use super::addr;
use super::cmsg::{self, ControlBuffer};
use super::{IcmpError, IcmpKind};

/// ICMPv4 destination unreachable; code 4 is "fragmentation needed" (RFC 1191).
const ICMP_DEST_UNREACH: u8 = 3;
const ICMP_FRAG_NEEDED: u8 = 4;
/// ICMPv6 destination unreachable and packet too big (RFC 4443).
const ICMPV6_DEST_UNREACH: u8 = 1;
const ICMPV6_PKT_TOOBIG: u8 = 2;

/// Reads every queued error (at most `limit`).
pub(crate) fn drain(socket: &impl AsRawFd, limit: usize, out: &mut Vec<IcmpError>) {
    let fd = socket.as_raw_fd();
    for _ in 0..limit {
        // SAFETY: plain old data; zeroes are valid values.
        let mut name: libc::sockaddr_storage = unsafe { mem::zeroed() };
        let mut control = ControlBuffer::ZERO;
        let mut payload = [0u8; 64];
        let mut iov = libc::iovec { iov_base: payload.as_mut_ptr().cast(), iov_len: payload.len() };
        // SAFETY: as above.
        let mut hdr: libc::msghdr = unsafe { mem::zeroed() };
        hdr.msg_name = &mut name as *mut _ as *mut libc::c_void;
        hdr.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        hdr.msg_iov = &mut iov;
        hdr.msg_iovlen = 1;
        hdr.msg_control = control.0.as_mut_ptr().cast();
        hdr.msg_controllen = cmsg::CONTROL_LEN as _;
        // SAFETY: hdr points to live buffers for the duration of the call.
        let rc = unsafe { libc::recvmsg(fd, &mut hdr, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        let dst = addr::from_storage(&name, hdr.msg_namelen);
        // SAFETY: the header was filled in by a successful recvmsg.
        unsafe {
            cmsg::for_each(&hdr, |c| {
                let is_err = matches!(
                    (c.level, c.ty),
                    (libc::IPPROTO_IP, libc::IP_RECVERR) | (libc::IPPROTO_IPV6, libc::IPV6_RECVERR)
                );
                if !is_err {
                    return;
                }
                let Some(ee) = c.read::<libc::sock_extended_err>() else { return };
                let v6 = c.level == libc::IPPROTO_IPV6;
                let kind = match (ee.ee_origin, ee.ee_type, ee.ee_code) {
                    (libc::SO_EE_ORIGIN_ICMP, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED) if !v6 => {
                        IcmpKind::PacketTooBig { mtu: ee.ee_info }
                    }
                    (libc::SO_EE_ORIGIN_ICMP6, ICMPV6_PKT_TOOBIG, _) if v6 => {
                        IcmpKind::PacketTooBig { mtu: ee.ee_info }
                    }
                    (libc::SO_EE_ORIGIN_ICMP, ICMP_DEST_UNREACH, code) if !v6 => IcmpKind::Unreachable { code },
                    (libc::SO_EE_ORIGIN_ICMP6, ICMPV6_DEST_UNREACH, code) if v6 => IcmpKind::Unreachable { code },
                    (libc::SO_EE_ORIGIN_LOCAL, _, _) if ee.ee_errno == libc::EMSGSIZE as u32 => {
                        IcmpKind::PacketTooBig { mtu: ee.ee_info }
                    }
                    (origin, ty, code) => IcmpKind::Other { origin, ty, code },
                };
                out.push(IcmpError { dst, errno: ee.ee_errno as i32, kind });
            });
        }
    }
}
