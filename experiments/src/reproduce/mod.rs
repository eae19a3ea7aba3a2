//! `mpquic reproduce`: re-runs a paper's claims (`papers/NAME/claims.toml`, see [`claims`]) and
//! checks each against the paper's number and tolerance. Writes `report.md` (a table of claim,
//! paper, ours, tolerance and verdict), `report.json`, and every run's outputs (summary.json,
//! CSV time series, plots) or matrix results under the output directory.
//!
//! Verdicts: PASS (within the paper's tolerance), DIFFERS (outside it, but inside the claim's
//! explained `differs` bound, whose reason the report prints), FAIL (outside both), SKIPPED
//! (needs root here). A paper run fails when a claim FAILs.

pub mod claims;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;
use thiserror::Error;

use crate::matrix::{self, Matrix, RunSettings};
use crate::scenario::{Scenario, Workload};
use crate::{output, real, runner};
pub use claims::{Claim, ClaimsError, Paper};

/// A reproduction could not run (a claim whose run failed is a FAIL, not this).
#[derive(Debug, Error)]
pub enum ReproduceError {
    /// The output directory could not be written.
    #[error("writing {path}: {error}")]
    Io {
        /// The file or directory.
        path: String,
        /// Why.
        error: std::io::Error,
    },
}

/// How to run a paper.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Output directory.
    pub out: PathBuf,
    /// The reduced form of every claim.
    pub quick: bool,
    /// Simulations run at once (real-socket runs go one at a time).
    pub jobs: usize,
    /// Seeds per scenario, overriding the claims' and the scenarios' counts.
    pub seeds: Option<u32>,
    /// A progress bar for matrices; a line per finished run is always printed to stderr.
    pub progress: bool,
}

/// A claim's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    /// Within the paper's tolerance.
    Pass,
    /// Outside the paper's tolerance, inside the explained bound.
    Differs,
    /// Outside both, or the run failed.
    Fail,
    /// Not run here (needs root).
    Skipped,
}

/// One claim's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct ClaimResult {
    /// The claim's id.
    pub id: String,
    /// What is claimed.
    pub text: String,
    /// The paper's value.
    pub paper: Option<f64>,
    /// Our value.
    pub ours: Option<f64>,
    /// The unit of both.
    pub unit: String,
    /// The paper's tolerance, in words.
    pub tolerance: String,
    /// Why that tolerance.
    pub tolerance_reason: String,
    /// The verdict.
    pub verdict: Verdict,
    /// DIFFERS: why; FAIL: what went wrong; SKIPPED: why.
    pub note: Option<String>,
    /// Where the runs behind it are (relative to the output directory).
    pub outputs: Vec<String>,
}

/// A paper's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct PaperReport {
    /// Folder name.
    pub name: String,
    /// Citation.
    pub title: String,
    /// The reduced form was run.
    pub quick: bool,
    /// Wall time of the whole reproduction, s.
    pub wall_s: f64,
    /// `mpquic` version that made it.
    pub version: String,
    /// Every claim.
    pub claims: Vec<ClaimResult>,
    /// Matrix cells taken from an earlier run into the same output directory (their time is not
    /// in `wall_s`).
    pub reused_matrix_cells: usize,
    /// Figures drawn from the matrices (relative to the output directory).
    pub figures: Vec<String>,
}

impl PaperReport {
    /// Claims that failed.
    pub fn failed(&self) -> usize {
        self.claims.iter().filter(|c| c.verdict == Verdict::Fail).count()
    }
}

/// A matrix as run, with its cells' results.
type MatrixRun = (Matrix, Vec<matrix::CellResult>);

/// One scenario run several claims may share: the file and the reduced-form overrides.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct RunKey {
    file: PathBuf,
    repetitions: Option<u32>,
    bytes: Option<u64>,
    real: bool,
}

