//! Delivery-rate sampling (draft-ietf-ccwg-bbr §4.5 and draft-cheng-iccrg-delivery-rate-estimation),
//! done inside the controller from the `on_packet_sent` and `on_ack` hooks.
//!
//! Per-packet send state lives in a ring buffer indexed by packet number: no allocation per
//! packet. The buffer only grows (doubling) when more packets are outstanding than it holds.

use core::time::Duration;

use crate::Instant;

/// The send-time state of one packet (the draft's P.delivered, P.delivered_time, ...).
#[derive(Debug, Clone, Copy)]
struct PacketState {
    packet_number: u64,
    live: bool,
    send_time: Instant,
    delivered: u64,
    delivered_time: Instant,
    first_send_time: Instant,
    is_app_limited: bool,
    /// Bytes in flight right after this packet was sent (P.tx_in_flight).
    tx_in_flight: u64,
    /// C.lost when this packet was sent.
    lost: u64,
}

const EMPTY: PacketState = PacketState {
    packet_number: 0,
    live: false,
    send_time: Instant::ZERO,
    delivered: 0,
    delivered_time: Instant::ZERO,
    first_send_time: Instant::ZERO,
    is_app_limited: false,
    tx_in_flight: 0,
    lost: 0,
};

/// One rate sample, built from an ACK (the draft's `rs`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RateSample {
    /// rs.delivery_rate in bytes per second, if the sample is valid.
    pub delivery_rate: Option<f64>,
    /// rs.delivered: bytes delivered over the sample interval.
    pub delivered: u64,
    /// rs.prior_delivered: C.delivered when the sample's packet was sent.
    pub prior_delivered: u64,
    /// rs.interval.
    pub interval: Duration,
    /// rs.is_app_limited.
    pub is_app_limited: bool,
    /// rs.tx_in_flight: bytes in flight when the sample's packet was sent.
    pub tx_in_flight: u64,
    /// rs.lost: bytes lost between the sample packet's send and this ACK.
    pub lost: u64,
    /// rs.newly_acked: bytes acknowledged by this ACK.
    pub newly_acked: u64,
}

/// The connection-level delivery counters (the draft's C.delivered, C.lost, ...) and the
/// per-packet ring.
#[derive(Debug, Clone)]
pub struct DeliveryRateSampler {
    ring: Vec<PacketState>,
    /// C.delivered: bytes acknowledged so far.
    pub delivered: u64,
    delivered_time: Instant,
    first_send_time: Instant,
    /// C.app_limited: `delivered` value at which the app-limited mark ends (0: none).
    app_limited_until: u64,
    /// C.lost: bytes declared lost so far.
    pub lost: u64,
    largest_acked: Option<u64>,
}

impl DeliveryRateSampler {
    /// A sampler holding `capacity` outstanding packets before it grows (rounded up to a power
    /// of two).
    pub fn new(capacity: usize) -> Self {
        Self {
            ring: vec![EMPTY; capacity.max(16).next_power_of_two()],
            delivered: 0,
            delivered_time: Instant::ZERO,
            first_send_time: Instant::ZERO,
            app_limited_until: 0,
            lost: 0,
            largest_acked: None,
        }
    }

    fn slot(&self, packet_number: u64) -> usize {
        (packet_number & (self.ring.len() as u64 - 1)) as usize
    }

    fn grow(&mut self) {
        let doubled = vec![EMPTY; self.ring.len() * 2];
        let old = core::mem::replace(&mut self.ring, doubled);
        for p in old.into_iter().filter(|p| p.live) {
            let i = self.slot(p.packet_number);
            self.ring[i] = p;
        }
    }

    /// Records a sent packet; `bytes_in_flight` includes it.
    pub fn on_packet_sent(&mut self, now: Instant, packet_number: u64, bytes: u64, bytes_in_flight: u64) {
        // `bytes` tells whether this packet is the only one in flight.
        // §4.5: when nothing was in flight, the sending epoch restarts now.
        if bytes_in_flight <= bytes {
            self.first_send_time = now;
            self.delivered_time = now;
        }
        let mut i = self.slot(packet_number);
        loop {
            let old = self.ring[i];
            // A live slot above largest_acked is still in flight: make room. Older live slots
            // were declared lost (the hooks do not name lost packets) and may be overwritten.
            let in_flight = old.live && self.largest_acked.is_none_or(|l| old.packet_number > l);
            if !in_flight || old.packet_number == packet_number || self.ring.len() >= 1 << 20 {
                break;
            }
            self.grow();
            i = self.slot(packet_number);
        }
        self.ring[i] = PacketState {
            packet_number,
            live: true,
            send_time: now,
            delivered: self.delivered,
            delivered_time: self.delivered_time,
            first_send_time: self.first_send_time,
            is_app_limited: self.app_limited_until != 0,
            tx_in_flight: bytes_in_flight,
            lost: self.lost,
        };
    }

