//! BBR version 3 as specified in draft-ietf-ccwg-bbr (sections cited as "BBR §x").
//!
//! The model: a windowed maximum of delivery-rate samples (BBR.max_bw, over two ProbeBW
//! cycles), a windowed minimum RTT (BBR.min_rtt, 10 s) refreshed by ProbeRTT, and short-term
//! bounds from loss and ECN (BBR.bw_lo, BBR.inflight_lo) and from probing (BBR.inflight_hi).
//! The state machine: Startup → Drain → ProbeBW (Down, Cruise, Refill, Up) with ProbeRTT
//! every 5 s when the RTT minimum has not been refreshed.
//!
//! Delivery-rate sampling is done here, from the hooks: [`Controller::on_packet_sent`] records
//! each packet's send state in a ring buffer keyed by packet number, and [`Controller::on_ack`]
//! turns each ACK into a rate sample.
//!
//! Known simplifications, each marked in the code: the hooks report lost bytes, not lost packet
//! numbers, so loss is attributed per ACK through rs.lost instead of per lost packet; ECN-CE
//! arrives as a count increase without the CE-marked byte count, so a CE event is handled like a
//! loss in the round for the lower bounds (the draft's optional ecn_alpha needs per-packet CE
//! counts); the ACK-aggregation term (extra_acked) and the send quantum are not modelled.

mod delivery_rate;
mod filter;

use core::time::Duration;
use std::sync::Arc;

pub use delivery_rate::{DeliveryRateSampler, RateSample};
pub use filter::{MaxBwFilter, MinRttFilter};

use crate::controller::{
    initial_window, AckedPacket, CongestionEvent, Controller, ControllerFactory, Metrics, PathInfo, Paths,
    RttEstimates, SentPacket,
};
use crate::Instant;

/// BBRStartupPacingGain = 4·ln 2 ≈ 2.77 (BBR §5.1.1).
pub const STARTUP_PACING_GAIN: f64 = 2.77;
/// BBRStartupCwndGain (BBR §5.1.1).
pub const STARTUP_CWND_GAIN: f64 = 2.0;
/// BBRDrainPacingGain (BBR §5.1.2).
pub const DRAIN_PACING_GAIN: f64 = 0.35;
/// BBRDefaultCwndGain (BBR §5.6.4.2).
pub const DEFAULT_CWND_GAIN: f64 = 2.0;
/// ProbeBW_DOWN pacing gain (BBR §5.3.3.1).
pub const PROBE_DOWN_PACING_GAIN: f64 = 0.9;
/// ProbeBW_UP pacing gain (BBR §5.3.3.4).
pub const PROBE_UP_PACING_GAIN: f64 = 1.25;
/// ProbeBW_UP cwnd gain (BBR §5.3.3.4).
pub const PROBE_UP_CWND_GAIN: f64 = 2.25;
/// BBRLossThresh: the highest tolerated loss rate while probing (BBR §5.5.10.2).
pub const LOSS_THRESH: f64 = 0.02;
/// BBRBeta: multiplicative decrease of the lower bounds per lossy round (BBR §5.5.10.3).
pub const BETA: f64 = 0.7;
/// BBRHeadroom: share of inflight_hi left free in Cruise (BBR §5.3.3.6).
pub const HEADROOM: f64 = 0.15;
/// BBRProbeRTTCwndGain (BBR §5.3.4.4).
pub const PROBE_RTT_CWND_GAIN: f64 = 0.5;
/// ProbeRTTDuration (BBR §5.3.4.4).
pub const PROBE_RTT_DURATION: Duration = Duration::from_millis(200);
/// ProbeRTTInterval (BBR §5.3.4.4).
pub const PROBE_RTT_INTERVAL: Duration = Duration::from_secs(5);
/// MinRTTFilterLen (BBR §5.3.2).
pub const MIN_RTT_FILTER_LEN: Duration = Duration::from_secs(10);
/// BBRPacingMarginPercent (BBR §5.6.2).
pub const PACING_MARGIN: f64 = 0.01;
/// BBRStartupFullLossCnt (BBR §5.3.1.3).
pub const STARTUP_FULL_LOSS_COUNT: u64 = 6;
/// Rounds without 25% bandwidth growth before the pipe counts as full (BBR §5.3.1.2).
pub const FULL_BW_COUNT: u32 = 3;

