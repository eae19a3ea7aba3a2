//! Batched UDP I/O with every Linux fast path on: `sendmmsg` with UDP GSO (several
//! super-buffers for different (source, destination) pairs per call), `recvmmsg` with UDP GRO,
//! ECN codepoints set and read per datagram, the source address picked per datagram
//! (IP_PKTINFO / IPV6_PKTINFO) and the local address of received ones learned the same way,
//! ICMP errors from the error queue, and socket buffer sizing.
//!
//! Capabilities are probed when the socket is made ([`Capabilities`]) and degrade cleanly: a
//! kernel that refuses GSO at send time (EIO / EINVAL) gets plain datagrams from then on. Off
//! Linux (or with [`SocketConfig::portable`]) a portable path with one system call per datagram
//! is used.
//!
//! All `unsafe` code of the workspace lives in this module, each block with its SAFETY comment.

#[cfg(target_os = "linux")]
mod addr;
mod arena;
#[cfg(target_os = "linux")]
mod cmsg;
#[cfg(target_os = "linux")]
mod errqueue;
mod fallback;
#[cfg(target_os = "linux")]
mod recv;
#[cfg(target_os = "linux")]
mod send;
#[cfg(target_os = "linux")]
mod sockopt;

use std::io::{self, IoSliceMut};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::task::{Context, Poll};

use bytes::BytesMut;
use mpquic_proto::EcnCodepoint;
use tokio::io::Interest;

pub use arena::RecvArena;

/// Most segments the kernel takes in one GSO send (`UDP_MAX_SEGMENTS` in the kernel).
pub(crate) const KERNEL_MAX_GSO_SEGMENTS: usize = 64;

/// Most messages per `sendmmsg` / `recvmmsg` call.
pub const BATCH_SIZE: usize = 32;

/// Bytes of each receive buffer: a full UDP GRO batch (64 KiB) fits.
pub const RECV_BUFFER_BYTES: usize = 64 * 1024;

/// How to set a socket up.
#[derive(Debug, Clone)]
pub struct SocketConfig {
    /// Requested receive buffer (SO_RCVBUF; SO_RCVBUFFORCE is tried first). 0 keeps the default.
    pub recv_buffer_bytes: usize,
    /// Requested send buffer (SO_SNDBUF; SO_SNDBUFFORCE is tried first). 0 keeps the default.
    pub send_buffer_bytes: usize,
    /// Use UDP GSO when the kernel has it.
    pub gso: bool,
    /// Use UDP GRO when the kernel has it.
    pub gro: bool,
    /// Set and read ECN codepoints.
    pub ecn: bool,
    /// Bind the socket to this network interface (SO_BINDTODEVICE), e.g. for a per-path socket.
    pub bind_device: Option<String>,
    /// Use the portable one-datagram-per-call path even on Linux (for comparison and tests).
    pub portable: bool,
}

impl Default for SocketConfig {
    fn default() -> Self {
        Self {
            recv_buffer_bytes: 4 << 20,
            send_buffer_bytes: 4 << 20,
            gso: true,
            gro: true,
            ecn: true,
            bind_device: None,
            portable: false,
        }
    }
}

/// What the socket can do, as probed when it was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// Most datagrams one GSO send may carry (1: no GSO).
    pub max_gso_segments: usize,
    /// The kernel coalesces received datagrams (UDP GRO).
    pub gro: bool,
    /// ECN codepoints are set on send and read on receive.
    pub ecn: bool,
    /// The local address of received datagrams is known, and the source address can be chosen
    /// per datagram (only when the socket is bound to a wildcard address).
    pub pktinfo: bool,
    /// ICMP errors are read from the error queue.
    pub recverr: bool,
    /// Receive buffer the kernel granted, in bytes.
    pub recv_buffer_bytes: usize,
    /// Send buffer the kernel granted, in bytes.
    pub send_buffer_bytes: usize,
}

