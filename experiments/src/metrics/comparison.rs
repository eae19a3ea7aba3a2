//! One protocol's result over the emulated links of a `--netns` run with `[compare]` or
//! `--compare`: ours (`mpquic`), Linux MPTCP, single-path TCP, or an external peer. The entries
//! of one seed ran one after the other over fresh namespaces with the same links, timeline and
//! seed.

use serde::Serialize;

/// One path's share of a protocol run, from the kernel's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ComparisonPath {
    /// Scenario path name.
    pub name: String,
    /// Bytes the client's kernel received on the path's device (IP packets, headers included:
    /// the device's receive counter).
    pub bytes_down: u64,
}

/// One protocol's run of the scenario's workload.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Comparison {
    /// `mpquic`, `mptcp`, `tcp`, or an external peer's name.
    pub protocol: String,
    /// Seed of the links' random draws (the run's seed).
    pub seed: u64,
    /// The workload finished in the time limit (external peers: the client exited with 0).
    pub completed: bool,
    /// Why not.
    pub error: Option<String>,
    /// Response bytes over the time from the connection attempt to the end, Mbit/s (external
    /// peers: the workload's bytes over the client's run time, when it completed).
    pub goodput_mbps: f64,
    /// From the connection attempt to the last response byte, s.
    pub completion_time_s: Option<f64>,
    /// Longest time without response bytes while a request was open, ms (`null` for external
    /// peers: not measured).
    pub longest_delivery_gap_ms: Option<f64>,
    /// The congestion controller the run used (Linux's name for the kernel protocols).
    pub congestion_controller: Option<String>,
    /// Per scenario path.
    pub paths: Vec<ComparisonPath>,
}
