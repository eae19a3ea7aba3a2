//! One direction of a link: a FIFO drop-tail queue in front of a serialiser of `rate_bps`, then
//! a propagation delay with optional jitter and reordering, random loss and duplication on the
//! wire, and ECN CE marking when the queue is longer than a threshold.
//!
//! The queue is kept as the departure times of the packets in it, so occupancy at any instant is
//! exact without per-packet events. A rate change applies to packets that arrive after it; the
//! ones already queued keep their departure times.

use std::collections::VecDeque;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::loss::{LossModel, LossState};
use super::Nanos;

/// A drop-tail queue limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueCap {
    /// No limit.
    Unlimited,
    /// At most this many packets (including the one being serialised).
    Packets(u64),
    /// At most this many bytes.
    Bytes(u64),
}

/// The configuration of a link direction, in simulator units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkParams {
    /// Bits per second; 0 is unlimited.
    pub rate_bps: u64,
    /// One-way propagation delay.
    pub delay: Nanos,
    /// Queue limit.
    pub queue: QueueCap,
    /// Random loss.
    pub loss: LossModel,
    /// Uniform extra delay in [0, jitter]; FIFO order is kept.
    pub jitter: Nanos,
    /// Probability a packet is held back by `reorder_delay`.
    pub reorder: f64,
    /// Extra delay of a reordered packet.
    pub reorder_delay: Nanos,
    /// Probability that a delivered packet arrives twice (a copy right after it, as from a
    /// duplicating middlebox past the queue: the copy takes no queue slot or serialisation time).
    pub duplicate: f64,
    /// Mark CE when more than this many packets are queued.
    pub ecn_threshold_packets: Option<u64>,
}

impl Default for LinkParams {
    fn default() -> Self {
        Self {
            rate_bps: 0,
            delay: 0,
            queue: QueueCap::Unlimited,
            loss: LossModel::Bernoulli(0.0),
            jitter: 0,
            reorder: 0.0,
            reorder_delay: 0,
            duplicate: 0.0,
            ecn_threshold_packets: None,
        }
    }
}

/// Counters of one link direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LinkStats {
    /// Packets offered to the link.
    pub packets_offered: u64,
    /// Bytes offered.
    pub bytes_offered: u64,
    /// Packets delivered to the far end.
    pub packets_delivered: u64,
    /// Bytes delivered.
    pub bytes_delivered: u64,
    /// Dropped because the queue was full.
    pub dropped_queue: u64,
    /// Dropped by the random loss model.
    pub dropped_loss: u64,
    /// Dropped because the link was down.
    pub dropped_down: u64,
    /// Marked CE.
    pub ce_marked: u64,
    /// Largest queue seen, packets.
    pub max_queue_packets: u64,
    /// Delivered packets that were duplicated (each counted once in `packets_delivered`).
    #[serde(skip_serializing_if = "is_zero")]
    pub duplicated: u64,
    /// Delivered packets held back by the reorder delay, so that later ones overtake them.
    #[serde(skip_serializing_if = "is_zero")]
    pub reordered: u64,
}

fn is_zero(x: &u64) -> bool {
    *x == 0
}

/// What became of an offered packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It reaches the far end at `at`, CE-marked or not.
    Deliver {
        /// Arrival time.
        at: Nanos,
        /// Marked Congestion Experienced.
        ce: bool,
        /// A copy arrives too, right after it.
        duplicate: bool,
    },
    /// Dropped.
    Dropped,
}

/// One direction of a link, with its state.
#[derive(Debug)]
pub struct Link {
    /// Name for outputs (`wifi.down`, `shared.up`).
    pub name: String,
    /// Current configuration (timeline events change it).
    pub params: LinkParams,
    /// Forwarding at all.
    pub up: bool,
    /// Bumped when the link goes down: packets on the wire at that moment are lost.
    pub generation: u64,
    /// Counters.
    pub stats: LinkStats,
    /// Departure times and sizes of queued packets, oldest first.
    queue: VecDeque<(Nanos, u64)>,
    queued_bytes: u64,
    busy_until: Nanos,
    last_arrival: Nanos,
    loss_state: LossState,
    rng: ChaCha8Rng,
}

