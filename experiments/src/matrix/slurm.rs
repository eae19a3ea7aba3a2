//! A matrix beyond one machine: a Slurm job array ([`emit_slurm`]), and the collection of what
//! its tasks, or shards run anywhere, recorded ([`collect`]).
//!
//! `emit_slurm` makes a folder that holds everything the tasks need, so that it can sit on a
//! cluster's shared file system and be submitted as it is:
//!
//! - `job.sbatch`: the job array, one task per [`TaskEntry`]; each task runs its exact command
//!   (a `case` on `SLURM_ARRAY_TASK_ID`), its output and errors in `logs/task-ID.out|err`;
//! - `manifest.json` ([`Manifest`]): the matrix hash, every cell key, the code version and each
//!   task's command;
//! - `matrix/`: a copy of the matrix file and of the template and CSV it refers to (the copy's
//!   paths point at the copies beside it);
//! - `bin/mpquic`: a copy of the binary that emitted the job, so the tasks run the same code
//!   version whatever is rebuilt meanwhile;
//! - `run/`: where the tasks record their cells (`run/cells/KEY.json`), as a local run does.
//!
//! A task is `mpquic matrix --cell-range A..B`: it skips every cell already recorded, so a task
//! run twice, or re-submitted after a failure, does only what is missing. `collect` checks that
//! the matrix is the one the manifest was made for, names the cells without a record (with the
//! command that re-submits their tasks), and writes `results.csv` and `summary.csv` exactly as a
//! local run of the same matrix by the same code does.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;
use toml::{Table, Value};

use super::cell::CellResult;
use super::report::GroupRow;
use super::run::{lookup, write_atomically, write_outputs, Recorded};
use super::version::{code_version, git_describe};
use super::{Matrix, MatrixError};

/// Version of `manifest.json`.
pub const MANIFEST_FORMAT: u32 = 1;

/// Slurm's default `MaxArraySize` is 1001: array indices 0..=1000.
const DEFAULT_MAX_TASKS: usize = 1000;

/// `manifest.json` of an emitted job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`].
    pub format: u32,
    /// The matrix's `name`.
    pub matrix: String,
    /// The matrix file the job was emitted from.
    pub source: String,
    /// The copy the tasks run, relative to the job folder.
    pub matrix_file: String,
    /// [`Matrix::hash`].
    pub matrix_hash: String,
    /// The code version of the binary the tasks run ([`code_version`]).
    pub code_version: String,
    /// `git describe` of that binary's build (empty without git).
    pub git_describe: String,
    /// The binary the tasks run, relative to the job folder.
    pub binary: String,
    /// The folder the tasks record cells in (`run/cells/KEY.json`), relative to the job folder.
    pub records: String,
    /// Cells per task (the last task may have fewer).
    pub cells_per_task: usize,
    /// Every cell's key, in matrix order.
    pub cells: Vec<String>,
    /// Every task of the array.
    pub tasks: Vec<TaskEntry>,
}

/// One task of the job array.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskEntry {
    /// Its `SLURM_ARRAY_TASK_ID`.
    pub task: usize,
    /// Its cells, `[first, end)` in matrix order.
    pub cells: [usize; 2],
    /// The shell command it runs.
    pub command: String,
}

/// Why a job could not be emitted or collected.
#[derive(Debug, Error)]
pub enum ClusterError {
    /// A file could not be read or written.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        error: std::io::Error,
    },
    /// The matrix (or its copy) could not be loaded.
    #[error(transparent)]
    Matrix(#[from] MatrixError),
    /// An option has a value that cannot work.
    #[error("{0}")]
    Option(String),
    /// `manifest.json` is unreadable, of another format, or not for this matrix.
    #[error("{path}: {problem}")]
    Manifest {
        /// The manifest.
        path: String,
        /// What is wrong.
        problem: String,
    },
    /// Some cells have no result yet.
    #[error("{0}")]
    Incomplete(Box<Incomplete>),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ClusterError + '_ {
    move |error| ClusterError::Io { path: path.display().to_string(), error }
}

