//! Running a matrix: the cells not yet recorded run on `jobs` threads (each run is one
//! single-threaded, deterministic simulation), each finished cell is recorded in its own file,
//! and all records are merged into `results.csv` in matrix order.
//!
//! A record is `cells/KEY.json`, written to a temporary name, flushed to disk, then renamed: a
//! killed run leaves either a whole record or none (a stray temporary file is ignored and
//! overwritten). On a re-run, a cell whose record exists, parses and carries its key is not run
//! again; anything else is. Records of cells no longer in the matrix stay in `cells/` (they are
//! reused if those exact parameters come back) but never reach `results.csv`.
//!
//! A record made by another code version ([`code_version`]) is stale: its cell runs again and
//! the new record replaces it, unless [`RunSettings::reuse_stale`] says to take it as it is.
//!
//! [`run_cells`] runs a part of the matrix (a task of a Slurm job array, a shard) and records its
//! cells without writing `results.csv`; [`run`] is the whole matrix and its outputs.

use std::collections::BTreeMap;
use std::io::Write;
use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use super::cell::{key_of, Cell, CellResult, RECORD_FORMAT};
use super::report::{groups, results_csv, summary_csv, GroupRow};
use super::version::code_version;
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
    /// Take records made by another code version as they are instead of running their cells
    /// again.
    pub reuse_stale: bool,
}

impl RunSettings {
    /// Settings for a run into `out` on `jobs` threads, without progress bar, re-running stale
    /// records.
    pub fn new(out: impl Into<PathBuf>, jobs: usize) -> Self {
        Self { out: out.into(), jobs, progress: false, reuse_stale: false }
    }
}

/// What [`run_cells`] did.
#[derive(Debug, Clone)]
pub struct CellsOutcome {
    /// The result of each cell of the range, in matrix order.
    pub results: Vec<CellResult>,
    /// Distinct cells run now.
    pub ran: usize,
    /// Cells whose record a previous run left (stale ones included when reused).
    pub reused: usize,
    /// Cells run again because their record was made by another code version.
    pub stale_rerun: usize,
    /// Cells whose record was made by another code version and was reused as asked.
    pub stale_reused: usize,
}

/// What [`run`] did.
#[derive(Debug, Clone)]
pub struct MatrixOutcome {
    /// Every cell's result, in matrix order.
    pub results: Vec<CellResult>,
    /// Distinct cells run now.
    pub ran: usize,
    /// Cells whose record a previous run left (stale ones included when reused).
    pub reused: usize,
    /// Cells run again because their record was made by another code version.
    pub stale_rerun: usize,
    /// Cells whose record was made by another code version and was reused as asked.
    pub stale_reused: usize,
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
///
/// The temporary name is unique to the process and the call, so that processes sharing a folder
/// (tasks of one Slurm job array on a shared file system) never write into each other's.
pub(super) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), MatrixError> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_extension(format!("{}-{n}.partial", std::process::id()));
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

pub(super) fn record_path(out: &Path, key: &str) -> PathBuf {
    out.join("cells").join(format!("{key}.json"))
}

/// The record a previous run left for `key`, if it is whole and is that cell's (made by any
/// code version).
pub(super) fn recorded(out: &Path, key: &str) -> Option<CellResult> {
    let text = std::fs::read_to_string(record_path(out, key)).ok()?;
    let r: CellResult = serde_json::from_str(&text).ok()?;
    (r.key == key && r.format == RECORD_FORMAT).then_some(r)
}

/// What a previous run left for one cell.
#[derive(Debug)]
pub(super) enum Recorded {
    /// A whole record made by `version`.
    Current(CellResult),
    /// A whole record made by another code version.
    Stale(CellResult),
    /// No record, or a broken one.
    Missing,
}

/// The record for `key` in `out`, judged against the code `version` that must have made it.
pub(super) fn lookup(out: &Path, key: &str, version: &str) -> Recorded {
    match recorded(out, key) {
        Some(r) if r.code_version == version => Recorded::Current(r),
        Some(r) => Recorded::Stale(r),
        None => Recorded::Missing,
    }
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
    let out = RunOutput {
        summary: run_once(scenario, seed)?.summary,
        series: Vec::new(),
        qlog_files: Vec::new(),
        datagrams_sent: 0,
    };
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
    let part = run_cells(matrix, settings, 0..matrix.cells.len())?;
    let (results_csv, summary_csv, groups) = write_outputs(matrix, &part.results, &settings.out)?;
    Ok(MatrixOutcome {
        results: part.results,
        ran: part.ran,
        reused: part.reused,
        stale_rerun: part.stale_rerun,
        stale_reused: part.stale_reused,
        results_csv,
        summary_csv,
        groups,
    })
}

/// Writes `results.csv` and `summary.csv` of `results` (every cell's, in matrix order) into
/// `out`; returns their paths and the summary's rows.
pub fn write_outputs(
    matrix: &Matrix,
    results: &[CellResult],
    out: &Path,
) -> Result<(PathBuf, PathBuf, Vec<GroupRow>), MatrixError> {
    std::fs::create_dir_all(out).map_err(io(out))?;
    let results_path = out.join("results.csv");
    write_atomically(&results_path, results_csv(matrix, results).as_bytes())?;
    let rows = groups(matrix, results);
    let summary_path = out.join("summary.csv");
    write_atomically(&summary_path, summary_csv(matrix, &rows).as_bytes())?;
    Ok((results_path, summary_path, rows))
}

