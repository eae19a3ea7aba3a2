//! Configuration: per-connection transport settings, endpoint-wide settings, and the client and
//! server TLS configurations. Defaults follow the RFCs; every knob says its unit in its name.

use std::sync::Arc;
use std::time::Duration;

use mpquic_cc::{ControllerFactory, Cubic};
use mpquic_scheduler::{MinRtt, RedundancyCap, SchedulerFactory};

use crate::path::PathFailureDetection;
use crate::trace::TracerFactory;

/// Per-connection transport settings, shared by every connection of an endpoint that uses them.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// Idle timeout we advertise (RFC 9000 §10.1); `None` disables it from our side.
    pub max_idle_timeout: Option<Duration>,
    /// RTT assumed before the first sample (RFC 9002 §6.2.2: 333 ms).
    pub initial_rtt: Duration,
    /// Pace packets over the round trip (RFC 9002 §7.7: senders SHOULD pace). On by default;
    /// turning it off sends every window as one burst, for experiments on pacing itself.
    pub pacing: bool,
    /// Initial per-stream receive window in bytes (initial_max_stream_data_*).
    pub stream_receive_window: u64,
    /// Largest per-stream receive window auto-tuning may grow to.
    pub max_stream_receive_window: u64,
    /// Initial connection receive window in bytes (initial_max_data).
    pub receive_window: u64,
    /// Largest connection receive window auto-tuning may grow to.
    pub max_receive_window: u64,
    /// Bytes of unacknowledged stream data we buffer for sending, over all streams.
    pub send_window: u64,
    /// Peer-initiated bidirectional streams open at once (initial_max_streams_bidi).
    pub max_concurrent_bidi_streams: u64,
    /// Peer-initiated unidirectional streams open at once (initial_max_streams_uni).
    pub max_concurrent_uni_streams: u64,
    /// ack_delay_exponent we advertise (RFC 9000 §18.2).
    pub ack_delay_exponent: u8,
    /// max_ack_delay we advertise and honour (RFC 9000 §13.2.1).
    pub max_ack_delay: Duration,
    /// Ack-eliciting packets received before an ACK is sent at once (RFC 9000 §13.2.2: 2).
    pub ack_eliciting_threshold: u64,
    /// Datagram size used before path MTU discovery (RFC 9000 §14: at least 1200).
    pub initial_mtu: u16,
    /// Upper bound of DPLPMTUD probing (RFC 8899); `None` disables discovery.
    pub mtu_discovery_upper_bound: Option<u16>,
    /// How long to wait before probing a larger MTU again after the search ended.
    pub mtu_discovery_interval: Duration,
    /// Mark packets ECT(0) and validate ECN (RFC 9000 §13.4).
    pub ecn: bool,
    /// Restart a path's congestion window after idle: when a path with nothing in flight sends
    /// again after more than a probe timeout without sending, its controller drops back to
    /// min(initial window, cwnd) (RFC 5681 §4.1, as Linux TCP does by default with
    /// `tcp_slow_start_after_idle`). RFC 9002 §7.8 leaves idle behaviour to the controller; off by
    /// default. ECF's evaluation (papers.md §2.2-2.4) counts these restarts
    /// ([`crate::PathStats::congestion_window_restarts`]).
    pub restart_after_idle: bool,
    /// Largest DATAGRAM frame we accept (RFC 9221 max_datagram_frame_size); `None` disables them.
    pub datagram_receive_buffer_bytes: Option<usize>,
    /// Bytes of outgoing datagrams queued before the oldest are dropped.
    pub datagram_send_buffer_bytes: usize,
    /// Send a PING after this long without sending, to keep the connection alive.
    pub keep_alive_interval: Option<Duration>,
    /// active_connection_id_limit we advertise (RFC 9000 §18.2, at least 2).
    pub active_connection_id_limit: u64,
    /// Builds one congestion controller per path (default: CUBIC without HyStart++, as in quinn,
    /// Linux, the scenario files and the `mpquic` commands).
    pub congestion_controller_factory: Arc<dyn ControllerFactory>,
    /// Initiate a key update after this many 1-RTT packets sent with one key phase (RFC 9001 §6),
    /// or at half the confidentiality limit if that comes first (§6.6).
    pub key_update_interval_packets: u64,
    /// Close with AEAD_LIMIT_REACHED once this many received packets failed authentication, when
    /// lower than the AEAD's integrity limit (RFC 9001 §6.6: 2^52 for AES-GCM, 2^36 for
    /// ChaCha20-Poly1305, counted over the connection and all its keys). `None`: the AEAD's limit.
    pub integrity_limit_packets: Option<u64>,
    /// Seal at most this many packets with one 1-RTT key, when lower than the AEAD's
    /// confidentiality limit (RFC 9001 §6.6: 2^23 for AES-GCM, 2^62 for ChaCha20-Poly1305). A
    /// key update starts at half the limit; a connection that could not update by the time the
    /// limit is near closes with AEAD_LIMIT_REACHED. `None`: the AEAD's limit.
    pub confidentiality_limit_packets: Option<u64>,
    /// Packets that may be reordered before one is declared lost (RFC 9002 kPacketThreshold).
    pub packet_threshold: u64,
    /// Multiple of the RTT after which a packet is declared lost (RFC 9002 kTimeThreshold).
    pub time_threshold: f32,
    /// PTO multiple that declares persistent congestion (RFC 9002 kPersistentCongestionThreshold).
    pub persistent_congestion_threshold: u32,
    /// Multipath (RFC 10069): the initial_max_path_id we advertise; `None`
    /// leaves multipath off.
    pub initial_max_path_id: Option<u32>,
    /// Which draft's code points multipath speaks (RFC 10069, i.e. draft-21, by default; the -13…-18
    /// experimental ones for older peers).
    pub multipath_version: crate::frame::MultipathVersion,
    /// Chooses the path of each packet of stream data when several paths are usable.
    pub scheduler_factory: Arc<dyn SchedulerFactory>,
    /// The limit on redundant stream bytes the scheduler may cause: re-injected copies, and
    /// duplicates when [`RedundancyCap::count_duplicates`] is set (default: re-injection up to
    /// 10% of the stream bytes sent).
    pub redundancy_cap: RedundancyCap,
    /// Where PATH_ACK frames go (RFC 10069 §3.2: any path is allowed).
    pub ack_path_policy: AckPathPolicy,
    /// When a path counts as potentially failed (multipath only; see [`PathFailureDetection`]).
    pub path_failure: PathFailureDetection,
    /// Client: move to the server's preferred_address once the handshake is confirmed
    /// (RFC 9000 §9.6).
    pub use_preferred_address: bool,
    /// Builds one event tracer per connection (qlog and the like, see [`crate::trace`]);
    /// `None` traces nothing.
    pub tracer_factory: Option<Arc<dyn TracerFactory>>,
}

