//! The state shared by the driver task and the API handles: the sans-IO endpoint, the
//! application-side record of each connection (who waits for what), behind one mutex.
//!
//! Connections are named here by a [`ConnId`] that is never reused, not by the proto
//! [`ConnectionHandle`], which the endpoint recycles once a connection drains: a handle held by
//! the application must never reach a newer connection.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::task::Waker;
use std::time::Duration;

use mpquic_proto as proto;
use proto::{ConnectionError, ConnectionHandle, Dir, Event, PathEvent, Side, StreamId};

use crate::udp::{IcmpError, UdpSocket};

/// Our never-reused name of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ConnId(pub(crate) u64);

/// Wakers of tasks waiting for the same thing.
#[derive(Debug, Default)]
pub(crate) struct WakerSet(Vec<Waker>);

impl WakerSet {
    pub(crate) fn register(&mut self, waker: &Waker) {
        if !self.0.iter().any(|w| w.will_wake(waker)) {
            self.0.push(waker.clone());
        }
    }

    pub(crate) fn wake(&mut self) {
        for w in self.0.drain(..) {
            w.wake();
        }
    }
}

pub(crate) fn dir_index(dir: Dir) -> usize {
    match dir {
        Dir::Bi => 0,
        Dir::Uni => 1,
    }
}

/// The application side of one connection.
#[derive(Debug)]
pub(crate) struct ConnState {
    /// The proto handle while the endpoint holds the connection; `None` once it drained.
    pub(crate) handle: Option<ConnectionHandle>,
    pub(crate) side: Side,
    pub(crate) connected: bool,
    /// Why the connection ended (set when it is lost, closed locally or drained).
    pub(crate) error: Option<ConnectionError>,
    /// API objects (connection, streams, pending connect/accept) that refer to it.
    pub(crate) refs: usize,
    pub(crate) handshake: WakerSet,
    pub(crate) accept: [WakerSet; 2],
    pub(crate) open: [WakerSet; 2],
    pub(crate) datagrams: WakerSet,
    pub(crate) closed: WakerSet,
    pub(crate) readers: HashMap<StreamId, Waker>,
    pub(crate) writers: HashMap<StreamId, Waker>,
    /// Streams whose data and FIN were all acknowledged.
    pub(crate) finished: HashSet<StreamId>,
    /// Streams the peer stopped (STOP_SENDING), with its code.
    pub(crate) stopped: HashMap<StreamId, u64>,
    /// The handshake is confirmed (RFC 9001 §4.1.2): paths may be opened.
    pub(crate) handshake_confirmed: bool,
    /// Path events not yet taken by `Connection::next_path_event` (the oldest are dropped
    /// beyond [`MAX_PATH_EVENTS`]).
    pub(crate) path_events: VecDeque<PathEvent>,
    /// Path events dropped because nobody read them.
    pub(crate) path_events_lagged: u64,
    /// Tasks waiting for a path event or a change in path state.
    pub(crate) path_wakers: WakerSet,
}

/// Path events kept for the application before the oldest are dropped.
pub(crate) const MAX_PATH_EVENTS: usize = 256;

impl ConnState {
    fn new(handle: ConnectionHandle, side: Side, refs: usize) -> Self {
        Self {
            handle: Some(handle),
            side,
            connected: false,
            error: None,
            refs,
            handshake: WakerSet::default(),
            accept: Default::default(),
            open: Default::default(),
            datagrams: WakerSet::default(),
            closed: WakerSet::default(),
            readers: HashMap::new(),
            writers: HashMap::new(),
            finished: HashSet::new(),
            stopped: HashMap::new(),
            handshake_confirmed: false,
            path_events: VecDeque::new(),
            path_events_lagged: 0,
            path_wakers: WakerSet::default(),
        }
    }

    /// Wakes every task waiting on this connection (it ended, or something global changed).
    pub(crate) fn wake_all(&mut self) {
        self.handshake.wake();
        for s in &mut self.accept {
            s.wake();
        }
        for s in &mut self.open {
            s.wake();
        }
        self.datagrams.wake();
        self.closed.wake();
        self.path_wakers.wake();
        for (_, w) in self.readers.drain() {
            w.wake();
        }
        for (_, w) in self.writers.drain() {
            w.wake();
        }
    }
}

/// Everything behind the endpoint's mutex.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) ep: proto::Endpoint,
    pub(crate) conns: HashMap<ConnId, ConnState>,
    pub(crate) live: HashMap<ConnectionHandle, ConnId>,
    next_id: u64,
    /// Server connections not yet taken by `accept` (each holds one reference).
    pub(crate) incoming: VecDeque<ConnId>,
    pub(crate) accept_wakers: WakerSet,
    pub(crate) idle_wakers: WakerSet,
    pub(crate) driver_waker: Option<Waker>,
    /// The endpoint no longer accepts connections.
    pub(crate) closed: bool,
    /// Live `Endpoint` handles; with none and no connection left the driver ends.
    pub(crate) endpoint_refs: usize,
    pub(crate) default_client: Option<proto::ClientConfig>,
    pub(crate) icmp: VecDeque<IcmpError>,
    /// Time zero of the proto clock.
    pub(crate) epoch: tokio::time::Instant,
}

