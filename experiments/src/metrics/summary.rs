//! The summary of one run, and the aggregation benefit of Paasch et al. / Kaspar as adapted in
//! the CoNEXT'17 MPQUIC evaluation (spec/papers.md §1.3).

use serde::Serialize;

use crate::emulator::RelayStats;
use crate::sim::LinkStats;

/// Mean, median, 95th percentile and maximum of a set of values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Stat {
    /// Number of values.
    pub count: usize,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub median: f64,
    /// 95th percentile (nearest rank).
    pub p95: f64,
    /// Maximum.
    pub max: f64,
}

impl Stat {
    /// Statistics of `values` (all zero when empty).
    pub fn of(values: &[f64]) -> Self {
        if values.is_empty() {
            return Self::default();
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
        let rank = ((0.95 * n as f64).ceil() as usize).clamp(1, n) - 1;
        Self { count: n, mean: v.iter().sum::<f64>() / n as f64, median, p95: v[rank], max: v[n - 1] }
    }
}

/// Request/response outcomes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RequestSummary {
    /// Requests planned.
    pub planned: usize,
    /// Requests completed.
    pub completed: usize,
    /// Time from request start to last response byte, ms.
    pub latency_ms: Stat,
    /// Requests with a deadline that finished late or not at all.
    pub deadlines_missed: usize,
}

/// Datagram flow outcomes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DatagramSummary {
    /// Datagrams the server sent.
    pub sent: u64,
    /// Datagrams the client received.
    pub received: u64,
    /// Mean one-way delay, ms.
    pub mean_delay_ms: f64,
    /// Largest one-way delay, ms.
    pub max_delay_ms: f64,
}

/// What happened on one path.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PathSummary {
    /// Path name.
    pub name: String,
    /// UDP payload bytes the server put on this path.
    pub bytes_sent_down: u64,
    /// UDP payload bytes the client put on this path.
    pub bytes_sent_up: u64,
    /// UDP payload bytes delivered to the client over this path.
    pub bytes_delivered_down: u64,
    /// Packets the server declared lost on this path (each is retransmitted if it carried data).
    pub packets_lost: u64,
    /// Bytes the server declared lost on this path.
    pub bytes_lost: u64,
    /// Congestion events of the server's controller on this path.
    pub congestion_events: u64,
    /// Times the server restarted its congestion window on this path after idle
    /// (`[transport] restart_after_idle`; ECF's "initial-window resets").
    pub congestion_window_restarts: u64,
    /// Mean goodput of this path over the run, Mbit/s.
    pub mean_goodput_mbps: f64,
}

/// Counters of one link direction.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LinkSummary {
    /// `path.up`, `path.down`, `bottleneck.up`, ...
    pub name: String,
    /// Counters.
    #[serde(flatten)]
    pub stats: LinkStats,
}

/// What a competing flow (`[[competing]]`) got.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CompetingSummary {
    /// Flow name.
    pub name: String,
    /// Its congestion controller.
    pub congestion_controller: String,
    /// Its download finished within the run (the run ends when the scenario's workload does).
    pub completed: bool,
    /// Why the flow failed, if its connection did.
    pub error: Option<String>,
    /// When it connected, s.
    pub start_s: f64,
    /// From its start to its last byte, s.
    pub completion_time_s: Option<f64>,
    /// Response bytes its client application received.
    pub app_bytes_received: u64,
    /// UDP payload bytes delivered to its client.
    pub bytes_delivered_down: u64,
    /// Goodput from its start to its completion (or the end of the run), Mbit/s.
    pub goodput_mbps: f64,
    /// Goodput inside the run's [`SharedWindow`], Mbit/s.
    pub window_goodput_mbps: f64,
}

/// The interval in which the scenario's connection and every competing flow were all active:
/// from the latest start to the first completion (or the end of the run). Throughputs compared
/// inside it are not skewed by one flow having the bottleneck to itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct SharedWindow {
    /// Start, s since the run began.
    pub start_s: f64,
    /// End, s.
    pub end_s: f64,
    /// The scenario connection's application goodput inside the window, Mbit/s.
    pub goodput_mbps: f64,
    /// The scenario connection's window goodput over the mean window goodput of the competing
    /// flows (RFC 6356 goal 2 asks for about 1 for a multipath connection with coupled control).
    pub ratio_to_competing: Option<f64>,
}

/// Real mode only: what the link emulator's relays counted, and how late they were.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EmulatorSummary {
    /// Per scenario path: datagrams and bytes in from each side and out to the other.
    pub relays: Vec<RelayStats>,
    /// Releases more than 1 ms after their due time (the machine did not keep up).
    pub late_releases: u64,
    /// Largest lateness of a release, ms.
    pub max_release_lateness_ms: f64,
    /// Whether the emulator ran with real-time priority (`SCHED_FIFO`; needs root).
    pub realtime: bool,
}

