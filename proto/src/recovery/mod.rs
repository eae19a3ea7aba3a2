//! Loss detection, RTT estimation, probe timeouts, ACK bookkeeping, ECN validation and pacing
//! of one path (RFC 9002; RFC 9000 §13.2 and §13.4), sans-IO.
//!
//! Each path owns one [`PathRecovery`]: its RTT estimator, its packet-number spaces (path 0
//! also has the Initial and Handshake spaces), the PTO backoff, bytes in flight, ECN
//! validation, a pacer and the path's congestion controller (`Box<dyn mpquic_cc::Controller>`),
//! whose hooks it calls. It does not parse frames: the connection decodes an ACK frame and
//! hands over its ranges, delay and ECN counts, and gets back what was acknowledged and lost.
//!
//! How a connection drives it:
//! - before sending: [`PathRecovery::can_send`] (congestion window, PTO probes bypass it),
//!   [`PathRecovery::pacing_delay`], [`PathRecovery::next_packet_number`],
//!   [`PathRecovery::ecn_codepoint`];
//! - after sending: [`PathRecovery::on_packet_sent`] with a [`SentPacket`] carrying the
//!   connection's frame bookkeeping `F`;
//! - on an ACK frame: [`PathRecovery::on_ack_received`], then drain
//!   [`RecoveryOutput::acked`] (mark data delivered) and [`RecoveryOutput::lost`] (requeue);
//! - on receiving a packet: [`PathRecovery::ack_tracker_mut`] and
//!   [`AckTracker::on_packet_received`]; send ACKs by [`PathRecovery::ack_deadline`];
//! - timers: [`PathRecovery::loss_detection_timer`]; when it fires,
//!   [`PathRecovery::on_loss_detection_timeout`] says whether losses were declared or which
//!   space needs probes;
//! - handshake milestones: [`PathRecovery::discard_space`],
//!   [`PathRecovery::set_handshake_confirmed`], [`PathRecovery::set_peer_completed_address_validation`],
//!   [`PathRecovery::set_handshake_keys_available`], [`PathRecovery::set_anti_amplification_blocked`].

mod ack_tracker;
mod ecn;
mod frames;
mod loss;
mod reset;
mod retry;
mod rtt;
mod sent;
mod space;
#[cfg(test)]
mod tests;

use core::time::Duration;

use mpquic_cc::{Controller, PathSnapshot};

pub use ack_tracker::{AckTracker, DEFAULT_ACK_ELICITING_THRESHOLD};
pub use ecn::EcnValidator;
#[cfg(any(test, feature = "internals"))]
pub use ecn::{EcnAckResult, EcnFailure, EcnState};
pub use frames::{MpControl, SentFrames, StreamRange};
pub use loss::LossDetectionAction;
#[cfg(any(test, feature = "internals"))]
pub use loss::AckSummary;
pub use rtt::{RttEstimator, INITIAL_RTT};
pub use sent::SentPacket;
pub use space::{PacketSpace, SpaceId};

use crate::{EcnCodepoint, Instant, PathId};

/// RFC 9002 §6.1.1: kPacketThreshold.
pub const PACKET_THRESHOLD: u64 = 3;
/// RFC 9002 §7.6.1: kPersistentCongestionThreshold.
pub const PERSISTENT_CONGESTION_THRESHOLD: u32 = 3;
/// RFC 9000 §18.2: default max_ack_delay.
pub const DEFAULT_MAX_ACK_DELAY: Duration = Duration::from_millis(25);