/// One send: a datagram, or several of `segment_size` bytes each (the last may be shorter) sent
/// as one GSO super-buffer.
#[derive(Debug, Clone, Copy)]
pub struct Transmit<'a> {
    /// Destination.
    pub dst: SocketAddr,
    /// Source address to send from; `None` lets the kernel choose.
    pub src_ip: Option<IpAddr>,
    /// ECN codepoint of every datagram.
    pub ecn: Option<EcnCodepoint>,
    /// Size of each datagram but the last; `None` for a single datagram.
    pub segment_size: Option<usize>,
    /// The bytes.
    pub contents: &'a [u8],
}

/// What arrived in one receive buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvMeta {
    /// The sender.
    pub src: SocketAddr,
    /// The local address the datagrams were sent to, when known (IP_PKTINFO).
    pub dst_ip: Option<IpAddr>,
    /// ECN codepoint.
    pub ecn: Option<EcnCodepoint>,
    /// Bytes in the buffer.
    pub len: usize,
    /// Size of each datagram in the buffer (GRO); equal to `len` for one datagram.
    pub stride: usize,
}

impl Default for RecvMeta {
    fn default() -> Self {
        Self { src: SocketAddr::from(([0, 0, 0, 0], 0)), dst_ip: None, ecn: None, len: 0, stride: 0 }
    }
}

/// What an ICMP error said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpKind {
    /// Destination unreachable with this ICMP code (3: port unreachable).
    Unreachable {
        /// The ICMP code.
        code: u8,
    },
    /// The datagram was too big for the path (RFC 1191 / RFC 8201); `mtu` is the next-hop MTU.
    PacketTooBig {
        /// MTU the router or local interface reported.
        mtu: u32,
    },
    /// Anything else, raw.
    Other {
        /// `SO_EE_ORIGIN_*`.
        origin: u8,
        /// ICMP type.
        ty: u8,
        /// ICMP code.
        code: u8,
    },
}

/// An ICMP error about a datagram we sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpError {
    /// Where the offending datagram was going, when the kernel says.
    pub dst: Option<SocketAddr>,
    /// The errno it maps to (e.g. ECONNREFUSED, EMSGSIZE).
    pub errno: i32,
    /// What it was.
    pub kind: IcmpKind,
}

/// Counters of system calls and datagrams, to check which fast paths are really used.
#[derive(Debug, Default)]
pub struct IoStats {
    /// `sendmmsg` calls that sent something.
    pub sendmmsg_calls: AtomicU64,
    /// Messages sent as GSO super-buffers.
    pub gso_messages: AtomicU64,
    /// Datagrams sent (each GSO segment counts).
    pub datagrams_sent: AtomicU64,
    /// Datagrams the kernel refused (dropped).
    pub send_errors: AtomicU64,
    /// `recvmmsg` calls that returned something.
    pub recvmmsg_calls: AtomicU64,
    /// Receive buffers holding more than one datagram (GRO).
    pub gro_buffers: AtomicU64,
    /// Datagrams received (each GRO segment counts).
    pub datagrams_received: AtomicU64,
    /// ICMP errors read from the error queue.
    pub icmp_errors: AtomicU64,
}

/// A plain copy of [`IoStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IoStatsSnapshot {
    /// See [`IoStats::sendmmsg_calls`].
    pub sendmmsg_calls: u64,
    /// See [`IoStats::gso_messages`].
    pub gso_messages: u64,
    /// See [`IoStats::datagrams_sent`].
    pub datagrams_sent: u64,
    /// See [`IoStats::send_errors`].
    pub send_errors: u64,
    /// See [`IoStats::recvmmsg_calls`].
    pub recvmmsg_calls: u64,
    /// See [`IoStats::gro_buffers`].
    pub gro_buffers: u64,
    /// See [`IoStats::datagrams_received`].
    pub datagrams_received: u64,
    /// See [`IoStats::icmp_errors`].
    pub icmp_errors: u64,
}

impl IoStats {
    fn snapshot(&self) -> IoStatsSnapshot {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        IoStatsSnapshot {
            sendmmsg_calls: l(&self.sendmmsg_calls),
            gso_messages: l(&self.gso_messages),
            datagrams_sent: l(&self.datagrams_sent),
            send_errors: l(&self.send_errors),
            recvmmsg_calls: l(&self.recvmmsg_calls),
            gro_buffers: l(&self.gro_buffers),
            datagrams_received: l(&self.datagrams_received),
            icmp_errors: l(&self.icmp_errors),
        }
    }
}

