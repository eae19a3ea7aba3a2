//! The congestion-controller plug-in point: one [`Controller`] per path, built by a
//! [`ControllerFactory`] when the path is created.
//!
//! The transport (mpquic-proto) owns loss detection and RTT estimation (RFC 9002 §5-6) and calls
//! the hooks below; a controller only turns those events into a congestion window and, when it
//! wants, a pacing rate. Every hook takes `now`, so controllers never read a clock.

use core::fmt;
use core::time::Duration;

use crate::{Instant, PathId};

/// The RTT estimates of the path (RFC 9002 §5), as computed by the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RttEstimates {
    /// The most recent RTT sample.
    pub latest: Duration,
    /// `smoothed_rtt`.
    pub smoothed: Duration,
    /// `rttvar`.
    pub rttvar: Duration,
    /// `min_rtt` over the path's lifetime (RFC 9002 §5.2).
    pub min: Duration,
}

impl RttEstimates {
    /// The estimates before any sample (RFC 9002 §6.2.2: kInitialRtt = 333 ms).
    pub fn initial(initial_rtt: Duration) -> Self {
        Self { latest: initial_rtt, smoothed: initial_rtt, rttvar: initial_rtt / 2, min: initial_rtt }
    }
}

/// What the transport tells a controller about one packet it just sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentPacket {
    /// The packet number in the path's application-data space (or the handshake spaces for path 0).
    pub packet_number: u64,
    /// Bytes counted in flight for this packet (UDP payload size).
    pub bytes: u64,
    /// Bytes in flight on the path after this packet was sent.
    pub bytes_in_flight: u64,
    /// True when the sender had nothing more to send right after this packet (RFC 9002 §7.8).
    pub app_limited: bool,
}

/// One newly acknowledged in-flight packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckedPacket {
    /// Its packet number.
    pub packet_number: u64,
    /// Bytes it counted in flight.
    pub bytes: u64,
    /// When it was sent.
    pub time_sent: Instant,
}

/// A congestion event (RFC 9002 §7.3.2): packets declared lost, or an increase of the ECN-CE count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CongestionEvent {
    /// When the newest packet that triggered this event was sent. A controller reduces its window
    /// at most once per round trip: not again for packets sent before its last recovery started.
    pub sent_time: Instant,
    /// Bytes declared lost by this event (0 for ECN-CE).
    pub lost_bytes: u64,
    /// True when the event is an ECN-CE count increase rather than loss (RFC 9002 §7.1).
    pub ecn: bool,
    /// Bytes in flight after the lost packets were removed.
    pub bytes_in_flight: u64,
}

/// A read-only snapshot of one path of the connection, for coupled controllers (RFC 6356 and
/// friends). Coupled algorithms get the view of every path instead of shared mutable state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathSnapshot {
    /// The path's identifier (its path ID, RFC 10069 §2).
    pub path_id: PathId,
    /// Its congestion window in bytes.
    pub window: u64,
    /// Its smoothed RTT.
    pub smoothed_rtt: Duration,
    /// Bytes in flight.
    pub bytes_in_flight: u64,
    /// Its maximum datagram size.
    pub max_datagram_size: u64,
    /// Bytes the path delivered (acknowledged) since it was created.
    pub bytes_acked: u64,
    /// Bytes acknowledged on the path since its last congestion event (OLIA's l_r).
    pub bytes_acked_since_loss: u64,
    /// Whether the path may carry data now (validated, not abandoned, not backup-idle).
    pub active: bool,
}

/// The paths of the connection as a coupled controller sees them. The slice includes the path
/// whose controller is being called; single-path connections see a slice of one.
#[derive(Debug, Clone, Copy)]
pub struct Paths<'a> {
    /// The snapshots, in path-ID order.
    pub paths: &'a [PathSnapshot],
    /// The path the hook is called for.
    pub this_path: PathId,
}

impl<'a> Paths<'a> {
    /// A view with only one path.
    pub fn single(snapshot: &'a PathSnapshot) -> Self {
        Self { paths: core::slice::from_ref(snapshot), this_path: snapshot.path_id }
    }

    /// The snapshot of the path the hook is called for, if present.
    pub fn this(&self) -> Option<&'a PathSnapshot> {
        self.paths.iter().find(|p| p.path_id == self.this_path)
    }

    /// The active paths.
    pub fn active(&self) -> impl Iterator<Item = &'a PathSnapshot> + 'a {
        self.paths.iter().filter(|p| p.active)
    }
}

/// Values a controller exposes for tracing, qlog and experiment time series.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Metrics {
    /// Congestion window in bytes.
    pub window: u64,
    /// Slow-start threshold in bytes, if finite.
    pub ssthresh: Option<u64>,
    /// Pacing rate in bytes per second, if the controller sets one.
    pub pacing_rate: Option<u64>,
    /// A short name of the current state ("slow_start", "congestion_avoidance", "recovery",
    /// "startup", ...), for qlog `congestion_state_updated`.
    pub state: &'static str,
    /// The controller's bottleneck-bandwidth estimate in bytes per second (BBR's `BBR.bw`).
    pub bandwidth: Option<u64>,
    /// The controller's own minimum-RTT estimate (BBR's windowed `BBR.min_rtt`).
    pub min_rtt: Option<Duration>,
}