    /// The sender is application-limited with `bytes_in_flight` outstanding (§4.5.1.3).
    pub fn on_app_limited(&mut self, bytes_in_flight: u64) {
        self.app_limited_until = self.delivered.saturating_add(bytes_in_flight).max(1);
    }

    /// Bytes were declared lost.
    pub fn on_lost(&mut self, bytes: u64) {
        self.lost = self.lost.saturating_add(bytes);
    }

    /// Processes one ACK's newly acknowledged packets and returns its rate sample.
    /// `min_rtt` discards samples over too short an interval (§4.5.2.3).
    pub fn on_ack<I>(&mut self, now: Instant, acked: I, min_rtt: Option<Duration>) -> RateSample
    where
        I: IntoIterator<Item = (u64, u64)>,
    {
        let mut rs = RateSample::default();
        let mut chosen: Option<PacketState> = None;
        for (packet_number, bytes) in acked {
            rs.newly_acked = rs.newly_acked.saturating_add(bytes);
            self.delivered = self.delivered.saturating_add(bytes);
            self.delivered_time = now;
            self.largest_acked = Some(self.largest_acked.map_or(packet_number, |l| l.max(packet_number)));
            let i = self.slot(packet_number);
            let p = self.ring[i];
            if !p.live || p.packet_number != packet_number {
                continue;
            }
            self.ring[i].live = false;
            // §4.5.2.2: the sample uses the most recently sent packet among those acknowledged.
            if chosen
                .is_none_or(|c| p.delivered > c.delivered || (p.delivered == c.delivered && p.send_time >= c.send_time))
            {
                chosen = Some(p);
                self.first_send_time = p.send_time;
            }
        }
        if self.app_limited_until != 0 && self.delivered > self.app_limited_until {
            self.app_limited_until = 0;
        }
        let Some(p) = chosen else { return rs };
        rs.prior_delivered = p.delivered;
        rs.is_app_limited = p.is_app_limited;
        rs.tx_in_flight = p.tx_in_flight;
        rs.lost = self.lost.saturating_sub(p.lost);
        rs.delivered = self.delivered.saturating_sub(p.delivered);
        let send_elapsed = p.send_time.saturating_duration_since(p.first_send_time);
        let ack_elapsed = self.delivered_time.saturating_duration_since(p.delivered_time);
        rs.interval = send_elapsed.max(ack_elapsed);
        let too_short = rs.interval.is_zero() || min_rtt.is_some_and(|m| rs.interval < m);
        if !too_short {
            rs.delivery_rate = Some(rs.delivered as f64 / rs.interval.as_secs_f64());
        }
        rs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(m: u64) -> Instant {
        Instant::from_nanos(m * 1_000_000)
    }

    #[test]
    fn steady_flow_measures_link_rate() {
        // 1000-byte packets every ms, each acknowledged 50 ms later: 1 MB/s.
        let mut s = DeliveryRateSampler::new(16);
        let mut inflight = 0;
        let mut last = RateSample::default();
        for t in 0..200u64 {
            inflight += 1000;
            s.on_packet_sent(ms(t), t, 1000, inflight);
            if t >= 50 {
                last = s.on_ack(ms(t), [(t - 50, 1000)], Some(Duration::from_millis(50)));
                inflight -= 1000;
            }
        }
        let rate = last.delivery_rate.unwrap();
        assert!((rate - 1_000_000.0).abs() < 30_000.0, "{rate}");
        assert_eq!(last.tx_in_flight, 51_000);
        assert!(s.ring.len() >= 64, "the ring grew to hold 51 packets in flight");
    }

    #[test]
    fn app_limited_marks_and_losses() {
        let mut s = DeliveryRateSampler::new(16);
        s.on_packet_sent(ms(0), 0, 1000, 1000);
        s.on_app_limited(1000);
        s.on_packet_sent(ms(1), 1, 1000, 2000);
        s.on_lost(500);
        let rs = s.on_ack(ms(20), [(0, 1000), (1, 1000)], None);
        assert!(rs.is_app_limited);
        assert_eq!(rs.lost, 500);
        assert_eq!(rs.newly_acked, 2000);
        // Unknown packet numbers are ignored without panicking.
        let rs = s.on_ack(ms(21), [(999, 1000)], None);
        assert_eq!(rs.delivery_rate, None);
    }
}
