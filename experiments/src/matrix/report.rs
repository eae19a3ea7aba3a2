//! The outputs of a matrix: `results.csv` (one row per cell: its parameters, then its headline
//! numbers) and the grouped summary (`summary.csv` and the terminal table): per group of cells,
//! how many completed, the median goodput, and — with baselines — the share of cells where
//! multipath beat the best single path (EABen > 0, spec/papers.md §1.3) and the median EABen.
//!
//! Both files say which code made their numbers: `results.csv` per cell, `summary.csv` per group
//! (the distinct code versions of its cells; one, unless stale results were reused).
//!
//! Numbers are written in Rust's shortest round-trip form, and nothing depends on timing or on the
//! number of jobs, so the same matrix gives the same bytes.

use std::collections::BTreeMap;

use super::cell::CellResult;
use super::csv::line;
use super::Matrix;
use crate::metrics::Stat;

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// The header of `results.csv`.
pub fn results_header(m: &Matrix) -> Vec<String> {
    let mut h = vec!["cell".to_owned()];
    h.extend(m.param_columns.iter().cloned());
    h.extend(["completed", "completion_time_s", "goodput_mbps", "app_bytes_received"].map(String::from));
    h.extend(m.path_names.iter().map(|p| format!("bytes_delivered_down_{p}")));
    if m.baselines {
        h.extend(m.path_names.iter().map(|p| format!("baseline_goodput_mbps_{p}")));
        h.extend(["eaben", "best_path_first"].map(String::from));
    }
    h.push("code_version".to_owned());
    h.push("error".to_owned());
    h
}

/// The whole `results.csv`: `results` in matrix order.
pub fn results_csv(m: &Matrix, results: &[CellResult]) -> String {
    let mut text = line(&results_header(m));
    for (cell, r) in m.cells.iter().zip(results) {
        let by_name = |v: &[(String, String)], p: &str| v.iter().find(|(n, _)| n == p).map(|(_, x)| x.clone());
        let delivered: Vec<(String, String)> =
            r.bytes_delivered_down.iter().map(|(n, b)| (n.clone(), b.to_string())).collect();
        let baseline: Vec<(String, String)> =
            r.baseline_goodput_mbps.iter().map(|(n, g)| (n.clone(), g.to_string())).collect();
        let mut row = vec![cell.key.clone()];
        row.extend(cell.params.iter().cloned());
        row.push(r.completed.to_string());
        row.push(opt(r.completion_time_s));
        row.push(r.goodput_mbps.to_string());
        row.push(r.app_bytes_received.to_string());
        row.extend(m.path_names.iter().map(|p| by_name(&delivered, p).unwrap_or_default()));
        if m.baselines {
            row.extend(m.path_names.iter().map(|p| by_name(&baseline, p).unwrap_or_default()));
            row.push(opt(r.eaben));
            row.push(opt(r.best_path_first));
        }
        row.push(r.code_version.clone());
        row.push(r.error.clone().unwrap_or_default());
        text += &line(&row);
    }
    text
}

/// Columns of a summary row after the group's values.
pub const GROUP_COLUMNS: [&str; 7] = [
    "cells",
    "completed",
    "median_goodput_mbps",
    "eaben_cells",
    "eaben_positive_fraction",
    "median_eaben",
    "code_version",
];

/// One group of cells in the summary.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRow {
    /// Values of the `group_by` columns (`all` for the whole matrix).
    pub key: Vec<String>,
    /// Cells in the group.
    pub cells: usize,
    /// Cells whose workload completed.
    pub completed: usize,
    /// Median goodput over the group's cells, Mbit/s.
    pub median_goodput_mbps: f64,
    /// Cells with an aggregation benefit (baselines run and a single path moved data).
    pub eaben_cells: usize,
    /// Share of those with EABen > 0 (multipath better than the best single path).
    pub eaben_positive_fraction: Option<f64>,
    /// Median EABen.
    pub median_eaben: Option<f64>,
    /// The code versions that made the group's results, sorted (one unless stale results were
    /// reused).
    pub code_versions: Vec<String>,
}