/// Tunables of recovery, mostly the constants of RFC 9002 Appendix A.2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryConfig {
    /// kInitialRtt (RFC 9002 §6.2.2), or a remembered value for the path.
    pub initial_rtt: Duration,
    /// kPacketThreshold (RFC 9002 §6.1.1).
    pub packet_threshold: u64,
    /// kTimeThreshold as numerator / denominator (RFC 9002 §6.1.2: 9/8).
    pub time_threshold: (u32, u32),
    /// kPersistentCongestionThreshold (RFC 9002 §7.6.1).
    pub persistent_congestion_threshold: u32,
    /// Our own max_ack_delay (the transport parameter we send), for delaying our ACKs.
    pub local_max_ack_delay: Duration,
    /// Acknowledge after this many ack-eliciting packets (RFC 9000 §13.2.2: 2).
    pub ack_eliciting_threshold: u64,
    /// Whether to try ECN on the path (RFC 9000 §13.4.2).
    pub ecn: bool,
    /// Whether to pace (RFC 9002 §7.7).
    pub pacing: bool,
    /// Restart the congestion window after an idle period longer than a probe timeout
    /// (RFC 5681 §4.1; [`crate::TransportConfig::restart_after_idle`]).
    pub restart_after_idle: bool,
    /// The path's initial maximum datagram size.
    pub max_datagram_size: u64,
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        Self {
            initial_rtt: INITIAL_RTT,
            packet_threshold: PACKET_THRESHOLD,
            time_threshold: (9, 8),
            persistent_congestion_threshold: PERSISTENT_CONGESTION_THRESHOLD,
            local_max_ack_delay: DEFAULT_MAX_ACK_DELAY,
            ack_eliciting_threshold: DEFAULT_ACK_ELICITING_THRESHOLD,
            ecn: true,
            pacing: true,
            restart_after_idle: false,
            max_datagram_size: 1200,
        }
    }
}

/// Which role a path plays in the handshake; decides the spaces and the starting flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    /// Path 0 of a client: Initial, Handshake and application spaces; the server has not yet
    /// validated our address (RFC 9002 §6.2.2.1 anti-deadlock rules apply).
    HandshakeClient,
    /// Path 0 of a server: Initial, Handshake and application spaces.
    HandshakeServer,
    /// A path opened after the handshake: application space only, handshake confirmed.
    Additional,
}

/// Where recovery puts the connection's frame bookkeeping of acknowledged and lost packets.
/// Recovery only appends; the caller drains both vectors after each call and keeps them, so
/// that steady-state processing allocates nothing.
#[derive(Debug)]
pub struct RecoveryOutput<F> {
    /// Newly acknowledged packets, ascending by packet number within each call.
    pub acked: Vec<SentPacket<F>>,
    /// Packets declared lost, ascending by packet number within each call. A packet is
    /// reported at most once, either here or in `acked`.
    pub lost: Vec<SentPacket<F>>,
}

impl<F> Default for RecoveryOutput<F> {
    fn default() -> Self {
        Self { acked: Vec::new(), lost: Vec::new() }
    }
}

impl<F> RecoveryOutput<F> {
    /// Empties both vectors, keeping their capacity.
    pub fn clear(&mut self) {
        self.acked.clear();
        self.lost.clear();
    }
}

/// Recovery state of one path.
#[derive(Debug)]
pub struct PathRecovery<F> {
    config: RecoveryConfig,
    rtt: RttEstimator,
    /// Initial, Handshake, Data; `None` when the space does not exist on this path or its keys
    /// were discarded.
    spaces: [Option<PacketSpace<F>>; 3],
    /// RFC 9002 A.3: number of PTOs since the last acknowledgement.
    pto_count: u32,
    /// RFC 9002 A.3: the armed loss-detection timer.
    loss_detection_timer: Option<Instant>,
    bytes_in_flight: u64,
    /// PTO probes that may bypass the congestion window (RFC 9002 §7.5).
    probes_pending: u8,
    controller: Box<dyn Controller>,
    cc_acked: Vec<mpquic_cc::AckedPacket>,
    /// RFC 9002 §7.7: the one pacer of the workspace, `mpquic_cc::Pacer`, at
    /// [`PathRecovery::pacing_rate`] with bursts of [`PathRecovery::pacing_burst`].
    pacer: mpquic_cc::Pacer,
    ecn: EcnValidator,
    max_datagram_size: u64,
    /// The peer's max_ack_delay transport parameter.
    peer_max_ack_delay: Duration,
    handshake_confirmed: bool,
    peer_completed_address_validation: bool,
    has_handshake_keys: bool,
    anti_amplification_blocked: bool,
    path_id: PathId,
    bytes_acked: u64,
    bytes_acked_since_loss: u64,
    /// When the last in-flight packet was sent (RFC 5681 §4.1's "last send").
    last_in_flight_sent: Option<Instant>,
    /// Congestion-window restarts after idle so far.
    idle_restarts: u64,
}

