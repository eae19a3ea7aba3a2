//! Sending on Linux: many messages per `sendmmsg(2)` call, each message a UDP GSO super-buffer
//! (one UDP_SEGMENT cmsg) for its own (source, destination) pair, with the ECN codepoint
//! (IP_TOS / IPV6_TCLASS) and the source address (IP_PKTINFO / IPV6_PKTINFO) per message.
//!
//! When the kernel or the device refuses GSO at send time (EIO or EINVAL on a segmented
//! message) GSO is switched off for the socket and the batch is sent again as plain datagrams.

use std::io;
use std::mem;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;

use super::addr::{self, is_ipv4_path};
use super::cmsg::{self, ControlBuffer};
use super::{SocketState, Transmit, BATCH_SIZE};

/// One message of a `sendmmsg` call: a slice of a transmit, segmented or not.
#[derive(Clone, Copy)]
struct Message {
    transmit: usize,
    start: usize,
    len: usize,
    segment_size: Option<u16>,
}

/// Cuts transmits into messages the kernel takes: at most `max_segments` segments each, at most
/// [`BATCH_SIZE`] messages. Only whole transmits are planned, except a first transmit that alone
/// needs more messages than a batch holds: then `true` is returned (it is cut short).
fn plan(transmits: &[Transmit<'_>], max_segments: usize, out: &mut Vec<Message>) -> bool {
    out.clear();
    for (i, t) in transmits.iter().enumerate() {
        let before = out.len();
        let len = t.contents.len();
        match t.segment_size.filter(|&s| s > 0 && s < len) {
            None => out.push(Message { transmit: i, start: 0, len, segment_size: None }),
            Some(seg) => {
                let per_message = seg * max_segments.max(1);
                let mut start = 0;
                while start < len {
                    let n = per_message.min(len - start);
                    let segmented = max_segments > 1 && n > seg;
                    let take = if segmented { n } else { seg.min(len - start) };
                    out.push(Message { transmit: i, start, len: take, segment_size: segmented.then_some(seg as u16) });
                    start += take;
                }
            }
        }
        if out.len() > BATCH_SIZE {
            if before == 0 {
                out.truncate(BATCH_SIZE);
                return true;
            }
            out.truncate(before);
            return false;
        }
    }
    false
}

/// Sends as many of `transmits` as the socket takes now. Returns how many were sent in full
/// (a transmit cut short is sent again by the caller; QUIC drops the duplicates), or
/// `WouldBlock` when none could be.
pub(crate) fn send(socket: &impl AsRawFd, state: &SocketState, transmits: &[Transmit<'_>]) -> io::Result<usize> {
    let fd = socket.as_raw_fd();
    let mut messages = Vec::with_capacity(BATCH_SIZE);
    loop {
        let max_segments = state.max_gso_segments.load(Ordering::Relaxed);
        let truncated = plan(transmits, max_segments, &mut messages);
        if messages.is_empty() {
            return Ok(0);
        }
        let n = messages.len();
        // SAFETY: these C structures are plain old data; zeroes are valid values.
        let mut hdrs: [libc::mmsghdr; BATCH_SIZE] = unsafe { mem::zeroed() };
        // SAFETY: as above.
        let mut iovs: [libc::iovec; BATCH_SIZE] = unsafe { mem::zeroed() };
        // SAFETY: as above.
        let mut names: [libc::sockaddr_storage; BATCH_SIZE] = unsafe { mem::zeroed() };
        let mut controls = [ControlBuffer::ZERO; BATCH_SIZE];
        for (i, m) in messages.iter().enumerate() {
            let t = &transmits[m.transmit];
            let (name, name_len) = addr::to_storage(t.dst, state.ipv6);
            names[i] = name;
            let payload = &t.contents[m.start..m.start + m.len];
            iovs[i] = libc::iovec { iov_base: payload.as_ptr() as *mut libc::c_void, iov_len: payload.len() };
            let hdr = &mut hdrs[i].msg_hdr;
            hdr.msg_name = &mut names[i] as *mut _ as *mut libc::c_void;
            hdr.msg_namelen = name_len;
            hdr.msg_iov = &mut iovs[i];
            hdr.msg_iovlen = 1;
            hdr.msg_control = controls[i].0.as_mut_ptr().cast();
            hdr.msg_controllen = cmsg::CONTROL_LEN as _;
            // SAFETY: msg_control points to a zeroed, aligned ControlBuffer of CONTROL_LEN bytes
            // that lives until after the sendmmsg call.
            let mut w = unsafe { cmsg::Writer::new(hdr) };
            let v4 = is_ipv4_path(&t.dst);
            if let Some(seg) = m.segment_size {
                w.push(libc::SOL_UDP, libc::UDP_SEGMENT, seg);
            }
            if state.ecn_send.load(Ordering::Relaxed) {
                let tos = libc::c_int::from(t.ecn.map_or(0, |e| e.bits()));
                if v4 {
                    w.push(libc::IPPROTO_IP, libc::IP_TOS, tos);
                } else {
                    w.push(libc::IPPROTO_IPV6, libc::IPV6_TCLASS, tos);
                }
            }
            if let (Some(src), true) = (t.src_ip, state.pktinfo_send) {
                push_source(&mut w, src, v4, state.ipv6);
            }
            w.finish();
        }
        // SAFETY: hdrs[..n] are fully initialised message headers whose pointers (names, iovs,
        // payloads, controls) stay valid for the duration of the call.
        let rc = unsafe { libc::sendmmsg(fd, hdrs.as_mut_ptr(), n as libc::c_uint, 0) };
        if rc >= 0 {
            let sent = rc as usize;
            state.stats.sendmmsg_calls.fetch_add(1, Ordering::Relaxed);
            let mut datagrams = 0u64;
            for m in &messages[..sent] {
                datagrams += m.segment_size.map_or(1, |s| m.len.div_ceil(usize::from(s)) as u64);
                if m.segment_size.is_some() {
                    state.stats.gso_messages.fetch_add(1, Ordering::Relaxed);
                }
            }
            state.stats.datagrams_sent.fetch_add(datagrams, Ordering::Relaxed);
            // Transmits whose messages all went out.
            let complete = if sent == n && !truncated {
                messages[n - 1].transmit + 1
            } else if sent == n {
                // A transmit too large for one batch: report it sent once its last planned
                // message went out, the rest being lost to QUIC's recovery.
                1
            } else {
                messages[sent].transmit
            };
            if complete == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            return Ok(complete);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) => return Err(e),
            Some(libc::EIO) | Some(libc::EINVAL) if messages[0].segment_size.is_some() => {
                // The device or a layer below cannot segment: fall back for good.
                tracing::warn!(error = %e, "UDP GSO refused by the kernel; sending datagrams one by one");
                state.max_gso_segments.store(1, Ordering::Relaxed);
                continue;
            }
            _ => {
                // The first message cannot be sent (unreachable network, too big for the path,
                // ...). QUIC recovers from the loss; drop it and let the caller go on.
                let t = &transmits[messages[0].transmit];
                tracing::debug!(error = %e, dst = %t.dst, len = t.contents.len(), "dropping a datagram the kernel refused");
                state.stats.send_errors.fetch_add(1, Ordering::Relaxed);
                *state.last_send_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.kind());
                return Ok(1);
            }
        }
    }
}

