//! The async [`Endpoint`]: binds a socket, spawns the driver task, connects and accepts.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use mpquic_proto as proto;
use proto::{ClientConfig, EndpointConfig, ServerConfig, Side, VarInt};

use crate::connection::{ConnRef, ConnectError, Connecting};
use crate::driver::Driver;
use crate::shared::{Shared, State};
use crate::udp::{Capabilities, IcmpError, IoStatsSnapshot, SocketConfig, UdpSocket};

/// An endpoint configuration whose randomness (CIDs, tokens) and secrets (stateless reset and
/// address-validation keys) come from the operating system's generator, batching up to the
/// kernel's 64 UDP GSO segments per transmit (and at most `MAX_GSO_BYTES`; a socket without
/// GSO sends them one by one).
pub fn random_endpoint_config() -> EndpointConfig {
    use ring::rand::SecureRandom;
    let rng = ring::rand::SystemRandom::new();
    let mut seed = [0u8; 8];
    let mut secret = [0u8; 32];
    // ring's SystemRandom only fails if the OS generator does, which we cannot work around.
    if rng.fill(&mut seed).is_err() || rng.fill(&mut secret).is_err() {
        tracing::error!("the OS random number generator failed; using a time-based seed");
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        seed = (t.as_nanos() as u64).to_le_bytes();
    }
    let mut config = EndpointConfig::with_seed(u64::from_le_bytes(seed));
    if secret != [0u8; 32] {
        config.static_secret = secret;
    }
    config.max_gso_segments = crate::udp::KERNEL_MAX_GSO_SEGMENTS;
    config
}

/// A QUIC endpoint on one UDP socket, driven by a tokio task. Cheap to clone.
#[derive(Debug)]
pub struct Endpoint {
    shared: Arc<Shared>,
}

impl Clone for Endpoint {
    fn clone(&self) -> Self {
        self.shared.lock().endpoint_refs += 1;
        Self { shared: self.shared.clone() }
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.endpoint_refs -= 1;
        if st.endpoint_refs == 0 {
            // Stop accepting; connections still in use run on until they end.
            st.closed = true;
            st.ep.set_server_config(None);
            for id in std::mem::take(&mut st.incoming) {
                st.drop_ref(id);
            }
            st.accept_wakers.wake();
            st.wake_driver();
        }
    }
}

impl Endpoint {
    /// A server endpoint bound to `addr` (it can also connect).
    pub fn server(config: ServerConfig, addr: SocketAddr) -> io::Result<Self> {
        Self::new(random_endpoint_config(), Some(config), addr, &SocketConfig::default())
    }

    /// A client-only endpoint bound to `addr` (e.g. `0.0.0.0:0` or `[::]:0`).
    pub fn client(addr: SocketAddr) -> io::Result<Self> {
        Self::new(random_endpoint_config(), None, addr, &SocketConfig::default())
    }

    /// An endpoint with every knob: must be called inside a tokio runtime.
    pub fn new(
        config: EndpointConfig,
        server: Option<ServerConfig>,
        addr: SocketAddr,
        socket: &SocketConfig,
    ) -> io::Result<Self> {
        let socket = UdpSocket::bind(addr, socket)?;
        Ok(Self::with_socket(config, server, socket))
    }

    /// An endpoint on a socket made by the caller.
    pub fn with_socket(config: EndpointConfig, server: Option<ServerConfig>, socket: UdpSocket) -> Self {
        Self::with_sockets(config, server, vec![socket])
    }