/// A pacer with a full bucket of ten datagrams and no rate yet: the first packet sent sets
/// the rate, so a path starts with the initial window's burst (RFC 9002 §7.7).
fn unpaced(max_datagram_size: u64) -> mpquic_cc::Pacer {
    mpquic_cc::Pacer::new(Instant::from_nanos(0), None, 10 * max_datagram_size)
}

impl<F> PathRecovery<F> {
    /// Recovery for path `path_id` of kind `kind`, controlled by `controller`.
    pub fn new(path_id: PathId, kind: PathKind, config: RecoveryConfig, controller: Box<dyn Controller>) -> Self {
        let handshake = kind != PathKind::Additional;
        let immediate_space = || handshake.then(|| PacketSpace::new(AckTracker::immediate()));
        let data = PacketSpace::new(AckTracker::new(config.local_max_ack_delay, config.ack_eliciting_threshold));
        Self {
            rtt: RttEstimator::new(config.initial_rtt),
            spaces: [immediate_space(), immediate_space(), Some(data)],
            pto_count: 0,
            loss_detection_timer: None,
            bytes_in_flight: 0,
            probes_pending: 0,
            controller,
            cc_acked: Vec::new(),
            pacer: unpaced(config.max_datagram_size),
            ecn: EcnValidator::new(config.ecn),
            max_datagram_size: config.max_datagram_size,
            peer_max_ack_delay: DEFAULT_MAX_ACK_DELAY,
            handshake_confirmed: !handshake,
            peer_completed_address_validation: kind != PathKind::HandshakeClient,
            has_handshake_keys: !handshake,
            anti_amplification_blocked: false,
            path_id,
            bytes_acked: 0,
            bytes_acked_since_loss: 0,
            last_in_flight_sent: None,
            idle_restarts: 0,
            config,
        }
    }

    /// The RTT estimator.
    pub fn rtt(&self) -> &RttEstimator {
        &self.rtt
    }

    /// How many times the congestion window was restarted after idle
    /// ([`RecoveryConfig::restart_after_idle`]).
    pub fn idle_restarts(&self) -> u64 {
        self.idle_restarts
    }

    /// The congestion controller.
    #[cfg(any(test, feature = "internals"))]
    pub fn controller(&self) -> &dyn Controller {
        &*self.controller
    }

    /// A packet-number space, if it exists on this path and was not discarded.
    pub fn space(&self, space: SpaceId) -> Option<&PacketSpace<F>> {
        self.spaces[space.index()].as_ref()
    }

    /// The receiver-side ACK state of `space`.
    pub fn ack_tracker_mut(&mut self, space: SpaceId) -> Option<&mut AckTracker> {
        self.spaces[space.index()].as_mut().map(|s| &mut s.ack_tracker)
    }

    /// The earliest time an ACK frame is owed in any space of this path.
    pub fn ack_deadline(&self) -> Option<Instant> {
        self.spaces.iter().flatten().filter_map(|s| s.ack_tracker.ack_deadline()).min()
    }

    /// The packet number to use for the next packet of `space` (0 if the space is gone).
    pub fn next_packet_number(&self, space: SpaceId) -> u64 {
        self.space(space).map_or(0, |s| s.sent.next_packet_number())
    }

    /// Skips `packet_number` in `space` on purpose, to detect optimistic ACKs (RFC 9000 §21.4):
    /// an ACK of it is a PROTOCOL_VIOLATION.
    pub fn skip_packet_number(&mut self, space: SpaceId, packet_number: u64) -> bool {
        self.spaces[space.index()].as_mut().is_some_and(|s| s.sent.skip(packet_number))
    }

    /// Bytes in flight on the path (RFC 9002 §2), all spaces together.
    pub fn bytes_in_flight(&self) -> u64 {
        self.bytes_in_flight
    }

    /// The congestion window.
    pub fn congestion_window(&self) -> u64 {
        self.controller.window()
    }

    /// Bytes the congestion window still allows.
    #[cfg(any(test, feature = "internals"))]
    pub fn congestion_window_available(&self) -> u64 {
        self.controller.window().saturating_sub(self.bytes_in_flight)
    }

    /// Whether a packet of `bytes` may be sent: it fits the congestion window, or it is one of
    /// the PTO probes, which the window must not block (RFC 9002 §7.5).
    pub fn can_send(&self, bytes: u64) -> bool {
        self.probes_pending > 0 || self.bytes_in_flight.saturating_add(bytes) <= self.controller.window()
    }

