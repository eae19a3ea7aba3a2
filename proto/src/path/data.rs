//! Per-path state of a connection: addresses, validation (RFC 9000 §8.2), anti-amplification
//! accounting (§8.1), recovery and congestion control (RFC 9002), DPLPMTUD (§14) and statistics.
//!
//! Every path owns all of this; the handshake path is path 0 and single-path QUIC is one path.

use std::net::SocketAddr;
use std::time::Duration;

use smallvec::SmallVec;

use super::{MtuDiscovery, PathId, PathStatus};
use crate::recovery::{PathRecovery, SentFrames};
use crate::Instant;

/// Counters of one path, for the application, qlog and experiment outputs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PathStats {
    /// UDP datagrams sent.
    pub datagrams_sent: u64,
    /// UDP datagrams received.
    pub datagrams_received: u64,
    /// QUIC packets sent.
    pub packets_sent: u64,
    /// QUIC packets received and authenticated.
    pub packets_received: u64,
    /// UDP payload bytes sent.
    pub bytes_sent: u64,
    /// UDP payload bytes received.
    pub bytes_received: u64,
    /// Packets declared lost.
    pub packets_lost: u64,
    /// Bytes of packets declared lost.
    pub bytes_lost: u64,
    /// Bytes of STREAM data sent (first transmissions, retransmissions and copies).
    pub stream_bytes_sent: u64,
    /// Of those, bytes sent as re-injected copies of data in flight on another path (the
    /// scheduler asked, [`mpquic_scheduler::Scheduler::reinject`]).
    pub stream_bytes_reinjected: u64,
    /// Of those, bytes sent as duplicates of data sent on another path at the same time
    /// ([`mpquic_scheduler::Decision::Duplicate`]).
    pub stream_bytes_duplicated: u64,
    /// Congestion events (loss or ECN-CE).
    pub congestion_events: u64,
    /// Congestion-window restarts after idle (RFC 5681 §4.1; only with
    /// [`crate::TransportConfig::restart_after_idle`]): the "initial-window resets" ECF's
    /// evaluation counts (papers.md §2.2).
    pub congestion_window_restarts: u64,
    /// Packets received with the CE codepoint.
    pub ce_received: u64,
}

/// A snapshot of a path for the application: its addresses, state, RTT, window and counters.
#[derive(Debug, Clone, PartialEq)]
pub struct PathInfo {
    /// The path.
    pub id: PathId,
    /// Our address, if known.
    pub local: Option<SocketAddr>,
    /// The peer's address.
    pub remote: SocketAddr,
    /// Whether the peer's address was validated (RFC 9000 §8).
    pub validated: bool,
    /// Smoothed RTT.
    pub smoothed_rtt: Duration,
    /// Minimum RTT.
    pub min_rtt: Duration,
    /// RTT variation.
    pub rttvar: Duration,
    /// Congestion window in bytes.
    pub congestion_window: u64,
    /// Bytes in flight.
    pub bytes_in_flight: u64,
    /// Current maximum datagram size.
    pub mtu: u16,
    /// Counters.
    pub stats: PathStats,
    /// Our status for the path.
    pub status: PathStatus,
    /// The peer's hint, if it sent one.
    pub peer_status: Option<PathStatus>,
    /// Whether the path was abandoned (its state is kept a little while, RFC 10069 §3.3).
    pub abandoned: bool,
    /// Whether the path is potentially failed (data unacknowledged too long).
    pub potentially_failed: bool,
}

/// Where a path stands in validation (RFC 9000 §8.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validation {
    /// The peer proved it receives on this address (or we are the client of the handshake path).
    Validated,
    /// A PATH_CHALLENGE is outstanding (or due).
    Pending {
        /// The challenge data.
        token: [u8; 8],
        /// When the challenge was last sent; `None` while one is due.
        sent: Option<Instant>,
        /// Give up after this time.
        deadline: Instant,
    },
    /// Not validated and not being validated (server handshake path before the client's
    /// Handshake packet, RFC 9000 §8.1).
    Unvalidated,
}