/// Runs the cells `range` (matrix indices) of `matrix` that have no current record in
/// `settings.out`, recording each; writes no `results.csv`. Running the same range again runs
/// nothing.
pub fn run_cells(matrix: &Matrix, settings: &RunSettings, range: Range<usize>) -> Result<CellsOutcome, MatrixError> {
    let out = &settings.out;
    let cells_dir = out.join("cells");
    std::fs::create_dir_all(&cells_dir).map_err(io(&cells_dir))?;
    let cells = matrix.cells.get(range.clone()).ok_or_else(|| MatrixError::Invalid {
        origin: matrix.origin.clone(),
        line: None,
        field: "cell range".into(),
        problem: format!("{}..{} is not within the matrix's {} cells", range.start, range.end, matrix.cells.len()),
    })?;
    let version = code_version();

    // One run per distinct key (a CSV may repeat a row); `first` is the cell that runs it.
    let mut first: BTreeMap<&str, &Cell> = BTreeMap::new();
    for c in cells {
        first.entry(c.key.as_str()).or_insert(c);
    }
    let mut done: BTreeMap<String, CellResult> = BTreeMap::new();
    let mut pending: Vec<&Cell> = Vec::new();
    let (mut stale_rerun, mut stale_reused) = (0, 0);
    for c in cells {
        if first.get(c.key.as_str()).is_some_and(|f| f.index == c.index) {
            match lookup(out, &c.key, version) {
                Recorded::Current(r) => {
                    done.insert(c.key.clone(), r);
                }
                Recorded::Stale(r) if settings.reuse_stale => {
                    stale_reused += 1;
                    done.insert(c.key.clone(), r);
                }
                Recorded::Stale(_) => {
                    stale_rerun += 1;
                    pending.push(c);
                }
                Recorded::Missing => pending.push(c),
            }
        }
    }
    let reused = cells.iter().filter(|c| done.contains_key(&c.key)).count();
    let bar = if settings.progress { ProgressBar::new(cells.len() as u64) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} cells, {elapsed} elapsed, eta {eta} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_position(reused as u64);
    // indicatif draws nothing when stderr is not a terminal (CI logs, `2> file`, a pipe): there
    // a plain line every 10 s says how far the matrix is.
    let lines = PlainProgress::new(settings.progress && !std::io::stderr().is_terminal(), cells.len(), reused);

    // Same-key duplicates advance the bar with their first.
    let weight: BTreeMap<&str, u64> = cells.iter().fold(BTreeMap::new(), |mut m, c| {
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
                    let step = weight.get(cell.key.as_str()).copied().unwrap_or(1);
                    bar.inc(step);
                    lines.advance(step, result.error.is_some());
                    if let Ok(mut v) = finished.lock() {
                        v.push(result);
                    }
                }
            });
        }
    });
    bar.finish_and_clear();
    lines.finish();
    if let Some(e) = first_error.into_inner().ok().flatten() {
        return Err(e);
    }
    let ran_now = finished.into_inner().unwrap_or_default();
    let ran = ran_now.len();
    for r in ran_now {
        done.insert(r.key.clone(), r);
    }
    let results: Vec<CellResult> = cells
        .iter()
        .map(|c| {
            done.get(&c.key).cloned().unwrap_or_else(|| CellResult::failed(&c.key, "no result recorded".to_owned()))
        })
        .collect();
    Ok(CellsOutcome { results, ran, reused, stale_rerun, stale_reused })
}

/// Progress as plain stderr lines, at most one every [`PlainProgress::EVERY`], for when no
/// progress bar can be drawn.
struct PlainProgress {
    enabled: bool,
    total: usize,
    /// Cells recorded by an earlier run, done before this one started.
    reused: usize,
    started: Instant,
    /// Cells done, cells failed, and when the last line was printed.
    state: Mutex<(usize, usize, Instant)>,
}

impl PlainProgress {
    const EVERY: Duration = Duration::from_secs(10);

    fn new(enabled: bool, total: usize, reused: usize) -> Self {
        let now = Instant::now();
        if enabled && reused < total {
            eprintln!("{reused}/{total} cells done (reused), running the rest");
        }
        Self { enabled, total, reused, started: now, state: Mutex::new((reused, 0, now)) }
    }

    fn advance(&self, cells: u64, failed: bool) {
        if !self.enabled {
            return;
        }
        let Ok(mut state) = self.state.lock() else { return };
        state.0 += usize::try_from(cells).unwrap_or(usize::MAX);
        state.1 += usize::from(failed);
        if state.2.elapsed() >= Self::EVERY {
            state.2 = Instant::now();
            self.print(state.0, state.1);
        }
    }

    fn finish(&self) {
        if let (true, Ok(state)) = (self.enabled, self.state.lock()) {
            self.print(state.0, state.1);
        }
    }

    fn print(&self, done: usize, failed: usize) {
        let elapsed = self.started.elapsed().as_secs_f64();
        let ran = done.saturating_sub(self.reused);
        let eta = if ran > 0 && done < self.total {
            format!(", about {:.0} s left", elapsed * (self.total - done) as f64 / ran as f64)
        } else {
            String::new()
        };
        let failed = if failed > 0 { format!(", {failed} failed") } else { String::new() };
        eprintln!("{done}/{} cells, {elapsed:.0} s elapsed{eta}{failed}", self.total);
    }
}
