//! Running a matrix: the cells not yet recorded run on `jobs` threads (each run is one
//! single-threaded, deterministic simulation), each finished cell is recorded in its own file,
//! and all records are merged into `results.csv` in matrix order.
//!
//! A record is `cells/KEY.json`, written to a temporary name, flushed to disk, then renamed: a
//! killed run leaves either a whole record or none (a stray temporary file is ignored and
//! overwritten). On a re-run, a cell whose record exists, parses and carries its key is not run
//! again; anything else is. Records of cells no longer in the matrix stay in `cells/` (they are
//! reused if those exact parameters come back) but never reach `results.csv`.

use std::collections::BTreeMap;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};

use super::cell::{key_of, Cell, CellResult, RECORD_FORMAT};
use super::report::{groups, results_csv, summary_csv, GroupRow};
use super::{Matrix, MatrixError};
use crate::runner::{run_once, run_scenario_with, Mode, RunError, RunOptions, RunOutput};
use crate::scenario::Scenario;

/// How to run a matrix.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// Output directory: `results.csv`, `summary.csv` and `cells/`.
    pub out: PathBuf,
    /// Cells run at once (at least 1).
    pub jobs: usize,
    /// Draw a progress bar on the terminal (never drawn when stderr is not a terminal).
    pub progress: bool,
}

/// What [`run`] did.
#[derive(Debug, Clone)]
pub struct MatrixOutcome {
    /// Every cell's result, in matrix order.
    pub results: Vec<CellResult>,
    /// Distinct cells run now.
    pub ran: usize,
    /// Cells whose record a previous run left.
    pub reused: usize,
    /// The merged results.
    pub results_csv: PathBuf,
    /// The grouped summary.
    pub summary_csv: PathBuf,
    /// The grouped summary's rows.
    pub groups: Vec<GroupRow>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> MatrixError + '_ {
    move |error| MatrixError::Io { path: path.display().to_string(), error }
}

/// Writes `bytes` to `path` so that `path` holds either its old content or all of `bytes`, on
/// disk: a temporary file, fsync, rename, fsync of the directory.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), MatrixError> {
    let tmp = path.with_extension("partial");
    let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(bytes).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io(path))?;
    if let Some(dir) = path.parent() {
        // Makes the rename itself durable; some file systems refuse to open a directory, and
        // then the rename is as durable as they make it.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

fn record_path(out: &Path, key: &str) -> PathBuf {
    out.join("cells").join(format!("{key}.json"))
}

/// The record a previous run left for `key`, if it is whole and is that cell's.
fn recorded(out: &Path, key: &str) -> Option<CellResult> {
    let text = std::fs::read_to_string(record_path(out, key)).ok()?;
    let r: CellResult = serde_json::from_str(&text).ok()?;
    (r.key == key && r.format == RECORD_FORMAT).then_some(r)
}

/// The runs of this matrix run, by the key of the scenario and seed: the cells of one CSV row
/// with each path first have the same single-path baselines, which run once.
type RunMemo = Mutex<BTreeMap<String, RunOutput>>;

/// A run, from the memo or run now (two threads may both run a missing one: the same
/// deterministic result, stored twice).
fn memoized(memo: &RunMemo, scenario: &Scenario, seed: u64) -> Result<RunOutput, RunError> {
    let key = key_of(scenario, seed);
    if let Some(out) = memo.lock().ok().and_then(|m| m.get(&key).cloned()) {
        return Ok(out);
    }
    // A matrix keeps no time series: the memo holds summaries only.
    let out = RunOutput { summary: run_once(scenario, seed)?.summary, series: Vec::new(), qlog_files: Vec::new() };
    if let Ok(mut m) = memo.lock() {
        m.insert(key, out.clone());
    }
    Ok(out)
}

/// Runs one cell; a panic in the simulation is the cell's error, not the matrix's end.
fn run_cell(cell: &Cell, memo: &RunMemo) -> CellResult {
    let options = RunOptions { seed: Some(cell.seed), repetitions: Some(1), progress: None, qlog: None };
    let run = |s: &Scenario, seed: u64| memoized(memo, s, seed);
    match catch_unwind(AssertUnwindSafe(|| run_scenario_with(&cell.scenario, &options, Mode::Simulated, run))) {
        Ok(Ok(report)) => CellResult::of(&cell.key, &cell.scenario, &report),
        Ok(Err(e)) => CellResult::failed(&cell.key, format!("run error: {e}")),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            CellResult::failed(&cell.key, format!("panicked: {what}"))
        }
    }
}