/// BBR's states (BBR §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BbrState {
    /// Exponential search for bandwidth.
    Startup,
    /// Drains the queue Startup built.
    Drain,
    /// ProbeBW_DOWN: drains any queue left from probing.
    ProbeBwDown,
    /// ProbeBW_CRUISE: cruises with headroom below inflight_hi.
    ProbeBwCruise,
    /// ProbeBW_REFILL: refills the pipe for one round before probing.
    ProbeBwRefill,
    /// ProbeBW_UP: probes for more bandwidth.
    ProbeBwUp,
    /// ProbeRTT: drains to 0.5 BDP to measure the propagation delay.
    ProbeRtt,
}

impl BbrState {
    /// The qlog-style name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Startup => "startup",
            Self::Drain => "drain",
            Self::ProbeBwDown => "probe_bw_down",
            Self::ProbeBwCruise => "probe_bw_cruise",
            Self::ProbeBwRefill => "probe_bw_refill",
            Self::ProbeBwUp => "probe_bw_up",
            Self::ProbeRtt => "probe_rtt",
        }
    }

    fn is_probe_bw(self) -> bool {
        matches!(self, Self::ProbeBwDown | Self::ProbeBwCruise | Self::ProbeBwRefill | Self::ProbeBwUp)
    }
}

/// BBR.ack_phase (BBR §5.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AckPhase {
    Init,
    ProbeStarting,
    ProbeFeedback,
    ProbeStopping,
    Refilling,
}

/// A BBRv3 controller for one path.
#[derive(Debug, Clone)]
pub struct Bbr {
    mss: u64,
    state: BbrState,
    sampler: DeliveryRateSampler,
    bytes_in_flight: u64,
    cwnd: u64,
    prior_cwnd: u64,
    pacing_rate: f64,
    pacing_gain: f64,
    cwnd_gain: f64,
    // Round counting (BBR §5.5.1).
    next_round_delivered: u64,
    round_start: bool,
    round_count: u64,
    // Model.
    max_bw_filter: MaxBwFilter,
    max_bw: f64,
    bw: f64,
    bw_lo: f64,
    bw_latest: f64,
    inflight_hi: f64,
    inflight_lo: f64,
    inflight_latest: f64,
    min_rtt: MinRttFilter,
    // Full pipe (BBR §5.3.1.2).
    filled_pipe: bool,
    full_bw: f64,
    full_bw_count: u32,
    full_bw_now: bool,
    // Congestion signals per round (BBR §5.5.10).
    loss_round_delivered: u64,
    loss_in_round: bool,
    loss_events_in_round: u64,
    // ProbeBW (BBR §5.3.3).
    ack_phase: AckPhase,
    cycle_stamp: Instant,
    bw_probe_wait: Duration,
    rounds_since_bw_probe: u64,
    bw_probe_samples: bool,
    bw_probe_up_rounds: u32,
    bw_probe_up_acks: u64,
    probe_up_cnt: u64,
    // ProbeRTT (BBR §5.3.4).
    probe_rtt_done_stamp: Option<Instant>,
    probe_rtt_round_done: bool,
    /// Deterministic generator for the randomised probe wait (no OS randomness).
    rng_state: u64,
    /// Before the last congestion event, for undo.
    undo: Option<(u64, f64, f64)>,
}

