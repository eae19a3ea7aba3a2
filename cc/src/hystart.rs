//! HyStart++ (RFC 9406): leave slow start when the round trip time starts to grow, before the
//! bottleneck queue overflows, through a Conservative Slow Start (CSS) phase.
//!
//! A controller owns one [`HyStart`] and calls it from its slow-start code: every sent packet
//! number ([`HyStart::on_packet_sent`]) and every ACK with its RTT sample ([`HyStart::on_ack`]).
//! Rounds are delimited by packet numbers (RFC 9406 §4.2: a round ends when the packet sent at
//! its start is acknowledged).

use core::time::Duration;

/// MIN_RTT_THRESH (RFC 9406 §4.3).
pub const MIN_RTT_THRESH: Duration = Duration::from_millis(4);
/// MAX_RTT_THRESH (RFC 9406 §4.3).
pub const MAX_RTT_THRESH: Duration = Duration::from_millis(16);
/// MIN_RTT_DIVISOR (RFC 9406 §4.3).
pub const MIN_RTT_DIVISOR: u32 = 8;
/// N_RTT_SAMPLE (RFC 9406 §4.3).
pub const N_RTT_SAMPLE: u32 = 8;
/// CSS_GROWTH_DIVISOR (RFC 9406 §4.3).
pub const CSS_GROWTH_DIVISOR: u64 = 4;
/// CSS_ROUNDS (RFC 9406 §4.3).
pub const CSS_ROUNDS: u32 = 5;

/// Where HyStart++ stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HyStartPhase {
    /// Standard slow start, watching RTT rounds.
    SlowStart,
    /// Conservative Slow Start: growth divided by [`CSS_GROWTH_DIVISOR`].
    ConservativeSlowStart,
    /// HyStart++ asked to enter congestion avoidance; it does nothing more.
    Done,
}

/// What the controller must do after [`HyStart::on_ack`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HyStartAction {
    /// Keep growing; divide slow-start increase by this divisor (1 in slow start, 4 in CSS).
    Grow {
        /// Divisor of the slow-start increase.
        divisor: u64,
    },
    /// RFC 9406 §4.2: CSS lasted CSS_ROUNDS rounds; set ssthresh to cwnd and enter avoidance.
    EnterCongestionAvoidance,
}

/// HyStart++ state (RFC 9406 §4.2).
#[derive(Debug, Clone)]
pub struct HyStart {
    phase: HyStartPhase,
    /// Largest packet number sent so far.
    largest_sent: Option<u64>,
    /// The round ends when a packet numbered at least this is acknowledged.
    window_end: Option<u64>,
    last_round_min_rtt: Option<Duration>,
    current_round_min_rtt: Option<Duration>,
    rtt_sample_count: u32,
    css_baseline_min_rtt: Option<Duration>,
    css_rounds: u32,
}

impl Default for HyStart {
    fn default() -> Self {
        Self::new()
    }
}

impl HyStart {
    /// A fresh HyStart++ state, in slow start.
    pub fn new() -> Self {
        Self {
            phase: HyStartPhase::SlowStart,
            largest_sent: None,
            window_end: None,
            last_round_min_rtt: None,
            current_round_min_rtt: None,
            rtt_sample_count: 0,
            css_baseline_min_rtt: None,
            css_rounds: 0,
        }
    }

    /// The current phase.
    pub fn phase(&self) -> HyStartPhase {
        self.phase
    }

    /// A packet was sent.
    pub fn on_packet_sent(&mut self, packet_number: u64) {
        self.largest_sent = Some(self.largest_sent.map_or(packet_number, |l| l.max(packet_number)));
        if self.window_end.is_none() {
            self.window_end = Some(packet_number);
        }
    }