/// One path.
#[derive(Debug)]
pub struct PathData {
    /// The path's ID.
    pub id: PathId,
    /// Our address on this path, if known (used as the source address of what we send).
    pub local: Option<SocketAddr>,
    /// The peer's address.
    pub remote: SocketAddr,
    /// Loss detection, RTT, congestion control, pacing, ECN, ACK state of this path's spaces.
    pub recovery: PathRecovery<SentFrames>,
    /// Path MTU discovery.
    pub mtud: MtuDiscovery,
    /// Validation state.
    pub validation: Validation,
    /// PATH_RESPONSE payloads owed on this path (RFC 9000 §8.2.2), bounded.
    pub path_responses: SmallVec<[[u8; 8]; 2]>,
    /// Bytes received on this path before validation (anti-amplification, RFC 9000 §8.1).
    pub amplification_received: u64,
    /// Bytes sent on this path before validation.
    pub amplification_sent: u64,
    /// When pacing lets the next packet go, if it is holding one back.
    pub pacing_release: Option<Instant>,
    /// A PING is owed on this path (keep-alive, or the application asked).
    pub ping_pending: bool,
    /// Counters.
    pub stats: PathStats,
    /// Sending is limited to 3x what was received until validation (server side, RFC 9000 §8.1).
    pub anti_amplification: bool,
    /// Abandoned: state is kept until this time, then forgotten (RFC 10069 §3.3).
    pub abandoned_at: Option<Instant>,
    /// Our preference for the path, which our scheduler honours and the peer is told.
    pub local_status: PathStatus,
    /// The peer's hint for our use of the path (PATH_STATUS_* frames).
    pub peer_status: Option<PathStatus>,
    /// Last Path Status Sequence Number we sent.
    pub status_sequence_sent: u64,
    /// Highest Path Status Sequence Number received.
    pub status_sequence_received: Option<u64>,
    /// Since when the path is potentially failed (multipath failure detection).
    pub failed_since: Option<Instant>,
    /// When the path last recovered from being potentially failed: failure detection counts
    /// from here again, not from packets sent while it was failed.
    pub recovered_at: Option<Instant>,
    /// Copies of flow-control credit (MAX_DATA, MAX_STREAM_DATA) first sent on another path,
    /// owed on this one (multipath: a silently failed path must not strand the peer's credit).
    pub credit_copies: SmallVec<[crate::stream::ControlFrame; 2]>,
}

impl PathData {
    /// A new path with the given state.
    pub fn new(
        id: PathId,
        local: Option<SocketAddr>,
        remote: SocketAddr,
        recovery: PathRecovery<SentFrames>,
        mtud: MtuDiscovery,
        validation: Validation,
    ) -> Self {
        Self {
            id,
            local,
            remote,
            recovery,
            mtud,
            validation,
            path_responses: SmallVec::new(),
            amplification_received: 0,
            amplification_sent: 0,
            pacing_release: None,
            ping_pending: false,
            stats: PathStats::default(),
            anti_amplification: validation == Validation::Unvalidated,
            abandoned_at: None,
            local_status: PathStatus::Available,
            peer_status: None,
            status_sequence_sent: 0,
            status_sequence_received: None,
            failed_since: None,
            recovered_at: None,
            credit_copies: SmallVec::new(),
        }
    }

    /// Whether the peer's address on this path is validated.
    pub fn is_validated(&self) -> bool {
        self.validation == Validation::Validated
    }

    /// Bytes we may still send before validation (RFC 9000 §8.1: three times what we received);
    /// `u64::MAX` once validated.
    pub fn amplification_budget(&self) -> u64 {
        if self.is_validated() || !self.anti_amplification {
            u64::MAX
        } else {
            (3 * self.amplification_received).saturating_sub(self.amplification_sent)
        }
    }

    /// The maximum datagram size on this path.
    pub fn mtu(&self) -> u16 {
        self.mtud.current_mtu()
    }

    /// Snapshot for the application.
    pub fn info(&self) -> PathInfo {
        let rtt = self.recovery.rtt();
        PathInfo {
            id: self.id,
            local: self.local,
            remote: self.remote,
            validated: self.is_validated(),
            smoothed_rtt: rtt.smoothed(),
            min_rtt: rtt.min(),
            rttvar: rtt.rttvar(),
            congestion_window: self.recovery.congestion_window(),
            bytes_in_flight: self.recovery.bytes_in_flight(),
            mtu: self.mtu(),
            stats: self.stats,
            status: self.local_status,
            peer_status: self.peer_status,
            abandoned: self.abandoned_at.is_some(),
            potentially_failed: self.failed_since.is_some(),
        }
    }
}