/// How to emit a job.
#[derive(Debug, Clone)]
pub struct EmitSettings {
    /// The job folder (created; may exist with a job of the same matrix, which is replaced).
    pub dir: PathBuf,
    /// Cells per task; default: one per task up to 1000 tasks, more beyond.
    pub cells_per_task: Option<usize>,
    /// At most this many tasks run at once (`--array=0-N%LIMIT`).
    pub array_limit: Option<usize>,
    /// Extra `#SBATCH` options (`--time=2:00:00`, `--partition=short`, ...).
    pub sbatch_options: Vec<String>,
    /// The `mpquic` binary the tasks run (copied into the folder).
    pub binary: PathBuf,
}

/// What [`emit_slurm`] wrote.
#[derive(Debug, Clone)]
pub struct Emitted {
    /// The job folder, absolute.
    pub dir: PathBuf,
    /// `job.sbatch`.
    pub job_script: PathBuf,
    /// The manifest written.
    pub manifest: Manifest,
}

/// Quotes `s` for a POSIX shell.
fn sh(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c)) {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The file name of `path`, or `fallback`.
fn file_name(path: &Path, fallback: &str) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| fallback.to_owned())
}

/// Writes the job folder for `matrix` (loaded from `source`).
pub fn emit_slurm(matrix: &Matrix, source: &Path, settings: &EmitSettings) -> Result<Emitted, ClusterError> {
    let n = matrix.cells.len();
    let per_task = match settings.cells_per_task {
        Some(0) => return Err(ClusterError::Option("--cells-per-task must be at least 1".into())),
        Some(k) => k,
        None => n.div_ceil(DEFAULT_MAX_TASKS).max(1),
    };
    if settings.array_limit == Some(0) {
        return Err(ClusterError::Option("--array-limit must be at least 1".into()));
    }
    for opt in &settings.sbatch_options {
        if !opt.starts_with('-') || opt.contains(['\n', '\r']) {
            return Err(ClusterError::Option(format!(
                "--sbatch-option `{opt}`: give one sbatch option per flag, as on sbatch's command line (`--time=1:00:00`)"
            )));
        }
        let name = opt.split(['=', ' ']).next().unwrap_or_default();
        if ["--array", "-a", "--output", "-o", "--error", "-e"].contains(&name) {
            return Err(ClusterError::Option(format!(
                "--sbatch-option `{opt}`: the job sets {name} itself (use --cells-per-task and --array-limit)"
            )));
        }
    }

    std::fs::create_dir_all(&settings.dir).map_err(io(&settings.dir))?;
    let dir = std::fs::canonicalize(&settings.dir).map_err(io(&settings.dir))?;
    let dir_text = dir.display().to_string();
    // Slurm reads `%` in --output as a pattern and #SBATCH lines cannot quote.
    if dir_text.contains(|c: char| c.is_whitespace() || c == '%') {
        return Err(ClusterError::Option(format!(
            "--emit-slurm {dir_text}: choose a folder whose path has no spaces and no '%' (#SBATCH lines cannot quote)"
        )));
    }
    let manifest_path = dir.join("manifest.json");
    if let Some(old) = read_manifest(&manifest_path)? {
        if old.matrix_hash != matrix.hash {
            return Err(ClusterError::Option(format!(
                "{dir_text} holds a job of another matrix (`{}` from {}); choose another folder",
                old.matrix, old.source
            )));
        }
    } else if std::fs::read_dir(&dir).map_err(io(&dir))?.next().is_some() {
        return Err(ClusterError::Option(format!("{dir_text} is not empty and holds no job; choose an empty folder")));
    }

    // The matrix and its files, beside each other.
    let matrix_dir = dir.join("matrix");
    std::fs::create_dir_all(&matrix_dir).map_err(io(&matrix_dir))?;
    let matrix_name = file_name(source, "matrix.toml");
    let mut template_name = file_name(&matrix.template_file, "template.toml");
    if template_name == matrix_name {
        template_name = format!("template-{template_name}");
    }
    copy(&matrix.template_file, &matrix_dir.join(&template_name))?;
    let text = std::fs::read_to_string(source).map_err(io(source))?;
    let mut table: Table = toml::from_str(&text)
        .map_err(|e| MatrixError::Parse { origin: source.display().to_string(), message: e.to_string() })?;
    table.insert("template".into(), Value::String(template_name.clone()));
    if let Some(csv) = &matrix.csv_file {
        let mut csv_name = file_name(csv, "table.csv");
        if csv_name == matrix_name || csv_name == template_name {
            csv_name = format!("csv-{csv_name}");
        }
        copy(csv, &matrix_dir.join(&csv_name))?;
        if let Some(Value::Table(c)) = table.get_mut("csv") {
            c.insert("file".into(), Value::String(csv_name));
        }
    }
    let body = toml::to_string(&table).map_err(|e| ClusterError::Option(format!("re-writing the matrix: {e}")))?;
    let matrix_copy = matrix_dir.join(&matrix_name);
    let copied = format!(
        "# A copy of {} made by `mpquic matrix --emit-slurm` (comments dropped; `template` and `csv.file`\n\
         # point at the copies beside it).\n{body}",
        source.display()
    );
    write_atomically(&matrix_copy, copied.as_bytes())?;
    let check = Matrix::load(&matrix_copy)?;
    let keys: Vec<&str> = matrix.cells.iter().map(|c| c.key.as_str()).collect();
    if check.hash != matrix.hash || check.cells.iter().map(|c| c.key.as_str()).ne(keys.iter().copied()) {
        return Err(ClusterError::Option(format!(
            "the copy {} does not give the cells of {} (this is a bug in mpquic)",
            matrix_copy.display(),
            source.display()
        )));
    }

    // The binary, so that every task runs the code that emitted the job.
    let bin_dir = dir.join("bin");
    std::fs::create_dir_all(&bin_dir).map_err(io(&bin_dir))?;
    let binary = bin_dir.join("mpquic");
    // Through a temporary name: a running task keeps its (old) executable.
    let tmp = bin_dir.join(format!("mpquic.{}.partial", std::process::id()));
    std::fs::copy(&settings.binary, &tmp).map_err(io(&settings.binary))?;
    std::fs::rename(&tmp, &binary).map_err(io(&binary))?;
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(io(&logs))?;
    let records = dir.join("run");
    std::fs::create_dir_all(records.join("cells")).map_err(io(&records))?;

    let tasks: Vec<TaskEntry> = (0..n.div_ceil(per_task))
        .map(|t| {
            let (a, b) = (t * per_task, ((t + 1) * per_task).min(n));
            let command = format!(
                "{} matrix {} --cell-range {a}..{b} --out {} --jobs \"${{SLURM_CPUS_PER_TASK:-1}}\" --quiet",
                sh(&binary.display().to_string()),
                sh(&matrix_copy.display().to_string()),
                sh(&records.display().to_string()),
            );
            TaskEntry { task: t, cells: [a, b], command }
        })
        .collect();
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        matrix: matrix.spec.name.clone(),
        source: std::fs::canonicalize(source).unwrap_or_else(|_| source.to_path_buf()).display().to_string(),
        matrix_file: format!("matrix/{matrix_name}"),
        matrix_hash: matrix.hash.clone(),
        code_version: code_version().to_owned(),
        git_describe: git_describe().to_owned(),
        binary: "bin/mpquic".into(),
        records: "run".into(),
        cells_per_task: per_task,
        cells: keys.iter().map(|k| k.to_string()).collect(),
        tasks,
    };
    let json = serde_json::to_string_pretty(&manifest).unwrap_or_default() + "\n";
    write_atomically(&manifest_path, json.as_bytes())?;
    let job_script = dir.join("job.sbatch");
    write_atomically(&job_script, job_text(&manifest, &dir, settings).as_bytes())?;
    Ok(Emitted { dir, job_script, manifest })
}