/// Mutable state shared by the send and receive paths.
#[derive(Debug)]
pub(crate) struct SocketState {
    ipv6: bool,
    /// Lowered to 1 when the kernel refuses GSO at send time.
    max_gso_segments: AtomicUsize,
    ecn_send: AtomicBool,
    pktinfo_send: bool,
    stats: IoStats,
    last_send_error: Mutex<Option<io::ErrorKind>>,
}

/// A UDP socket registered with tokio, sending and receiving in batches.
#[derive(Debug)]
pub struct UdpSocket {
    io: tokio::net::UdpSocket,
    local: SocketAddr,
    caps: Capabilities,
    portable: bool,
    state: SocketState,
    icmp: Mutex<Vec<IcmpError>>,
}

/// ICMP errors kept until read; older ones beyond this are dropped.
const MAX_QUEUED_ICMP: usize = 64;

/// Moves the messages of `meta`, message `i` written at `i * slot`, down so that each follows the
/// one before, through `move_down(from, to, len)` (called only when a message moves); returns
/// the bytes of all of them.
fn pack(meta: &[RecvMeta], slot: usize, mut move_down: impl FnMut(usize, usize, usize)) -> usize {
    let mut end = 0;
    for (i, m) in meta.iter().enumerate() {
        let len = m.len.min(slot);
        if len > 0 && i * slot != end {
            move_down(i * slot, end, len);
        }
        end += len;
    }
    end
}

impl UdpSocket {
    /// Binds a socket to `addr` and sets it up. Must be called inside a tokio runtime.
    pub fn bind(addr: SocketAddr, config: &SocketConfig) -> io::Result<Self> {
        Self::from_std(std::net::UdpSocket::bind(addr)?, config)
    }

    /// Sets up an already bound socket. Must be called inside a tokio runtime.
    pub fn from_std(socket: std::net::UdpSocket, config: &SocketConfig) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
        let local = socket.local_addr()?;
        let ipv6 = local.is_ipv6();
        #[cfg(target_os = "linux")]
        let caps = if config.portable {
            Capabilities { max_gso_segments: 1, ..Capabilities::default() }
        } else {
            sockopt::configure(&socket, ipv6, config)?
        };
        #[cfg(not(target_os = "linux"))]
        let caps = Capabilities { max_gso_segments: 1, ..Capabilities::default() };
        let portable = config.portable || cfg!(not(target_os = "linux"));
        // Choosing the source per datagram only makes sense on a wildcard socket; on a socket
        // bound to one address the kernel would send from another than the one bound.
        let pktinfo_send = caps.pktinfo && local.ip().is_unspecified();
        tracing::debug!(%local, ?caps, "UDP socket ready");
        Ok(Self {
            io: tokio::net::UdpSocket::from_std(socket)?,
            local,
            caps,
            portable,
            state: SocketState {
                ipv6,
                max_gso_segments: AtomicUsize::new(caps.max_gso_segments.max(1)),
                ecn_send: AtomicBool::new(caps.ecn),
                pktinfo_send,
                stats: IoStats::default(),
                last_send_error: Mutex::new(None),
            },
            icmp: Mutex::new(Vec::new()),
        })
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// What the socket could do when it was made.
    pub fn capabilities(&self) -> Capabilities {
        self.caps
    }

    /// Most segments one [`Transmit`] may carry now (1 once GSO was found broken).
    pub fn max_gso_segments(&self) -> usize {
        self.state.max_gso_segments.load(Ordering::Relaxed)
    }

    /// Whether the local address of received datagrams is reported (and the source can be
    /// chosen per datagram).
    pub fn may_choose_source(&self) -> bool {
        self.state.pktinfo_send
    }

    /// Counters of what went through the socket.
    pub fn stats(&self) -> IoStatsSnapshot {
        self.state.stats.snapshot()
    }