/// The proto clock starts at one second (not zero) so that "a while ago" never underflows.
const CLOCK_OFFSET: Duration = Duration::from_secs(1);

/// A tokio instant on the proto clock that starts at `epoch`.
pub(crate) fn to_proto(epoch: tokio::time::Instant, t: tokio::time::Instant) -> proto::Instant {
    proto::Instant::from_duration(t.saturating_duration_since(epoch) + CLOCK_OFFSET)
}

/// A proto instant as a tokio instant.
pub(crate) fn to_tokio(epoch: tokio::time::Instant, t: proto::Instant) -> tokio::time::Instant {
    epoch + t.since_epoch().saturating_sub(CLOCK_OFFSET)
}

/// ICMP errors kept for `Endpoint::take_icmp_errors`.
const MAX_ICMP_KEPT: usize = 256;

impl State {
    pub(crate) fn new(ep: proto::Endpoint) -> Self {
        Self {
            ep,
            conns: HashMap::new(),
            live: HashMap::new(),
            next_id: 0,
            incoming: VecDeque::new(),
            accept_wakers: WakerSet::default(),
            idle_wakers: WakerSet::default(),
            driver_waker: None,
            closed: false,
            endpoint_refs: 1,
            default_client: None,
            icmp: VecDeque::new(),
            epoch: tokio::time::Instant::now(),
        }
    }

    /// Asks the driver to run: a command produced something to send or changed a deadline.
    pub(crate) fn wake_driver(&self) {
        if let Some(w) = &self.driver_waker {
            w.wake_by_ref();
        }
    }

    /// Records a connection the endpoint just created.
    pub(crate) fn register(&mut self, handle: ConnectionHandle, side: Side, refs: usize) -> ConnId {
        let id = ConnId(self.next_id);
        self.next_id += 1;
        self.conns.insert(id, ConnState::new(handle, side, refs));
        self.live.insert(handle, id);
        id
    }

    /// To call after every endpoint input: takes new server connections, and notices
    /// connections the endpoint dropped (before their handles can be reused).
    pub(crate) fn after_endpoint_call(&mut self) {
        if self.ep.connection_count() != self.live.len() {
            self.reap();
        }
        while let Some(h) = self.ep.accept() {
            if self.closed {
                // Not accepting: close at once (refs 0, nobody will see it).
                let id = self.register(h, Side::Server, 0);
                self.close_now(id, proto::VarInt::from_u32(0), b"endpoint closed");
                continue;
            }
            let id = self.register(h, Side::Server, 1);
            self.incoming.push_back(id);
            self.accept_wakers.wake();
        }
    }

    /// Forgets connections the endpoint no longer holds.
    fn reap(&mut self) {
        // Their last events are queued in the endpoint under the old handle: deliver them first.
        self.dispatch_events();
        let gone: Vec<(ConnectionHandle, ConnId)> =
            self.live.iter().filter(|(h, _)| self.ep.connection_ref(**h).is_none()).map(|(h, id)| (*h, *id)).collect();
        for (h, id) in gone {
            self.live.remove(&h);
            if let Some(c) = self.conns.get_mut(&id) {
                c.handle = None;
                if c.error.is_none() {
                    c.error = Some(ConnectionError::LocallyClosed);
                }
                c.wake_all();
                if c.refs == 0 {
                    self.conns.remove(&id);
                }
            }
        }
        if self.live.is_empty() {
            self.idle_wakers.wake();
        }
    }

    /// Delivers every pending application event to the tasks waiting for it.
    pub(crate) fn dispatch_events(&mut self) {
        while let Some((h, event)) = self.ep.poll_event() {
            let Some(id) = self.live.get(&h).copied() else { continue };
            let Some(c) = self.conns.get_mut(&id) else { continue };
            match event {
                Event::Connected => {
                    c.connected = true;
                    c.handshake.wake();
                }
                Event::HandshakeConfirmed => {
                    c.handshake_confirmed = true;
                    c.path_wakers.wake();
                }
                Event::Path(e) => {
                    tracing::debug!(event = ?e, "path event");
                    if c.path_events.len() >= MAX_PATH_EVENTS {
                        c.path_events.pop_front();
                        c.path_events_lagged += 1;
                    }
                    c.path_events.push_back(e);
                    c.path_wakers.wake();
                }
                Event::ConnectionLost(e) => {
                    tracing::debug!(error = %e, "connection lost");
                    c.error.get_or_insert(e);
                    c.wake_all();
                }
                Event::StreamOpened(dir) => c.accept[dir_index(dir)].wake(),
                Event::StreamReadable(s) => {
                    if let Some(w) = c.readers.remove(&s) {
                        w.wake();
                    }
                }
                Event::StreamWritable(s) => {
                    if let Some(w) = c.writers.remove(&s) {
                        w.wake();
                    }
                }
                Event::StreamFinished(s) => {
                    c.finished.insert(s);
                    if let Some(w) = c.writers.remove(&s) {
                        w.wake();
                    }
                }
                Event::StreamStopped(s, code) => {
                    c.stopped.insert(s, code);
                    if let Some(w) = c.writers.remove(&s) {
                        w.wake();
                    }
                }
                Event::StreamsAvailable(dir) => c.open[dir_index(dir)].wake(),
                Event::DatagramReceived => c.datagrams.wake(),
            }
        }
    }

