//! The IP-level link emulator: the scenario's links applied to every IP packet that crosses a
//! pair of TUN devices, one pair per scenario path (the client's end in the client network
//! namespace, the server's end in the server's). Whatever protocol the endpoints speak (our
//! QUIC over UDP, Linux MPTCP, TCP, another stack's binaries), its packets meet the same link
//! model as in the simulator and the UDP relays: this module reuses the simulator's
//! [`Network`] (rate, delay, drop-tail queue, loss models, jitter, reordering, ECN marking, the
//! timeline), driven by the real clock of [`super::clock`]. Time 0 of the timeline is the
//! first packet.
//!
//! One thread reads every device until it is empty (each read is one IP packet), offers each
//! packet to its path's route (client end: up, server end: down) with the ECN codepoint of its
//! IP header, releases the packets whose time has come into the device at the far end (the IP
//! header set to CE, and the IPv4 checksum updated, when a link marked it), and waits for the
//! next release or packet: `poll(2)` on the devices while the next release is more than
//! [`FINE_WINDOW`](super::FINE_WINDOW) away, short sleeps after that, as the relays do.
//!
//! Counters reuse [`RelayStats`]: per path, packets and IP bytes read from each end and written
//! to the other (`from_client`, `to_server`, `from_server`, `to_client`).

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use mpquic_proto::EcnCodepoint;
use nix::poll::{PollFd, PollFlags, PollTimeout};

use super::clock::{wait_for, Clock, Wait};
use super::stats::{EmulatorStats, RelayStats};
use super::{check_supported, EmulatorError};
use crate::metrics::LinkSummary;
use crate::scenario::Scenario;
use crate::sim::{Datagram, Direction, Nanos, Network};

/// Packets read from one device in one turn before the due ones are released.
const MAX_READS_PER_TURN: usize = 256;
/// A release more than this late counts as a late wake-up.
const LATE_NS: Nanos = 1_000_000;
/// Largest IP packet a TUN device hands over (its MTU is far below).
const MAX_PACKET_BYTES: usize = 65_535;

/// The two ends of one scenario path: TUN devices made by the caller (e.g. with
/// `mpquic_io::tun::open_in`, one in each namespace).
#[derive(Debug)]
pub struct TunPair {
    /// The client's end: packets read here go up the path.
    pub client: File,
    /// The server's end: packets read here go down the path.
    pub server: File,
}

#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    stats: Mutex<EmulatorStats>,
}

/// A running IP-level emulator: one thread for all paths. Stops when dropped (the devices are
/// closed with it, which removes them).
#[derive(Debug)]
pub struct IpEmulator {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl IpEmulator {
    /// Starts forwarding between the ends of `pairs` (`pairs[i]` for `scenario.paths[i]`)
    /// through the links of `scenario`; `seed` seeds the links' random draws.
    pub fn start(scenario: &Scenario, seed: u64, pairs: Vec<TunPair>) -> Result<Self, EmulatorError> {
        check_supported(scenario)?;
        if pairs.len() != scenario.paths.len() {
            return Err(EmulatorError::RelayCount { paths: scenario.paths.len(), relays: pairs.len() });
        }
        let net = Network::new(scenario, seed);
        let shared = Arc::new(Shared::default());
        {
            let mut stats = shared.stats.lock().unwrap_or_else(|p| p.into_inner());
            stats.relays =
                scenario.paths.iter().map(|p| RelayStats { name: p.name.clone(), ..RelayStats::default() }).collect();
            stats.links = net.links.iter().map(|l| LinkSummary { name: l.name.clone(), stats: l.stats }).collect();
        }
        let mut event_times: Vec<Nanos> = scenario.events.iter().map(|e| (e.at_s * 1e9).round() as Nanos).collect();
        event_times.sort_unstable();
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("mpquic-ip-emulator".into())
            .spawn(move || {
                super::enter_realtime(&thread_shared.stats);
                Forwarder::new(net, pairs, event_times, thread_shared).run()
            })
            .map_err(EmulatorError::Thread)?;
        Ok(Self { shared, thread: Some(thread) })
    }

