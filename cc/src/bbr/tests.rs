//! BBR against a simulated bottleneck: one FIFO link of fixed rate and propagation delay.

use std::collections::VecDeque;

use super::*;
use crate::test_util::single;
use crate::Pacer;

const MSS: u64 = 1200;

/// A sender driven by BBR over one bottleneck with an unbounded queue.
struct Sim {
    bbr: Bbr,
    pacer: Pacer,
    now: Instant,
    /// Bottleneck rate, bytes per second.
    rate: f64,
    prop_rtt: Duration,
    link_free_at: Instant,
    next_pn: u64,
    in_flight: u64,
    /// (ack arrival, packet number, sent time), in arrival order.
    acks: VecDeque<(Instant, u64, Instant)>,
    states: Vec<BbrState>,
}

impl Sim {
    fn new(rate: f64, prop_rtt: Duration) -> Self {
        let now = Instant::ZERO;
        Self {
            bbr: Bbr::new(now, MSS, 7),
            pacer: Pacer::new(now, None, 2 * MSS),
            now,
            rate,
            prop_rtt,
            link_free_at: now,
            next_pn: 0,
            in_flight: 0,
            acks: VecDeque::new(),
            states: vec![BbrState::Startup],
        }
    }

    fn record_state(&mut self) {
        if self.states.last() != Some(&self.bbr.state()) {
            self.states.push(self.bbr.state());
        }
    }

    /// Runs until `end`.
    fn run_until(&mut self, end: Instant) {
        while self.now < end {
            while let Some(&(at, pn, sent)) = self.acks.front() {
                if at > self.now {
                    break;
                }
                self.acks.pop_front();
                self.in_flight -= MSS;
                let rtt = RttEstimates { latest: at - sent, ..RttEstimates::initial(self.prop_rtt) };
                let acked = [AckedPacket { packet_number: pn, bytes: MSS, time_sent: sent }];
                self.bbr.on_ack(at, &acked, &rtt, single());
                self.record_state();
            }
            let mut next = self.acks.front().map_or(end, |a| a.0);
            if self.in_flight + MSS <= self.bbr.window() {
                self.pacer.set_rate(self.now, self.bbr.pacing_rate());
                match self.pacer.next_send_time(self.now, MSS) {
                    None => {
                        self.send();
                        continue;
                    }
                    Some(t) => next = next.min(t),
                }
            }
            self.now = next.min(end).max(self.now + Duration::from_nanos(1));
        }
    }

    fn send(&mut self) {
        let pn = self.next_pn;
        self.next_pn += 1;
        self.in_flight += MSS;
        self.pacer.on_sent(self.now, MSS);
        let packet = SentPacket { packet_number: pn, bytes: MSS, bytes_in_flight: self.in_flight, app_limited: false };
        self.bbr.on_packet_sent(self.now, &packet);
        let start = self.now.max(self.link_free_at);
        self.link_free_at = start + Duration::from_secs_f64(MSS as f64 / self.rate);
        self.acks.push_back((self.link_free_at + self.prop_rtt, pn, self.now));
    }
}

fn secs_f(s: f64) -> Instant {
    Instant::from_duration(Duration::from_secs_f64(s))
}

#[test]
fn startup_drain_probe_bw_and_filters() {
    // 10 Mbit/s, 40 ms: BDP = 50 kB.
    let rate = 1_250_000.0;
    let mut sim = Sim::new(rate, Duration::from_millis(40));
    assert_eq!(sim.bbr.state(), BbrState::Startup);
    sim.run_until(secs_f(3.0));
    // Drain ends in ProbeBW_DOWN, which may hand over to CRUISE on the same ACK once the queue
    // is gone (BBR §5.3.3.2).
    assert_eq!(&sim.states[..2], &[BbrState::Startup, BbrState::Drain], "{:?}", sim.states);
    assert!(matches!(sim.states[2], BbrState::ProbeBwDown | BbrState::ProbeBwCruise), "{:?}", sim.states);
    assert!(sim.bbr.filled_pipe());
    let bw = sim.bbr.max_bw();
    assert!((bw - rate).abs() < 0.05 * rate, "max_bw {bw}");
    let min_rtt = sim.bbr.min_rtt().unwrap();
    assert!(min_rtt >= Duration::from_millis(40) && min_rtt < Duration::from_millis(42), "{min_rtt:?}");
    assert!(sim.bbr.state().is_probe_bw());
    // Cruise or Down paces at or below the bottleneck rate; the window is about 2 BDP.
    let bdp = rate * 0.041;
    assert!(sim.bbr.window() as f64 <= 2.3 * bdp + 3.0 * MSS as f64, "cwnd {}", sim.bbr.window());
    assert!(sim.bbr.window() as f64 >= bdp, "cwnd {}", sim.bbr.window());
    let m = sim.bbr.metrics();
    assert_eq!(m.min_rtt, Some(min_rtt));
    assert!(m.bandwidth.is_some() && m.pacing_rate.is_some());
}

