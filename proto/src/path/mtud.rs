//! Datagram Packetization Layer PMTU Discovery (RFC 9000 §14.3, RFC 8899) for one path.
//!
//! The search starts from the base PLPMTU of 1200 bytes (RFC 9000 §14) and binary-searches up to
//! the configured upper bound (bounded by the peer's max_udp_payload_size). A probe is a packet
//! of exactly the probed size made of PING and PADDING; its loss is not counted as congestion
//! (RFC 9000 §14.4, RFC 8899 §4.4): the sent packet is marked `SentPacket::mtu_probe`, which
//! recovery keeps out of congestion events and persistent congestion. Three lost probes of one
//! size end the search below it (MAX_PROBES, §5.1.2).
//! Black-hole detection (§4.3): when packets larger than the base keep getting lost while smaller
//! ones get through, the path falls back to the base size and searches again later.

use std::time::Duration;

use crate::Instant;

/// RFC 9000 §14: every QUIC path carries at least 1200-byte datagrams.
pub const BASE_PLPMTU: u16 = 1200;
/// RFC 8899 §5.1.2 MAX_PROBES.
const MAX_PROBES: u8 = 3;
/// Stop searching when the window between known-good and known-bad is this small.
const SEARCH_GRANULARITY: u16 = 20;
/// Losses of full-size packets in a row (with no full-size packet acknowledged in between)
/// that make us suspect a black hole.
const BLACK_HOLE_THRESHOLD: u32 = 6;

/// DPLPMTUD state of one path.
#[derive(Debug, Clone)]
pub struct MtuDiscovery {
    /// The size packets are built to now.
    current: u16,
    /// Largest size known to work.
    lower: u16,
    /// Smallest size known (or assumed) not to work, exclusive upper end of the search.
    upper: u16,
    /// The configured ceiling.
    ceiling: u16,
    /// The probe in flight: (packet number, size).
    in_flight: Option<(u64, u16)>,
    /// Lost probes of the size being probed.
    probe_losses: u8,
    /// The search is over until this time (then it restarts toward the ceiling).
    idle_until: Option<Instant>,
    /// How long the search rests after it ends.
    interval: Duration,
    /// Consecutive losses of packets larger than the base size.
    large_losses: u32,
    enabled: bool,
}

impl MtuDiscovery {
    /// Discovery from `initial` toward `ceiling`; `None` disables probing (the path stays at
    /// `initial`).
    pub fn new(initial: u16, ceiling: Option<u16>, interval: Duration) -> Self {
        let initial = initial.max(BASE_PLPMTU);
        let ceiling_value = ceiling.unwrap_or(initial).max(initial);
        Self {
            current: initial,
            lower: initial,
            upper: ceiling_value.saturating_add(1),
            ceiling: ceiling_value,
            in_flight: None,
            probe_losses: 0,
            idle_until: None,
            interval,
            large_losses: 0,
            enabled: ceiling.is_some(),
        }
    }

    /// The maximum datagram size to build packets to.
    pub fn current_mtu(&self) -> u16 {
        self.current
    }

    /// Lowers the ceiling to the peer's max_udp_payload_size (RFC 9000 §18.2).
    pub fn set_peer_max_udp_payload_size(&mut self, peer_max: u64) {
        let cap = u16::try_from(peer_max).unwrap_or(u16::MAX).max(BASE_PLPMTU);
        if cap < self.ceiling {
            self.ceiling = cap;
            self.upper = self.upper.min(cap.saturating_add(1));
            if self.current > cap {
                self.current = cap;
                self.lower = self.lower.min(cap);
            }
        }
    }

    /// The size of the next probe, if one should be sent now (after the handshake is confirmed
    /// and the path validated; the caller checks those).
    pub fn probe_size(&mut self, now: Instant) -> Option<u16> {
        if !self.enabled || self.in_flight.is_some() {
            return None;
        }
        if let Some(until) = self.idle_until {
            if now < until {
                return None;
            }
            // Restart the search toward the ceiling (RFC 8899 §5.2 PROBE_BASE after a raise timer).
            self.idle_until = None;
            self.upper = self.ceiling.saturating_add(1);
        }
        if self.upper.saturating_sub(self.lower) <= SEARCH_GRANULARITY {
            self.idle_until = Some(now + self.interval);
            return None;
        }
        // Try the ceiling first: on most paths it simply works.
        let size = if self.lower == self.current && self.probe_losses == 0 && self.upper == self.ceiling + 1 {
            self.ceiling
        } else {
            self.lower + (self.upper - self.lower) / 2
        };
        Some(size)
    }

    /// Whether [`MtuDiscovery::probe_size`] would return a size now, without arming anything
    /// (asked before every packet, so it must not change state).
    pub fn probe_due(&self, now: Instant) -> bool {
        if !self.enabled || self.in_flight.is_some() {
            return false;
        }
        let upper = match self.idle_until {
            Some(until) if now < until => return false,
            Some(_) => self.ceiling.saturating_add(1),
            None => self.upper,
        };
        upper.saturating_sub(self.lower) > SEARCH_GRANULARITY
    }