fn copy(from: &Path, to: &Path) -> Result<(), ClusterError> {
    let bytes = std::fs::read(from).map_err(io(from))?;
    write_atomically(to, &bytes)?;
    Ok(())
}

fn job_text(m: &Manifest, dir: &Path, settings: &EmitSettings) -> String {
    let d = dir.display();
    let last = m.tasks.len().saturating_sub(1);
    let limit = settings.array_limit.map(|l| format!("%{l}")).unwrap_or_default();
    let mut s = format!(
        "#!/bin/bash\n\
         # Matrix `{name}` ({cells} cells, {tasks} tasks of up to {per} cells), code version {version},\n\
         # written by `mpquic matrix --emit-slurm`. Submit with `sbatch {d}/job.sbatch`; when the tasks\n\
         # are done: `{d}/bin/mpquic matrix {d}/{file} --collect {d} --out OUT`.\n\
         #SBATCH --job-name=mpquic-{name}\n\
         #SBATCH --array=0-{last}{limit}\n\
         #SBATCH --output={d}/logs/task-%a.out\n\
         #SBATCH --error={d}/logs/task-%a.err\n",
        name = m.matrix,
        cells = m.cells.len(),
        tasks = m.tasks.len(),
        per = m.cells_per_task,
        version = m.code_version,
        file = m.matrix_file,
    );
    for o in &settings.sbatch_options {
        s += &format!("#SBATCH {o}\n");
    }
    s += "set -eu\n# Each task runs the command manifest.json lists for it.\n";
    s += "case \"${SLURM_ARRAY_TASK_ID:?submit this script with sbatch}\" in\n";
    for t in &m.tasks {
        s += &format!("{}) exec {} ;;\n", t.task, t.command);
    }
    s += &format!("*) echo \"no task $SLURM_ARRAY_TASK_ID in this job (0..{last})\" >&2; exit 2 ;;\nesac\n");
    s
}