    /// The counters now.
    pub fn stats(&self) -> EmulatorStats {
        self.shared.stats.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Stops forwarding, closes the devices and returns the final counters.
    pub fn stop(mut self) -> EmulatorStats {
        self.halt();
        self.stats()
    }

    fn halt(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for IpEmulator {
    fn drop(&mut self) {
        self.halt();
    }
}

/// The ECN codepoint of an IPv4 or IPv6 header (`None`: not-ECT, or not an IP packet).
pub fn ip_ecn(packet: &[u8]) -> Option<EcnCodepoint> {
    match packet.first().map(|b| b >> 4) {
        Some(4) if packet.len() >= 20 => EcnCodepoint::from_bits(packet[1]),
        // IPv6: the traffic class spans the low nibble of byte 0 and the high nibble of byte 1.
        Some(6) if packet.len() >= 40 => EcnCodepoint::from_bits(packet[1] >> 4),
        _ => None,
    }
}

/// Sets the ECN field of an IPv4 or IPv6 header to `ecn`, keeping the IPv4 header checksum
/// right (RFC 1624 incremental update is not needed: the header is recomputed whole).
pub fn set_ip_ecn(packet: &mut [u8], ecn: EcnCodepoint) {
    match packet.first().map(|b| b >> 4) {
        Some(4) if packet.len() >= 20 => {
            packet[1] = (packet[1] & !0b11) | ecn.bits();
            let header = usize::from(packet[0] & 0x0f) * 4;
            if header < 20 || header > packet.len() {
                return;
            }
            packet[10] = 0;
            packet[11] = 0;
            let sum = ipv4_checksum(&packet[..header]);
            packet[10..12].copy_from_slice(&sum.to_be_bytes());
        }
        Some(6) if packet.len() >= 40 => packet[1] = (packet[1] & !0b0011_0000) | (ecn.bits() << 4),
        _ => {}
    }
}

/// The Internet checksum (RFC 1071) of an IPv4 header whose checksum field is zero.
fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The emulator thread's state.
struct Forwarder {
    net: Network,
    /// Per path: `[client end, server end]`.
    devices: Vec<[File; 2]>,
    stats: Vec<RelayStats>,
    clock: Clock,
    shared: Arc<Shared>,
    event_times: Vec<Nanos>,
    buf: Vec<u8>,
    late_wakeups: u64,
    max_lateness: Nanos,
}

const CLIENT_END: usize = 0;
const SERVER_END: usize = 1;

impl Forwarder {
    fn new(net: Network, pairs: Vec<TunPair>, event_times: Vec<Nanos>, shared: Arc<Shared>) -> Self {
        let stats = shared.stats.lock().unwrap_or_else(|p| p.into_inner()).relays.clone();
        Self {
            net,
            devices: pairs.into_iter().map(|p| [p.client, p.server]).collect(),
            stats,
            clock: Clock::default(),
            shared,
            event_times,
            buf: vec![0; MAX_PACKET_BYTES],
            late_wakeups: 0,
            max_lateness: 0,
        }
    }

    fn run(mut self) {
        self.publish();
        while !self.shared.stop.load(Ordering::Relaxed) {
            let received = self.receive_all();
            let released = self.release_due();
            if received || released {
                self.publish();
            }
            self.wait();
        }
        self.publish();
    }

    /// Reads every device until it is empty (or a turn's worth); whether anything came.
    fn receive_all(&mut self) -> bool {
        let mut any = false;
        for p in 0..self.devices.len() {
            for end in [CLIENT_END, SERVER_END] {
                for _ in 0..MAX_READS_PER_TURN {
                    let n = match (&self.devices[p][end]).read(&mut self.buf) {
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            tracing::debug!(error = %e, path = p, end, "TUN read error");
                            break;
                        }
                    };
                    if n == 0 {
                        break;
                    }
                    any = true;
                    let arrival = Instant::now();
                    self.clock.start(arrival);
                    let now = self.clock.at(arrival);
                    let packet = &self.buf[..n];
                    let direction = if end == CLIENT_END { Direction::Up } else { Direction::Down };
                    let count =
                        if end == CLIENT_END { &mut self.stats[p].from_client } else { &mut self.stats[p].from_server };
                    count.add(n);
                    let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
                    let datagram = Datagram {
                        direction,
                        path: p,
                        src: unspecified,
                        dst: unspecified,
                        ecn: ip_ecn(packet),
                        data: bytes::BytesMut::from(packet),
                    };
                    self.net.send(now, datagram);
                }
            }
        }
        any
    }

    /// Applies due events and writes the packets that reached the end of their route into the
    /// far device; whether anything was due.
    fn release_due(&mut self) -> bool {
        if !self.clock.started() {
            return false;
        }
        let now = self.clock.now();
        match self.net.next_time() {
            Some(due) if due <= now => {
                let late = now - due;
                self.max_lateness = self.max_lateness.max(late);
                if late > LATE_NS {
                    self.late_wakeups += 1;
                }
            }
            _ => return false,
        }
        while let Some(event) = self.net.poll(now) {
            let Some(mut d) = event else { continue };
            if d.ecn == Some(EcnCodepoint::Ce) && ip_ecn(&d.data) != Some(EcnCodepoint::Ce) {
                set_ip_ecn(&mut d.data, EcnCodepoint::Ce);
            }
            let (end, stats) = match d.direction {
                Direction::Up => (SERVER_END, &mut self.stats[d.path]),
                Direction::Down => (CLIENT_END, &mut self.stats[d.path]),
            };
            // A TUN write injects the whole packet or fails.
            match (&self.devices[d.path][end]).write(&d.data) {
                Ok(n) if n == d.data.len() => {
                    let count = if end == SERVER_END { &mut stats.to_server } else { &mut stats.to_client };
                    count.add(d.data.len());
                }
                Ok(n) => {
                    stats.send_errors += 1;
                    tracing::debug!(written = n, len = d.data.len(), path = d.path, end, "short TUN write");
                }
                Err(e) => {
                    stats.send_errors += 1;
                    tracing::debug!(error = %e, path = d.path, end, "TUN write error");
                }
            }
        }
        true
    }

    /// Waits for the next release or packet.
    fn wait(&mut self) {
        let due = if self.clock.started() { self.net.next_time() } else { None };
        match wait_for(self.clock.now(), due) {
            Wait::None => {}
            Wait::Fine(d) => std::thread::sleep(d),
            Wait::Coarse(d) => {
                let mut fds: Vec<PollFd<'_>> = self
                    .devices
                    .iter()
                    .flat_map(|pair| pair.iter().map(|f| PollFd::new(f.as_fd(), PollFlags::POLLIN)))
                    .collect();
                // Whole milliseconds, rounded down: the fine phase takes over before the due time.
                let ms = u16::try_from(d.as_millis()).unwrap_or(u16::MAX);
                if ms == 0 {
                    std::thread::sleep(d);
                } else if let Err(e) = nix::poll::poll(&mut fds, PollTimeout::from(ms)) {
                    tracing::debug!(error = %e, "poll on the TUN devices");
                }
            }
        }
    }

    fn publish(&self) {
        let now = self.clock.now();
        let mut stats = self.shared.stats.lock().unwrap_or_else(|p| p.into_inner());
        stats.elapsed_s = self.clock.started().then(|| now as f64 / 1e9);
        stats.events_applied =
            if self.clock.started() { self.event_times.iter().filter(|&&t| t <= now).count() } else { 0 };
        stats.relays.clone_from(&self.stats);
        for (out, l) in stats.links.iter_mut().zip(&self.net.links) {
            out.stats = l.stats;
        }
        stats.late_wakeups = self.late_wakeups;
        stats.max_lateness_us = self.max_lateness / 1000;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4 header (20 bytes, checksum filled in) with TOS `tos`.
    fn ipv4(tos: u8) -> Vec<u8> {
        let mut h = vec![0x45, tos, 0, 28, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 77, 0, 1, 10, 77, 0, 2];
        let sum = ipv4_checksum(&h);
        h[10..12].copy_from_slice(&sum.to_be_bytes());
        h.extend_from_slice(&[0; 8]);
        h
    }

    #[test]
    fn ce_marking_rewrites_the_ecn_bits_and_keeps_the_ipv4_checksum_valid() {
        let mut p = ipv4(0b1011_1010); // DSCP 46, ECT(0)
        assert_eq!(ip_ecn(&p), Some(EcnCodepoint::Ect0));
        set_ip_ecn(&mut p, EcnCodepoint::Ce);
        assert_eq!(ip_ecn(&p), Some(EcnCodepoint::Ce));
        assert_eq!(p[1] >> 2, 0b101110, "DSCP kept");
        // A valid header sums to 0xffff, i.e. its checksum over everything is 0.
        assert_eq!(ipv4_checksum(&p[..20]), 0);
        assert_eq!(ip_ecn(&ipv4(0)), None);
    }

    #[test]
    fn ipv6_traffic_class_ecn_bits() {
        let mut p = vec![0u8; 40];
        p[0] = 0x60;
        p[1] = 0b0010_0000; // traffic class 0b0000_0010: ECT(0)
        assert_eq!(ip_ecn(&p), Some(EcnCodepoint::Ect0));
        set_ip_ecn(&mut p, EcnCodepoint::Ce);
        assert_eq!(ip_ecn(&p), Some(EcnCodepoint::Ce));
        assert_eq!(p[0], 0x60);
        assert_eq!(ip_ecn(&[0x45]), None, "too short");
    }
}
