//! Conversions between `std::net` addresses and the C socket address structures, including the
//! IPv4-mapped IPv6 form a dual-stack socket sees for IPv4 peers.

use std::mem;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// `addr` as a `sockaddr_storage` for a socket of the given family. An IPv6 socket reaches IPv4
/// peers through IPv4-mapped addresses (RFC 4291 §2.5.5.2).
pub(crate) fn to_storage(addr: SocketAddr, ipv6_socket: bool) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all zeroes is a valid (AF_UNSPEC) value.
    let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let addr = match addr {
        SocketAddr::V4(v4) if ipv6_socket => {
            SocketAddr::V6(SocketAddrV6::new(v4.ip().to_ipv6_mapped(), v4.port(), 0, 0))
        }
        other => other,
    };
    let len = match addr {
        SocketAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(v4.ip().octets()) },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and suitably aligned for sockaddr_in.
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in, sin) };
            mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: v6.flowinfo().to_be(),
                sin6_addr: libc::in6_addr { s6_addr: v6.ip().octets() },
                sin6_scope_id: v6.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and suitably aligned for sockaddr_in6.
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in6, sin6) };
            mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// The address in `storage`, with IPv4-mapped IPv6 addresses turned back into IPv4 so that a
/// connection sees one form of its peer's address whatever the socket family.
pub(crate) fn from_storage(storage: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    match i32::from(storage.ss_family) {
        libc::AF_INET if len as usize >= mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the storage holds a sockaddr_in, and it is long enough.
            let sin = unsafe { &*(storage as *const _ as *const libc::sockaddr_in) };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sin.sin_port))))
        }
        libc::AF_INET6 if len as usize >= mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: the family says the storage holds a sockaddr_in6, and it is long enough.
            let sin6 = unsafe { &*(storage as *const _ as *const libc::sockaddr_in6) };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            let port = u16::from_be(sin6.sin6_port);
            Some(match ip.to_ipv4_mapped() {
                Some(v4) => SocketAddr::V4(SocketAddrV4::new(v4, port)),
                None => {
                    SocketAddr::V6(SocketAddrV6::new(ip, port, u32::from_be(sin6.sin6_flowinfo), sin6.sin6_scope_id))
                }
            })
        }
        _ => None,
    }
}

/// Whether a packet to `dst` leaves through the IPv4 stack (an IPv4 address, or IPv4-mapped on a
/// dual-stack socket): IPv4 ancillary data (IP_TOS, IP_PKTINFO) applies to it.
pub(crate) fn is_ipv4_path(dst: &SocketAddr) -> bool {
    match dst {
        SocketAddr::V4(_) => true,
        SocketAddr::V6(v6) => v6.ip().to_ipv4_mapped().is_some(),
    }
}

/// `ip` without the IPv4-mapped form.
pub(crate) fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_unmaps() {
        for (addr, v6) in [("127.0.0.1:4433", false), ("[::1]:4433", true), ("[fe80::1%2]:1", true)] {
            let a: SocketAddr = addr.parse().unwrap();
            let (s, l) = to_storage(a, v6);
            assert_eq!(from_storage(&s, l), Some(a));
        }
        let a: SocketAddr = "10.1.2.3:9".parse().unwrap();
        let (s, l) = to_storage(a, true);
        assert_eq!(i32::from(s.ss_family), libc::AF_INET6);
        assert_eq!(from_storage(&s, l), Some(a), "mapped address comes back as IPv4");
        assert!(from_storage(&s, 4).is_none(), "short lengths are refused");
    }
}