impl Bbr {
    /// A BBR controller; `seed` randomises the ProbeBW wait (BBR §5.3.3.5) deterministically.
    pub fn new(now: Instant, max_datagram_size: u64, seed: u64) -> Self {
        let mss = max_datagram_size.max(1);
        let cwnd = initial_window(mss);
        let mut bbr = Self {
            mss,
            state: BbrState::Startup,
            sampler: DeliveryRateSampler::new(256),
            bytes_in_flight: 0,
            cwnd,
            prior_cwnd: cwnd,
            pacing_rate: 0.0,
            pacing_gain: STARTUP_PACING_GAIN,
            cwnd_gain: STARTUP_CWND_GAIN,
            next_round_delivered: 0,
            round_start: false,
            round_count: 0,
            max_bw_filter: MaxBwFilter::default(),
            max_bw: 0.0,
            bw: 0.0,
            bw_lo: f64::INFINITY,
            bw_latest: 0.0,
            inflight_hi: f64::INFINITY,
            inflight_lo: f64::INFINITY,
            inflight_latest: 0.0,
            min_rtt: MinRttFilter::new(MIN_RTT_FILTER_LEN, PROBE_RTT_INTERVAL),
            filled_pipe: false,
            full_bw: 0.0,
            full_bw_count: 0,
            full_bw_now: false,
            loss_round_delivered: 0,
            loss_in_round: false,
            loss_events_in_round: 0,
            ack_phase: AckPhase::Init,
            cycle_stamp: now,
            bw_probe_wait: Duration::from_secs(2),
            rounds_since_bw_probe: 0,
            bw_probe_samples: false,
            bw_probe_up_rounds: 0,
            bw_probe_up_acks: 0,
            probe_up_cnt: u64::MAX,
            probe_rtt_done_stamp: None,
            probe_rtt_round_done: false,
            rng_state: seed ^ 0x9E37_79B9_7F4A_7C15,
            undo: None,
        };
        // BBR §5.6.2 (BBRInitPacingRate): pace the initial window over an assumed 1 ms RTT
        // when nothing is known (the transport's kInitialRtt would be far too slow).
        bbr.pacing_rate = STARTUP_PACING_GAIN * cwnd as f64 / 0.001;
        bbr
    }

    /// A factory building BBR controllers, seeded by path ID.
    pub fn factory() -> Arc<dyn ControllerFactory> {
        Arc::new(BbrFactory)
    }

    /// The current state.
    pub fn state(&self) -> BbrState {
        self.state
    }

    /// BBR.max_bw in bytes per second.
    pub fn max_bw(&self) -> f64 {
        self.max_bw
    }

    /// BBR.bw = min(max_bw, bw_lo), bytes per second.
    pub fn bw(&self) -> f64 {
        self.bw
    }

