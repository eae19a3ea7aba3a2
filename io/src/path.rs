//! Multipath (RFC 10069) on an established [`Connection`]: opening paths
//! ([`Connection::open_path`]), the [`PathHandle`] to watch, re-status and abandon one, and the
//! connection's path events ([`Connection::next_path_event`]).
//!
//! Multipath is negotiated when both sides set
//! [`TransportConfig::initial_max_path_id`](mpquic_proto::TransportConfig::initial_max_path_id)
//! (see [`multipath_transport_config`]); the other multipath knobs (scheduler and controller
//! factories, ACK-path policy, path failure detection) live in the same transport configuration.

use std::net::SocketAddr;
use std::task::Poll;
use std::time::Duration;

use mpquic_proto as proto;
use proto::PathError;
use proto::{ConnectionError, PathEvent, PathId, PathInfo, Side, TransportConfig};
use thiserror::Error;

use crate::connection::Connection;

/// How long [`Connection::open_path`] waits for the handshake to be confirmed and for the
/// peer's connection IDs of the new path ID (RFC 10069 §4: PATH_NEW_CONNECTION_ID) by default.
pub const DEFAULT_OPEN_PATH_TIMEOUT: Duration = Duration::from_secs(5);

/// How often [`Connection::open_path`] retries while the peer's connection IDs are missing
/// (their arrival raises no event to wait on).
const OPEN_PATH_RETRY: Duration = Duration::from_millis(2);

/// A transport configuration offering multipath with up to `max_paths` paths at once (path IDs
/// 0 to `max_paths - 1`, RFC 10069 §2 `initial_max_path_id`); everything else is the default.
/// Set `scheduler_factory`, `congestion_controller_factory`, `ack_path_policy` and
/// `path_failure` on the result to change how the paths are used.
pub fn multipath_transport_config(max_paths: u32) -> TransportConfig {
    TransportConfig { initial_max_path_id: Some(max_paths.max(1) - 1), ..TransportConfig::default() }
}

