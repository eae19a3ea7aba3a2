//! Experiment matrices: one template scenario swept over values of its fields, over the rows of
//! a CSV table of scenario parameters (such as the CoNEXT'17 WSP scenarios) and over seeds; every
//! combination is a *cell*, one run of the simulator (plus its single-path baselines when the
//! template asks for them). The format is documented for users in `experiments/MATRIX.md`.
//!
//! - [`Matrix::load`] reads and checks a matrix file and resolves every cell to a validated
//!   [`Scenario`] before anything runs; errors name the field and its line.
//! - [`run`](run::run) runs the cells in parallel, records each finished cell in its own file
//!   (keyed by a hash of its full resolved parameters, so a re-run skips it and a changed matrix
//!   cannot reuse a stale one) and merges them into one `results.csv`, in matrix order, so the
//!   file is the same whatever the number of jobs. Each record carries the code version that
//!   made it ([`code_version`]); a record of other code is stale and runs again.
//! - [`run_cells`] runs a part of the matrix ([`parse_cell_range`], [`Shard`]) in another
//!   process or on another machine; [`emit_slurm`] makes a Slurm job array of the matrix and
//!   [`collect`] merges what its tasks (or shards) recorded into the same `results.csv` and
//!   `summary.csv` as a local run.

mod cell;
mod csv;
mod fields;
mod part;
mod report;
mod run;
mod slurm;
mod version;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;
use toml::{Table, Value};

pub use self::cell::{Cell, CellResult};
pub use self::csv::{CsvError, CsvTable};
pub use self::fields::{set as set_field, INITIAL_PATH};
pub use self::part::{parse_cell_range, Shard};
pub use self::report::{results_header, summary_table, GroupRow, GROUP_COLUMNS};
pub use self::run::{run, run_cells, write_outputs, CellsOutcome, MatrixOutcome, RunSettings};
pub use self::slurm::{
    array_spec, collect, emit_slurm, resubmit_command, ClusterError, Collected, EmitSettings, Emitted, Incomplete,
    Manifest, MissingTask, TaskEntry, MANIFEST_FORMAT,
};
pub use self::version::{code_version, git_describe};
use crate::scenario::{line_of, Scenario, ScenarioError};

/// Why a matrix could not be loaded or run.
#[derive(Debug, Error)]
pub enum MatrixError {
    /// A file could not be read or written.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        error: std::io::Error,
    },
    /// The matrix file is not valid TOML, has a key of the wrong type, or an unknown key (the
    /// message names the line and the allowed keys).
    #[error("{origin}: {message}")]
    Parse {
        /// The matrix file.
        origin: String,
        /// toml's message, with line and column.
        message: String,
    },
    /// A value of the matrix file is out of range, inconsistent, or makes a scenario invalid.
    #[error("{origin}{}: field `{field}`: {problem}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Invalid {
        /// The matrix file.
        origin: String,
        /// Line of the field in the matrix file.
        line: Option<usize>,
        /// Where, as a path into the matrix file (`sweep[1].values[0]`).
        field: String,
        /// What is wrong and what is allowed.
        problem: String,
    },
    /// The template scenario is invalid on its own.
    #[error("template: {0}")]
    Template(#[from] ScenarioError),
    /// The parameter table cannot be read, or one of its rows makes a scenario invalid.
    #[error("{file}, {error}")]
    Csv {
        /// The CSV file.
        file: String,
        /// Where and what.
        error: CsvError,
    },
}

/// A matrix file as written (see `experiments/MATRIX.md`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatrixSpec {
    /// Name (letters, digits, `-_.`), used for the default output directory.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// The template scenario file, relative to the matrix file.
    pub template: String,
    /// Seeds; each is a cell of its own. Default: the template's `seed` and `repetitions`.
    #[serde(default)]
    pub seeds: Option<Vec<u64>>,
    /// Rows of a CSV table, each setting fields of the template.
    #[serde(default)]
    pub csv: Option<CsvSpec>,
    /// Fields swept over lists of values (the cells are their Cartesian product).
    #[serde(default)]
    pub sweep: Vec<SweepSpec>,
    /// The grouped summary printed and written after the run.
    #[serde(default)]
    pub report: ReportSpec,
}

