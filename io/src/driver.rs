//! The task that drives one endpoint: it receives batches of datagrams (splitting GRO buffers
//! into their datagrams), feeds them to the sans-IO endpoint, fires timers, drains the
//! endpoint's transmits into `sendmmsg` batches, and wakes the application tasks the resulting
//! events concern. It sleeps until the socket is readable (or writable, with transmits
//! waiting), the next deadline, or a wake-up from an API call.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use mpquic_proto as proto;
use tokio::time::Sleep;

use crate::shared::{to_tokio, Shared, State};
use crate::udp::{self, IcmpKind, RecvMeta, BATCH_SIZE};

/// Receive batches handled per round.
const MAX_RECV_BATCHES: usize = 1;
/// Send batches per round.
const MAX_SEND_BATCHES: usize = 4;
/// Rounds of receive, timers and send per wake-up before yielding to other tasks.
const MAX_ROUNDS: usize = 16;
/// Transmits taken from the endpoint but not yet sent: bounds what the driver buffers when the
/// socket is full (the rest waits inside proto, under congestion control).
const MAX_OUTGOING: usize = BATCH_SIZE;
/// Capacity of a transmit buffer: a GSO batch of full-size datagrams.
const TRANSMIT_CAPACITY: usize = 16 * 1024;

/// A transmit taken from the endpoint.
#[derive(Debug)]
struct Outgoing {
    buf: Vec<u8>,
    dst: SocketAddr,
    src_ip: Option<std::net::IpAddr>,
    ecn: Option<proto::EcnCodepoint>,
    segment_size: Option<usize>,
    /// Index of the socket it leaves from.
    socket: usize,
}

/// The endpoint's driver future; spawned on the runtime when the endpoint is made.
#[derive(Debug)]
pub(crate) struct Driver {
    shared: Arc<Shared>,
    timer: Pin<Box<Sleep>>,
    timer_deadline: Option<proto::Instant>,
    /// Where received datagrams live (they are slices of it until dropped).
    arena: udp::RecvArena,
    meta: Vec<RecvMeta>,
    outgoing: VecDeque<Outgoing>,
    pool: Vec<Vec<u8>>,
    icmp_seen: u64,
}