impl RunKey {
    fn dir_name(&self) -> String {
        let stem = self.file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let mut name = stem;
        if let Some(r) = self.repetitions {
            name.push_str(&format!("-r{r}"));
        }
        if let Some(b) = self.bytes {
            name.push_str(&format!("-{b}B"));
        }
        if self.real {
            name.push_str("-real");
        }
        name
    }
}

/// Why claims that need root cannot run here, if they cannot.
fn root_missing() -> Option<String> {
    real::netns_available().err()
}

/// Runs every claim of `paper` and writes the report files into `settings.out`.
pub fn run(name: &str, paper: &Paper, settings: &Settings) -> Result<PaperReport, ReproduceError> {
    let started = Instant::now();
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |error| ReproduceError::Io { path, error }
    };
    std::fs::create_dir_all(&settings.out).map_err(io(&settings.out))?;
    let no_root = root_missing();
    let runnable = |c: &Claim| !c.needs_root || no_root.is_none();

    // Scenario runs, each once however many claims use it.
    let mut keys: Vec<RunKey> = Vec::new();
    let key_of = |c: &Claim, file: &Path| RunKey {
        file: paper.dir.join(file),
        repetitions: settings.seeds.or(if settings.quick { c.quick.repetitions } else { None }),
        bytes: if settings.quick { c.quick.bytes } else { None },
        real: c.real,
    };
    for c in paper.claims.iter().filter(|c| runnable(c)) {
        for f in [&c.scenario, &c.against].into_iter().flatten() {
            let k = key_of(c, f);
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    let runs = run_scenarios(&keys, settings);

    // Matrices, one after the other (each runs its cells in parallel).
    let mut matrices: BTreeMap<(PathBuf, Option<usize>), Result<MatrixRun, String>> = BTreeMap::new();
    let mut reused_cells = 0usize;
    for c in paper.claims.iter().filter(|c| runnable(c)) {
        let Some(file) = &c.matrix else { continue };
        let stride = if settings.quick { c.quick.stride } else { None };
        let key = (paper.dir.join(file), stride);
        if matrices.contains_key(&key) {
            continue;
        }
        let out = settings.out.join("matrices").join(matrix_dir_name(file, stride));
        eprintln!("matrix {} ...", file.display());
        let result = Matrix::load(&key.0).map_err(|e| e.to_string()).and_then(|mut m| {
            if let Some(s) = stride {
                m.cells = m.cells.into_iter().step_by(s.max(1)).collect();
            }
            let t0 = Instant::now();
            let outcome =
                matrix::run(&m, &RunSettings { progress: settings.progress, ..RunSettings::new(out, settings.jobs) })
                    .map_err(|e| e.to_string())?;
            eprintln!(
                "matrix {}: {} cells ({} run now, {} from an earlier run) in {:.1} s",
                file.display(),
                m.cells.len(),
                outcome.ran,
                outcome.reused,
                t0.elapsed().as_secs_f64()
            );
            reused_cells += outcome.reused;
            Ok((m, outcome.results))
        });
        matrices.insert(key, result);
    }

    let mut results = Vec::new();
    for c in &paper.claims {
        let mut r = ClaimResult {
            id: c.id.clone(),
            text: c.text.clone(),
            paper: c.paper,
            ours: None,
            unit: c.unit.clone(),
            tolerance: c.expect.describe(&c.unit),
            tolerance_reason: c.why.clone(),
            verdict: Verdict::Fail,
            note: None,
            outputs: Vec::new(),
        };
        if !runnable(c) {
            r.verdict = Verdict::Skipped;
            r.note = Some(format!("not run: {}", no_root.clone().unwrap_or_default()));
            results.push(r);
            continue;
        }
        let ours = if let Some(file) = &c.matrix {
            let stride = if settings.quick { c.quick.stride } else { None };
            match &matrices[&(paper.dir.join(file), stride)] {
                Ok((m, cells)) => matrix_share(c, m, cells),
                Err(e) => Err(format!("matrix {}: {e}", file.display())),
            }
        } else {
            let mut value = |file: &PathBuf, path: &str| -> Result<f64, String> {
                let k = key_of(c, file);
                let dir = format!("runs/{}", k.dir_name());
                if !r.outputs.contains(&dir) {
                    r.outputs.push(dir);
                }
                match &runs[&k] {
                    Ok(v) => metric(v, path, c.reduce),
                    Err(e) => Err(format!("{}: {e}", file.display())),
                }
            };
            let main_metric = c.metric.as_deref().unwrap_or("");
            let a = c.scenario.as_ref().map(|f| value(f, main_metric)).transpose();
            let b =
                c.against.as_ref().map(|f| value(f, c.against_metric.as_deref().unwrap_or(main_metric))).transpose();
            match (a, b) {
                (Ok(Some(a)), Ok(None)) => Ok(a),
                (Ok(Some(a)), Ok(Some(b))) => Ok(match c.combine {
                    Some(claims::Combine::ChangePct) => 100.0 * (a - b) / b,
                    Some(claims::Combine::Ratio) => a / b,
                    _ => a - b,
                }),
                (Err(e), _) | (_, Err(e)) => Err(e),
                _ => Err("nothing to measure".into()),
            }
        };
        match ours {
            Ok(v) => {
                r.ours = Some(v);
                if c.expect.holds(v, c.paper) {
                    r.verdict = Verdict::Pass;
                } else if let Some(d) = c.differs.as_ref().filter(|d| d.expect.holds(v, c.paper)) {
                    r.verdict = Verdict::Differs;
                    r.note = Some(format!("{} (holds: {})", d.why, d.expect.describe(&c.unit)));
                } else {
                    r.verdict = Verdict::Fail;
                    r.note = c
                        .differs
                        .as_ref()
                        .map(|d| format!("outside the explained bound too ({})", d.expect.describe(&c.unit)));
                }
            }
            Err(e) => r.note = Some(e),
        }
        results.push(r);
    }
    let figures = matrix_figures(paper, settings, &matrices);
    let report = PaperReport {
        name: name.to_owned(),
        title: paper.title.clone(),
        quick: settings.quick,
        wall_s: started.elapsed().as_secs_f64(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        claims: results,
        reused_matrix_cells: reused_cells,
        figures: figures
            .iter()
            .map(|f| f.strip_prefix(&format!("{}/", settings.out.display())).unwrap_or(f).to_owned())
            .collect(),
    };
    let json = settings.out.join("report.json");
    let text = serde_json::to_string_pretty(&report)
        .map_err(|e| ReproduceError::Io { path: json.display().to_string(), error: std::io::Error::other(e) })?;
    std::fs::write(&json, text + "\n").map_err(io(&json))?;
    let md = settings.out.join("report.md");
    std::fs::write(&md, markdown(&report)).map_err(io(&md))?;
    Ok(report)
}

/// Runs every scenario key, `jobs` simulations at once (real-socket runs one at a time, after
/// them), each into `out/runs/<key>/`; the reports as JSON.
fn run_scenarios(keys: &[RunKey], settings: &Settings) -> BTreeMap<RunKey, Result<Value, String>> {
    let results = Mutex::new(BTreeMap::new());
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let (sim, real): (Vec<&RunKey>, Vec<&RunKey>) = keys.iter().partition(|k| !k.real);
    let total = keys.len();
    let work = |list: &[&RunKey], next: &AtomicUsize| loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(k) = list.get(i) else { return };
        let t0 = Instant::now();
        let r = run_one(k, &settings.out.join("runs").join(k.dir_name()));
        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
        eprintln!(
            "[{n}/{total}] {} {} in {:.1} s",
            k.file.display(),
            if r.is_ok() { "done" } else { "FAILED" },
            t0.elapsed().as_secs_f64()
        );
        results.lock().unwrap_or_else(|p| p.into_inner()).insert((*k).clone(), r);
    };
    std::thread::scope(|s| {
        for _ in 0..settings.jobs.max(1).min(sim.len().max(1)) {
            s.spawn(|| work(&sim, &next));
        }
    });
    let next_real = AtomicUsize::new(0);
    work(&real, &next_real);
    results.into_inner().unwrap_or_else(|p| p.into_inner())
}

fn run_one(k: &RunKey, out: &Path) -> Result<Value, String> {
    let mut scenario = Scenario::load(&k.file).map_err(|e| e.to_string())?;
    if let Some(b) = k.bytes {
        match &mut scenario.workload {
            Workload::Bulk { bytes } | Workload::Files { bytes, .. } => *bytes = b,
            _ => return Err("quick.bytes needs a `bulk` or `files` workload".into()),
        }
    }
    scenario.validate().map_err(|e| e.to_string())?;
    let options = runner::RunOptions { seed: None, repetitions: k.repetitions, progress: None, qlog: None };
    let report = if k.real {
        real::run_scenario(&scenario, &options, real::Topology::Netns).map_err(|e| format!("{e:#}"))?
    } else {
        runner::run_scenario(&scenario, &options).map_err(|e| format!("{e:#}"))?
    };
    output::prepare(out).map_err(|e| e.to_string())?;
    output::write_all(out, &report).map_err(|e| e.to_string())?;
    serde_json::to_value(&report).map_err(|e| e.to_string())
}

/// The numbers at a dotted path of summary.json (arrays on the way are walked), reduced.
fn metric(v: &Value, path: &str, reduce: claims::Reduce) -> Result<f64, String> {
    let mut current = vec![v];
    for part in path.split('.') {
        let mut next = Vec::new();
        for c in current {
            let items: Vec<&Value> = match c {
                Value::Array(a) => a.iter().collect(),
                other => vec![other],
            };
            // `name[key=value]`: only the elements of the array `name` whose `key` is `value`
            // (e.g. `comparisons[protocol=mptcp]`).
            let (name, select) = match part.split_once('[') {
                Some((name, rest)) => {
                    let sel = rest.strip_suffix(']').and_then(|r| r.split_once('='));
                    let Some(sel) = sel else { return Err(format!("`{part}`: write a selector as name[key=value]")) };
                    (name, Some(sel))
                }
                None => (part, None),
            };
            for item in items {
                let Some(x) = item.get(name) else {
                    return Err(format!("summary.json has no `{name}` (in `{path}`)"));
                };
                match (select, x) {
                    (None, x) => next.push(x),
                    (Some((key, value)), Value::Array(elements)) => {
                        let before = next.len();
                        next.extend(elements.iter().filter(|e| {
                            e.get(key).is_some_and(|k| match k {
                                Value::String(s) => s == value,
                                // Numbers and booleans compare as JSON: `seed=1`, `completed=true`.
                                other => serde_json::from_str::<Value>(value).is_ok_and(|v| v == *other),
                            })
                        }));
                        if next.len() == before {
                            return Err(format!("no element of `{name}` has {key} = {value} (in `{path}`)"));
                        }
                    }
                    (Some(_), _) => return Err(format!("`{name}` is not an array (in `{path}`)")),
                }
            }
        }
        current = next;
    }
    let mut values: Vec<f64> = Vec::new();
    for c in current {
        match c {
            Value::Array(a) => values.extend(a.iter().filter_map(Value::as_f64)),
            Value::Null => return Err(format!("`{path}` is null (a run did not complete?)")),
            other => values.push(other.as_f64().ok_or_else(|| format!("`{path}` is not a number: {other}"))?),
        }
    }
    if values.is_empty() {
        return Err(format!("`{path}` holds no numbers"));
    }
    values.sort_by(f64::total_cmp);
    Ok(match reduce {
        claims::Reduce::Mean => values.iter().sum::<f64>() / values.len() as f64,
        claims::Reduce::Median => values[values.len() / 2],
        claims::Reduce::Max => values[values.len() - 1],
        claims::Reduce::Min => values[0],
    })
}

/// The `share_where` column's value of every cell of the matrix matching `filter` (`None` where
/// a cell has none, e.g. no EABen without baselines).
fn matrix_values(c: &Claim, m: &Matrix, cells: &[matrix::CellResult]) -> Result<Vec<Option<f64>>, String> {
    let cond = c.share_where.as_ref().ok_or("no share_where")?;
    let mut columns = Vec::new();
    for (col, want) in &c.filter {
        if col == "best_path_first" {
            columns.push((None, want.clone()));
        } else {
            let i = m.param_columns.iter().position(|p| p == col).ok_or_else(|| {
                format!("filter column {col:?} is not a parameter column ({})", m.param_columns.join(", "))
            })?;
            columns.push((Some(i), want.clone()));
        }
    }
    let mut values = Vec::new();
    for (cell, result) in m.cells.iter().zip(cells) {
        let keep = columns.iter().all(|(i, want)| match i {
            Some(i) => cell.params.get(*i) == Some(want),
            None => result.best_path_first.map(|b| b.to_string()).as_ref() == Some(want),
        });
        if !keep {
            continue;
        }
        values.push(match cond.column.as_str() {
            "eaben" => result.eaben,
            "goodput_mbps" => Some(result.goodput_mbps),
            "completion_time_s" => result.completion_time_s,
            other => return Err(format!("share_where column {other:?}: use eaben, goodput_mbps or completion_time_s")),
        });
    }
    if values.is_empty() {
        return Err("no cell matches the filter".into());
    }
    Ok(values)
}

/// The share (%) of the matrix's cells matching `filter` for which `share_where` holds.
fn matrix_share(c: &Claim, m: &Matrix, cells: &[matrix::CellResult]) -> Result<f64, String> {
    let cond = c.share_where.as_ref().ok_or("no share_where")?;
    let values = matrix_values(c, m, cells)?;
    let holding = values
        .iter()
        .flatten()
        .filter(|v| cond.above.is_none_or(|a| **v > a) && cond.below.is_none_or(|b| **v < b))
        .count();
    Ok(100.0 * holding as f64 / values.len() as f64)
}

/// For each matrix: the CDF of its claims' cell values (one curve per claim, e.g. EABen per
/// WSP class: the paper's Fig. 5.5-5.12), as `<column>_cdf.svg/.png` in the matrix's folder.
fn matrix_figures(
    paper: &Paper,
    settings: &Settings,
    matrices: &BTreeMap<(PathBuf, Option<usize>), Result<MatrixRun, String>>,
) -> Vec<String> {
    let mut written = Vec::new();
    for ((file, stride), run) in matrices {
        let Ok((m, cells)) = run else { continue };
        let mut by_column: BTreeMap<String, Vec<(String, Vec<f64>)>> = BTreeMap::new();
        for c in &paper.claims {
            let same = c.matrix.as_ref().is_some_and(|f| paper.dir.join(f) == *file)
                && (if settings.quick { c.quick.stride } else { None }) == *stride;
            let (true, Some(cond)) = (same, &c.share_where) else { continue };
            if let Ok(values) = matrix_values(c, m, cells) {
                by_column
                    .entry(cond.column.clone())
                    .or_default()
                    .push((c.id.clone(), values.into_iter().flatten().collect()));
            }
        }
        let dir = settings.out.join("matrices").join(matrix_dir_name(file, *stride));
        for (column, curves) in by_column {
            let title = format!("{}: CDF of {column} per claim", m.spec.name);
            match output::plot_cdf(&dir, &format!("{column}_cdf"), &title, &column, &curves) {
                Ok(files) => written.extend(files.iter().map(|f| f.display().to_string())),
                Err(e) => eprintln!("plotting the {column} CDF: {e}"),
            }
        }
    }
    written
}

/// The folder of a matrix's run under `out/matrices/`.
fn matrix_dir_name(file: &Path, stride: Option<usize>) -> String {
    format!(
        "{}{}",
        file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
        stride.map_or_else(String::new, |s| format!("-every{s}"))
    )
}

fn number(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(x) if x.abs() >= 100.0 => format!("{x:.0}"),
        Some(x) if x.abs() >= 10.0 => format!("{x:.1}"),
        Some(x) => format!("{x:.3}"),
    }
}

