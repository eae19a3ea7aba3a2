//! [`Connecting`] (a handshake in progress) and [`Connection`] (an established connection):
//! opening and accepting streams, datagrams, closing, statistics and paths.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use mpquic_proto as proto;
use proto::{ConnectionError, ConnectionStats, Dir, PathInfo, SendDatagramError, Side, StreamId, VarInt};
use thiserror::Error;

use crate::shared::{dir_index, ConnId, Shared};
use crate::stream::{RecvStream, SendStream};

/// Why [`Endpoint::connect`](crate::Endpoint::connect) failed.
#[derive(Debug, Error)]
pub enum ConnectError {
    /// `connect` was called without a default client configuration.
    #[error("no default client configuration; call set_default_client_config or use connect_with")]
    NoDefaultClientConfig,
    /// The endpoint refused (bad TLS configuration, server name, version, limits).
    #[error(transparent)]
    Endpoint(#[from] proto::ConnectError),
}

/// A counted reference to a connection's state; the last one to go closes the connection.
#[derive(Debug)]
pub(crate) struct ConnRef {
    pub(crate) shared: Arc<Shared>,
    pub(crate) id: ConnId,
}

impl ConnRef {
    /// Takes over a reference already counted for `id`.
    pub(crate) fn adopt(shared: Arc<Shared>, id: ConnId) -> Self {
        Self { shared, id }
    }
}

impl Clone for ConnRef {
    fn clone(&self) -> Self {
        self.shared.lock().add_ref(self.id);
        Self { shared: self.shared.clone(), id: self.id }
    }
}

impl Drop for ConnRef {
    fn drop(&mut self) {
        self.shared.lock().drop_ref(self.id);
    }
}

/// A connection whose handshake is under way; resolves to the [`Connection`] once it is done.
#[derive(Debug)]
pub struct Connecting {
    conn: Option<ConnRef>,
}

impl Connecting {
    pub(crate) fn new(conn: ConnRef) -> Self {
        Self { conn: Some(conn) }
    }

    /// The peer's address.
    pub fn remote_address(&self) -> Option<SocketAddr> {
        let c = self.conn.as_ref()?;
        let mut st = c.shared.lock();
        st.with_conn(c.id, |c| c.remote_address()).ok()
    }
}

impl Connecting {
    /// Uses the connection before its handshake completes.
    ///
    /// A client sends stream data in 0-RTT packets (RFC 9001 §4.6) when it resumes a session whose
    /// ticket allows early data and its TLS configuration has `enable_early_data` set (RFC 9001
    /// §5.6: 0-RTT only when the application asks); otherwise it gets `self` back to await as
    /// usual. 0-RTT data can be replayed by an attacker (RFC 9001 §9.2): send only what is safe
    /// to process twice. If the server rejects 0-RTT the data is sent again in 1-RTT packets;
    /// [`Connection::zero_rtt`] tells which it was once the handshake is complete.
    ///
    /// A server always gets the connection: it can accept the streams of accepted 0-RTT data
    /// before the client's Finished arrives (its answers go out once the client's address is
    /// validated, RFC 9000 §8.1).
    pub fn into_0rtt(mut self) -> Result<Connection, Self> {
        let Some(c) = self.conn.as_ref() else { return Err(self) };
        let pending = {
            let mut st = c.shared.lock();
            st.with_conn(c.id, |c| c.side().is_server() || matches!(c.zero_rtt(), proto::ZeroRttStatus::Pending { .. }))
        };
        match (pending, self.conn.take()) {
            (Ok(true), Some(inner)) => Ok(Connection { inner }),
            (_, conn) => {
                self.conn = conn;
                Err(self)
            }
        }
    }
}

impl Future for Connecting {
    type Output = Result<Connection, ConnectionError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(c) = self.conn.as_ref() else { return Poll::Ready(Err(ConnectionError::LocallyClosed)) };
        let mut st = c.shared.lock();
        let Some(state) = st.conns.get_mut(&c.id) else { return Poll::Ready(Err(ConnectionError::LocallyClosed)) };
        if state.connected {
            drop(st);
            let conn = self.conn.take().map(|inner| Connection { inner });
            return Poll::Ready(conn.ok_or(ConnectionError::LocallyClosed));
        }
        if let Some(e) = state.error.clone() {
            return Poll::Ready(Err(e));
        }
        state.handshake.register(cx.waker());
        Poll::Pending
    }
}