/// Which path carries the acknowledgements of a path's packets (RFC 10069
/// §5 discusses the trade-off: the RTT a sender measures includes the ACK's return path).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AckPathPolicy {
    /// ACKs go back on the path they acknowledge (stable RTT estimates); an abandoned path's
    /// ACKs go on any other path.
    #[default]
    SamePath,
    /// ACKs ride on whatever packet leaves next, on any path (fastest feedback).
    AnyPath,
}

impl TransportConfig {
    /// RFC 9002 §6.2.2 kInitialRtt.
    pub const DEFAULT_INITIAL_RTT: Duration = Duration::from_millis(333);
}

impl Default for TransportConfig {
    fn default() -> Self {
        const MB: u64 = 1 << 20;
        Self {
            max_idle_timeout: Some(Duration::from_secs(30)),
            initial_rtt: Self::DEFAULT_INITIAL_RTT,
            pacing: true,
            // Two MiB: with several paths, a packet lost on the slowest one holds back every
            // byte behind it until its retransmission arrives, so the window must cover the
            // sum of the paths' rates over the slow path's loss recovery (MPTCP's rule of
            // 2 x sum of bandwidths x largest RTT, Raiciu et al., "How Hard Can It Be?",
            // NSDI 2012). With 1 MiB, a 12 MiB download over 20 Mbit/s 20 ms + 10 Mbit/s
            // 60 ms stalled on flow control while the slow path recovered from slow start
            // (STREAM_DATA_BLOCKED in the qlog, the fast path idle) and reached an aggregation
            // benefit of 0.846; with 2 MiB, 0.903 (experiments/scenarios/aggregation_real.toml).
            stream_receive_window: 2 * MB,
            max_stream_receive_window: 16 * MB,
            receive_window: 4 * MB,
            max_receive_window: 64 * MB,
            send_window: 8 * MB,
            max_concurrent_bidi_streams: 100,
            max_concurrent_uni_streams: 100,
            ack_delay_exponent: 3,
            max_ack_delay: Duration::from_millis(25),
            ack_eliciting_threshold: 2,
            initial_mtu: 1200,
            mtu_discovery_upper_bound: Some(1452),
            mtu_discovery_interval: Duration::from_secs(600),
            ecn: true,
            restart_after_idle: false,
            datagram_receive_buffer_bytes: Some(MB as usize),
            datagram_send_buffer_bytes: MB as usize,
            keep_alive_interval: None,
            active_connection_id_limit: 4,
            congestion_controller_factory: Cubic::factory(false),
            key_update_interval_packets: 1 << 23,
            integrity_limit_packets: None,
            confidentiality_limit_packets: None,
            packet_threshold: 3,
            time_threshold: 9.0 / 8.0,
            persistent_congestion_threshold: 3,
            initial_max_path_id: None,
            multipath_version: crate::frame::MultipathVersion::Draft21,
            scheduler_factory: MinRtt::factory(),
            redundancy_cap: RedundancyCap::default(),
            ack_path_policy: AckPathPolicy::SamePath,
            path_failure: PathFailureDetection::default(),
            use_preferred_address: true,
            tracer_factory: None,
        }
    }
}