    /// BBR.min_rtt.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt.get()
    }

    /// BBR.inflight_hi in bytes (infinite until loss or ECN bounded it).
    pub fn inflight_hi(&self) -> f64 {
        self.inflight_hi
    }

    /// BBR.inflight_lo in bytes.
    pub fn inflight_lo(&self) -> f64 {
        self.inflight_lo
    }

    /// BBR.bw_lo in bytes per second.
    pub fn bw_lo(&self) -> f64 {
        self.bw_lo
    }

    /// Whether Startup found the pipe full.
    pub fn filled_pipe(&self) -> bool {
        self.filled_pipe
    }

    fn min_pipe_cwnd(&self) -> u64 {
        // BBRMinPipeCwnd = 4·SMSS (BBR §5.6.4.1).
        4 * self.mss
    }

    fn next_random(&mut self) -> u64 {
        // splitmix64: deterministic, seeded, no OS randomness.
        self.rng_state = self.rng_state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng_state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// BBRBDPMultiple (BBR §5.6.4.2): gain·bw·min_rtt, or the initial window before a min_rtt.
    fn bdp_multiple(&self, gain: f64) -> f64 {
        match self.min_rtt.get() {
            Some(rtt) if self.bw > 0.0 => gain * self.bw * rtt.as_secs_f64(),
            _ => gain * initial_window(self.mss) as f64,
        }
    }

    /// BBRInflight with the quantization budget (BBR §5.6.4.2-5.6.4.3).
    fn inflight(&self, gain: f64) -> f64 {
        let mut inflight = self.bdp_multiple(gain).max(self.min_pipe_cwnd() as f64);
        if self.state == BbrState::ProbeBwUp {
            inflight += 2.0 * self.mss as f64;
        }
        inflight
    }

    /// BBRInflightWithHeadroom (BBR §5.3.3.6).
    fn inflight_with_headroom(&self) -> f64 {
        if self.inflight_hi.is_infinite() {
            return f64::INFINITY;
        }
        let headroom = (HEADROOM * self.inflight_hi).max(self.mss as f64);
        (self.inflight_hi - headroom).max(self.min_pipe_cwnd() as f64)
    }

    fn probe_rtt_cwnd(&self) -> f64 {
        self.bdp_multiple(PROBE_RTT_CWND_GAIN).max(self.min_pipe_cwnd() as f64)
    }

    fn start_round(&mut self) {
        self.next_round_delivered = self.sampler.delivered;
    }

    fn update_round(&mut self, rs: &RateSample) {
        // BBR §5.5.1: a round ends when a packet sent after the last round start is acknowledged.
        self.round_start = false;
        if rs.newly_acked > 0 && rs.prior_delivered >= self.next_round_delivered && rs.delivered > 0 {
            self.start_round();
            self.round_count += 1;
            self.rounds_since_bw_probe += 1;
            self.round_start = true;
        }
    }

    fn enter_startup(&mut self) {
        self.state = BbrState::Startup;
        self.pacing_gain = STARTUP_PACING_GAIN;
        self.cwnd_gain = STARTUP_CWND_GAIN;
    }

    fn enter_drain(&mut self) {
        self.state = BbrState::Drain;
        self.pacing_gain = DRAIN_PACING_GAIN;
        self.cwnd_gain = STARTUP_CWND_GAIN;
    }

    fn reset_lower_bounds(&mut self) {
        self.bw_lo = f64::INFINITY;
        self.inflight_lo = f64::INFINITY;
    }

    fn reset_full_bw(&mut self) {
        self.full_bw = 0.0;
        self.full_bw_count = 0;
        self.full_bw_now = false;
    }

    fn start_probe_bw_down(&mut self, now: Instant) {
        // BBR §5.3.3.1 (BBRStartProbeBW_DOWN), with BBRAdvanceMaxBwFilter: a cycle begins.
        self.loss_in_round = false;
        self.loss_events_in_round = 0;
        self.reset_full_bw();
        self.probe_up_cnt = u64::MAX;
        // BBRPickProbeWait: 0 or 1 extra rounds, and 2-3 s of wall-clock time.
        self.rounds_since_bw_probe = self.next_random() % 2;
        self.bw_probe_wait = Duration::from_millis(2000 + self.next_random() % 1001);
        self.cycle_stamp = now;
        self.ack_phase = AckPhase::ProbeStopping;
        self.start_round();
        self.max_bw_filter.advance();
        self.state = BbrState::ProbeBwDown;
        self.pacing_gain = PROBE_DOWN_PACING_GAIN;
        self.cwnd_gain = DEFAULT_CWND_GAIN;
    }

    fn start_probe_bw_cruise(&mut self) {
        self.state = BbrState::ProbeBwCruise;
        self.pacing_gain = 1.0;
        self.cwnd_gain = DEFAULT_CWND_GAIN;
    }

    fn start_probe_bw_refill(&mut self) {
        self.reset_lower_bounds();
        self.bw_probe_up_rounds = 0;
        self.bw_probe_up_acks = 0;
        self.ack_phase = AckPhase::Refilling;
        self.start_round();
        self.state = BbrState::ProbeBwRefill;
        self.pacing_gain = 1.0;
        self.cwnd_gain = DEFAULT_CWND_GAIN;
    }

    fn start_probe_bw_up(&mut self, now: Instant, rs: &RateSample) {
        self.ack_phase = AckPhase::ProbeStarting;
        self.start_round();
        self.reset_full_bw();
        self.full_bw = rs.delivery_rate.unwrap_or(0.0);
        self.cycle_stamp = now;
        self.state = BbrState::ProbeBwUp;
        self.pacing_gain = PROBE_UP_PACING_GAIN;
        self.cwnd_gain = PROBE_UP_CWND_GAIN;
        self.raise_inflight_hi_slope();
    }

    fn raise_inflight_hi_slope(&mut self) {
        // BBR §5.3.3.4: grow inflight_hi exponentially per round while probing up.
        let growth = self.mss.saturating_mul(1 << self.bw_probe_up_rounds.min(30));
        self.bw_probe_up_rounds = (self.bw_probe_up_rounds + 1).min(30);
        self.probe_up_cnt = (self.cwnd / growth.max(1)).max(1);
    }

    fn probe_inflight_hi_upward(&mut self, rs: &RateSample) {
        if self.inflight_hi.is_infinite() || (self.bytes_in_flight as f64) < self.inflight_hi.min(self.cwnd as f64) {
            // Not limited by inflight_hi: no need to raise it.
            if !self.round_start {
                return;
            }
        }
        self.bw_probe_up_acks += rs.newly_acked / self.mss;
        if self.bw_probe_up_acks >= self.probe_up_cnt {
            let delta = self.bw_probe_up_acks / self.probe_up_cnt;
            self.bw_probe_up_acks -= delta * self.probe_up_cnt;
            if self.inflight_hi.is_finite() {
                self.inflight_hi += (delta * self.mss) as f64;
            }
        }
        if self.round_start {
            self.raise_inflight_hi_slope();
        }
    }

    fn is_inflight_too_high(&self, rs: &RateSample) -> bool {
        // BBR §5.5.10.2: loss rate above BBRLossThresh over the sample's flight.
        rs.lost > 0 && rs.lost as f64 > rs.tx_in_flight as f64 * LOSS_THRESH
    }

    fn handle_inflight_too_high(&mut self, now: Instant, rs: &RateSample) {
        // BBR §5.5.10.2 (BBRHandleInflightTooHigh).
        self.bw_probe_samples = false;
        if !rs.is_app_limited {
            self.inflight_hi = (rs.tx_in_flight as f64).max(self.bdp_multiple(self.cwnd_gain.min(1.0)) * BETA);
        }
        if self.state == BbrState::ProbeBwUp {
            self.start_probe_bw_down(now);
        }
    }

    fn adapt_upper_bounds(&mut self, now: Instant, rs: &RateSample) {
        // BBR §5.3.3.6 (BBRAdaptUpperBounds).
        if self.ack_phase == AckPhase::ProbeStarting && self.round_start {
            self.ack_phase = AckPhase::ProbeFeedback;
        }
        if self.ack_phase == AckPhase::ProbeStopping && self.round_start {
            if self.state.is_probe_bw() && self.state != BbrState::ProbeBwUp {
                self.bw_probe_samples = false;
            }
            self.ack_phase = AckPhase::Init;
        }
        if self.bw_probe_samples && self.is_inflight_too_high(rs) {
            self.handle_inflight_too_high(now, rs);
            return;
        }
        if self.inflight_hi.is_infinite() {
            return;
        }
        if rs.tx_in_flight as f64 > self.inflight_hi {
            self.inflight_hi = rs.tx_in_flight as f64;
        }
        if self.state == BbrState::ProbeBwUp {
            self.probe_inflight_hi_upward(rs);
        }
    }

    fn check_time_to_probe_bw(&mut self, now: Instant) -> bool {
        // BBR §5.3.3.5: wait 2-3 s, or as many rounds as Reno would need (capped at 63).
        let reno_rounds = (self.bdp_multiple(1.0) / self.mss as f64).min(63.0) as u64;
        if now.saturating_duration_since(self.cycle_stamp) > self.bw_probe_wait
            || self.rounds_since_bw_probe >= reno_rounds
        {
            self.start_probe_bw_refill();
            return true;
        }
        false
    }

    fn update_probe_bw_cycle_phase(&mut self, now: Instant, rs: &RateSample) {
        if !self.filled_pipe {
            return;
        }
        self.adapt_upper_bounds(now, rs);
        if !self.state.is_probe_bw() {
            return;
        }
        match self.state {
            BbrState::ProbeBwDown => {
                if self.check_time_to_probe_bw(now) {
                    return;
                }
                // BBR §5.3.3.2: cruise once the queue drained, with headroom below inflight_hi.
                let inflight = self.bytes_in_flight as f64;
                if inflight <= self.inflight_with_headroom() && inflight <= self.inflight(1.0) {
                    self.start_probe_bw_cruise();
                }
            }
            BbrState::ProbeBwCruise => {
                self.check_time_to_probe_bw(now);
            }
            // BBR §5.3.3.3: one round of refill, then probe.
            BbrState::ProbeBwRefill if self.round_start => {
                self.bw_probe_samples = true;
                self.start_probe_bw_up(now, rs);
            }
            BbrState::ProbeBwUp => {
                // BBR §5.3.3.4: go down once bandwidth stopped growing, or once inflight is
                // above 1.25·BDP for at least one min_rtt.
                let elapsed = now.saturating_duration_since(self.cycle_stamp);
                let long_enough = self.min_rtt.get().is_some_and(|m| elapsed > m);
                if self.full_bw_now
                    || (long_enough && self.bytes_in_flight as f64 >= self.inflight(PROBE_UP_PACING_GAIN))
                {
                    self.start_probe_bw_down(now);
                }
            }
            _ => {}
        }
    }

    fn check_full_bw_reached(&mut self, rs: &RateSample) {
        // BBR §5.3.1.2: three rounds without 25% growth.
        if self.full_bw_now || !self.round_start || rs.is_app_limited {
            return;
        }
        if self.max_bw >= self.full_bw * 1.25 {
            self.reset_full_bw();
            self.full_bw = self.max_bw;
            return;
        }
        self.full_bw_count += 1;
        self.full_bw_now = self.full_bw_count >= FULL_BW_COUNT;
        if self.full_bw_now {
            self.filled_pipe = true;
        }
    }

    fn check_startup_high_loss(&mut self, rs: &RateSample) {
        // BBR §5.3.1.3: exit Startup after a round with enough losses at a high loss rate.
        // Deviation: the hooks report lost bytes, so loss events are counted in datagrams.
        if self.state != BbrState::Startup || !self.round_start {
            return;
        }
        if self.loss_events_in_round >= STARTUP_FULL_LOSS_COUNT && self.is_inflight_too_high(rs) {
            self.inflight_hi = self.bdp_multiple(1.0).max(self.inflight_latest);
            self.filled_pipe = true;
        }
    }

    fn update_min_rtt_and_probe_rtt(&mut self, now: Instant, rtt_sample: Option<Duration>) {
        // BBR §5.3.4 (BBRUpdateMinRTT, BBRCheckProbeRTT).
        let expired_before = self.min_rtt.probe_rtt_expired(now);
        if let Some(rtt) = rtt_sample {
            self.min_rtt.update(now, rtt);
        }
        if self.state != BbrState::ProbeRtt && expired_before {
            // BBRSaveCwnd, then BBREnterProbeRTT.
            self.prior_cwnd = self.cwnd;
            self.state = BbrState::ProbeRtt;
            self.pacing_gain = 1.0;
            self.cwnd_gain = PROBE_RTT_CWND_GAIN;
            self.probe_rtt_done_stamp = None;
            self.ack_phase = AckPhase::ProbeStopping;
            self.start_round();
        }
        if self.state == BbrState::ProbeRtt {
            self.sampler.on_app_limited(self.bytes_in_flight);
            match self.probe_rtt_done_stamp {
                None if (self.bytes_in_flight as f64) <= self.probe_rtt_cwnd() => {
                    self.probe_rtt_done_stamp = Some(now + PROBE_RTT_DURATION);
                    self.probe_rtt_round_done = false;
                    self.start_round();
                }
                Some(done) => {
                    if self.round_start {
                        self.probe_rtt_round_done = true;
                    }
                    if self.probe_rtt_round_done && now > done {
                        self.min_rtt.refresh_probe_rtt_stamp(now);
                        self.cwnd = self.cwnd.max(self.prior_cwnd);
                        self.reset_lower_bounds();
                        if self.filled_pipe {
                            self.start_probe_bw_down(now);
                            self.start_probe_bw_cruise();
                        } else {
                            self.enter_startup();
                        }
                    }
                }
                None => {}
            }
        }
    }

    fn update_congestion_signals(&mut self, rs: &RateSample) {
        // BBR §5.5.10.3: at the end of each round, lower bounds shrink after loss or ECN.
        if rs.lost > 0 {
            self.loss_in_round = true;
        }
        let loss_round_start = rs.newly_acked > 0 && rs.prior_delivered >= self.loss_round_delivered;
        if loss_round_start {
            self.loss_round_delivered = self.sampler.delivered;
        }
        self.bw_latest = self.bw_latest.max(rs.delivery_rate.unwrap_or(0.0));
        self.inflight_latest = self.inflight_latest.max(rs.delivered as f64);
        if !loss_round_start {
            return;
        }
        let probing = matches!(self.state, BbrState::Startup | BbrState::ProbeBwRefill | BbrState::ProbeBwUp);
        if self.loss_in_round && !probing {
            if self.bw_lo.is_infinite() {
                self.bw_lo = self.max_bw;
            }
            if self.inflight_lo.is_infinite() {
                self.inflight_lo = self.cwnd as f64;
            }
            self.bw_lo = self.bw_latest.max(BETA * self.bw_lo);
            self.inflight_lo = self.inflight_latest.max(BETA * self.inflight_lo);
        }
        self.loss_in_round = false;
        self.loss_events_in_round = 0;
        // BBRAdvanceLatestDeliverySignals.
        self.bw_latest = rs.delivery_rate.unwrap_or(0.0);
        self.inflight_latest = rs.delivered as f64;
    }

    fn set_pacing_rate(&mut self) {
        // BBR §5.6.2: pacing_gain·bw with a 1% margin; never lower before the pipe is full.
        if self.bw <= 0.0 {
            return;
        }
        let rate = self.pacing_gain * self.bw * (1.0 - PACING_MARGIN);
        if self.filled_pipe || rate > self.pacing_rate {
            self.pacing_rate = rate;
        }
    }

    fn set_cwnd(&mut self, rs: &RateSample) {
        // BBR §5.6.4.4 (BBRSetCwnd) and §5.6.4.5-5.6.4.6 (probe-RTT and model bounds).
        let max_inflight = self.inflight(self.cwnd_gain);
        let cwnd = self.cwnd as f64;
        let mut next = if self.filled_pipe {
            (cwnd + rs.newly_acked as f64).min(max_inflight)
        } else if cwnd < max_inflight || self.sampler.delivered < initial_window(self.mss) {
            cwnd + rs.newly_acked as f64
        } else {
            cwnd
        };
        next = next.max(self.min_pipe_cwnd() as f64);
        if self.state == BbrState::ProbeRtt {
            next = next.min(self.probe_rtt_cwnd());
        }
        let mut cap = f64::INFINITY;
        if self.state.is_probe_bw() && self.state != BbrState::ProbeBwCruise {
            cap = self.inflight_hi;
        } else if matches!(self.state, BbrState::ProbeRtt | BbrState::ProbeBwCruise) {
            cap = self.inflight_with_headroom();
        }
        cap = cap.min(self.inflight_lo).max(self.min_pipe_cwnd() as f64);
        next = next.min(cap);
        self.cwnd = if next.is_finite() { next.min(u64::MAX as f64 / 2.0) as u64 } else { self.cwnd };
    }
}

