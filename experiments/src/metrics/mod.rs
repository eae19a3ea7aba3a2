//! What a run measures: per-path time series sampled at a fixed period ([`PathSample`]), the
//! per-run summary ([`RunSummary`]) with completion times, goodput, per-path bytes and losses,
//! and the experimental aggregation benefit across single-path baselines
//! ([`aggregation_benefit`]).

mod comparison;
mod requests;
mod summary;

use serde::Serialize;

pub use comparison::{Comparison, ComparisonPath};
pub use requests::request_summary;
pub use summary::{
    aggregation_benefit, CompetingSummary, DatagramSummary, EmulatorSummary, LinkSummary, PathSummary, RequestSummary,
    RunSummary, SharedWindow, Stat,
};

/// One sample of one path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct PathSample {
    /// Virtual time since the run started, seconds.
    pub time_s: f64,
    /// The connection currently uses this path.
    pub active: bool,
    /// Sender's (server's) congestion window, bytes.
    pub cwnd_bytes: u64,
    /// Sender's smoothed RTT, ms.
    pub srtt_ms: f64,
    /// Sender's bytes in flight.
    pub bytes_in_flight: u64,
    /// UDP payload bytes delivered to the client over this path so far.
    pub bytes_delivered: u64,
    /// Goodput of this path over the last sample interval, Mbit/s (from `bytes_delivered`).
    pub goodput_mbps: f64,
}

/// The time series of one path.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PathSeries {
    /// Path name.
    pub name: String,
    /// Samples in time order.
    pub samples: Vec<PathSample>,
}