    /// Runs a command on a live connection and applies what it changed for the endpoint.
    pub(crate) fn with_conn<R>(
        &mut self,
        id: ConnId,
        f: impl FnOnce(&mut proto::Connection) -> R,
    ) -> Result<R, ConnectionError> {
        let c = self.conns.get(&id).ok_or(ConnectionError::LocallyClosed)?;
        let Some(h) = c.handle else {
            return Err(c.error.clone().unwrap_or(ConnectionError::LocallyClosed));
        };
        let r = self.ep.with_connection(h, f).ok_or(ConnectionError::LocallyClosed)?;
        self.after_endpoint_call();
        self.wake_driver();
        Ok(r)
    }

    /// The error a connection ended with, if it did.
    pub(crate) fn conn_error(&self, id: ConnId) -> Option<ConnectionError> {
        match self.conns.get(&id) {
            None => Some(ConnectionError::LocallyClosed),
            Some(c) => c.error.clone(),
        }
    }

    /// Closes a connection with an application error code.
    pub(crate) fn close_now(&mut self, id: ConnId, code: proto::VarInt, reason: &[u8]) {
        let now = self.now();
        let reason = bytes::Bytes::copy_from_slice(reason);
        let _ = self.with_conn(id, |c| c.close(now, code, reason));
        if let Some(c) = self.conns.get_mut(&id) {
            c.error.get_or_insert(ConnectionError::LocallyClosed);
            c.wake_all();
        }
    }

    /// One more API object refers to `id`.
    pub(crate) fn add_ref(&mut self, id: ConnId) {
        if let Some(c) = self.conns.get_mut(&id) {
            c.refs += 1;
        }
    }

    /// An API object referring to `id` went away; the last one closes the connection (error
    /// code 0, as when an application is done with it).
    pub(crate) fn drop_ref(&mut self, id: ConnId) {
        let Some(c) = self.conns.get_mut(&id) else { return };
        c.refs = c.refs.saturating_sub(1);
        if c.refs > 0 {
            return;
        }
        if c.handle.is_none() {
            self.conns.remove(&id);
        } else if c.error.is_none() {
            self.close_now(id, proto::VarInt::from_u32(0), b"");
        }
    }

    /// The current time on the endpoint's clock.
    pub(crate) fn now(&self) -> proto::Instant {
        to_proto(self.epoch, tokio::time::Instant::now())
    }

    /// Keeps ICMP errors for the application, dropping the oldest.
    pub(crate) fn push_icmp(&mut self, errors: Vec<IcmpError>) {
        for e in errors {
            if self.icmp.len() >= MAX_ICMP_KEPT {
                self.icmp.pop_front();
            }
            self.icmp.push_back(e);
        }
    }
}

/// The driver and handles of one endpoint share this.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    /// The endpoint's sockets (at least one); connections and their paths may use any of them:
    /// a datagram leaves from the socket whose address matches its source.
    pub(crate) sockets: Vec<UdpSocket>,
}

impl Shared {
    /// The first socket: its address is the endpoint's address.
    pub(crate) fn socket(&self) -> &UdpSocket {
        &self.sockets[0]
    }

    /// The socket to send from `src` to `dst`: the one bound to `src`, else one bound to the
    /// unspecified address on `src`'s port, else the first of `dst`'s address family.
    pub(crate) fn socket_for(&self, src: Option<std::net::SocketAddr>, dst: std::net::SocketAddr) -> usize {
        if self.sockets.len() == 1 {
            return 0;
        }
        let family = |a: std::net::SocketAddr| {
            self.sockets.iter().position(|s| {
                let l = s.local_addr();
                l.is_ipv4() == a.is_ipv4() || (l.is_ipv6() && l.ip().is_unspecified())
            })
        };
        if let Some(src) = src {
            if let Some(i) = self.sockets.iter().position(|s| s.local_addr() == src) {
                return i;
            }
            if let Some(i) = self.sockets.iter().position(|s| {
                let l = s.local_addr();
                l.ip().is_unspecified() && l.port() == src.port() && l.is_ipv4() == src.is_ipv4()
            }) {
                return i;
            }
        }
        family(dst).unwrap_or(0)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}