/// Endpoint-wide settings.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// Length of the connection IDs we issue (RFC 9000 §5.1; 0..=20, at least 1 for multipath).
    pub local_cid_len: usize,
    /// Seed of every random choice the endpoint makes (CIDs, tokens, packet-number skips). The
    /// same seed and the same inputs give the same outputs.
    pub rng_seed: u64,
    /// Secret for stateless reset tokens (RFC 9000 §10.3.2) and address-validation tokens.
    pub static_secret: [u8; 32],
    /// Largest UDP payload we accept (max_udp_payload_size, RFC 9000 §18.2).
    pub max_udp_payload_size: u16,
    /// Versions we speak, most preferred first.
    pub supported_versions: Vec<u32>,
    /// Most datagrams one [`crate::Transmit`] batches (UDP GSO segments), and never more than
    /// [`crate::MAX_GSO_BYTES`] in all. The default, 10, is what the simulator's results were
    /// made with; `mpquic-io` raises it to what its sockets take. Larger batches cost the kernel
    /// one pass through the UDP stack per batch instead of per 10 datagrams: with 32, `mpquic
    /// perf server` used 20% less CPU per GiB on loopback.
    pub max_gso_segments: usize,
}

impl EndpointConfig {
    /// A configuration whose randomness and secrets all derive from `seed`.
    pub fn with_seed(seed: u64) -> Self {
        let mut static_secret = [0u8; 32];
        for (i, chunk) in static_secret.chunks_mut(8).enumerate() {
            chunk.copy_from_slice(&(seed ^ (0x9e37_79b9_7f4a_7c15u64.wrapping_mul(i as u64 + 1))).to_le_bytes());
        }
        Self {
            local_cid_len: 8,
            rng_seed: seed,
            static_secret,
            max_udp_payload_size: 1472,
            supported_versions: vec![crate::packet::VERSION_1],
            max_gso_segments: 10,
        }
    }
}