/// Runs the cells of `matrix` that have no record in `settings.out` yet, then writes
/// `results.csv` and `summary.csv` there.
pub fn run(matrix: &Matrix, settings: &RunSettings) -> Result<MatrixOutcome, MatrixError> {
    let out = &settings.out;
    let cells_dir = out.join("cells");
    std::fs::create_dir_all(&cells_dir).map_err(io(&cells_dir))?;

    // One run per distinct key (a CSV may repeat a row); `first` is the cell that runs it.
    let mut first: BTreeMap<&str, &Cell> = BTreeMap::new();
    for c in &matrix.cells {
        first.entry(c.key.as_str()).or_insert(c);
    }
    let mut done: BTreeMap<String, CellResult> = BTreeMap::new();
    let mut pending: Vec<&Cell> = Vec::new();
    for c in &matrix.cells {
        if first.get(c.key.as_str()).is_some_and(|f| f.index == c.index) {
            match recorded(out, &c.key) {
                Some(r) => {
                    done.insert(c.key.clone(), r);
                }
                None => pending.push(c),
            }
        }
    }
    let reused = matrix.cells.iter().filter(|c| done.contains_key(&c.key)).count();
    let bar = if settings.progress { ProgressBar::new(matrix.cells.len() as u64) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} cells, {elapsed} elapsed, eta {eta} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_position(reused as u64);

    // Same-key duplicates advance the bar with their first.
    let weight: BTreeMap<&str, u64> = matrix.cells.iter().fold(BTreeMap::new(), |mut m, c| {
        *m.entry(c.key.as_str()).or_insert(0) += 1;
        m
    });
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let finished: Mutex<Vec<CellResult>> = Mutex::new(Vec::new());
    let first_error: Mutex<Option<MatrixError>> = Mutex::new(None);
    let memo = RunMemo::default();
    let jobs = settings.jobs.max(1).min(pending.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                while !failed.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(cell) = pending.get(i) else { break };
                    let result = run_cell(cell, &memo);
                    let bytes = serde_json::to_vec_pretty(&result).unwrap_or_default();
                    if let Err(e) = write_atomically(&record_path(out, &cell.key), &bytes) {
                        failed.store(true, Ordering::Relaxed);
                        if let Ok(mut slot) = first_error.lock() {
                            slot.get_or_insert(e);
                        }
                        break;
                    }
                    if result.error.is_some() {
                        bar.set_message(format!("(last failure: cell {})", cell.index));
                    }
                    bar.inc(weight.get(cell.key.as_str()).copied().unwrap_or(1));
                    if let Ok(mut v) = finished.lock() {
                        v.push(result);
                    }
                }
            });
        }
    });
    bar.finish_and_clear();
    if let Some(e) = first_error.into_inner().ok().flatten() {
        return Err(e);
    }
    let ran_now = finished.into_inner().unwrap_or_default();
    let ran = ran_now.len();
    for r in ran_now {
        done.insert(r.key.clone(), r);
    }
    let results: Vec<CellResult> = matrix
        .cells
        .iter()
        .map(|c| {
            done.get(&c.key).cloned().unwrap_or_else(|| CellResult::failed(&c.key, "no result recorded".to_owned()))
        })
        .collect();
    let results_path = out.join("results.csv");
    write_atomically(&results_path, results_csv(matrix, &results).as_bytes())?;
    let rows = groups(matrix, &results);
    let summary_path = out.join("summary.csv");
    write_atomically(&summary_path, summary_csv(matrix, &rows).as_bytes())?;
    Ok(MatrixOutcome { results, ran, reused, results_csv: results_path, summary_csv: summary_path, groups: rows })
}