    /// Probe packets still owed after a PTO.
    pub fn probes_pending(&self) -> u8 {
        self.probes_pending
    }

    /// When a packet of `bytes` may leave according to the pacer: `None` for now, else the
    /// earliest time (RFC 9002 §7.7). PTO probes are not paced.
    pub fn pacing_delay(&self, now: Instant, bytes: u64) -> Option<Instant> {
        if !self.config.pacing || self.probes_pending > 0 {
            return None;
        }
        self.pacer.next_send_time(now, bytes)
    }

    /// Whether the controller sets its own pacing rate (a rate-based controller such as BBR),
    /// rather than the pacer deriving one from the window.
    pub fn rate_based(&self) -> bool {
        self.controller.pacing_rate().is_some()
    }

    /// The pacing rate in bytes per second: the controller's own (BBR) if it sets one, else
    /// N * congestion_window / smoothed_rtt with N = 1.25 (RFC 9002 §7.7), so that pacing
    /// never holds the sender below its window.
    pub fn pacing_rate(&self) -> u64 {
        if let Some(rate) = self.controller.pacing_rate() {
            return rate;
        }
        let rtt_nanos = self.rtt.smoothed().as_nanos().max(1);
        let rate = u128::from(self.controller.window()) * 1_000_000_000 * 5 / (4 * rtt_nanos);
        u64::try_from(rate).unwrap_or(u64::MAX)
    }

    /// The largest burst the pacer lets out back to back: the initial window of ten datagrams
    /// (RFC 9002 §7.7 suggests limiting bursts to it), or what the rate sends in one timer
    /// granularity (kGranularity, 1 ms, RFC 9002 §6.1.2) if that is more. A driver cannot wake
    /// up more precisely than its timer, so a smaller burst would slow the sender below the
    /// pacing rate instead of spreading its packets.
    pub fn pacing_burst(&self) -> u64 {
        let per_granularity = u128::from(self.pacing_rate()) * rtt::GRANULARITY.as_nanos() / 1_000_000_000;
        u64::try_from(per_granularity).unwrap_or(u64::MAX).max(10 * self.max_datagram_size)
    }

    /// Debits the pacer for a packet of `bytes` sent at `now`, and brings its rate and burst up
    /// to date with the window and RTT.
    fn on_paced_send(&mut self, now: Instant, bytes: u64) {
        let (rate, burst) = (self.pacing_rate(), self.pacing_burst());
        self.pacer.set_rate(now, Some(rate));
        self.pacer.set_burst(now, burst);
        self.pacer.on_sent(now, bytes);
    }

    /// The ECN codepoint for the next packet on this path.
    pub fn ecn_codepoint(&self) -> Option<EcnCodepoint> {
        self.ecn.codepoint_for_next_packet()
    }

    /// The ECN validation state machine.
    #[cfg(any(test, feature = "internals"))]
    pub fn ecn(&self) -> &EcnValidator {
        &self.ecn
    }

    /// RFC 9002 A.3 `pto_count`.
    pub fn pto_count(&self) -> u32 {
        self.pto_count
    }

    /// The armed loss-detection timer (RFC 9002 A.8): call
    /// [`Self::on_loss_detection_timeout`] when it passes.
    pub fn loss_detection_timer(&self) -> Option<Instant> {
        self.loss_detection_timer
    }

    /// The peer's max_ack_delay transport parameter (RFC 9000 §18.2), once known.
    pub fn set_peer_max_ack_delay(&mut self, now: Instant, max_ack_delay: Duration) {
        self.peer_max_ack_delay = max_ack_delay;
        self.set_loss_detection_timer(now);
    }

    /// The handshake is confirmed (RFC 9001 §4.1.2): PTO of the application space starts, and
    /// ack delays are capped by max_ack_delay (RFC 9002 §5.3).
    pub fn set_handshake_confirmed(&mut self, now: Instant) {
        self.handshake_confirmed = true;
        self.peer_completed_address_validation = true;
        self.set_loss_detection_timer(now);
    }

