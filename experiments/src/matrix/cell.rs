//! One cell of a matrix (a resolved scenario and a seed), its key, and what its run gave.
//!
//! The key is a SHA-256 of the parameters that decide the result: the format version of the key,
//! the whole resolved scenario (as JSON, fields in a fixed order) and the seed. The other half of
//! what decides a result, the code, is the record's [`code_version`](super::code_version): two
//! cells with the same key run by the same code version give the same result bit for bit; a cell
//! whose template, CSV row or sweep value changed gets a new key, and a record made by another
//! code version is stale; either is run again.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::version::code_version;
use crate::runner::Report;
use crate::scenario::Scenario;

/// Version of the cell record; bumped when [`CellResult`] changes meaning.
pub(super) const RECORD_FORMAT: u32 = 2;

/// Version of the key's formula (1 hashed the crate version in; 2 leaves the code to the
/// record's `code_version`).
const KEY_FORMAT: u32 = 2;

/// One run of a matrix.
#[derive(Debug, Clone)]
pub struct Cell {
    /// Position in the matrix (the row of `results.csv`).
    pub index: usize,
    /// Hash of the resolved parameters (32 hex digits).
    pub key: String,
    /// Values of the matrix's parameter columns.
    pub params: Vec<String>,
    /// The resolved, validated scenario.
    pub scenario: Scenario,
    /// Seed of the run.
    pub seed: u64,
}

impl Cell {
    pub(super) fn new(index: usize, params: Vec<String>, scenario: Scenario, seed: u64) -> Self {
        let key = key_of(&scenario, seed);
        Self { index, key, params, scenario, seed }
    }
}

/// The key of `scenario` run with `seed`.
pub fn key_of(scenario: &Scenario, seed: u64) -> String {
    let mut h = Sha256::new();
    h.update(format!("mpquic-matrix-cell key {KEY_FORMAT}\n"));
    // Serialising plain data to JSON cannot fail; an empty string would still be a stable key.
    h.update(serde_json::to_string(scenario).unwrap_or_default());
    h.update(format!("\nseed {seed}\n"));
    h.finalize()[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The headline numbers of one cell, as stored in its record and in `results.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellResult {
    /// The cell's key.
    pub key: String,
    /// Record format.
    pub format: u32,
    /// The code version that made this result ([`code_version`](super::code_version)).
    pub code_version: String,
    /// The workload finished in time.
    pub completed: bool,
    /// Connection start to last byte, s.
    pub completion_time_s: Option<f64>,
    /// Application goodput, Mbit/s.
    pub goodput_mbps: f64,
    /// Response bytes the client application received.
    pub app_bytes_received: u64,
    /// Per path (by name): UDP payload bytes delivered to the client.
    pub bytes_delivered_down: Vec<(String, u64)>,
    /// Per path (by name): goodput of the single-path baseline, Mbit/s.
    pub baseline_goodput_mbps: Vec<(String, f64)>,
    /// Experimental aggregation benefit (spec/papers.md §1.3), with baselines.
    pub eaben: Option<f64>,
    /// The initial path is the one with the best single-path goodput (with baselines).
    pub best_path_first: Option<bool>,
    /// Why the cell failed: a run error, an unfinished workload, or a panic.
    pub error: Option<String>,
}

impl CellResult {
    /// The numbers of a cell's report (one seed: its first run and its baselines).
    pub fn of(key: &str, scenario: &Scenario, report: &Report) -> Self {
        let run = report.runs.first();
        let baseline_goodput_mbps: Vec<(String, f64)> = scenario
            .paths
            .iter()
            .zip(&report.baseline_aggregates)
            .map(|(p, a)| (p.name.clone(), a.goodput_mbps.mean))
            .collect();
        let best_path_first = (!baseline_goodput_mbps.is_empty()).then(|| {
            let first = baseline_goodput_mbps[0].1;
            baseline_goodput_mbps.iter().all(|(_, g)| first >= *g)
        });
        let mut error = run.and_then(|r| r.error.clone());
        if let Some(b) = report.baselines.iter().find(|b| !b.completed) {
            error.get_or_insert_with(|| format!("baseline {}: {}", b.label, b.error.clone().unwrap_or_default()));
        }
        Self {
            key: key.to_owned(),
            format: RECORD_FORMAT,
            code_version: code_version().to_owned(),
            completed: run.is_some_and(|r| r.completed),
            completion_time_s: run.and_then(|r| r.completion_time_s),
            goodput_mbps: run.map_or(0.0, |r| r.goodput_mbps),
            app_bytes_received: run.map_or(0, |r| r.app_bytes_received),
            bytes_delivered_down: run
                .map(|r| r.paths.iter().map(|p| (p.name.clone(), p.bytes_delivered_down)).collect())
                .unwrap_or_default(),
            baseline_goodput_mbps,
            eaben: report.aggregation_benefit,
            best_path_first,
            error,
        }
    }

    /// A cell whose run could not even start, or panicked.
    pub fn failed(key: &str, error: String) -> Self {
        Self {
            key: key.to_owned(),
            format: RECORD_FORMAT,
            code_version: code_version().to_owned(),
            completed: false,
            completion_time_s: None,
            goodput_mbps: 0.0,
            app_bytes_received: 0,
            bytes_delivered_down: Vec::new(),
            baseline_goodput_mbps: Vec::new(),
            eaben: None,
            best_path_first: None,
            error: Some(error),
        }
    }
}