/// The result of one run of one scenario with one seed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunSummary {
    /// Scenario name (with `-only-PATH` for a single-path baseline).
    pub label: String,
    /// Seed.
    pub seed: u64,
    /// Paths the scenario defines.
    pub paths_defined: usize,
    /// Whether the transfer used several paths at once (false until proto has multipath).
    pub multipath_used: bool,
    /// The workload finished within the time limit.
    pub completed: bool,
    /// Why not, when it did not.
    pub error: Option<String>,
    /// Handshake time (client sends first packet to client sees Connected), ms.
    pub handshake_ms: Option<f64>,
    /// Connection start to last byte of the last response, s (the CoNEXT'17 download completion
    /// time for a bulk workload).
    pub completion_time_s: Option<f64>,
    /// Length of the run, s: virtual time in the simulator, wall-clock time in real mode.
    pub simulated_s: f64,
    /// Response bytes received by the client application.
    pub app_bytes_received: u64,
    /// Received response bytes that differ from what the server sent (the responses follow a
    /// byte pattern the client checks); 0 for an intact transfer.
    pub app_bytes_corrupt: u64,
    /// Application goodput: response bytes x 8 / completion time (or simulated time), Mbit/s.
    pub goodput_mbps: f64,
    /// Request outcomes (stream workloads).
    pub requests: RequestSummary,
    /// Datagram outcomes (datagram workloads).
    pub datagrams: Option<DatagramSummary>,
    /// Per path.
    pub paths: Vec<PathSummary>,
    /// Per link direction.
    pub links: Vec<LinkSummary>,
    /// Times the client moved the connection to another interface (single-path failover).
    pub migrations: u32,
    /// Times the client closed the connection and connected again from another interface
    /// (`transport.reconnect`).
    pub reconnects: u32,
    /// Of those new connections, how many had their 0-RTT data accepted (RFC 9001 §4.6).
    pub reconnects_0rtt_accepted: u32,
    /// Longest time, while a request was open, without new response bytes reaching the client
    /// application (from a request's start to its first bytes, or between two deliveries), ms.
    pub longest_delivery_gap_ms: f64,
    /// When that gap ended, s since the run began.
    pub longest_delivery_gap_end_s: f64,
    /// Competing flows (`[[competing]]`), in scenario order.
    pub competing: Vec<CompetingSummary>,
    /// The interval when the connection and all competing flows were active (with competing
    /// flows only).
    pub shared_window: Option<SharedWindow>,
    /// Real mode: the emulator's relay counters and timing (absent from simulated runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emulator: Option<EmulatorSummary>,
}

/// Experimental aggregation benefit (spec/papers.md §1.3, \[TH\] eq. 5.1): `multipath` is the mean
/// goodput with all paths, `single` the mean single-path goodput of each path. 0 means as good as
/// the best path alone, 1 the sum of all paths, -1 no transfer. `None` without baselines or when
/// every single-path goodput is zero.
pub fn aggregation_benefit(multipath: f64, single: &[f64]) -> Option<f64> {
    let best = single.iter().copied().fold(f64::NAN, f64::max);
    if single.is_empty() || best.is_nan() || best <= 0.0 {
        return None;
    }
    let sum: f64 = single.iter().sum();
    if multipath >= best {
        let room = sum - best;
        if room <= 0.0 {
            // One useful path only: as good as it is the best possible.
            return Some(0.0);
        }
        Some((multipath - best) / room)
    } else {
        Some((multipath - best) / best)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregation_benefit_matches_the_definition() {
        // Sum of both paths: 1.
        assert_eq!(aggregation_benefit(30.0, &[20.0, 10.0]), Some(1.0));
        // As good as the best path: 0.
        assert_eq!(aggregation_benefit(20.0, &[20.0, 10.0]), Some(0.0));
        // Halfway between best and sum.
        assert_eq!(aggregation_benefit(25.0, &[20.0, 10.0]), Some(0.5));
        // Worse than the best path: relative loss; no transfer is -1.
        assert_eq!(aggregation_benefit(15.0, &[20.0, 10.0]), Some(-0.25));
        assert_eq!(aggregation_benefit(0.0, &[20.0, 10.0]), Some(-1.0));
        // Above the sum: > 1.
        assert!(aggregation_benefit(40.0, &[20.0, 10.0]).unwrap() > 1.0);
        assert_eq!(aggregation_benefit(10.0, &[]), None);
        assert_eq!(aggregation_benefit(10.0, &[0.0, 0.0]), None);
    }

    #[test]
    fn stat_percentiles() {
        let s = Stat::of(&[5.0, 1.0, 3.0, 2.0, 4.0]);
        assert_eq!((s.count, s.mean, s.median, s.max), (5, 3.0, 3.0, 5.0));
        assert_eq!(s.p95, 5.0);
        assert_eq!(Stat::of(&[1.0, 2.0]).median, 1.5);
    }
}