impl Link {
    /// A link in the up state with an empty queue; `rng` draws its losses, jitter and reordering.
    pub fn new(name: impl Into<String>, params: LinkParams, rng: ChaCha8Rng) -> Self {
        Self {
            name: name.into(),
            params,
            up: true,
            generation: 0,
            stats: LinkStats::default(),
            queue: VecDeque::new(),
            queued_bytes: 0,
            busy_until: 0,
            last_arrival: 0,
            loss_state: LossState::default(),
            rng,
        }
    }

    /// Time to serialise `bytes` at the current rate.
    pub fn serialisation(&self, bytes: u64) -> Nanos {
        match self.params.rate_bps {
            0 => 0,
            rate => (bytes * 8 * 1_000_000_000).div_ceil(rate),
        }
    }

    fn drain(&mut self, now: Nanos) {
        while let Some(&(depart, size)) = self.queue.front() {
            if depart > now {
                break;
            }
            self.queue.pop_front();
            self.queued_bytes -= size;
        }
    }

    /// Packets in the queue at `now` (including the one being serialised).
    pub fn queue_packets(&mut self, now: Nanos) -> u64 {
        self.drain(now);
        self.queue.len() as u64
    }

    /// Offers a packet of `bytes` at `now`; `ect` says whether it is ECN-capable.
    pub fn offer(&mut self, now: Nanos, bytes: u64, ect: bool) -> Verdict {
        self.stats.packets_offered += 1;
        self.stats.bytes_offered += bytes;
        if !self.up {
            self.stats.dropped_down += 1;
            return Verdict::Dropped;
        }
        self.drain(now);
        let full = match self.params.queue {
            QueueCap::Unlimited => false,
            QueueCap::Packets(n) => self.queue.len() as u64 >= n,
            QueueCap::Bytes(n) => self.queued_bytes + bytes > n,
        };
        if full {
            self.stats.dropped_queue += 1;
            return Verdict::Dropped;
        }
        let ce = ect && self.params.ecn_threshold_packets.is_some_and(|t| self.queue.len() as u64 >= t);
        let depart = now.max(self.busy_until) + self.serialisation(bytes);
        self.busy_until = depart;
        if self.params.rate_bps > 0 {
            self.queue.push_back((depart, bytes));
            self.queued_bytes += bytes;
            self.stats.max_queue_packets = self.stats.max_queue_packets.max(self.queue.len() as u64);
        }
        // Loss on the wire: the packet used its queue slot and serialisation time.
        if self.loss_state.lose(&self.params.loss, &mut self.rng) {
            self.stats.dropped_loss += 1;
            return Verdict::Dropped;
        }
        if ce {
            self.stats.ce_marked += 1;
        }
        let jitter = if self.params.jitter > 0 { self.rng.random_range(0..=self.params.jitter) } else { 0 };
        let mut at = (depart + self.params.delay + jitter).max(self.last_arrival);
        self.last_arrival = at;
        if self.params.reorder > 0.0 && self.rng.random_bool(self.params.reorder) {
            at += self.params.reorder_delay;
            self.stats.reordered += 1;
        }
        // Drawn only when configured, so that scenarios without duplication keep their draws.
        let duplicate = self.params.duplicate > 0.0 && self.rng.random_bool(self.params.duplicate);
        if duplicate {
            self.stats.duplicated += 1;
        }
        self.stats.packets_delivered += 1;
        self.stats.bytes_delivered += bytes;
        Verdict::Deliver { at, ce, duplicate }
    }

    /// Takes the link down at `now`: queued and in-flight packets are lost.
    pub fn set_down(&mut self, now: Nanos) {
        if self.up {
            self.up = false;
            self.generation += 1;
            self.queue.clear();
            self.queued_bytes = 0;
            self.busy_until = now;
        }
    }

