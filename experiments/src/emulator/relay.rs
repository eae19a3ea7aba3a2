//! The relay loop: one thread, one current-thread tokio runtime, two sockets per scenario path
//! (client-facing and server-facing), and the scenario's [`Network`] driven in real time.
//!
//! Each turn of the loop: read every socket until it is empty (GRO buffers split into their
//! datagrams, each offered to the path's route with the clock's `now` and its ECN codepoint),
//! release every datagram whose arrival time has come (and apply due timeline events: the
//! network's event queue holds both), send the released ones with their (possibly CE-marked)
//! codepoint from the socket on the far side of the path, publish the counters, and wait for the
//! next release or datagram (see [`super::clock`]).

use std::future::Future;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use mpquic_io::udp::{RecvMeta, SocketConfig, Transmit, UdpSocket, BATCH_SIZE, RECV_BUFFER_BYTES};

use super::clock::{wait_for, Clock, Wait};
use super::stats::RelayStats;
use super::{EmulatorError, RelaySockets, Shared};
use crate::sim::{Datagram, Direction, Nanos, Network};

/// Receive batches read from one socket in one turn before the due datagrams are released.
const MAX_BATCHES_PER_TURN: usize = 8;

/// A release more than this late counts as a late wake-up.
const LATE_NS: Nanos = 1_000_000;

/// Socket index of a path's client-facing side.
const CLIENT_SIDE: usize = 0;
/// Socket index of a path's server-facing side.
const SERVER_SIDE: usize = 1;

struct Path {
    sockets: [UdpSocket; 2],
    server: SocketAddr,
    stats: RelayStats,
}

pub(super) struct Relay {
    net: Network,
    paths: Vec<Path>,
    clock: Clock,
    shared: Arc<Shared>,
    /// Timeline event times, sorted (to count the applied ones).
    event_times: Vec<Nanos>,
    storage: Vec<Vec<u8>>,
    released: Vec<Datagram>,
    late_wakeups: u64,
    max_lateness: Nanos,
}

impl Relay {
    /// Registers the sockets with the current runtime. Must run inside the relay's runtime.
    pub(super) fn new(
        net: Network,
        sockets: Vec<RelaySockets>,
        names: Vec<String>,
        event_times: Vec<Nanos>,
        shared: Arc<Shared>,
    ) -> Result<Self, EmulatorError> {
        let config = SocketConfig::default();
        let mut paths = Vec::with_capacity(sockets.len());
        for (s, name) in sockets.into_iter().zip(names) {
            let setup = |socket: std::net::UdpSocket, action| {
                let addr = socket.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
                UdpSocket::from_std(socket, &config).map_err(|error| EmulatorError::Socket {
                    path: name.clone(),
                    action,
                    addr,
                    error,
                })
            };
            let client_side = setup(s.client_side, "setting up the client-facing socket")?;
            let server_side = setup(s.server_side, "setting up the server-facing socket")?;
            let stats = RelayStats {
                name,
                listen: Some(client_side.local_addr()),
                server_facing: Some(server_side.local_addr()),
                server: Some(s.server),
                ..RelayStats::default()
            };
            paths.push(Path { sockets: [client_side, server_side], server: s.server, stats });
        }
        Ok(Self {
            net,
            paths,
            clock: Clock::default(),
            shared,
            event_times,
            storage: vec![vec![0u8; RECV_BUFFER_BYTES]; BATCH_SIZE],
            released: Vec::new(),
            late_wakeups: 0,
            max_lateness: 0,
        })
    }

    /// The relays' counters as they are now (addresses filled in).
    pub(super) fn relay_stats(&self) -> Vec<RelayStats> {
        self.paths.iter().map(|p| p.stats.clone()).collect()
    }

    /// Runs until the stop flag is set.
    pub(super) async fn run(mut self) {
        self.publish();
        while !self.shared.stop.load(Ordering::Relaxed) {
            let received = self.receive_all();
            let released = self.release_due().await;
            if received || released {
                self.publish();
            }
            self.wait().await;
        }
        self.publish();
    }

    /// Reads every socket until it is empty (or a few batches); returns whether anything came.
    fn receive_all(&mut self) -> bool {
        let mut any = false;
        let mut meta = [RecvMeta::default(); BATCH_SIZE];
        for p in 0..self.paths.len() {
            for side in [CLIENT_SIDE, SERVER_SIDE] {
                for _ in 0..MAX_BATCHES_PER_TURN {
                    let mut bufs: Vec<IoSliceMut<'_>> = self.storage.iter_mut().map(|b| IoSliceMut::new(b)).collect();
                    let n = match self.paths[p].sockets[side].try_recv(&mut bufs, &mut meta) {
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => {
                            tracing::debug!(error = %e, path = p, side, "relay receive error");
                            break;
                        }
                    };
                    drop(bufs);
                    let arrival = Instant::now();
                    self.clock.start(arrival);
                    let now = self.clock.at(arrival);
                    for (i, m) in meta.iter().enumerate().take(n) {
                        if m.len > 0 {
                            any = true;
                            self.offer(now, p, side, m, i);
                        }
                    }
                    if n < BATCH_SIZE {
                        break;
                    }
                }
            }
        }
        any
    }