/// `[csv]`: where the rows come from and which fields each column sets.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvSpec {
    /// The CSV file, relative to the matrix file.
    pub file: String,
    /// A built-in column mapping: `conext17-wsp`.
    #[serde(default)]
    pub preset: Option<CsvPreset>,
    /// Column name to the fields it sets (added to the preset's, or replacing them).
    #[serde(default)]
    pub columns: BTreeMap<String, ColumnMap>,
    /// Keep only rows whose column holds one of the listed values.
    #[serde(default, rename = "where")]
    pub filter: BTreeMap<String, Vec<Value>>,
    /// Keep only the first N rows (after `where`).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// Built-in CSV column mappings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum CsvPreset {
    /// `shared/data/conext17_wsp_scenarios.csv` (spec/papers.md §1.2): for paths 0 and 1,
    /// `pN_bw_mbps` sets the rate, `pN_owd_ms` the one-way delay, `pN_queue_pkts` the drop-tail
    /// queue in packets and `pN_loss_pct` the random loss, each in both directions.
    #[serde(rename = "conext17-wsp")]
    Conext17Wsp,
}

/// The fields one CSV column sets, and a factor applied to a numeric value first.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnMap {
    /// Field paths into the scenario (`paths[0].up.rate_mbps`).
    pub fields: Vec<String>,
    /// Factor for numeric values (e.g. 0.01 for a percentage into a probability).
    #[serde(default = "one")]
    pub scale: f64,
}

fn one() -> f64 {
    1.0
}

/// `[[sweep]]`: a field and its values, or named variants each setting several fields.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// The field swept (`transport.scheduler`, `workload.bytes`, `initial_path`, ...).
    #[serde(default)]
    pub field: Option<String>,
    /// Its values.
    #[serde(default)]
    pub values: Option<Vec<Value>>,
    /// Column name in the results (default: the field); required with `variants`.
    #[serde(default)]
    pub name: Option<String>,
    /// Alternatives that each set several fields at once.
    #[serde(default)]
    pub variants: Option<Vec<Variant>>,
}

/// One alternative of a variant sweep.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Its value in the results column.
    pub label: String,
    /// Field path to value; empty keeps the template (and CSV row) as they are.
    #[serde(default)]
    pub set: Table,
}

/// `[report]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSpec {
    /// Parameter columns (or `best_path_first`) to group the summary by.
    #[serde(default)]
    pub group_by: Vec<String>,
}

/// A loaded matrix: its settings and every cell, resolved and validated.
#[derive(Debug, Clone)]
pub struct Matrix {
    /// The matrix file (for messages).
    pub origin: String,
    /// The parsed file.
    pub spec: MatrixSpec,
    /// Parameter columns of the results, in order: the CSV's columns, the sweeps, `seed`.
    pub param_columns: Vec<String>,
    /// The template's path names, in its order (the per-path result columns).
    pub path_names: Vec<String>,
    /// Some cell runs single-path baselines (results get their goodputs and EABen).
    pub baselines: bool,
    /// Every cell, in matrix order.
    pub cells: Vec<Cell>,
    /// The template scenario file.
    pub template_file: PathBuf,
    /// The CSV file, with `[csv]`.
    pub csv_file: Option<PathBuf>,
    /// SHA-256 (hex) of what the matrix is made of: the matrix file's content as TOML values
    /// (comments, layout and the paths to its files left out) and the bytes of the template and
    /// the CSV. A copy of the matrix with its files elsewhere has the same hash.
    pub hash: String,
}

/// One CSV row (or the template alone, without `[csv]`): where it is, its values, and the
/// (field, value) pairs it sets.
#[derive(Debug, Clone)]
struct Row {
    origin: Option<(String, usize)>,
    values: Vec<String>,
    sets: Vec<(String, Value)>,
}

/// Result columns a parameter column must not be called.
const RESERVED: [&str; 3] = ["cell", "seed", "best_path_first"];

/// One way a sweep can go: the value written in its column and the (field, value) pairs it sets
/// with where each comes from in the matrix file.
#[derive(Debug, Clone)]
struct Choice {
    label: String,
    sets: Vec<(String, Value)>,
    origin_field: String,
}

fn label_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The fields a CSV cell sets: a number (scaled, an integer stays an integer when unscaled) or
/// the text.
fn csv_value(text: &str, scale: f64) -> Value {
    if scale == 1.0 {
        if let Ok(i) = text.parse::<i64>() {
            return Value::Integer(i);
        }
    }
    match text.parse::<f64>() {
        Ok(x) => Value::Float(x * scale),
        Err(_) => Value::String(text.to_owned()),
    }
}