/// `dir/manifest.json`, if there is one.
fn read_manifest(path: &Path) -> Result<Option<Manifest>, ClusterError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path)(e)),
    };
    let bad = |problem: String| ClusterError::Manifest { path: path.display().to_string(), problem };
    // The format first, so that a manifest of a later mpquic gets a message about that.
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("not a manifest of `mpquic matrix --emit-slurm`: {e}")))?;
    let format = value.get("format").and_then(serde_json::Value::as_u64);
    if format != Some(u64::from(MANIFEST_FORMAT)) {
        return Err(bad(format!(
            "manifest format {format:?}; this mpquic reads format {MANIFEST_FORMAT} (emit the job again with this mpquic)"
        )));
    }
    let m: Manifest = serde_json::from_value(value).map_err(|e| bad(format!("malformed manifest: {e}")))?;
    let tiled = m.tasks.iter().enumerate().all(|(i, t)| {
        let start = if i == 0 { 0 } else { m.tasks[i - 1].cells[1] };
        t.task == i && t.cells[0] == start && t.cells[0] < t.cells[1] && t.cells[1] <= m.cells.len()
    });
    if !tiled || m.tasks.last().map_or(!m.cells.is_empty(), |t| t.cells[1] != m.cells.len()) {
        return Err(bad("malformed manifest: its tasks do not cover its cells in order".into()));
    }
    Ok(Some(m))
}

/// The cells of one task (or range) that have no usable record.
#[derive(Debug, Clone)]
pub struct MissingTask {
    /// The array task (with a manifest), or the range's position among the missing ranges.
    pub task: Option<usize>,
    /// Its cells, `[first, end)`.
    pub cells: [usize; 2],
    /// The indices of its cells without a record (or with a stale one).
    pub missing: Vec<usize>,
    /// How many of those have a record made by another code version.
    pub stale: usize,
    /// The last line of the task's error log, if there is one.
    pub log: Option<(PathBuf, String)>,
}

/// What [`collect`] found missing, and how to complete it.
#[derive(Debug, Clone)]
pub struct Incomplete {
    /// The folder collected.
    pub dir: PathBuf,
    /// All cells of the matrix.
    pub cells: usize,
    /// All tasks of the job (with a manifest).
    pub tasks: Option<usize>,
    /// The tasks or ranges with missing cells.
    pub missing: Vec<MissingTask>,
    /// The code version the records must have.
    pub code_version: String,
    /// The command that completes the matrix.
    pub command: String,
}

impl fmt::Display for Incomplete {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let missing: usize = self.missing.iter().map(|t| t.missing.len()).sum();
        let stale: usize = self.missing.iter().map(|t| t.stale).sum();
        write!(f, "{}: {missing} of {} cells have no result", self.dir.display(), self.cells)?;
        if let Some(tasks) = self.tasks {
            write!(f, " ({} of {tasks} tasks)", self.missing.len())?;
        }
        if stale > 0 {
            write!(
                f,
                "; {stale} of them have a record made by other code (not {}): pass --reuse-stale to use those",
                self.code_version
            )?;
        }
        writeln!(f, ":")?;
        const SHOWN: usize = 20;
        for t in self.missing.iter().take(SHOWN) {
            let which = t.task.map(|k| format!("task {k}: ")).unwrap_or_default();
            let list: Vec<String> = t.missing.iter().take(12).map(usize::to_string).collect();
            let more = if t.missing.len() > 12 { " ..." } else { "" };
            write!(f, "  {which}cells {}..{}, missing {}{more}", t.cells[0], t.cells[1], list.join(" "))?;
            if let Some((path, line)) = &t.log {
                write!(f, "; {}: {line}", path.display())?;
            }
            writeln!(f)?;
        }
        if self.missing.len() > SHOWN {
            writeln!(f, "  ... and {} more", self.missing.len() - SHOWN)?;
        }
        write!(f, "Complete them with (finished cells are skipped):\n  {}", self.command)
    }
}