    /// The client learnt that the server validated its address (RFC 9002 A.6
    /// PeerCompletedAddressValidation: a Handshake ACK or handshake confirmation).
    pub fn set_peer_completed_address_validation(&mut self, now: Instant) {
        self.peer_completed_address_validation = true;
        self.set_loss_detection_timer(now);
    }

    /// The client has Handshake keys: anti-deadlock probes go in Handshake packets.
    pub fn set_handshake_keys_available(&mut self, now: Instant) {
        self.has_handshake_keys = true;
        self.set_loss_detection_timer(now);
    }

    /// A server is (or is no longer) blocked by the anti-amplification limit (RFC 9000 §8.1):
    /// while it is, the loss-detection timer stays unarmed (RFC 9002 §6.2.2.1).
    #[cfg(any(test, feature = "internals"))]
    pub fn set_anti_amplification_blocked(&mut self, now: Instant, blocked: bool) {
        self.anti_amplification_blocked = blocked;
        self.set_loss_detection_timer(now);
    }

    /// The path's maximum datagram size changed (DPLPMTUD).
    pub fn set_max_datagram_size(&mut self, max_datagram_size: u64) {
        self.max_datagram_size = max_datagram_size;
        self.controller.on_mtu_update(max_datagram_size);
    }

    /// The path as coupled congestion controllers and schedulers see it.
    pub fn snapshot(&self, active: bool) -> PathSnapshot {
        PathSnapshot {
            path_id: self.path_id,
            window: self.controller.window(),
            smoothed_rtt: self.rtt.smoothed(),
            bytes_in_flight: self.bytes_in_flight,
            max_datagram_size: self.max_datagram_size,
            bytes_acked: self.bytes_acked,
            bytes_acked_since_loss: self.controller.loss_interval_bytes().unwrap_or(self.bytes_acked_since_loss),
            active,
        }
    }

    /// The path's recovery state for tracing (qlog `recovery_metrics_updated`).
    pub fn trace_metrics(&self) -> RecoveryMetrics {
        let m = self.controller.metrics();
        RecoveryMetrics {
            min_rtt: self.rtt.min(),
            smoothed_rtt: self.rtt.smoothed(),
            latest_rtt: self.rtt.latest(),
            rtt_variance: self.rtt.rttvar(),
            pto_count: self.pto_count,
            congestion_window: self.controller.window(),
            bytes_in_flight: self.bytes_in_flight,
            ssthresh: m.ssthresh,
            pacing_rate: m.pacing_rate,
            congestion_state: m.state,
        }
    }

    /// RFC 9002 §7.6.1: (smoothed_rtt + max(4 * rttvar, kGranularity) + max_ack_delay) *
    /// kPersistentCongestionThreshold.
    pub fn persistent_congestion_duration(&self) -> Duration {
        (self.rtt.pto_base() + self.peer_max_ack_delay).saturating_mul(self.config.persistent_congestion_threshold)
    }

    /// RFC 9002 §6.2.1: the current probe timeout period of the application space, with
    /// max_ack_delay and backoff.
    pub fn pto_duration(&self, space: SpaceId) -> Duration {
        let mut d = self.rtt.pto_base();
        if space == SpaceId::Data {
            d += self.peer_max_ack_delay;
        }
        d.saturating_mul(backoff(self.pto_count))
    }
}

/// 2^pto_count, saturating.
fn backoff(pto_count: u32) -> u32 {
    1u32.checked_shl(pto_count).unwrap_or(u32::MAX)
}

/// A path's recovery state (qlog `recovery_metrics_updated`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecoveryMetrics {
    /// min_rtt (RFC 9002 §5.2).
    pub min_rtt: Duration,
    /// smoothed_rtt.
    pub smoothed_rtt: Duration,
    /// latest_rtt.
    pub latest_rtt: Duration,
    /// rttvar.
    pub rtt_variance: Duration,
    /// Consecutive PTOs.
    pub pto_count: u32,
    /// Congestion window, bytes.
    pub congestion_window: u64,
    /// Bytes in flight.
    pub bytes_in_flight: u64,
    /// Slow-start threshold, bytes, when finite.
    pub ssthresh: Option<u64>,
    /// Pacing rate, bytes per second, when the controller sets one.
    pub pacing_rate: Option<u64>,
    /// The controller's state name ("slow_start", "congestion_avoidance", "recovery", ...).
    pub congestion_state: &'static str,
}