fn preset_columns(preset: CsvPreset) -> BTreeMap<String, ColumnMap> {
    let mut m = BTreeMap::new();
    match preset {
        CsvPreset::Conext17Wsp => {
            // spec/papers.md §1.1: rate, delay, buffer and random loss apply in both directions.
            for p in 0..2 {
                let both = |leaf: &str| vec![format!("paths[{p}].up.{leaf}"), format!("paths[{p}].down.{leaf}")];
                m.insert(format!("p{p}_bw_mbps"), ColumnMap { fields: both("rate_mbps"), scale: 1.0 });
                m.insert(format!("p{p}_owd_ms"), ColumnMap { fields: both("delay_ms"), scale: 1.0 });
                m.insert(format!("p{p}_queue_pkts"), ColumnMap { fields: both("queue.packets"), scale: 1.0 });
                m.insert(format!("p{p}_loss_pct"), ColumnMap { fields: both("loss"), scale: 0.01 });
            }
        }
    }
    m
}

fn read(path: &Path) -> Result<String, MatrixError> {
    std::fs::read_to_string(path).map_err(|error| MatrixError::Io { path: path.display().to_string(), error })
}

impl Matrix {
    /// Reads a matrix file, its template and CSV (paths relative to the matrix file), and
    /// resolves every cell.
    pub fn load(path: &Path) -> Result<Self, MatrixError> {
        let text = read(path)?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::from_toml(&text, &path.display().to_string(), &base)
    }

    /// Parses matrix text; `origin` names it in errors and `base` is the folder its relative
    /// paths start from.
    pub fn from_toml(text: &str, origin: &str, base: &Path) -> Result<Self, MatrixError> {
        let spec: MatrixSpec = toml::from_str(text)
            .map_err(|e| MatrixError::Parse { origin: origin.to_owned(), message: e.to_string() })?;
        let invalid = |field: &str, problem: String| MatrixError::Invalid {
            origin: origin.to_owned(),
            line: line_of(text, field),
            field: field.to_owned(),
            problem,
        };
        if spec.name.is_empty() || !spec.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            return Err(invalid("name", "must be non-empty and use only letters, digits, '-', '_' and '.'".into()));
        }
        let template_path: PathBuf = base.join(&spec.template);
        let template_text = read(&template_path)?;
        let template = Scenario::from_toml(&template_text, &template_path.display().to_string())?;
        let template_table: Table = toml::from_str(&template_text)
            .map_err(|e| invalid("template", format!("{}: {e}", template_path.display())))?;
        let seeds = match &spec.seeds {
            Some(s) if s.is_empty() => return Err(invalid("seeds", "give at least one seed".into())),
            Some(s) => s.clone(),
            None => (0..u64::from(template.repetitions)).map(|k| template.seed.wrapping_add(k)).collect(),
        };

        // CSV rows: each a list of (field, value) sets, and its cells for the results.
        let mut param_columns = Vec::new();
        let mut rows: Vec<Row> = Vec::new();
        if let Some(c) = &spec.csv {
            let file = base.join(&c.file);
            let csv_name = file.display().to_string();
            let table =
                csv::parse(&read(&file)?).map_err(|error| MatrixError::Csv { file: csv_name.clone(), error })?;
            let mut columns = c.preset.map(preset_columns).unwrap_or_default();
            columns.extend(c.columns.clone());
            for (name, map) in &columns {
                if table.column(name).is_none() {
                    return Err(invalid(
                        &format!("csv.columns.{name}"),
                        format!("{csv_name} has no column `{name}`; its columns: {:?}", table.header),
                    ));
                }
                if map.fields.is_empty() || !map.scale.is_finite() {
                    return Err(invalid(&format!("csv.columns.{name}"), "needs fields and a finite scale".into()));
                }
            }
            for (name, allowed) in &c.filter {
                if table.column(name).is_none() {
                    return Err(invalid(
                        &format!("csv.where.{name}"),
                        format!("{csv_name} has no column `{name}`; its columns: {:?}", table.header),
                    ));
                }
                if allowed.is_empty() {
                    return Err(invalid(&format!("csv.where.{name}"), "list at least one value".into()));
                }
            }
            if c.limit == Some(0) {
                return Err(invalid("csv.limit", "must be at least 1".into()));
            }
            param_columns.extend(table.header.iter().cloned());
            for (line, row) in &table.rows {
                let keep = c.filter.iter().all(|(name, allowed)| {
                    table.column(name).is_some_and(|i| allowed.iter().any(|v| label_of(v) == row[i]))
                });
                if !keep {
                    continue;
                }
                let mut sets = Vec::new();
                for (name, map) in &columns {
                    let Some(i) = table.column(name) else { continue };
                    for f in &map.fields {
                        sets.push((f.clone(), csv_value(&row[i], map.scale)));
                    }
                }
                rows.push(Row { origin: Some((csv_name.clone(), *line)), values: row.clone(), sets });
                if c.limit.is_some_and(|n| rows.len() >= n) {
                    break;
                }
            }
            if rows.is_empty() {
                return Err(invalid("csv.where", format!("no row of {csv_name} is selected")));
            }
        } else {
            rows.push(Row { origin: None, values: Vec::new(), sets: Vec::new() });
        }