#[test]
fn probe_rtt_after_min_rtt_expiry() {
    let rate = 1_250_000.0;
    let mut sim = Sim::new(rate, Duration::from_millis(40));
    sim.run_until(secs_f(4.9));
    assert!(!sim.states.contains(&BbrState::ProbeRtt), "{:?}", sim.states);
    // No sample below the first minimum: ProbeRTTInterval (5 s) after it, ProbeRTT begins.
    let mut entered = None;
    let mut min_cwnd_in_probe_rtt = u64::MAX;
    let mut t = 4.9;
    while t < 7.0 {
        t += 0.001;
        sim.run_until(secs_f(t));
        if sim.bbr.state() == BbrState::ProbeRtt {
            entered.get_or_insert(t);
            min_cwnd_in_probe_rtt = min_cwnd_in_probe_rtt.min(sim.bbr.window());
        }
    }
    let entered = entered.expect("ProbeRTT entered");
    assert!((5.0..5.2).contains(&entered), "entered at {entered}");
    // ProbeRTT drains to max(0.5·BDP, 4·MSS) ...
    assert!(min_cwnd_in_probe_rtt as f64 <= 0.5 * rate * 0.041 + MSS as f64, "{min_cwnd_in_probe_rtt}");
    // ... for at least 200 ms, then returns to ProbeBW (pipe already full).
    let i = sim.states.iter().position(|s| *s == BbrState::ProbeRtt).unwrap();
    assert!(sim.states[i + 1].is_probe_bw(), "{:?}", sim.states);
    assert!(sim.bbr.state().is_probe_bw());
}

#[test]
fn probe_bw_cycles_through_refill_and_up() {
    let mut sim = Sim::new(1_250_000.0, Duration::from_millis(40));
    sim.run_until(secs_f(4.5));
    for s in [BbrState::ProbeBwCruise, BbrState::ProbeBwRefill, BbrState::ProbeBwUp] {
        assert!(sim.states.contains(&s), "{s:?} missing from {:?}", sim.states);
    }
    // Up is followed by Down.
    let up = sim.states.iter().position(|s| *s == BbrState::ProbeBwUp).unwrap();
    assert_eq!(sim.states[up + 1], BbrState::ProbeBwDown, "{:?}", sim.states);
}

#[test]
fn loss_sets_lower_bounds_outside_probing() {
    let rate = 1_250_000.0;
    let mut sim = Sim::new(rate, Duration::from_millis(40));
    sim.run_until(secs_f(1.0));
    // Wait for Down or Cruise, then report a loss.
    let mut t = 1.0;
    while !matches!(sim.bbr.state(), BbrState::ProbeBwDown | BbrState::ProbeBwCruise) {
        t += 0.001;
        sim.run_until(secs_f(t));
    }
    let before = sim.bbr.window();
    let ev = CongestionEvent { sent_time: sim.now, lost_bytes: 3 * MSS, ecn: false, bytes_in_flight: sim.in_flight };
    sim.bbr.on_congestion_event(sim.now, &ev, &RttEstimates::initial(Duration::from_millis(40)), single());
    assert_eq!(sim.bbr.window(), before - 3 * MSS, "lost bytes leave the window");
    sim.run_until(secs_f(t + 0.1));
    assert!(sim.bbr.inflight_lo().is_finite() || sim.bbr.state() == BbrState::ProbeBwRefill);
    if sim.bbr.inflight_lo().is_finite() {
        assert!(sim.bbr.bw_lo() < f64::INFINITY);
        assert!(sim.bbr.window() as f64 <= sim.bbr.inflight_lo().max(4.0 * MSS as f64));
    }
}

#[test]
fn initial_values() {
    let bbr = Bbr::new(Instant::ZERO, MSS, 1);
    assert_eq!(bbr.window(), initial_window(MSS));
    assert_eq!(bbr.metrics().state, "startup");
    assert!(bbr.pacing_rate().unwrap() > 0);
    assert_eq!(BbrFactory.name(), "bbr");
}