    /// The error kind of the last datagram the kernel refused, if any (cleared by reading).
    pub fn take_last_send_error(&self) -> Option<io::ErrorKind> {
        self.state.last_send_error.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Sends as many transmits as the socket takes now, in as few system calls as it can.
    /// Returns how many were sent (the rest stay with the caller), or `WouldBlock`.
    pub fn try_send(&self, transmits: &[Transmit<'_>]) -> io::Result<usize> {
        if transmits.is_empty() {
            return Ok(0);
        }
        if self.portable {
            return fallback::send(&self.io, &self.state, transmits);
        }
        #[cfg(target_os = "linux")]
        {
            let r = self.io.try_io(Interest::WRITABLE, || send::send(&self.io, &self.state, transmits));
            if self.caps.recverr && self.state.stats.send_errors.load(Ordering::Relaxed) > 0 {
                self.drain_errors();
            }
            r
        }
        #[cfg(not(target_os = "linux"))]
        unreachable!("portable is always set off Linux")
    }

    /// Receives into `bufs` (each at least [`RECV_BUFFER_BYTES`] to hold GRO batches); fills
    /// `meta[i]` for `bufs[i]` and returns how many entries were used (an entry whose `len` is 0
    /// carries nothing: a truncated or unreadable message). `WouldBlock` when nothing is queued.
    pub fn try_recv(&self, bufs: &mut [IoSliceMut<'_>], meta: &mut [RecvMeta]) -> io::Result<usize> {
        if self.portable {
            return fallback::recv(&self.io, &self.state, bufs, meta);
        }
        #[cfg(target_os = "linux")]
        {
            // SAFETY: IoSliceMut is guaranteed ABI-compatible with iovec on Unix; the iovecs
            // borrow `bufs` for the call, and each points to initialised, writable bytes.
            let iovs = unsafe { std::slice::from_raw_parts_mut(bufs.as_mut_ptr().cast::<libc::iovec>(), bufs.len()) };
            self.recv_iovecs(iovs, meta)
        }
        #[cfg(not(target_os = "linux"))]
        unreachable!("portable is always set off Linux")
    }

    /// Receives a batch into `arena` (see [`RecvArena`]): returns how many `meta` entries were
    /// used, as [`UdpSocket::try_recv`] does, and the bytes of those messages back to back in
    /// their order (an entry whose `len` is 0 has none). Cut them apart with `split_to(len)`.
    pub fn try_recv_arena(&self, arena: &mut RecvArena, meta: &mut [RecvMeta]) -> io::Result<(usize, BytesMut)> {
        let slots = arena.prepare(meta.len().min(BATCH_SIZE));
        let slot = arena.slot_len();
        let buf = arena.buf();
        debug_assert!(buf.is_empty() && buf.capacity() >= slots * slot);
        let n = if self.portable {
            // Safe code needs initialised buffers; the portable path is not the fast one.
            buf.resize(slots * slot, 0);
            let mut bufs: Vec<IoSliceMut<'_>> = buf.chunks_mut(slot).map(IoSliceMut::new).collect();
            let r = fallback::recv(&self.io, &self.state, &mut bufs, meta);
            drop(bufs);
            let n = r.inspect_err(|_| buf.clear())?;
            let end = pack(&meta[..n], slot, |from, to, len| buf.copy_within(from..from + len, to));
            buf.truncate(end);
            n
        } else {
            #[cfg(target_os = "linux")]
            {
                self.recv_into_spare(buf, slots, slot, meta)?
            }
            #[cfg(not(target_os = "linux"))]
            unreachable!("portable is always set off Linux")
        };
        let len = buf.len();
        Ok((n, buf.split_to(len)))
    }

    /// [`UdpSocket::try_recv_arena`] on Linux: `slots` slots of `slot` bytes in the spare
    /// capacity of the empty `buf`, then the messages moved together and `buf`'s length set to
    /// their total.
    #[cfg(target_os = "linux")]
    fn recv_into_spare(
        &self,
        buf: &mut BytesMut,
        slots: usize,
        slot: usize,
        meta: &mut [RecvMeta],
    ) -> io::Result<usize> {
        let slots = slots.min(buf.capacity() / slot).min(BATCH_SIZE);
        let base = buf.spare_capacity_mut().as_mut_ptr().cast::<u8>();
        let mut iovs = [libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; BATCH_SIZE];
        for (i, iov) in iovs[..slots].iter_mut().enumerate() {
            // SAFETY: slot i lies within the spare capacity (slots * slot <= capacity).
            *iov = libc::iovec { iov_base: unsafe { base.add(i * slot) }.cast(), iov_len: slot };
        }
        let n = self.recv_iovecs(&mut iovs[..slots], meta)?;
        let end = pack(&meta[..n], slot, |from, to, len| {
            // SAFETY: both ranges lie within the spare capacity (`from` is a slot's start, `len`
            // at most a slot); the kernel wrote `len` bytes at `from`; `copy` allows overlap.
            unsafe { std::ptr::copy(base.add(from), base.add(to), len) };
        });
        // SAFETY: bytes 0..end are the messages' bytes, written by the kernel and moved above.
        unsafe { buf.set_len(end) };
        Ok(n)
    }

    /// `recvmmsg` into `iovs`, reading the error queue when a pending ICMP error interrupts.
    #[cfg(target_os = "linux")]
    fn recv_iovecs(&self, iovs: &mut [libc::iovec], meta: &mut [RecvMeta]) -> io::Result<usize> {
        // A pending ICMP error surfaces once as the error of the next receive; read the
        // details from the error queue and receive again.
        for _ in 0..4 {
            match self.io.try_io(Interest::READABLE, || recv::recv(&self.io, &self.state, iovs, meta)) {
                Err(e) if e.kind() != io::ErrorKind::WouldBlock && self.caps.recverr => {
                    tracing::debug!(error = %e, "receive reported a socket error");
                    self.drain_errors();
                }
                r => return r,
            }
        }
        Err(io::ErrorKind::WouldBlock.into())
    }

    #[cfg(target_os = "linux")]
    fn drain_errors(&self) {
        let mut found = Vec::new();
        errqueue::drain(&self.io, MAX_QUEUED_ICMP, &mut found);
        if found.is_empty() {
            return;
        }
        self.state.stats.icmp_errors.fetch_add(found.len() as u64, Ordering::Relaxed);
        let mut q = self.icmp.lock().unwrap_or_else(|p| p.into_inner());
        for e in found {
            tracing::debug!(?e, "ICMP error");
            if q.len() >= MAX_QUEUED_ICMP {
                q.remove(0);
            }
            q.push(e);
        }
    }

    /// ICMP errors received since the last call (also reads the error queue now).
    pub fn take_icmp_errors(&self) -> Vec<IcmpError> {
        #[cfg(target_os = "linux")]
        if !self.portable && self.caps.recverr {
            self.drain_errors();
        }
        std::mem::take(&mut *self.icmp.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Polls until the socket may be readable.
    pub fn poll_recv_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_recv_ready(cx)
    }

    /// Polls until the socket may be writable.
    pub fn poll_send_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_send_ready(cx)
    }

    /// Sends every transmit, waiting for room as needed.
    pub async fn send(&self, transmits: &[Transmit<'_>]) -> io::Result<()> {
        let mut done = 0;
        while done < transmits.len() {
            self.io.writable().await?;
            match self.try_send(&transmits[done..]) {
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Waits for datagrams and receives a batch into `arena` (see [`UdpSocket::try_recv_arena`]).
    pub async fn recv_arena(&self, arena: &mut RecvArena, meta: &mut [RecvMeta]) -> io::Result<(usize, BytesMut)> {
        loop {
            self.io.readable().await?;
            match self.try_recv_arena(arena, meta) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                r => return r,
            }
        }
    }

    /// Waits for datagrams and receives a batch (see [`UdpSocket::try_recv`]).
    pub async fn recv(&self, bufs: &mut [IoSliceMut<'_>], meta: &mut [RecvMeta]) -> io::Result<usize> {
        loop {
            self.io.readable().await?;
            match self.try_recv(bufs, meta) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                r => return r,
            }
        }
    }
}