fn group_row(key: Vec<String>, members: &[&CellResult]) -> GroupRow {
    let goodput: Vec<f64> = members.iter().map(|r| r.goodput_mbps).collect();
    let eaben: Vec<f64> = members.iter().filter_map(|r| r.eaben).collect();
    let positive = eaben.iter().filter(|e| **e > 0.0).count();
    GroupRow {
        key,
        cells: members.len(),
        completed: members.iter().filter(|r| r.completed).count(),
        median_goodput_mbps: Stat::of(&goodput).median,
        eaben_cells: eaben.len(),
        eaben_positive_fraction: (!eaben.is_empty()).then(|| positive as f64 / eaben.len() as f64),
        median_eaben: (!eaben.is_empty()).then(|| Stat::of(&eaben).median),
        code_versions: members
            .iter()
            .map(|r| r.code_version.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect(),
    }
}

/// The whole matrix first, then one row per distinct combination of the `group_by` values (in
/// sorted order).
pub fn groups(m: &Matrix, results: &[CellResult]) -> Vec<GroupRow> {
    let by = &m.spec.report.group_by;
    let all: Vec<&CellResult> = results.iter().collect();
    let mut rows = vec![group_row(vec!["all".to_owned(); by.len().max(1)], &all)];
    if by.is_empty() {
        return rows;
    }
    let mut buckets: BTreeMap<Vec<String>, Vec<&CellResult>> = BTreeMap::new();
    for (cell, r) in m.cells.iter().zip(results) {
        let key = by
            .iter()
            .map(|g| match m.param_columns.iter().position(|c| c == g) {
                Some(i) => cell.params[i].clone(),
                None => opt(r.best_path_first),
            })
            .collect();
        buckets.entry(key).or_default().push(r);
    }
    rows.extend(buckets.into_iter().map(|(k, v)| group_row(k, &v)));
    rows
}

fn header(m: &Matrix) -> Vec<String> {
    let mut h: Vec<String> =
        if m.spec.report.group_by.is_empty() { vec!["group".to_owned()] } else { m.spec.report.group_by.clone() };
    h.extend(GROUP_COLUMNS.map(String::from));
    h
}

fn cells_of(r: &GroupRow) -> Vec<String> {
    let mut row = r.key.clone();
    row.extend([
        r.cells.to_string(),
        r.completed.to_string(),
        r.median_goodput_mbps.to_string(),
        r.eaben_cells.to_string(),
        opt(r.eaben_positive_fraction),
        opt(r.median_eaben),
        r.code_versions.join(" "),
    ]);
    row
}

/// `summary.csv`.
pub fn summary_csv(m: &Matrix, rows: &[GroupRow]) -> String {
    let mut text = line(&header(m));
    for r in rows {
        text += &line(&cells_of(r));
    }
    text
}

/// The summary as an aligned terminal table (numbers rounded for reading).
pub fn summary_table(m: &Matrix, rows: &[GroupRow]) -> String {
    let round = |r: &GroupRow| {
        let mut c = r.key.clone();
        c.extend([
            r.cells.to_string(),
            r.completed.to_string(),
            format!("{:.2}", r.median_goodput_mbps),
            r.eaben_cells.to_string(),
            r.eaben_positive_fraction.map_or("-".into(), |f| format!("{:.1}%", f * 100.0)),
            r.median_eaben.map_or("-".into(), |e| format!("{e:.3}")),
        ]);
        c
    };
    // The code version is one line under the table, not a column of it.
    let mut head = header(m);
    head.pop();
    let table: Vec<Vec<String>> = std::iter::once(head).chain(rows.iter().map(round)).collect();
    let widths: Vec<usize> =
        (0..table[0].len()).map(|i| table.iter().map(|r| r.get(i).map_or(0, String::len)).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for r in &table {
        let cells: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out += cells.join("  ").trim_end();
        out.push('\n');
    }
    if let Some(all) = rows.first() {
        out += &format!("code version: {}\n", all.code_versions.join(", "));
    }
    out
}