    /// The next time a probe may be due (for the connection's timer), if the search is resting.
    pub fn next_probe_time(&self) -> Option<Instant> {
        if self.enabled && self.in_flight.is_none() {
            self.idle_until
        } else {
            None
        }
    }

    /// A probe of `size` bytes was sent as packet `pn`.
    pub fn on_probe_sent(&mut self, pn: u64, size: u16) {
        self.in_flight = Some((pn, size));
    }

    /// An ICMP "packet too big" reported `size` bytes of UDP payload for this path (RFC 8899
    /// §4.6.2). Below the base it is ignored (RFC 9000 §14.2.1: never go under 1200); otherwise the
    /// search ceiling drops to it, and so does the current size if it was larger. Returns the new
    /// size when it shrank.
    pub fn on_packet_too_big(&mut self, size: u16) -> Option<u16> {
        if size < BASE_PLPMTU {
            return None;
        }
        self.ceiling = self.ceiling.min(size);
        self.upper = self.upper.min(size.saturating_add(1));
        self.in_flight = self.in_flight.filter(|(_, s)| *s <= size);
        if self.current > size {
            self.current = size;
            self.lower = self.lower.min(size);
            return Some(size);
        }
        None
    }

    /// A packet was acknowledged. Returns the new MTU when it grew.
    pub fn on_acked(&mut self, pn: u64, packet_size: u16) -> Option<u16> {
        if packet_size > BASE_PLPMTU {
            self.large_losses = 0;
        }
        match self.in_flight {
            Some((p, size)) if p == pn => {
                self.in_flight = None;
                self.probe_losses = 0;
                self.lower = size;
                if size > self.current {
                    self.current = size;
                    return Some(size);
                }
                None
            }
            _ => None,
        }
    }

    /// A packet was declared lost. Returns the new MTU when a black hole made it shrink.
    pub fn on_lost(&mut self, pn: u64, packet_size: u16) -> Option<u16> {
        if let Some((p, size)) = self.in_flight {
            if p == pn {
                self.in_flight = None;
                self.probe_losses += 1;
                if self.probe_losses >= MAX_PROBES {
                    // RFC 8899 §5.2: this size does not work; search below it.
                    self.upper = size;
                    self.probe_losses = 0;
                }
                return None;
            }
        }
        if packet_size > BASE_PLPMTU {
            self.large_losses += 1;
            if self.large_losses >= BLACK_HOLE_THRESHOLD {
                // RFC 8899 §4.3 black-hole detection: fall back to the base and search again.
                self.large_losses = 0;
                self.current = BASE_PLPMTU;
                self.lower = BASE_PLPMTU;
                self.upper = packet_size;
                self.probe_losses = 0;
                return Some(BASE_PLPMTU);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_path_mtu_by_binary_search() {
        let path_mtu = 1400u16;
        let mut d = MtuDiscovery::new(1200, Some(1452), Duration::from_secs(600));
        let mut pn = 0;
        let now = Instant::ZERO;
        while let Some(size) = {
            let due = d.probe_due(now);
            let size = d.probe_size(now);
            assert_eq!(due, size.is_some(), "probe_due agrees with probe_size");
            size
        } {
            d.on_probe_sent(pn, size);
            if size <= path_mtu {
                d.on_acked(pn, size);
            } else {
                d.on_lost(pn, size);
            }
            pn += 1;
            assert!(pn < 100, "search does not converge");
        }
        assert!(d.current_mtu() <= path_mtu && d.current_mtu() > path_mtu - SEARCH_GRANULARITY);
        assert!(d.probe_size(now + Duration::from_secs(601)).is_some(), "search restarts after the interval");
    }

    #[test]
    fn disabled_and_peer_limit() {
        let mut d = MtuDiscovery::new(1200, None, Duration::from_secs(1));
        assert_eq!(d.probe_size(Instant::ZERO), None);
        let mut d = MtuDiscovery::new(1200, Some(1452), Duration::from_secs(1));
        d.set_peer_max_udp_payload_size(1300);
        assert_eq!(d.probe_size(Instant::ZERO), Some(1300));
    }

    #[test]
    fn black_hole_falls_back_to_base() {
        let mut d = MtuDiscovery::new(1200, Some(1452), Duration::from_secs(1));
        d.on_probe_sent(0, 1452);
        assert_eq!(d.on_acked(0, 1452), Some(1452));
        let mut shrunk = None;
        for pn in 1..=BLACK_HOLE_THRESHOLD as u64 {
            shrunk = shrunk.or(d.on_lost(pn, 1452));
        }
        assert_eq!(shrunk, Some(BASE_PLPMTU));
        assert_eq!(d.current_mtu(), BASE_PLPMTU);
    }
}