/// An established QUIC connection. Cheap to clone; when every clone and every stream of it is
/// dropped, the connection is closed with error code 0.
#[derive(Debug, Clone)]
pub struct Connection {
    pub(crate) inner: ConnRef,
}

impl Connection {
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut proto::Connection) -> R) -> Result<R, ConnectionError> {
        self.inner.shared.lock().with_conn(self.inner.id, f)
    }

    /// The current time on the endpoint's clock.
    pub(crate) fn now(&self) -> proto::Instant {
        self.inner.shared.lock().now()
    }

    fn stream_ref(&self) -> ConnRef {
        self.inner.clone()
    }

    /// Opens a bidirectional stream, waiting while the peer's stream limit is reached.
    pub async fn open_bi(&self) -> Result<(SendStream, RecvStream), ConnectionError> {
        let id = self.open(Dir::Bi).await?;
        Ok((SendStream::new(self.stream_ref(), id), RecvStream::new(self.stream_ref(), id)))
    }

    /// Opens a unidirectional stream, waiting while the peer's stream limit is reached.
    pub async fn open_uni(&self) -> Result<SendStream, ConnectionError> {
        let id = self.open(Dir::Uni).await?;
        Ok(SendStream::new(self.stream_ref(), id))
    }

    async fn open(&self, dir: Dir) -> Result<StreamId, ConnectionError> {
        std::future::poll_fn(|cx| self.poll_stream(cx, dir, |c| c.open_stream(dir), false)).await
    }

    /// Waits for the peer to open a bidirectional stream.
    pub async fn accept_bi(&self) -> Result<(SendStream, RecvStream), ConnectionError> {
        let id = std::future::poll_fn(|cx| self.poll_stream(cx, Dir::Bi, |c| c.accept_stream(Dir::Bi), true)).await?;
        Ok((SendStream::new(self.stream_ref(), id), RecvStream::new(self.stream_ref(), id)))
    }

    /// Waits for the peer to open a unidirectional stream.
    pub async fn accept_uni(&self) -> Result<RecvStream, ConnectionError> {
        let id = std::future::poll_fn(|cx| self.poll_stream(cx, Dir::Uni, |c| c.accept_stream(Dir::Uni), true)).await?;
        Ok(RecvStream::new(self.stream_ref(), id))
    }

    fn poll_stream(
        &self,
        cx: &mut Context<'_>,
        dir: Dir,
        f: impl FnOnce(&mut proto::Connection) -> Option<StreamId>,
        accept: bool,
    ) -> Poll<Result<StreamId, ConnectionError>> {
        let mut st = self.inner.shared.lock();
        if let Some(e) = st.conn_error(self.inner.id) {
            return Poll::Ready(Err(e));
        }
        match st.with_conn(self.inner.id, f) {
            Err(e) => Poll::Ready(Err(e)),
            Ok(Some(id)) => Poll::Ready(Ok(id)),
            Ok(None) => {
                if let Some(c) = st.conns.get_mut(&self.inner.id) {
                    let set = if accept { &mut c.accept[dir_index(dir)] } else { &mut c.open[dir_index(dir)] };
                    set.register(cx.waker());
                }
                Poll::Pending
            }
        }
    }

    /// Queues an unreliable datagram (RFC 9221).
    pub fn send_datagram(&self, data: Bytes) -> Result<(), DatagramError> {
        self.with(|c| c.send_datagram(data))?.map_err(DatagramError::from)
    }

    /// The largest datagram [`Connection::send_datagram`] takes now.
    pub fn max_datagram_size(&self) -> Result<usize, DatagramError> {
        self.with(|c| c.max_datagram_size())?.map_err(DatagramError::from)
    }

    /// Waits for the next datagram.
    pub async fn read_datagram(&self) -> Result<Bytes, ConnectionError> {
        std::future::poll_fn(|cx| {
            let mut st = self.inner.shared.lock();
            match st.with_conn(self.inner.id, |c| c.recv_datagram()) {
                Err(e) => Poll::Ready(Err(e)),
                Ok(Some(d)) => Poll::Ready(Ok(d)),
                Ok(None) => {
                    if let Some(e) = st.conn_error(self.inner.id) {
                        return Poll::Ready(Err(e));
                    }
                    if let Some(c) = st.conns.get_mut(&self.inner.id) {
                        c.datagrams.register(cx.waker());
                    }
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// Closes the connection with an application error code and reason.
    pub fn close(&self, code: VarInt, reason: &[u8]) {
        self.inner.shared.lock().close_now(self.inner.id, code, reason);
    }

    /// Waits until the connection ends and says why.
    pub async fn closed(&self) -> ConnectionError {
        std::future::poll_fn(|cx| {
            let mut st = self.inner.shared.lock();
            if let Some(e) = st.conn_error(self.inner.id) {
                return Poll::Ready(e);
            }
            if let Some(c) = st.conns.get_mut(&self.inner.id) {
                c.closed.register(cx.waker());
            }
            Poll::Pending
        })
        .await
    }

    /// Why the connection ended, if it did.
    pub fn close_reason(&self) -> Option<ConnectionError> {
        self.inner.shared.lock().conn_error(self.inner.id)
    }

    /// Connection-wide counters (zeroes once the connection is gone).
    pub fn stats(&self) -> ConnectionStats {
        self.with(|c| c.stats()).unwrap_or_default()
    }

    /// Every path with its state and counters (empty once the connection is gone).
    pub fn paths(&self) -> Vec<PathInfo> {
        self.with(|c| c.paths()).unwrap_or_default()
    }

    /// The peer's address on path 0.
    pub fn remote_address(&self) -> SocketAddr {
        self.with(|c| c.remote_address()).unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// The ALPN protocol the handshake chose.
    pub fn alpn_protocol(&self) -> Option<Vec<u8>> {
        self.with(|c| c.alpn_protocol().map(<[u8]>::to_vec)).ok().flatten()
    }

    /// Which side of the connection we are.
    pub fn side(&self) -> Side {
        self.inner.shared.lock().conns.get(&self.inner.id).map_or(Side::Client, |c| c.side)
    }

    /// Where 0-RTT stands: not attempted, pending (handshake not complete), accepted or rejected,
    /// with the stream bytes that went into 0-RTT packets.
    pub fn zero_rtt(&self) -> proto::ZeroRttStatus {
        self.with(|c| c.zero_rtt()).unwrap_or(proto::ZeroRttStatus::NotAttempted)
    }

    /// Whether the TLS handshake resumed an earlier session (RFC 8446 §2.2).
    pub fn is_resumed(&self) -> bool {
        self.with(|c| c.is_resumed()).unwrap_or(false)
    }

    /// Waits until the handshake is complete (at once if it is); fails if the connection ended.
    pub async fn handshake_complete(&self) -> Result<(), ConnectionError> {
        std::future::poll_fn(|cx| {
            let mut st = self.inner.shared.lock();
            let Some(state) = st.conns.get_mut(&self.inner.id) else {
                return Poll::Ready(Err(ConnectionError::LocallyClosed));
            };
            if state.connected {
                return Poll::Ready(Ok(()));
            }
            if let Some(e) = state.error.clone() {
                return Poll::Ready(Err(e));
            }
            state.handshake.register(cx.waker());
            Poll::Pending
        })
        .await
    }

    /// Starts a 1-RTT key update now (RFC 9001 §6) if one is allowed; says whether it started.
    pub fn force_key_update(&self) -> bool {
        self.with(|c| c.force_key_update()).unwrap_or(false)
    }

    /// Sends a PING on every path.
    pub fn ping(&self) {
        let _ = self.with(|c| c.ping());
    }
}

/// Why a datagram cannot be sent.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DatagramError {
    /// The connection ended.
    #[error("connection lost: {0}")]
    ConnectionLost(#[from] ConnectionError),
    /// The peer does not take datagrams, or the datagram is too large.
    #[error(transparent)]
    Send(#[from] SendDatagramError),
}