impl Controller for Bbr {
    fn on_packet_sent(&mut self, now: Instant, packet: &SentPacket) {
        self.bytes_in_flight = packet.bytes_in_flight;
        if packet.app_limited {
            self.sampler.on_app_limited(packet.bytes_in_flight);
        }
        self.sampler.on_packet_sent(now, packet.packet_number, packet.bytes, packet.bytes_in_flight);
    }

    fn on_app_limited(&mut self, _now: Instant, bytes_in_flight: u64) {
        self.sampler.on_app_limited(bytes_in_flight);
    }

    fn on_ack(&mut self, now: Instant, acked: &[AckedPacket], rtt: &RttEstimates, _paths: Paths<'_>) {
        let acked_bytes: u64 = acked.iter().map(|p| p.bytes).sum();
        self.bytes_in_flight = self.bytes_in_flight.saturating_sub(acked_bytes);
        let rs = self.sampler.on_ack(now, acked.iter().map(|p| (p.packet_number, p.bytes)), self.min_rtt.get());
        // BBR §5.5.3 (BBRUpdateModelAndState).
        self.update_round(&rs);
        if let Some(rate) = rs.delivery_rate {
            // BBR §5.5.4 (BBRUpdateMaxBw): app-limited samples count only if they raise the max.
            if rate >= self.max_bw || !rs.is_app_limited {
                self.max_bw = self.max_bw_filter.update(rate);
            }
        }
        self.update_congestion_signals(&rs);
        self.check_full_bw_reached(&rs);
        self.check_startup_high_loss(&rs);
        if self.state == BbrState::Startup && self.filled_pipe {
            self.enter_drain();
        }
        if self.state == BbrState::Drain && (self.bytes_in_flight as f64) <= self.inflight(1.0) {
            self.start_probe_bw_down(now);
        }
        self.update_probe_bw_cycle_phase(now, &rs);
        let sample = acked.last().map(|_| rtt.latest);
        self.update_min_rtt_and_probe_rtt(now, sample);
        // BBRBoundBWForModel.
        self.bw = self.max_bw.min(self.bw_lo);
        // BBR §5.6 (BBRUpdateControlParameters).
        self.set_pacing_rate();
        self.set_cwnd(&rs);
    }

