//! What the emulator counts: per relay (scenario path), the datagrams and bytes that came in
//! from each side and went out to the other, and per link direction the link model's own
//! [`LinkStats`](crate::sim::LinkStats) (offered, delivered, dropped by queue, loss or a down
//! link, CE marks, longest queue).

use std::net::SocketAddr;

use serde::Serialize;

use crate::metrics::LinkSummary;

/// Datagrams and UDP payload bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Count {
    /// Datagrams (each segment of a GRO buffer counts).
    pub datagrams: u64,
    /// UDP payload bytes.
    pub bytes: u64,
}

impl Count {
    pub(super) fn add(&mut self, bytes: usize) {
        self.datagrams += 1;
        self.bytes += bytes as u64;
    }
}

/// The counters of the relay of one scenario path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RelayStats {
    /// Scenario path name.
    pub name: String,
    /// Where the relay takes the client's datagrams (the address the client sends to).
    pub listen: Option<SocketAddr>,
    /// The address the server sees this path's datagrams come from.
    pub server_facing: Option<SocketAddr>,
    /// The server address datagrams are forwarded to.
    pub server: Option<SocketAddr>,
    /// The client's address, learned from its latest datagram.
    pub client: Option<SocketAddr>,
    /// Received from the client (offered to the up route).
    pub from_client: Count,
    /// Received from the server (offered to the down route).
    pub from_server: Count,
    /// Sent on to the server (survived the up route).
    pub to_server: Count,
    /// Sent on to the client (survived the down route).
    pub to_client: Count,
    /// Receive buffers that held several datagrams (UDP GRO), split before the link model.
    pub gro_buffers: u64,
    /// Datagrams on the server-facing socket from another address than the server's, or for
    /// the client before it sent anything: dropped.
    pub unroutable: u64,
    /// Datagrams the kernel refused to send on (counted by the socket layer).
    pub send_errors: u64,
}

/// A snapshot of everything the emulator counted.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EmulatorStats {
    /// Seconds since the first datagram (the scenario timeline's time 0); `None` before it.
    pub elapsed_s: Option<f64>,
    /// Per scenario path, in scenario order.
    pub relays: Vec<RelayStats>,
    /// Per link direction (the paths' own links and the shared bottlenecks).
    pub links: Vec<LinkSummary>,
    /// Timeline events applied so far.
    pub events_applied: usize,
    /// Iterations of the relay loop that found a release more than 1 ms late (a sign that
    /// the machine could not keep up; see `experiments/SCENARIOS.md`, real mode).
    pub late_wakeups: u64,
    /// Largest lateness of a release, µs.
    pub max_lateness_us: u64,
    /// Whether the emulator's thread runs with real-time priority (`SCHED_FIFO`, which needs
    /// root or `CAP_SYS_NICE`); without it, releases are late more often on a busy machine.
    pub realtime: bool,
}