    /// A server endpoint on several addresses at once: one connection may have paths on any of
    /// them (multipath, RFC 10069), and a handshake may arrive on any. The first address is
    /// [`Endpoint::local_addr`].
    pub fn server_on(config: ServerConfig, addrs: &[SocketAddr]) -> io::Result<Self> {
        if addrs.is_empty() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "no address to listen on"));
        }
        let sockets =
            addrs.iter().map(|a| UdpSocket::bind(*a, &SocketConfig::default())).collect::<io::Result<Vec<_>>>()?;
        Ok(Self::with_sockets(random_endpoint_config(), Some(config), sockets))
    }

    /// An endpoint on sockets made by the caller (at least one; panics on none). Datagrams are
    /// received on all of them and each leaves from the socket bound to its source address.
    pub fn with_sockets(config: EndpointConfig, server: Option<ServerConfig>, sockets: Vec<UdpSocket>) -> Self {
        assert!(!sockets.is_empty(), "an endpoint needs a socket");
        let ep = proto::Endpoint::new(Arc::new(config), server.map(Arc::new));
        let shared = Arc::new(Shared { state: Mutex::new(State::new(ep)), sockets });
        tokio::spawn(Driver::new(shared.clone()));
        Self { shared }
    }

    /// The client configuration [`Endpoint::connect`] uses.
    pub fn set_default_client_config(&self, config: ClientConfig) {
        self.shared.lock().default_client = Some(config);
    }

    /// Replaces the server configuration (or stops accepting with `None`).
    pub fn set_server_config(&self, config: Option<ServerConfig>) {
        self.shared.lock().ep.set_server_config(config.map(Arc::new));
    }

    /// Connects to `remote` with the default client configuration.
    pub fn connect(&self, remote: SocketAddr, server_name: &str) -> Result<Connecting, ConnectError> {
        let config = self.shared.lock().default_client.clone().ok_or(ConnectError::NoDefaultClientConfig)?;
        self.connect_with(config, remote, server_name)
    }

    /// Connects to `remote` with `config`, verifying the certificate for `server_name`.
    pub fn connect_with(
        &self,
        config: ClientConfig,
        remote: SocketAddr,
        server_name: &str,
    ) -> Result<Connecting, ConnectError> {
        let local = self.shared.socket().local_addr();
        // A dual-stack socket reaches IPv4 peers; an IPv4 socket cannot reach IPv6 ones.
        let local = (!local.ip().is_unspecified()).then_some(local);
        self.connect_inner(config, local, remote, server_name)
    }

    /// Connects to `remote` sending from the IP of `local` (picked per packet with
    /// IP_PKTINFO / IPV6_PKTINFO, so the socket should be bound to the unspecified address);
    /// `local` with port 0 means the socket's port. This is path 0 of a multipath connection.
    pub fn connect_from(
        &self,
        config: ClientConfig,
        local: SocketAddr,
        remote: SocketAddr,
        server_name: &str,
    ) -> Result<Connecting, ConnectError> {
        let port = self.shared.socket().local_addr().port();
        let local = if local.port() == 0 { SocketAddr::new(local.ip(), port) } else { local };
        let local = (!local.ip().is_unspecified()).then_some(local);
        self.connect_inner(config, local, remote, server_name)
    }

    fn connect_inner(
        &self,
        config: ClientConfig,
        local: Option<SocketAddr>,
        remote: SocketAddr,
        server_name: &str,
    ) -> Result<Connecting, ConnectError> {
        let mut st = self.shared.lock();
        st.after_endpoint_call();
        let now = st.now();
        let h = st.ep.connect(now, config, local, remote, server_name)?;
        let id = st.register(h, Side::Client, 1);
        st.after_endpoint_call();
        st.wake_driver();
        drop(st);
        Ok(Connecting::new(ConnRef::adopt(self.shared.clone(), id)))
    }

    /// The next incoming connection; `None` once the endpoint was closed.
    pub fn accept(&self) -> Accept<'_> {
        Accept { endpoint: self }
    }

    /// Closes every connection with `code` and `reason`, and stops accepting.
    pub fn close(&self, code: VarInt, reason: &[u8]) {
        let mut st = self.shared.lock();
        st.closed = true;
        st.ep.set_server_config(None);
        let ids: Vec<_> = st.live.values().copied().collect();
        for id in ids {
            st.close_now(id, code, reason);
        }
        for id in std::mem::take(&mut st.incoming) {
            st.drop_ref(id);
        }
        st.accept_wakers.wake();
        st.wake_driver();
    }

    /// Waits until the endpoint holds no connection (closed ones finished draining).
    pub async fn wait_idle(&self) {
        std::future::poll_fn(|cx| {
            let mut st = self.shared.lock();
            if st.live.is_empty() {
                Poll::Ready(())
            } else {
                st.idle_wakers.register(cx.waker());
                Poll::Pending
            }
        })
        .await
    }

    /// The socket's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.socket().local_addr()
    }

    /// The addresses of all the endpoint's sockets.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.shared.sockets.iter().map(UdpSocket::local_addr).collect()
    }

    /// What the socket can do.
    pub fn socket_capabilities(&self) -> Capabilities {
        self.shared.socket().capabilities()
    }

    /// System-call and datagram counters of the socket.
    pub fn socket_stats(&self) -> IoStatsSnapshot {
        self.shared.socket().stats()
    }

    /// Datagrams the endpoint dropped before they reached a connection (malformed, unknown
    /// connection, ...).
    pub fn dropped_datagrams(&self) -> u64 {
        self.shared.lock().ep.dropped_datagrams
    }

    /// Connections the endpoint holds (including closing ones).
    pub fn connection_count(&self) -> usize {
        self.shared.lock().live.len()
    }

    /// ICMP errors received since the last call (also logged as they arrive).
    pub fn take_icmp_errors(&self) -> Vec<IcmpError> {
        self.shared.lock().icmp.drain(..).collect()
    }
}

/// Future of [`Endpoint::accept`].
#[derive(Debug)]
pub struct Accept<'a> {
    endpoint: &'a Endpoint,
}

impl Future for Accept<'_> {
    type Output = Option<Connecting>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let shared = &self.endpoint.shared;
        let mut st = shared.lock();
        if let Some(id) = st.incoming.pop_front() {
            // The queue's reference moves to the Connecting.
            return Poll::Ready(Some(Connecting::new(ConnRef::adopt(shared.clone(), id))));
        }
        if st.closed {
            return Poll::Ready(None);
        }
        st.accept_wakers.register(cx.waker());
        Poll::Pending
    }
}