    fn on_congestion_event(&mut self, _now: Instant, event: &CongestionEvent, _rtt: &RttEstimates, _paths: Paths<'_>) {
        self.undo = Some((self.cwnd, self.bw_lo, self.inflight_lo));
        self.bytes_in_flight = event.bytes_in_flight;
        self.loss_in_round = true;
        if event.lost_bytes > 0 {
            self.sampler.on_lost(event.lost_bytes);
            self.loss_events_in_round += event.lost_bytes.div_ceil(self.mss);
            // BBR §5.6.4.4 (BBRModulateCwndForRecovery): take the lost bytes out of the window.
            self.cwnd = self.cwnd.saturating_sub(event.lost_bytes).max(self.min_pipe_cwnd());
        }
    }

    fn on_persistent_congestion(&mut self, _now: Instant, _rtt: &RttEstimates) {
        // RFC 9002 §7.6.2: collapse to BBR's minimum window; the model is kept.
        self.prior_cwnd = self.prior_cwnd.max(self.cwnd);
        self.cwnd = self.min_pipe_cwnd();
    }

    fn on_spurious_congestion(&mut self, _now: Instant) {
        if let Some((cwnd, bw_lo, inflight_lo)) = self.undo.take() {
            self.cwnd = self.cwnd.max(cwnd);
            self.bw_lo = self.bw_lo.max(bw_lo);
            self.inflight_lo = self.inflight_lo.max(inflight_lo);
            self.bw = self.max_bw.min(self.bw_lo);
        }
    }