impl Driver {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        // Without GRO a buffer holds one datagram; we never accept more than 64 KiB anyway.
        let recv_buf_len =
            if shared.sockets.iter().any(|s| s.capabilities().gro) { udp::RECV_BUFFER_BYTES } else { 4096 };
        Self {
            shared,
            timer: Box::pin(tokio::time::sleep_until(tokio::time::Instant::now())),
            timer_deadline: None,
            arena: udp::RecvArena::new(recv_buf_len),
            meta: vec![RecvMeta::default(); BATCH_SIZE],
            outgoing: VecDeque::new(),
            pool: Vec::new(),
            icmp_seen: 0,
        }
    }

    /// Receives and handles datagrams on every socket; true if there may be more right away.
    fn drive_recv(&mut self, cx: &mut Context<'_>, st: &mut State) -> bool {
        let mut more = false;
        for i in 0..self.shared.sockets.len() {
            more |= self.drive_recv_on(cx, st, i);
        }
        more
    }

    /// Receives and handles datagrams of one socket.
    fn drive_recv_on(&mut self, cx: &mut Context<'_>, st: &mut State, index: usize) -> bool {
        let socket = &self.shared.sockets[index];
        let local_port = socket.local_addr().port();
        let local_ip = socket.local_addr().ip();
        for _ in 0..MAX_RECV_BATCHES {
            match socket.poll_recv_ready(cx) {
                Poll::Pending => return false,
                Poll::Ready(Err(e)) => {
                    tracing::warn!(error = %e, "socket receive readiness failed");
                    return false;
                }
                Poll::Ready(Ok(())) => {}
            }
            match socket.try_recv_arena(&mut self.arena, &mut self.meta) {
                Ok((n, mut batch)) => {
                    let now = st.now();
                    // The messages back to back: datagrams become slices of the arena (stream
                    // data read later still points into it), with no copy after the kernel's.
                    for i in 0..n {
                        let m = self.meta[i];
                        if m.len == 0 {
                            continue;
                        }
                        let local = SocketAddr::new(m.dst_ip.unwrap_or(local_ip), local_port);
                        let mut data = batch.split_to(m.len.min(batch.len()));
                        let stride = m.stride.max(1);
                        while !data.is_empty() {
                            let datagram = data.split_to(stride.min(data.len()));
                            st.ep.handle_datagram(now, local, m.src, m.ecn, datagram);
                            st.after_endpoint_call();
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    tracing::warn!(error = %e, "receive failed");
                    return false;
                }
            }
        }
        true
    }

    /// Takes transmits from the endpoint and sends them; true if there may be more right away.
    fn drive_send(&mut self, cx: &mut Context<'_>, st: &mut State) -> bool {
        let now = st.now();
        for _ in 0..MAX_SEND_BATCHES {
            while self.outgoing.len() < MAX_OUTGOING {
                let mut buf = self.pool.pop().unwrap_or_else(|| Vec::with_capacity(TRANSMIT_CAPACITY));
                buf.clear();
                let t = st.ep.poll_transmit(now, &mut buf);
                st.after_endpoint_call();
                let Some(t) = t else {
                    self.pool.push(buf);
                    break;
                };
                buf.truncate(t.len);
                // Each transmit leaves from its path's local address (`t.src`): the socket
                // bound to it, with the source IP set per packet by IP_PKTINFO / IPV6_PKTINFO.
                let socket = self.shared.socket_for(t.src, t.dst);
                let choose_source = self.shared.sockets[socket].may_choose_source();
                self.outgoing.push_back(Outgoing {
                    buf,
                    dst: t.dst,
                    src_ip: t.src.map(|a| a.ip()).filter(|ip| choose_source && !ip.is_unspecified()),
                    ecn: t.ecn,
                    segment_size: t.segment_size,
                    socket,
                });
            }
            let Some(index) = self.outgoing.front().map(|o| o.socket) else { return false };
            let socket = &self.shared.sockets[index];
            match socket.poll_send_ready(cx) {
                Poll::Pending => return false,
                Poll::Ready(Err(e)) => {
                    tracing::warn!(error = %e, "socket send readiness failed");
                    return false;
                }
                Poll::Ready(Ok(())) => {}
            }
            // One sendmmsg per socket: the leading transmits that leave from the same one.
            let transmits: Vec<udp::Transmit<'_>> = self
                .outgoing
                .iter()
                .take(BATCH_SIZE)
                .take_while(|o| o.socket == index)
                .map(|o| udp::Transmit {
                    dst: o.dst,
                    src_ip: o.src_ip,
                    ecn: o.ecn,
                    segment_size: o.segment_size,
                    contents: &o.buf,
                })
                .collect();
            let sent = match socket.try_send(&transmits) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
                Err(e) => {
                    tracing::warn!(error = %e, "send failed; dropping a datagram");
                    1
                }
            };
            drop(transmits);
            for _ in 0..sent {
                if let Some(o) = self.outgoing.pop_front() {
                    self.pool.push(o.buf);
                }
            }
        }
        true
    }

    /// Moves ICMP errors from the socket to the endpoint's record, logging them.
    fn collect_icmp(&mut self, st: &mut State) {
        let seen: u64 = self.shared.sockets.iter().map(|s| s.stats().icmp_errors).sum();
        if seen != self.icmp_seen {
            self.icmp_seen = seen;
            for socket in &self.shared.sockets {
                let errors = socket.take_icmp_errors();
                let now = st.now();
                for e in &errors {
                    tracing::info!(dst = ?e.dst, kind = ?e.kind, errno = e.errno, "ICMP error");
                    // proto lowers the datagram size on "packet too big" and marks a path
                    // potentially failed on "unreachable" (never ends a connection: ICMP is not
                    // authenticated). The application can read them too.
                    let error = match e.kind {
                        IcmpKind::Unreachable { .. } => Some(proto::IcmpError::Unreachable),
                        IcmpKind::PacketTooBig { mtu } => Some(proto::IcmpError::PacketTooBig { mtu }),
                        _ => None,
                    };
                    if let (Some(dst), Some(error)) = (e.dst, error) {
                        st.ep.handle_icmp(now, dst, error);
                    }
                }
                st.push_icmp(errors);
            }
        }
    }
}

impl Future for Driver {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let shared = this.shared.clone();
        let mut st = shared.lock();
        if !st.driver_waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            st.driver_waker = Some(cx.waker().clone());
        }
        // Alternate receiving and sending so that acknowledgements go out between receive
        // batches instead of after everything queued was read.
        let mut more = false;
        for _ in 0..MAX_ROUNDS {
            let recv_more = this.drive_recv(cx, &mut st);
            let now = st.now();
            if st.ep.poll_timeout().is_some_and(|t| t <= now) {
                st.ep.handle_timeout(now);
                st.after_endpoint_call();
            }
            let send_more = this.drive_send(cx, &mut st);
            more = recv_more || send_more;
            if !more {
                break;
            }
        }
        st.dispatch_events();
        st.after_endpoint_call();
        this.collect_icmp(&mut st);
        if st.live.is_empty() {
            st.idle_wakers.wake();
            if st.endpoint_refs == 0 {
                return Poll::Ready(());
            }
        }
        match st.ep.poll_timeout() {
            Some(t) => {
                if this.timer_deadline != Some(t) {
                    this.timer_deadline = Some(t);
                    this.timer.as_mut().reset(to_tokio(st.epoch, t));
                }
                if this.timer.as_mut().poll(cx).is_ready() {
                    this.timer_deadline = None;
                    more = true;
                }
            }
            None => this.timer_deadline = None,
        }
        drop(st);
        if more {
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}
