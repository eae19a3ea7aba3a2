//! Read-only snapshots a scheduler decides from: one [`PathView`] per path and one
//! [`ConnectionView`] for the connection.
//!
//! proto builds these right before it asks the scheduler where the next packet of path-agnostic
//! data goes. They are plain values: a scheduler cannot change the transport through them, and a
//! test or a simulator can build them by hand (`PathView::new(PathId(id))` then set fields).
//!
//! Time is never absolute here except for [`ConnectionView::now`]: durations are relative
//! to "now" (`next_send_in`), and the crate never reads a clock (sans-IO).

use core::time::Duration;

pub use mpquic_core::{Instant, PathId, PathStatus};

/// A read-only snapshot of one path, as the scheduler sees it.
///
/// Marked `#[non_exhaustive]` so that fields can be added without breaking schedulers written
/// outside this crate: build one with [`PathView::new`] and set the fields you need.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PathView {
    /// The path's Path ID (RFC 10069 §2: the `PathId` value; path 0 is the
    /// handshake path).
    pub path_id: PathId,
    /// The status this endpoint set locally (and advertised to the peer).
    pub status: PathStatus,
    /// The peer's PATH_STATUS_AVAILABLE/BACKUP hint for our sending on this path; `None` until the
    /// peer sent one (RFC 10069 §3.3: no frame means "unknown, use local logic").
    pub peer_status: Option<PathStatus>,
    /// Path validation (RFC 9000 §8.2) has succeeded; data must not go on an unvalidated path.
    pub validated: bool,
    /// Loss detection suspects the path is broken (consecutive PTOs), but it is not abandoned yet.
    pub potentially_failed: bool,
    /// PATH_ABANDON was sent or received: nothing more may be sent on the path.
    pub abandoned: bool,
    /// Smoothed RTT (RFC 9002 §5.3 `smoothed_rtt`).
    pub srtt: Duration,
    /// RTT variation (RFC 9002 §5.3 `rttvar`).
    pub rttvar: Duration,
    /// Minimum RTT seen (RFC 9002 §5.2 `min_rtt`).
    pub min_rtt: Duration,
    /// Congestion window in bytes.
    pub cwnd: u64,
    /// Bytes in flight on this path (RFC 9002 §B.2 `bytes_in_flight`).
    pub bytes_in_flight: u64,
    /// How long until the pacer lets this path send; `Duration::ZERO` means now.
    pub next_send_in: Duration,
    /// The path's congestion controller sets its own sending rate (BBR) and the pacer is holding
    /// the next packet: the rate, not the window, is what is used up. Such a controller keeps
    /// its window above what is in flight (BBR: twice the estimated BDP), so the window alone
    /// would never tell a scheduler that the path is busy. Linux MPTCP treats a subflow that
    /// its pacing throttles the same way (temporarily unavailable).
    pub rate_limited: bool,
    /// Fraction of packets declared lost, in `0.0..=1.0` (the transport chooses the window).
    pub loss_rate: f64,
    /// Largest UDP payload the path can carry (RFC 9000 §14 max_datagram_size), in bytes.
    pub mtu: u16,
    /// Bytes sent on the path so far (all packets, retransmissions included).
    pub bytes_sent: u64,
    /// Bytes acknowledged on the path so far.
    pub bytes_acked: u64,
}

impl PathView {
    /// A validated, available, idle path with RFC 9002 initial values (`kInitialRtt` = 333 ms,
    /// initial window 10 × 1200 bytes, §6.2.2 and §7.2).
    pub fn new(path_id: PathId) -> Self {
        Self {
            path_id,
            status: PathStatus::Available,
            peer_status: None,
            validated: true,
            potentially_failed: false,
            abandoned: false,
            srtt: Duration::from_millis(333),
            rttvar: Duration::from_micros(166_500),
            min_rtt: Duration::from_millis(333),
            cwnd: 12_000,
            bytes_in_flight: 0,
            next_send_in: Duration::ZERO,
            rate_limited: false,
            loss_rate: 0.0,
            mtu: 1200,
            bytes_sent: 0,
            bytes_acked: 0,
        }
    }

    /// Bytes the congestion controller still lets this path send: `cwnd - bytes_in_flight`.
    pub fn send_window_available(&self) -> u64 {
        self.cwnd.saturating_sub(self.bytes_in_flight)
    }

    /// The congestion window cannot take one more full-sized packet.
    ///
    /// RFC 9002 §7: a sender must not exceed the congestion window; the scheduler does not know the
    /// packet's size yet, so it assumes a full `mtu`.
    pub fn window_full(&self) -> bool {
        self.send_window_available() < u64::from(self.mtu.max(1))
    }

    /// The status that governs our sending: Backup when either we or the peer marked the path
    /// Backup (RFC 10069 §3.3: the peer's hint is advisory but respected).
    pub fn effective_status(&self) -> PathStatus {
        if self.status == PathStatus::Backup || self.peer_status == Some(PathStatus::Backup) {
            PathStatus::Backup
        } else {
            PathStatus::Available
        }
    }

    /// `effective_status() == Backup`.
    pub fn is_backup(&self) -> bool {
        self.effective_status() == PathStatus::Backup
    }

    /// The path could carry data were its window open: validated, not abandoned, not suspected
    /// failed. BLEST and ECF use this to find the fastest path even while its window is full.
    pub fn usable(&self) -> bool {
        self.validated && !self.abandoned && !self.potentially_failed
    }

    /// The congestion window in full-sized packets (at least 1), as BLEST and ECF count it.
    pub fn cwnd_packets(&self) -> f64 {
        (self.cwnd as f64 / f64::from(self.mtu.max(1))).max(1.0)
    }
}