/// Chooses the source address of a message (RFC 9000 §9: each path has its own local
/// address). On a dual-stack IPv6 socket an IPv4 path takes an IPv4-mapped IPV6_PKTINFO.
fn push_source(w: &mut cmsg::Writer<'_>, src: IpAddr, v4_path: bool, ipv6_socket: bool) {
    match (src, ipv6_socket) {
        (IpAddr::V4(ip), false) => {
            let info = libc::in_pktinfo {
                ipi_ifindex: 0,
                ipi_spec_dst: libc::in_addr { s_addr: u32::from_ne_bytes(ip.octets()) },
                ipi_addr: libc::in_addr { s_addr: 0 },
            };
            w.push(libc::IPPROTO_IP, libc::IP_PKTINFO, info);
        }
        (ip, true) => {
            let v6 = match ip {
                IpAddr::V4(v4) if v4_path => v4.to_ipv6_mapped(),
                IpAddr::V6(v6) => v6,
                IpAddr::V4(_) => return,
            };
            let info = libc::in6_pktinfo { ipi6_addr: libc::in6_addr { s6_addr: v6.octets() }, ipi6_ifindex: 0 };
            w.push(libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, info);
        }
        (IpAddr::V6(_), false) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(contents: &[u8], seg: Option<usize>) -> Transmit<'_> {
        Transmit { dst: "127.0.0.1:1".parse().unwrap(), src_ip: None, ecn: None, segment_size: seg, contents }
    }

    #[test]
    fn plan_splits_by_max_segments() {
        let data = [0u8; 1000];
        let ts = [t(&data[..250], Some(100)), t(&data[..50], None)];
        let mut out = Vec::new();
        plan(&ts, 64, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].len, out[0].segment_size), (250, Some(100)));
        plan(&ts, 2, &mut out);
        let v: Vec<_> = out.iter().map(|m| (m.transmit, m.start, m.len, m.segment_size)).collect();
        assert_eq!(v, vec![(0, 0, 200, Some(100)), (0, 200, 50, None), (1, 0, 50, None)]);
        plan(&ts, 1, &mut out);
        let v: Vec<_> = out.iter().map(|m| (m.start, m.len, m.segment_size)).collect();
        assert_eq!(v, vec![(0, 100, None), (100, 100, None), (200, 50, None), (0, 50, None)]);
    }
}