/// Compresses sorted task numbers into Slurm's `--array` form: `1,3-5,9`.
pub fn array_spec(tasks: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < tasks.len() {
        let mut j = i;
        while j + 1 < tasks.len() && tasks[j + 1] == tasks[j] + 1 {
            j += 1;
        }
        parts.push(if i == j { tasks[i].to_string() } else { format!("{}-{}", tasks[i], tasks[j]) });
        i = j + 1;
    }
    parts.join(",")
}

/// The command that re-submits just `tasks` of the job in `dir`.
pub fn resubmit_command(dir: &Path, tasks: &[usize]) -> String {
    format!("sbatch --array={} {}", array_spec(tasks), sh(&dir.join("job.sbatch").display().to_string()))
}

/// What [`collect`] wrote.
#[derive(Debug, Clone)]
pub struct Collected {
    /// Every cell's result, in matrix order.
    pub results: Vec<CellResult>,
    /// Indices of the cells recorded with an error (they are results: a local run has them too).
    pub failed: Vec<usize>,
    /// Cells whose record was made by other code and was used as asked (`reuse_stale`).
    pub stale_reused: usize,
    /// The manifest checked, for a Slurm job folder.
    pub manifest: Option<Manifest>,
    /// `results.csv`.
    pub results_csv: PathBuf,
    /// `summary.csv`.
    pub summary_csv: PathBuf,
    /// The summary's rows.
    pub groups: Vec<GroupRow>,
}