/// A per-path congestion controller.
///
/// All sizes are in bytes of UDP payload. Hooks that a controller does not care about have
/// default implementations that do nothing.
pub trait Controller: Send + fmt::Debug {
    /// A packet that counts toward bytes in flight was sent.
    fn on_packet_sent(&mut self, now: Instant, packet: &SentPacket) {
        let _ = (now, packet);
    }

    /// In-flight packets were acknowledged by one ACK frame, in ascending packet-number order.
    /// `rtt` already includes the sample from this ACK, if it produced one.
    fn on_ack(&mut self, now: Instant, acked: &[AckedPacket], rtt: &RttEstimates, paths: Paths<'_>);

    /// Packets were declared lost or the peer reported new ECN-CE marks (RFC 9002 §7.3.2).
    fn on_congestion_event(&mut self, now: Instant, event: &CongestionEvent, rtt: &RttEstimates, paths: Paths<'_>);

    /// Persistent congestion was established (RFC 9002 §7.6): collapse to the minimum window.
    fn on_persistent_congestion(&mut self, now: Instant, rtt: &RttEstimates);

    /// A congestion event turned out to be spurious (the "lost" packets were acknowledged later).
    /// Controllers that can undo their last reduction do so here.
    fn on_spurious_congestion(&mut self, now: Instant) {
        let _ = now;
    }

    /// The path's maximum datagram size changed (DPLPMTUD, RFC 9000 §14).
    fn on_mtu_update(&mut self, max_datagram_size: u64);

    /// The sender had less data than the window allowed (RFC 9002 §7.8): the window must not grow
    /// on acknowledgements of packets sent while application-limited.
    fn on_app_limited(&mut self, now: Instant, bytes_in_flight: u64) {
        let _ = (now, bytes_in_flight);
    }

    /// The path was idle (nothing in flight, nothing sent for longer than a probe timeout) and
    /// is about to send again: restart from `restart_window` (RFC 5681 §4.1: RW = min(IW, cwnd)),
    /// remembering the old window in the slow-start threshold (RFC 2861 §3: ssthresh at least
    /// three quarters of cwnd), so that slow start climbs back quickly. The transport calls this
    /// only when the option is on (RFC 9002 §7.8 leaves idle behaviour to the controller).
    /// Controllers that manage idle periods themselves (BBR) keep the default, which does
    /// nothing.
    fn on_restart_after_idle(&mut self, now: Instant, restart_window: u64) {
        let _ = (now, restart_window);
    }

    /// The congestion window in bytes.
    fn window(&self) -> u64;

    /// The pacing rate in bytes per second that the controller asks for, or `None` to let the
    /// transport pace at its default (RFC 9002 §7.7: a multiple of window / smoothed RTT).
    fn pacing_rate(&self) -> Option<u64> {
        None
    }

    /// Current values for tracing and experiment outputs.
    fn metrics(&self) -> Metrics {
        Metrics { window: self.window(), pacing_rate: self.pacing_rate(), ..Metrics::default() }
    }

    /// OLIA's ℓ_r for this path (Khalili et al.; papers.md §5.2): the larger of the bytes
    /// acknowledged between the last two congestion events and the bytes acknowledged since the
    /// last one. Controllers that track it return `Some`; the transport should then report it as
    /// [`PathSnapshot::bytes_acked_since_loss`] so that coupled controllers of the other paths
    /// see the same value this path's controller uses.
    fn loss_interval_bytes(&self) -> Option<u64> {
        None
    }
}

/// What a factory knows when it builds a controller for a new path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathInfo {
    /// The path's identifier.
    pub path_id: PathId,
    /// The path's current maximum datagram size.
    pub max_datagram_size: u64,
}

/// Builds one controller per path. Factories are values (`Arc<dyn ControllerFactory>` in the
/// transport configuration); names map to factories only at the command-line edge.
pub trait ControllerFactory: Send + Sync + fmt::Debug {
    /// A new controller for a path created at `now`.
    fn build(&self, now: Instant, path: PathInfo) -> Box<dyn Controller>;

    /// A short name for logs and experiment outputs ("newreno", "cubic", ...).
    fn name(&self) -> &str;
}

/// RFC 9002 §7.2: the initial window is ten times the maximum datagram size, limited to the
/// larger of 14,720 bytes or twice the maximum datagram size.
pub fn initial_window(max_datagram_size: u64) -> u64 {
    (10 * max_datagram_size).min(14_720.max(2 * max_datagram_size))
}

/// RFC 9002 §7.2: the minimum congestion window is two maximum datagram sizes.
pub fn minimum_window(max_datagram_size: u64) -> u64 {
    2 * max_datagram_size
}