/// Settings of a client connection.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// TLS settings: roots, ALPN, key log. QUIC requires TLS 1.3 (RFC 9001 §4.2).
    pub crypto: Arc<rustls::ClientConfig>,
    /// Transport settings.
    pub transport: Arc<TransportConfig>,
    /// QUIC version to start with.
    pub version: u32,
}

impl ClientConfig {
    /// A client configuration with default transport settings.
    pub fn new(crypto: Arc<rustls::ClientConfig>) -> Self {
        Self { crypto, transport: Arc::new(TransportConfig::default()), version: crate::packet::VERSION_1 }
    }
}

/// Settings of a server endpoint.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// TLS settings: certificate chain, key, ALPN.
    pub crypto: Arc<rustls::ServerConfig>,
    /// Transport settings for every accepted connection.
    pub transport: Arc<TransportConfig>,
    /// Require address validation with a Retry before creating state (RFC 9000 §8.1.2).
    pub retry: bool,
    /// How long a Retry token stays valid.
    pub retry_token_lifetime: Duration,
    /// How long a NEW_TOKEN token stays valid.
    pub new_token_lifetime: Duration,
    /// Connections in the handshake at once; more are refused with CONNECTION_REFUSED.
    pub max_incoming_handshakes: usize,
    /// Handshake pressure: from this many handshakes in progress on (at most half of
    /// `max_incoming_handshakes`), a client that has not proven its address gets a stateless
    /// Retry first (RFC 9000 §8.1.2), so that Initials from spoofed addresses hold at most this
    /// many handshake slots and the rest stay free for clients that answer the Retry.
    pub retry_threshold: usize,
    /// The same per client IP address: from this many handshakes in progress without a proven
    /// address from one IP address, that address gets a Retry first.
    pub retry_threshold_per_address: usize,
    /// A handshake whose client has not proven its address this long after it started (no
    /// token, no Handshake packet from it: RFC 9000 §8.1) gives up its slot, instead of holding
    /// it until the idle timeout. Handshakes with a proven address run under the idle timeout.
    pub handshake_timeout: Duration,
    /// Connections at once; more are refused.
    pub max_connections: usize,
    /// Let clients migrate (RFC 9000 §9); `false` advertises disable_active_migration.
    pub migration: bool,
    /// Addresses offered in the preferred_address transport parameter (RFC 9000 §9.6); the
    /// endpoint must receive on them too.
    pub preferred_address_v4: Option<std::net::SocketAddrV4>,
    /// IPv6 counterpart of `preferred_address_v4`.
    pub preferred_address_v6: Option<std::net::SocketAddrV6>,
    /// Accept 0-RTT (RFC 9001 §4.6) from clients resuming a session, when `crypto` allows it
    /// (max_early_data_size 0xffffffff and rustls's stateful, single-use session cache; see
    /// [`crate::crypto::server_config_for_quic`]). `false` rejects every 0-RTT attempt: the
    /// client then sends its early data again in 1-RTT packets.
    ///
    /// RFC 9000 §7.4.1: a server that accepts 0-RTT must not lower the limits the client
    /// remembered; tickets live in `crypto`'s session cache, so a server that lowers `transport`
    /// limits must also start a new `crypto` configuration (a new cache).
    pub zero_rtt: bool,
}

impl ServerConfig {
    /// A server configuration with default transport settings.
    pub fn new(crypto: Arc<rustls::ServerConfig>) -> Self {
        Self {
            crypto,
            transport: Arc::new(TransportConfig::default()),
            retry: false,
            retry_token_lifetime: Duration::from_secs(15),
            new_token_lifetime: Duration::from_secs(2 * 24 * 3600),
            max_incoming_handshakes: 1024,
            retry_threshold: 256,
            retry_threshold_per_address: 16,
            handshake_timeout: Duration::from_secs(10),
            max_connections: 100_000,
            migration: true,
            preferred_address_v4: None,
            preferred_address_v6: None,
            zero_rtt: true,
        }
    }
}