        // Sweeps.
        let mut sweeps: Vec<Vec<Choice>> = Vec::new();
        for (i, s) in spec.sweep.iter().enumerate() {
            let at = |k: &str| format!("sweep[{i}].{k}");
            let (column, choices) = match (&s.field, &s.values, &s.variants) {
                (Some(field), Some(values), None) => {
                    if values.is_empty() {
                        return Err(invalid(&at("values"), "list at least one value".into()));
                    }
                    let choices: Vec<Choice> = values
                        .iter()
                        .enumerate()
                        .map(|(j, v)| Choice {
                            label: label_of(v),
                            sets: vec![(field.clone(), v.clone())],
                            origin_field: format!("sweep[{i}].values[{j}]"),
                        })
                        .collect();
                    (s.name.clone().unwrap_or_else(|| field.clone()), choices)
                }
                (None, None, Some(variants)) => {
                    let Some(name) = &s.name else {
                        return Err(invalid(&at("name"), "a sweep of `variants` needs a `name` (its column)".into()));
                    };
                    if variants.is_empty() {
                        return Err(invalid(&at("variants"), "list at least one variant".into()));
                    }
                    let choices: Vec<Choice> = variants
                        .iter()
                        .enumerate()
                        .map(|(j, v)| Choice {
                            label: v.label.clone(),
                            sets: v.set.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                            origin_field: format!("sweep[{i}].variants[{j}]"),
                        })
                        .collect();
                    (name.clone(), choices)
                }
                _ => {
                    return Err(invalid(
                        &format!("sweep[{i}]"),
                        "give either `field` and `values`, or `name` and `variants`".into(),
                    ))
                }
            };
            let labels: BTreeSet<&str> = choices.iter().map(|c: &Choice| c.label.as_str()).collect();
            if labels.len() != choices.len() {
                return Err(invalid(&format!("sweep[{i}]"), "two values or variants have the same label".into()));
            }
            if param_columns.contains(&column) || RESERVED.contains(&column.as_str()) {
                return Err(invalid(
                    &format!("sweep[{i}]"),
                    format!("column `{column}` is already taken (CSV columns, other sweeps, {RESERVED:?}); set `name`"),
                ));
            }
            param_columns.push(column);
            sweeps.push(choices);
        }
        param_columns.push("seed".to_owned());