    /// Offers the datagrams of receive buffer `buf` (one, or several of `stride` bytes after
    /// GRO) to path `p`'s route in the direction away from `side`.
    fn offer(&mut self, now: Nanos, p: usize, side: usize, m: &RecvMeta, buf: usize) {
        let path = &mut self.paths[p];
        let (direction, dst) = if side == CLIENT_SIDE {
            // The client may move (a new port after a rebinding): answer where it last spoke from.
            path.stats.client = Some(m.src);
            (Direction::Up, path.server)
        } else {
            match path.stats.client {
                Some(client) if m.src == path.server => (Direction::Down, client),
                _ => {
                    path.stats.unroutable += m.len.div_ceil(m.stride.max(1)) as u64;
                    return;
                }
            }
        };
        let stride = m.stride.clamp(1, m.len);
        if stride < m.len {
            path.stats.gro_buffers += 1;
        }
        for segment in self.storage[buf][..m.len].chunks(stride) {
            let count = if side == CLIENT_SIDE { &mut path.stats.from_client } else { &mut path.stats.from_server };
            count.add(segment.len());
            let datagram = Datagram { direction, path: p, src: m.src, dst, ecn: m.ecn, data: segment.to_vec() };
            self.net.send(now, datagram);
        }
    }

    /// Applies due network events and sends the datagrams that reached the end of their route;
    /// returns whether any event was due.
    async fn release_due(&mut self) -> bool {
        if !self.clock.started() {
            return false;
        }
        let now = self.clock.now();
        match self.net.next_time() {
            Some(due) if due <= now => {
                let late = now - due;
                self.max_lateness = self.max_lateness.max(late);
                if late > LATE_NS {
                    self.late_wakeups += 1;
                }
            }
            _ => return false,
        }
        while let Some(event) = self.net.poll(now) {
            if let Some(d) = event {
                self.released.push(d);
            }
        }
        let released = std::mem::take(&mut self.released);
        for p in 0..self.paths.len() {
            for side in [CLIENT_SIDE, SERVER_SIDE] {
                // Up-bound datagrams leave from the server-facing socket, down-bound ones from
                // the client-facing one.
                let direction = if side == SERVER_SIDE { Direction::Up } else { Direction::Down };
                let transmits: Vec<Transmit<'_>> = released
                    .iter()
                    .filter(|d| d.path == p && d.direction == direction)
                    .map(|d| Transmit { dst: d.dst, src_ip: None, ecn: d.ecn, segment_size: None, contents: &d.data })
                    .collect();
                if transmits.is_empty() {
                    continue;
                }
                let path = &mut self.paths[p];
                let count = if side == SERVER_SIDE { &mut path.stats.to_server } else { &mut path.stats.to_client };
                for t in &transmits {
                    count.add(t.contents.len());
                }
                let socket = &path.sockets[side];
                if let Err(e) = socket.send(&transmits).await {
                    tracing::debug!(error = %e, path = p, side, "relay send error");
                }
                path.stats.send_errors = socket.stats().send_errors;
            }
        }
        self.released = released;
        self.released.clear();
        true
    }

    /// Waits for the next release or for a datagram (see [`wait_for`]).
    async fn wait(&mut self) {
        let due = if self.clock.started() { self.net.next_time() } else { None };
        match wait_for(self.clock.now(), due) {
            // tokio sets a socket's readiness only when its driver polls the OS, and `try_recv`
            // does not even try a socket it believes empty: yield so that the driver runs.
            Wait::None => tokio::task::yield_now().await,
            Wait::Fine(d) => {
                std::thread::sleep(d);
                tokio::task::yield_now().await;
            }
            Wait::Coarse(d) => {
                let sleep = tokio::time::sleep(d);
                tokio::pin!(sleep);
                std::future::poll_fn(|cx| {
                    if sleep.as_mut().poll(cx).is_ready() {
                        return std::task::Poll::Ready(());
                    }
                    for p in &self.paths {
                        for s in &p.sockets {
                            if s.poll_recv_ready(cx).is_ready() {
                                return std::task::Poll::Ready(());
                            }
                        }
                    }
                    std::task::Poll::Pending
                })
                .await;
            }
        }
    }

    fn publish(&self) {
        let now = self.clock.now();
        let mut stats = self.shared.stats.lock().unwrap_or_else(|p| p.into_inner());
        stats.elapsed_s = self.clock.started().then(|| now as f64 / 1e9);
        stats.events_applied =
            if self.clock.started() { self.event_times.iter().filter(|&&t| t <= now).count() } else { 0 };
        for (out, p) in stats.relays.iter_mut().zip(&self.paths) {
            out.clone_from(&p.stats);
        }
        for (out, l) in stats.links.iter_mut().zip(&self.net.links) {
            out.stats = l.stats;
        }
        stats.late_wakeups = self.late_wakeups;
        stats.max_lateness_us = self.max_lateness / 1000;
    }
}