/// Collects the records in `dir` into `out/results.csv` and `out/summary.csv`.
///
/// `dir` is a job folder of [`emit_slurm`] (its manifest must be of this matrix, and the records
/// of the code version its tasks run), or an output folder of shards or cell ranges
/// (`dir/cells/`, records of this binary's code version). Every cell needs a record; else
/// nothing is written and the error names the missing cells and the command that runs them.
pub fn collect(
    matrix: &Matrix,
    matrix_file: &Path,
    dir: &Path,
    out: &Path,
    reuse_stale: bool,
) -> Result<Collected, ClusterError> {
    // Absolute, for the commands in messages.
    let dir = &std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let manifest_path = dir.join("manifest.json");
    let manifest = read_manifest(&manifest_path)?;
    let keys: Vec<String> = matrix.cells.iter().map(|c| c.key.clone()).collect();
    let (records, version) = match &manifest {
        Some(m) => {
            let bad = |problem: String| ClusterError::Manifest { path: manifest_path.display().to_string(), problem };
            if m.matrix_hash != matrix.hash {
                return Err(bad(format!(
                    "the job is of another matrix, or {} or its files changed since it was emitted \
                     (hash {} there, {} here); collect with the copy the tasks ran: {}",
                    matrix_file.display(),
                    short(&m.matrix_hash),
                    short(&matrix.hash),
                    dir.join(&m.matrix_file).display()
                )));
            }
            if m.cells != keys {
                return Err(bad(format!(
                    "its {} cell keys are not this matrix's {} (the job was emitted by an mpquic that computes \
                     keys differently: {}); emit it again",
                    m.cells.len(),
                    keys.len(),
                    m.code_version
                )));
            }
            (dir.join(&m.records), m.code_version.clone())
        }
        None if dir.join("cells").is_dir() => (dir.to_path_buf(), code_version().to_owned()),
        None => {
            return Err(ClusterError::Option(format!(
                "{}: neither a job folder (manifest.json, from --emit-slurm) nor an output folder with cells/ \
                 (from --shard or --cell-range)",
                dir.display()
            )))
        }
    };

    let mut found: BTreeMap<&str, CellResult> = BTreeMap::new();
    let mut missing_cells: Vec<(usize, bool)> = Vec::new();
    let mut stale_reused = 0;
    for c in &matrix.cells {
        if found.contains_key(c.key.as_str()) {
            continue;
        }
        match lookup(&records, &c.key, &version) {
            Recorded::Current(r) => {
                found.insert(&c.key, r);
            }
            Recorded::Stale(r) if reuse_stale => {
                stale_reused += 1;
                found.insert(&c.key, r);
            }
            Recorded::Stale(_) => missing_cells.push((c.index, true)),
            Recorded::Missing => missing_cells.push((c.index, false)),
        }
    }
    if !missing_cells.is_empty() {
        return Err(ClusterError::Incomplete(Box::new(incomplete(
            matrix,
            matrix_file,
            dir,
            manifest.as_ref(),
            &missing_cells,
            version,
        ))));
    }
    let results: Vec<CellResult> = matrix.cells.iter().filter_map(|c| found.get(c.key.as_str()).cloned()).collect();
    let failed = matrix.cells.iter().zip(&results).filter(|(_, r)| r.error.is_some()).map(|(c, _)| c.index).collect();
    let (results_csv, summary_csv, groups) = write_outputs(matrix, &results, out)?;
    Ok(Collected { results, failed, stale_reused, manifest, results_csv, summary_csv, groups })
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

fn incomplete(
    matrix: &Matrix,
    matrix_file: &Path,
    dir: &Path,
    manifest: Option<&Manifest>,
    missing: &[(usize, bool)],
    code_version: String,
) -> Incomplete {
    // Group the missing cells by task, or into contiguous ranges without a manifest.
    let ranges: Vec<(Option<usize>, [usize; 2])> = match manifest {
        Some(m) => m.tasks.iter().map(|t| (Some(t.task), t.cells)).collect(),
        None => {
            let mut v: Vec<(Option<usize>, [usize; 2])> = Vec::new();
            for &(i, _) in missing {
                match v.last_mut() {
                    Some((_, r)) if r[1] == i => r[1] = i + 1,
                    _ => v.push((None, [i, i + 1])),
                }
            }
            v
        }
    };
    let mut tasks = Vec::new();
    for (task, cells) in ranges {
        let inside: Vec<&(usize, bool)> = missing.iter().filter(|(i, _)| (cells[0]..cells[1]).contains(i)).collect();
        if inside.is_empty() {
            continue;
        }
        let log = task.and_then(|t| {
            let path = dir.join("logs").join(format!("task-{t}.err"));
            let text = std::fs::read_to_string(&path).ok()?;
            let line = text.lines().rev().find(|l| !l.trim().is_empty())?.trim().to_owned();
            Some((path, line))
        });
        tasks.push(MissingTask {
            task,
            cells,
            missing: inside.iter().map(|(i, _)| *i).collect(),
            stale: inside.iter().filter(|(_, s)| *s).count(),
            log,
        });
    }
    let command = match manifest {
        Some(_) => resubmit_command(dir, &tasks.iter().filter_map(|t| t.task).collect::<Vec<_>>()),
        None => {
            let lines: Vec<String> = tasks
                .iter()
                .map(|t| {
                    format!(
                        "mpquic matrix {} --cell-range {}..{} --out {}",
                        sh(&matrix_file.display().to_string()),
                        t.cells[0],
                        t.cells[1],
                        sh(&dir.display().to_string())
                    )
                })
                .collect();
            lines.join("\n  ")
        }
    };
    Incomplete {
        dir: dir.to_path_buf(),
        cells: matrix.cells.len(),
        tasks: manifest.map(|m| m.tasks.len()),
        missing: tasks,
        code_version,
        command,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_specs_compress_runs() {
        assert_eq!(array_spec(&[0]), "0");
        assert_eq!(array_spec(&[1, 3, 4, 5, 9]), "1,3-5,9");
        assert_eq!(array_spec(&[2, 3]), "2-3");
        assert_eq!(resubmit_command(Path::new("/j"), &[4, 7]), "sbatch --array=4,7 /j/job.sbatch");
    }

    #[test]
    fn shell_quoting_keeps_plain_words_and_quotes_the_rest() {
        assert_eq!(sh("/a/b-c.toml"), "/a/b-c.toml");
        assert_eq!(sh("a b"), "'a b'");
        assert_eq!(sh("it's"), "'it'\\''s'");
        assert_eq!(sh(""), "''");
    }
}
