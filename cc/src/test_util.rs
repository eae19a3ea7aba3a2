//! Shared fixtures for the unit tests of this crate.

use core::time::Duration;

use crate::controller::{AckedPacket, CongestionEvent, Controller, PathSnapshot, Paths, RttEstimates};
use crate::Instant;

/// A one-path snapshot with a 100 ms smoothed RTT.
pub(crate) static SNAP: PathSnapshot = PathSnapshot {
    path_id: crate::PathId(0),
    window: 12_000,
    smoothed_rtt: Duration::from_millis(100),
    bytes_in_flight: 0,
    max_datagram_size: 1200,
    bytes_acked: 0,
    bytes_acked_since_loss: 0,
    active: true,
};

/// The single-path view.
pub(crate) fn single() -> Paths<'static> {
    Paths::single(&SNAP)
}

/// `s` seconds after the epoch.
pub(crate) fn secs(s: u64) -> Instant {
    Instant::from_nanos(s * 1_000_000_000)
}

/// A loss event for a packet sent at `sent_time`.
pub(crate) fn loss(sent_time: Instant) -> CongestionEvent {
    CongestionEvent { sent_time, lost_bytes: 1000, ecn: false, bytes_in_flight: 0 }
}

/// Acknowledges `bytes` in 1000-byte packets, all sent at `now` minus one nanosecond, in one
/// ACK at `now`.
pub(crate) fn ack_round(cc: &mut dyn Controller, now: Instant, pn: &mut u64, bytes: u64, rtt: &RttEstimates) {
    ack_round_on(cc, now, pn, bytes, rtt, single());
}

/// Like [`ack_round`], with a given view of the paths.
pub(crate) fn ack_round_on(
    cc: &mut dyn Controller,
    now: Instant,
    pn: &mut u64,
    mut bytes: u64,
    rtt: &RttEstimates,
    paths: Paths<'_>,
) {
    let mut acked = Vec::new();
    while bytes > 0 {
        let b = bytes.min(1000);
        acked.push(AckedPacket { packet_number: *pn, bytes: b, time_sent: now - Duration::from_nanos(1) });
        *pn += 1;
        bytes -= b;
    }
    cc.on_ack(now, &acked, rtt, paths);
}