/// What the application wants sent next, as far as the scheduler may care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamInfo {
    /// The QUIC stream ID (RFC 9000 §2.1) of the next data.
    pub stream_id: u64,
    /// Its send priority: higher is more urgent (the application's number, passed through).
    pub priority: i32,
}

/// Connection-level facts for one scheduling decision.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionView {
    /// Bytes of stream data queued and not yet assigned to any path (ECF's `k`).
    pub bytes_queued: u64,
    /// The stream the next packet carries data of, if it carries stream data.
    pub next_stream: Option<StreamInfo>,
    /// Connection flow-control credit left: the peer's MAX_DATA minus the highest offset sent
    /// (RFC 9000 §4.1).
    pub flow_control_left: u64,
    /// The connection-level send window `|M|` of BLEST: the peer's MAX_DATA minus the lowest
    /// unacknowledged stream offset, i.e. `flow_control_left` plus stream bytes still in flight.
    pub send_window: u64,
    /// The packet to place carries retransmitted data.
    pub is_retransmission: bool,
    /// New data is held back by flow control (connection or stream credit) or by the send buffer,
    /// not by the application: the peer's window waits for data still in flight.
    pub send_blocked: bool,
    /// The time of the decision, on the transport's clock (the same [`Instant`] proto and the
    /// congestion controllers take).
    pub now: Instant,
}

impl ConnectionView {
    /// A connection with `bytes_queued` bytes waiting and an ample flow-control window.
    pub fn new(bytes_queued: u64) -> Self {
        Self {
            bytes_queued,
            next_stream: None,
            flow_control_left: u64::MAX / 4,
            send_window: u64::MAX / 4,
            is_retransmission: false,
            send_blocked: false,
            now: Instant::ZERO,
        }
    }
}

/// The one eligibility rule every built-in scheduler applies before picking a path: validated,
/// not abandoned, not potentially failed, with room in its congestion window, and, for a
/// rate-based controller, with its rate not used up ([`PathView::rate_limited`]).
///
/// Backup status does not make a path ineligible: whether a backup path may be used is each
/// scheduler's policy (see [`preferred_eligible`]). The pacer of a window-based controller
/// does not either: it paces at 1.25 x window / RTT, proto holds the packet until the pacer
/// allows it ([`PathView::next_send_in`]), and the window fills first.
pub fn eligible(path: &PathView) -> bool {
    path.usable() && !path.window_full() && !path.rate_limited
}

/// The eligible paths of the preferred class: the eligible available paths while any available
/// path is usable, otherwise the eligible backup paths (RFC 10069 §3.3: Backup means "don't send
/// here if another usable path exists"). An available path whose window is full is still
/// usable: the data waits for it rather than spilling onto a backup path.
pub fn preferred_eligible(paths: &[PathView]) -> impl Iterator<Item = &PathView> + Clone {
    let any_available = paths.iter().any(|p| p.usable() && !p.is_backup());
    paths.iter().filter(move |p| eligible(p) && p.is_backup() != any_available)
}

/// The usable (window may be full) paths of the preferred class: available ones when any available
/// path is usable, otherwise backup ones.
pub fn preferred_usable(paths: &[PathView]) -> impl Iterator<Item = &PathView> + Clone {
    let any_available = paths.iter().any(|p| p.usable() && !p.is_backup());
    paths.iter().filter(move |p| p.usable() && p.is_backup() != any_available)
}

/// The path with the lowest smoothed RTT (ties: lowest path ID).
pub fn lowest_srtt<'a>(paths: impl Iterator<Item = &'a PathView>) -> Option<&'a PathView> {
    paths.min_by_key(|p| (p.srtt, p.path_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use crate::PathId;

    #[test]
    fn window_full_needs_one_mtu() {
        let mut p = PathView::new(PathId(0));
        p.cwnd = 12_000;
        p.bytes_in_flight = 10_800;
        assert!(!p.window_full());
        p.bytes_in_flight = 10_801;
        assert!(p.window_full());
        p.bytes_in_flight = 20_000;
        assert_eq!(p.send_window_available(), 0);
    }

    #[test]
    fn eligibility() {
        let p = PathView::new(PathId(1));
        assert!(eligible(&p));
        for f in [
            |p: &mut PathView| p.validated = false,
            |p: &mut PathView| p.abandoned = true,
            |p: &mut PathView| p.potentially_failed = true,
            |p: &mut PathView| p.bytes_in_flight = p.cwnd,
        ] {
            let mut q = p.clone();
            f(&mut q);
            assert!(!eligible(&q));
        }
    }

    #[test]
    fn peer_backup_hint_counts() {
        let mut p = PathView::new(PathId(1));
        assert!(!p.is_backup());
        p.peer_status = Some(PathStatus::Backup);
        assert!(p.is_backup());
        p.peer_status = Some(PathStatus::Available);
        p.status = PathStatus::Backup;
        assert!(p.is_backup());
    }

    #[test]
    fn backup_class_only_when_no_available_is_usable() {
        let mut a = PathView::new(PathId(0));
        let mut b = PathView::new(PathId(1));
        b.status = PathStatus::Backup;
        let ids = |ps: &[PathView]| preferred_eligible(ps).map(|p| p.path_id).collect::<Vec<_>>();
        assert_eq!(ids(&[a.clone(), b.clone()]), vec![PathId(0)]);
        // A full window: the available path still works, so nothing may go on the backup path.
        a.bytes_in_flight = a.cwnd;
        assert!(ids(&[a.clone(), b.clone()]).is_empty());
        a.potentially_failed = true;
        assert_eq!(ids(&[a.clone(), b.clone()]), vec![PathId(1)]);
        b.abandoned = true;
        assert!(ids(&[a, b]).is_empty());
    }
}