/// The report as a Markdown table with notes.
pub fn markdown(r: &PaperReport) -> String {
    let reused = if r.reused_matrix_cells > 0 {
        format!(" ({} matrix cells taken from an earlier run into the same folder)", r.reused_matrix_cells)
    } else {
        String::new()
    };
    let mut s = format!(
        "# {}: {}\n\n{} run, {:.1} s of wall time{reused}, mpquic {}.\n\n",
        r.name,
        r.title,
        if r.quick { "Quick (reduced)" } else { "Full" },
        r.wall_s,
        r.version
    );
    s.push_str("| claim | paper | ours | tolerance | verdict |\n|---|---|---|---|---|\n");
    for c in &r.claims {
        let unit = if c.unit.is_empty() { String::new() } else { format!(" {}", c.unit) };
        s.push_str(&format!(
            "| {}: {} | {}{} | {}{} | {} | {} |\n",
            c.id,
            c.text,
            number(c.paper),
            if c.paper.is_some() { unit.as_str() } else { "" },
            number(c.ours),
            if c.ours.is_some() { unit.as_str() } else { "" },
            c.tolerance,
            serde_json::to_value(c.verdict).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
        ));
    }
    if !r.figures.is_empty() {
        s.push_str("\nFigures: ");
        s.push_str(&r.figures.iter().map(|f| format!("[{f}]({f})")).collect::<Vec<_>>().join(", "));
        s.push('\n');
    }
    s.push_str("\n## Notes\n\n");
    for c in &r.claims {
        s.push_str(&format!("- **{}**: tolerance: {}", c.id, c.tolerance_reason));
        if let Some(n) = &c.note {
            s.push_str(&format!(" — {}", n));
        }
        if !c.outputs.is_empty() {
            s.push_str(&format!(" (outputs: {})", c.outputs.join(", ")));
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_walk_arrays_and_reduce() {
        let v: Value = serde_json::json!({
            "aggregation_benefit": 0.8,
            "runs": [{"gap": 10.0}, {"gap": 30.0}, {"gap": 20.0}],
            "aggregate": {"t": {"mean": 2.5}},
            "none": null
        });
        assert_eq!(metric(&v, "aggregation_benefit", claims::Reduce::Mean).unwrap(), 0.8);
        assert_eq!(metric(&v, "runs.gap", claims::Reduce::Mean).unwrap(), 20.0);
        assert_eq!(metric(&v, "runs.gap", claims::Reduce::Max).unwrap(), 30.0);
        assert_eq!(metric(&v, "runs.gap", claims::Reduce::Min).unwrap(), 10.0);
        assert_eq!(metric(&v, "aggregate.t.mean", claims::Reduce::Median).unwrap(), 2.5);
        assert!(metric(&v, "runs.missing", claims::Reduce::Mean).unwrap_err().contains("missing"));
        assert!(metric(&v, "none", claims::Reduce::Mean).unwrap_err().contains("null"));
        let c: Value = serde_json::json!({"comparisons": [
            {"protocol": "mpquic", "t": 9.0}, {"protocol": "mptcp", "t": 11.6}, {"protocol": "tcp", "t": 20.0}
        ]});
        assert_eq!(metric(&c, "comparisons[protocol=mptcp].t", claims::Reduce::Mean).unwrap(), 11.6);
        assert!(metric(&c, "comparisons[protocol=quic].t", claims::Reduce::Mean).unwrap_err().contains("no element"));
        assert!(metric(&c, "comparisons[protocol].t", claims::Reduce::Mean).unwrap_err().contains("name[key=value]"));
    }
}