/// Why [`Connection::open_path`] or a [`PathHandle`] command failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum OpenPathError {
    /// The connection ended.
    #[error("connection lost: {0}")]
    ConnectionLost(#[from] ConnectionError),
    /// The protocol refused: multipath not negotiated, we are the server, the peer's path
    /// limit is reached, the path is unknown or the last one.
    #[error(transparent)]
    Path(#[from] PathError),
    /// The handshake was not confirmed, or the peer issued no connection ID for the new path
    /// ID, within the time allowed.
    #[error("gave up after {0:?}: {1}")]
    Timeout(Duration, PathError),
    /// No socket of the endpoint is on this port (paths share the sockets' ports; only the IP
    /// is chosen per packet).
    #[error("local address {0}: no socket of this endpoint is on that port; give port 0 (= {1}) or a socket's port")]
    LocalPort(SocketAddr, u16),
    /// The path failed validation or was abandoned before it was validated.
    #[error("path {0} failed validation or was abandoned")]
    ValidationFailed(PathId),
}

/// A path of a multipath connection. Dropping it leaves the path open.
#[derive(Debug, Clone)]
pub struct PathHandle {
    conn: Connection,
    id: PathId,
}

impl PathHandle {
    /// The path's ID (RFC 10069 §4: also part of the AEAD nonce).
    pub fn id(&self) -> PathId {
        self.id
    }

    /// The connection the path belongs to.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Abandons the path with an application error code (PATH_ABANDON, RFC 10069 §3.3); its
    /// data in flight is sent again on the other paths.
    pub fn abandon(&self, error_code: u64) -> Result<(), OpenPathError> {
        let now = self.conn.now();
        self.conn.with(|c| c.abandon_path(now, self.id, error_code))?.map_err(OpenPathError::from)
    }

    /// Abandons the path with error code 0 (no error).
    pub fn close(&self) -> Result<(), OpenPathError> {
        self.abandon(0)
    }

    /// Marks the path as a backup (PATH_STATUS_BACKUP) or available (PATH_STATUS_AVAILABLE)
    /// for both our scheduler and the peer's (RFC 10069 §3.2).
    pub fn set_status(&self, backup: bool) -> Result<(), OpenPathError> {
        self.conn.with(|c| c.set_path_status(self.id, backup))?.map_err(OpenPathError::from)
    }

    /// The path's addresses, state, RTT, window and counters; `None` once it is forgotten
    /// (3 PTOs after it was abandoned) or the connection is gone.
    pub fn stats(&self) -> Option<PathInfo> {
        self.conn.paths().into_iter().find(|p| p.id == self.id)
    }

    /// Waits until the path is validated (RFC 9000 §8.2) and may carry data.
    pub async fn validated(&self) -> Result<(), OpenPathError> {
        std::future::poll_fn(|cx| {
            let mut st = self.conn.inner.shared.lock();
            if let Some(e) = st.conn_error(self.conn.inner.id) {
                return Poll::Ready(Err(e.into()));
            }
            let info = st.with_conn(self.conn.inner.id, |c| c.paths().into_iter().find(|p| p.id == self.id));
            match info {
                Err(e) => Poll::Ready(Err(e.into())),
                Ok(None) => Poll::Ready(Err(OpenPathError::ValidationFailed(self.id))),
                Ok(Some(p)) if p.abandoned => Poll::Ready(Err(OpenPathError::ValidationFailed(self.id))),
                Ok(Some(p)) if p.validated => Poll::Ready(Ok(())),
                Ok(Some(_)) => {
                    if let Some(c) = st.conns.get_mut(&self.conn.inner.id) {
                        c.path_wakers.register(cx.waker());
                    }
                    Poll::Pending
                }
            }
        })
        .await
    }
}

impl Connection {
    /// Opens a new path from `local` (the address its packets leave from, chosen per packet
    /// with IP_PKTINFO / IPV6_PKTINFO) to `remote` (client only, RFC 10069 §3.1). Waits up to
    /// [`DEFAULT_OPEN_PATH_TIMEOUT`] for the handshake to be confirmed and for the peer's
    /// connection IDs of the next path ID. The path is then being validated: see
    /// [`PathHandle::validated`]. `local` with port 0 means the endpoint's own port.
    pub async fn open_path(&self, local: SocketAddr, remote: SocketAddr) -> Result<PathHandle, OpenPathError> {
        self.open_path_with_timeout(local, remote, DEFAULT_OPEN_PATH_TIMEOUT).await
    }

    /// [`Connection::open_path`] with a chosen wait for the handshake and connection IDs.
    pub async fn open_path_with_timeout(
        &self,
        local: SocketAddr,
        remote: SocketAddr,
        timeout: Duration,
    ) -> Result<PathHandle, OpenPathError> {
        let local = self.resolve_local(local)?;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let now = self.now();
            match self.with(|c| c.open_path(now, Some(local), remote))? {
                Ok(id) => {
                    tracing::debug!(path = %id, %local, %remote, "opened a path");
                    return Ok(PathHandle { conn: self.clone(), id });
                }
                Err(e @ (PathError::NoConnectionId | PathError::HandshakeNotConfirmed)) => {
                    if tokio::time::Instant::now() >= deadline {
                        return Err(OpenPathError::Timeout(timeout, e));
                    }
                    tokio::time::sleep(OPEN_PATH_RETRY).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// A handle on an existing path (e.g. one the peer opened, learnt from
    /// [`Connection::next_path_event`]); `None` if the connection has no such path.
    pub fn path(&self, id: PathId) -> Option<PathHandle> {
        self.paths().iter().any(|p| p.id == id).then(|| PathHandle { conn: self.clone(), id })
    }

    /// Whether multipath was negotiated.
    pub fn is_multipath(&self) -> bool {
        self.with(|c| c.is_multipath()).unwrap_or(false)
    }

    /// Raises the path ID limit we give the peer (MAX_PATH_ID, RFC 10069 §4.7).
    pub fn set_max_path_id(&self, max: PathId) {
        let _ = self.with(|c| c.set_max_path_id(max));
    }

    /// Waits for the next path event (opened, validated, validation failed, migrated,
    /// abandoned, potentially failed, recovered). Events are queued from the start of the
    /// connection (the oldest dropped beyond 256, see [`Connection::path_events_lagged`]);
    /// `None` once the connection ended and every queued event was taken.
    pub async fn next_path_event(&self) -> Option<PathEvent> {
        std::future::poll_fn(|cx| {
            let mut st = self.inner.shared.lock();
            let Some(c) = st.conns.get_mut(&self.inner.id) else { return Poll::Ready(None) };
            if let Some(e) = c.path_events.pop_front() {
                return Poll::Ready(Some(e));
            }
            if c.error.is_some() {
                return Poll::Ready(None);
            }
            c.path_wakers.register(cx.waker());
            Poll::Pending
        })
        .await
    }

    /// Path events dropped so far because [`Connection::next_path_event`] was not called.
    pub fn path_events_lagged(&self) -> u64 {
        self.inner.shared.lock().conns.get(&self.inner.id).map_or(0, |c| c.path_events_lagged)
    }

    /// Port 0 means the endpoint's port; an unspecified IP is kept (the kernel chooses).
    fn resolve_local(&self, local: SocketAddr) -> Result<SocketAddr, OpenPathError> {
        let shared = &self.inner.shared;
        let port = shared.socket().local_addr().port();
        match local.port() {
            0 => Ok(SocketAddr::new(local.ip(), port)),
            p if shared.sockets.iter().any(|s| s.local_addr().port() == p) => Ok(local),
            _ => Err(OpenPathError::LocalPort(local, port)),
        }
    }

    /// Whether this side may open paths (only clients do, RFC 10069 §3.1).
    pub fn can_open_paths(&self) -> bool {
        self.side() == Side::Client && self.is_multipath()
    }
}