    /// An ACK in slow start acknowledged packets up to `largest_acked`, with RTT sample
    /// `latest_rtt`.
    pub fn on_ack(&mut self, largest_acked: u64, latest_rtt: Duration) -> HyStartAction {
        if self.phase == HyStartPhase::Done {
            return HyStartAction::Grow { divisor: 1 };
        }
        // RFC 9406 §4.2: per RTT sample, track the round's minimum.
        self.rtt_sample_count = self.rtt_sample_count.saturating_add(1);
        self.current_round_min_rtt = Some(self.current_round_min_rtt.map_or(latest_rtt, |m| m.min(latest_rtt)));

        match self.phase {
            HyStartPhase::SlowStart => {
                if let (true, Some(current), Some(last)) =
                    (self.rtt_sample_count >= N_RTT_SAMPLE, self.current_round_min_rtt, self.last_round_min_rtt)
                {
                    let rtt_thresh = (last / MIN_RTT_DIVISOR).clamp(MIN_RTT_THRESH, MAX_RTT_THRESH);
                    if current >= last + rtt_thresh {
                        self.css_baseline_min_rtt = Some(current);
                        self.phase = HyStartPhase::ConservativeSlowStart;
                        self.css_rounds = 0;
                    }
                }
            }
            HyStartPhase::ConservativeSlowStart => {
                // RFC 9406 §4.2: an RTT decrease below the baseline means the increase was
                // spurious: resume slow start.
                if let (true, Some(current), Some(base)) =
                    (self.rtt_sample_count >= N_RTT_SAMPLE, self.current_round_min_rtt, self.css_baseline_min_rtt)
                {
                    if current < base {
                        self.css_baseline_min_rtt = None;
                        self.phase = HyStartPhase::SlowStart;
                    }
                }
            }
            HyStartPhase::Done => {}
        }

        let round_ended = self.window_end.is_some_and(|end| largest_acked >= end);
        if round_ended {
            self.last_round_min_rtt = self.current_round_min_rtt;
            self.current_round_min_rtt = None;
            self.rtt_sample_count = 0;
            self.window_end = self.largest_sent.map(|l| l.saturating_add(1)).or(self.window_end);
            if self.phase == HyStartPhase::ConservativeSlowStart {
                self.css_rounds += 1;
                if self.css_rounds >= CSS_ROUNDS {
                    self.phase = HyStartPhase::Done;
                    return HyStartAction::EnterCongestionAvoidance;
                }
            }
        }
        HyStartAction::Grow { divisor: self.growth_divisor() }
    }

    /// The divisor of slow-start growth in the current phase.
    pub fn growth_divisor(&self) -> u64 {
        if self.phase == HyStartPhase::ConservativeSlowStart {
            CSS_GROWTH_DIVISOR
        } else {
            1
        }
    }

    /// A congestion event ended slow start (RFC 9406 §4.2: loss in slow start or CSS exits to
    /// congestion avoidance as usual).
    pub fn on_congestion(&mut self) {
        self.phase = HyStartPhase::Done;
    }

    /// Slow start begins again (e.g. after persistent congestion): start over.
    pub fn restart(&mut self) {
        let largest_sent = self.largest_sent;
        *self = Self::new();
        self.largest_sent = largest_sent;
        self.window_end = largest_sent.map(|l| l.saturating_add(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(m: u64) -> Duration {
        Duration::from_millis(m)
    }

    /// Runs one round of `n` packets starting at `*pn`, each ACK carrying `rtt`.
    fn round(h: &mut HyStart, pn: &mut u64, n: u64, rtt: Duration) -> Vec<HyStartAction> {
        let first = *pn;
        for _ in 0..n {
            h.on_packet_sent(*pn);
            *pn += 1;
        }
        (first..*pn).map(|p| h.on_ack(p, rtt)).collect()
    }

    #[test]
    fn exits_to_css_on_rtt_increase_then_to_avoidance() {
        let mut h = HyStart::new();
        let mut pn = 0;
        round(&mut h, &mut pn, 10, ms(100));
        round(&mut h, &mut pn, 10, ms(100));
        assert_eq!(h.phase(), HyStartPhase::SlowStart);
        // 100 ms / 8 = 12.5 ms threshold: 110 ms is not enough.
        round(&mut h, &mut pn, 10, ms(110));
        assert_eq!(h.phase(), HyStartPhase::SlowStart);
        // last round min = 110; +13.75 ms threshold; 125 ms exceeds it after 8 samples.
        let acts = round(&mut h, &mut pn, 10, ms(125));
        assert_eq!(h.phase(), HyStartPhase::ConservativeSlowStart);
        // The first ACK of the call closes the previous round; CSS starts at the 8th sample of
        // the new round.
        assert_eq!(acts[7], HyStartAction::Grow { divisor: 1 });
        assert_eq!(acts[8], HyStartAction::Grow { divisor: CSS_GROWTH_DIVISOR });
        let mut exits = 0;
        for _ in 0..CSS_ROUNDS {
            assert_ne!(h.phase(), HyStartPhase::Done);
            exits += round(&mut h, &mut pn, 10, ms(125))
                .iter()
                .filter(|a| **a == HyStartAction::EnterCongestionAvoidance)
                .count();
        }
        assert_eq!(exits, 1);
        assert_eq!(h.phase(), HyStartPhase::Done);
    }

    #[test]
    fn css_returns_to_slow_start_when_rtt_drops() {
        let mut h = HyStart::new();
        let mut pn = 0;
        round(&mut h, &mut pn, 10, ms(40));
        round(&mut h, &mut pn, 10, ms(40));
        round(&mut h, &mut pn, 10, ms(50));
        assert_eq!(h.phase(), HyStartPhase::ConservativeSlowStart);
        round(&mut h, &mut pn, 10, ms(41));
        assert_eq!(h.phase(), HyStartPhase::SlowStart);
    }

    #[test]
    fn needs_enough_samples() {
        let mut h = HyStart::new();
        let mut pn = 0;
        round(&mut h, &mut pn, 10, ms(40));
        round(&mut h, &mut pn, 5, ms(200));
        assert_eq!(h.phase(), HyStartPhase::SlowStart);
    }
}