    /// Brings the link back up.
    pub fn set_up(&mut self) {
        self.up = true;
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;
    use crate::sim::{MS, SEC};

    fn link(params: LinkParams) -> Link {
        Link::new("test", params, ChaCha8Rng::seed_from_u64(7))
    }

    #[test]
    fn serialisation_then_propagation() {
        // 12 Mbit/s: a 1500-byte packet takes 1 ms to serialise.
        let mut l = link(LinkParams { rate_bps: 12_000_000, delay: 10 * MS, ..Default::default() });
        assert_eq!(l.offer(0, 1500, false), Verdict::Deliver { at: 11 * MS, ce: false, duplicate: false });
        // The second queues behind the first.
        assert_eq!(l.offer(0, 1500, false), Verdict::Deliver { at: 12 * MS, ce: false, duplicate: false });
        assert_eq!(l.queue_packets(0), 2);
        assert_eq!(l.queue_packets(MS), 1);
        assert_eq!(l.queue_packets(2 * MS), 0);
    }

    #[test]
    fn throughput_matches_rate() {
        let mut l = link(LinkParams { rate_bps: 20_000_000, delay: 40 * MS, ..Default::default() });
        let mut last = 0;
        for _ in 0..10_000 {
            if let Verdict::Deliver { at, .. } = l.offer(0, 1250, false) {
                last = at;
            }
        }
        // 10,000 x 1250 B = 100 Mbit at 20 Mbit/s = 5 s, plus 40 ms.
        assert_eq!(last, 5 * SEC + 40 * MS);
    }

    #[test]
    fn drop_tail_in_packets_and_bytes() {
        let mut l = link(LinkParams { rate_bps: 8_000_000, queue: QueueCap::Packets(10), ..Default::default() });
        let delivered = (0..25).filter(|_| matches!(l.offer(0, 1000, false), Verdict::Deliver { .. })).count();
        assert_eq!(delivered, 10);
        assert_eq!(l.stats.dropped_queue, 15);
        // 1 ms later one packet (1000 B at 8 Mbit/s = 1 ms) has left: one slot.
        assert!(matches!(l.offer(MS, 1000, false), Verdict::Deliver { .. }));
        assert_eq!(l.offer(MS, 1000, false), Verdict::Dropped);

        let mut l = link(LinkParams { rate_bps: 8_000_000, queue: QueueCap::Bytes(4500), ..Default::default() });
        let delivered = (0..10).filter(|_| matches!(l.offer(0, 1000, false), Verdict::Deliver { .. })).count();
        assert_eq!(delivered, 4);
    }

    #[test]
    fn bernoulli_loss_rate_within_tolerance() {
        let mut l = link(LinkParams { loss: LossModel::Bernoulli(0.05), ..Default::default() });
        let n = 100_000;
        for _ in 0..n {
            l.offer(0, 100, false);
        }
        let rate = l.stats.dropped_loss as f64 / n as f64;
        assert!((rate - 0.05).abs() < 0.005, "measured {rate}");
    }

    #[test]
    fn gilbert_elliott_is_bursty_with_the_stationary_rate() {
        let model =
            LossModel::GilbertElliott { p_good_to_bad: 0.01, p_bad_to_good: 0.25, loss_good: 0.0, loss_bad: 1.0 };
        let mut l = link(LinkParams { loss: model, ..Default::default() });
        let n = 200_000;
        let mut lost = Vec::with_capacity(n);
        for _ in 0..n {
            lost.push(l.offer(0, 100, false) == Verdict::Dropped);
        }
        let rate = lost.iter().filter(|x| **x).count() as f64 / n as f64;
        let expected = model.mean_loss(); // 0.01 / 0.26 = 3.85 %
        assert!((rate - expected).abs() < 0.006, "measured {rate}, expected {expected}");
        // Mean burst length 1 / p_bad_to_good = 4 packets; Bernoulli at the same rate gives ~1.04.
        let (mut bursts, mut in_burst, mut total) = (0u64, false, 0u64);
        for &x in &lost {
            if x {
                total += 1;
                if !in_burst {
                    bursts += 1;
                }
            }
            in_burst = x;
        }
        let mean_burst = total as f64 / bursts as f64;
        assert!((3.4..4.6).contains(&mean_burst), "mean burst {mean_burst}");
        // P(loss | previous lost) is far above the mean rate.
        let pairs = lost.windows(2).filter(|w| w[0]).count() as f64;
        let both = lost.windows(2).filter(|w| w[0] && w[1]).count() as f64;
        assert!(both / pairs > 0.6, "conditional loss {}", both / pairs);
    }

    #[test]
    fn ecn_marks_above_threshold_only_ect() {
        let mut l = link(LinkParams { rate_bps: 8_000_000, ecn_threshold_packets: Some(3), ..Default::default() });
        let marks: Vec<bool> = (0..6)
            .map(|_| match l.offer(0, 1000, true) {
                Verdict::Deliver { ce, .. } => ce,
                Verdict::Dropped => panic!("no loss configured"),
            })
            .collect();
        assert_eq!(marks, [false, false, false, true, true, true]);
        assert_eq!(l.offer(0, 1000, false), Verdict::Deliver { at: 7 * MS, ce: false, duplicate: false });
    }

    #[test]
    fn jitter_keeps_order_and_bounds() {
        let mut l = link(LinkParams { delay: 10 * MS, jitter: 5 * MS, ..Default::default() });
        let mut last = 0;
        for i in 0..1000 {
            let Verdict::Deliver { at, .. } = l.offer(i * MS, 100, false) else { panic!() };
            assert!(at >= last);
            assert!(at >= i * MS + 10 * MS && at <= i * MS + 15 * MS);
            last = at;
        }
    }

    #[test]
    fn reordered_packets_are_counted_and_held_back_by_the_delay() {
        let params = LinkParams { delay: 10 * MS, reorder: 0.25, reorder_delay: 20 * MS, ..Default::default() };
        let mut l = link(params);
        let n = 10_000;
        let mut held = 0;
        for i in 0..n {
            let Verdict::Deliver { at, .. } = l.offer(i * MS, 100, false) else { panic!() };
            match at - i * MS {
                d if d == 10 * MS => {}
                d if d == 30 * MS => held += 1,
                d => panic!("delay {d} ns"),
            }
        }
        assert_eq!(l.stats.reordered, held);
        let rate = held as f64 / n as f64;
        assert!((rate - 0.25).abs() < 0.02, "measured {rate}");
    }

    #[test]
    fn duplication_rate_within_tolerance_and_copies_arrive_together() {
        let params =
            LinkParams { delay: 10 * MS, duplicate: 0.1, loss: LossModel::Bernoulli(0.1), ..Default::default() };
        let mut l = link(params);
        let n = 100_000;
        for i in 0..n {
            if let Verdict::Deliver { at, duplicate, .. } = l.offer(i, 100, false) {
                // One arrival time for both copies; the network schedules the copy after it.
                assert_eq!(at, i + 10 * MS, "duplicate {duplicate}");
            }
        }
        let rate = l.stats.duplicated as f64 / l.stats.packets_delivered as f64;
        assert!((rate - 0.1).abs() < 0.005, "measured {rate}");
        assert_eq!(l.stats.packets_delivered + l.stats.dropped_loss, n);
    }

    #[test]
    fn down_drops_everything_until_up() {
        let mut l = link(LinkParams { rate_bps: 8_000_000, ..Default::default() });
        l.offer(0, 1000, false);
        l.set_down(0);
        assert_eq!(l.generation, 1);
        assert_eq!(l.offer(0, 1000, false), Verdict::Dropped);
        assert_eq!(l.stats.dropped_down, 1);
        l.set_up();
        assert_eq!(l.offer(0, 1000, false), Verdict::Deliver { at: MS, ce: false, duplicate: false });
    }
}