    fn on_mtu_update(&mut self, max_datagram_size: u64) {
        self.mss = max_datagram_size.max(1);
        self.cwnd = self.cwnd.max(self.min_pipe_cwnd());
    }

    fn window(&self) -> u64 {
        self.cwnd
    }

    fn pacing_rate(&self) -> Option<u64> {
        (self.pacing_rate > 0.0).then(|| self.pacing_rate.min(u64::MAX as f64 / 2.0).max(1.0) as u64)
    }

    fn metrics(&self) -> Metrics {
        Metrics {
            window: self.cwnd,
            ssthresh: None,
            pacing_rate: self.pacing_rate(),
            state: self.state.name(),
            bandwidth: (self.bw > 0.0).then_some(self.bw as u64),
            min_rtt: self.min_rtt.get(),
        }
    }
}

/// Builds [`Bbr`] controllers; each path's probe-wait randomisation is seeded by its path ID.
#[derive(Debug, Clone, Copy, Default)]
pub struct BbrFactory;

impl ControllerFactory for BbrFactory {
    fn build(&self, now: Instant, path: PathInfo) -> Box<dyn Controller> {
        Box::new(Bbr::new(now, path.max_datagram_size, u64::from(path.path_id.0)))
    }

    fn name(&self) -> &str {
        "bbr"
    }
}

#[cfg(test)]
mod tests;