        // Every combination, sweeps row-major (the first sweep varies slowest), seeds innermost.
        let mut combos: Vec<Vec<usize>> = vec![Vec::new()];
        for choices in &sweeps {
            combos = combos
                .into_iter()
                .flat_map(|c| (0..choices.len()).map(move |k| [c.clone(), vec![k]].concat()))
                .collect();
        }
        let mut cells = Vec::new();
        for Row { origin: row_origin, values: row_values, sets: row_sets } in &rows {
            for combo in &combos {
                let mut t = template_table.clone();
                for (field, value) in row_sets {
                    fields::set(&mut t, field, value.clone()).map_err(|p| row_error(row_origin, field, &p))?;
                }
                let row_table = t.clone();
                let mut params = row_values.clone();
                let chosen: Vec<&Choice> = sweeps.iter().zip(combo).map(|(choices, &k)| &choices[k]).collect();
                for choice in &chosen {
                    apply(&mut t, choice).map_err(|p| invalid(&choice.origin_field, p))?;
                    params.push(choice.label.clone());
                }
                let scenario = match resolve(t) {
                    Ok(s) => s,
                    Err(problem) => {
                        // Blame the first sweep value that is invalid on its own; else the row, or
                        // the combination as a whole.
                        let culprit = chosen.iter().find_map(|choice| {
                            let mut alone = row_table.clone();
                            apply(&mut alone, choice).ok()?;
                            resolve(alone).err().map(|p| (choice, p))
                        });
                        return Err(match (culprit, chosen.last()) {
                            (Some((choice, p)), _) => {
                                invalid(&choice.origin_field, format!("{p}{}", row_note(row_origin)))
                            }
                            (None, Some(last)) if resolve(row_table.clone()).is_ok() => invalid(
                                &last.origin_field,
                                format!(
                                    "the combination {:?}{}: {problem}",
                                    chosen.iter().map(|c| c.label.as_str()).collect::<Vec<_>>(),
                                    row_note(row_origin)
                                ),
                            ),
                            _ => row_error(row_origin, "the row", &problem),
                        });
                    }
                };
                for &seed in &seeds {
                    let mut p = params.clone();
                    p.push(seed.to_string());
                    cells.push(Cell::new(cells.len(), p, scenario.clone(), seed));
                }
            }
        }
        let baselines = cells.iter().any(|c| c.scenario.baselines);
        for (i, g) in spec.report.group_by.iter().enumerate() {
            let known = param_columns.contains(g) || (baselines && g == "best_path_first");
            if !known {
                return Err(invalid(
                    &format!("report.group_by[{i}]"),
                    format!(
                        "`{g}` is not a parameter column; columns: {param_columns:?}{}",
                        if baselines { " or `best_path_first`" } else { "" }
                    ),
                ));
            }
        }
        let path_names = template.paths.iter().map(|p| p.name.clone()).collect();
        let csv_file = spec.csv.as_ref().map(|c| base.join(&c.file));
        let hash = content_hash(text, &template_text, csv_file.as_deref()).map_err(|p| invalid("template", p))?;
        Ok(Self {
            origin: origin.to_owned(),
            spec,
            param_columns,
            path_names,
            baselines,
            cells,
            template_file: template_path,
            csv_file,
            hash,
        })
    }
}

/// [`Matrix::hash`] of a matrix text, its template's text and its CSV file.
fn content_hash(matrix_text: &str, template_text: &str, csv: Option<&Path>) -> Result<String, String> {
    use sha2::{Digest, Sha256};
    let mut table: Table = toml::from_str(matrix_text).map_err(|e| e.to_string())?;
    table.remove("template");
    if let Some(Value::Table(c)) = table.get_mut("csv") {
        c.remove("file");
    }
    let mut h = Sha256::new();
    h.update(b"mpquic-matrix\n");
    h.update(toml::to_string(&table).map_err(|e| e.to_string())?);
    h.update(b"\ntemplate\n");
    h.update(template_text);
    if let Some(file) = csv {
        h.update(b"\ncsv\n");
        h.update(std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn row_note(row: &Option<(String, usize)>) -> String {
    row.as_ref().map(|(file, line)| format!(" with {file} line {line}")).unwrap_or_default()
}

fn row_error(row: &Option<(String, usize)>, field: &str, problem: &str) -> MatrixError {
    match row {
        Some((file, line)) => MatrixError::Csv {
            file: file.clone(),
            error: CsvError { line: *line, problem: format!("{field}: {problem}") },
        },
        None => MatrixError::Parse { origin: "template".into(), message: format!("{field}: {problem}") },
    }
}

/// Applies one sweep choice to a scenario table.
fn apply(t: &mut Table, choice: &Choice) -> Result<(), String> {
    for (field, value) in &choice.sets {
        fields::set(t, field, value.clone()).map_err(|p| format!("`{field}`: {p}"))?;
    }
    Ok(())
}

/// Turns a scenario table into a checked scenario, or says why not.
fn resolve(t: Table) -> Result<Scenario, String> {
    let scenario: Scenario = Value::Table(t).try_into().map_err(|e: toml::de::Error| e.message().to_owned())?;
    scenario.validate().map_err(|e| e.to_string())?;
    Ok(scenario)
}
