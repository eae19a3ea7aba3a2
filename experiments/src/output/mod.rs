//! Outputs of a report: `summary.json`, per-path CSV time series, SVG and PNG plots, and the
//! terminal table. Nothing here reads a clock, so the same report gives the same bytes.
//!
//! A directory never looks complete after a failed run: `summary.json` is removed first and
//! written last (to a temporary name, then renamed).

mod csv;
mod plot;
mod table;

use std::path::{Path, PathBuf};

use thiserror::Error;

pub use csv::{comparisons_csv, series_csv};
pub use plot::{plot_cdf, plot_comparison, plot_series, PlotKind};
pub use table::table;

use crate::runner::Report;

/// Writing outputs failed.
#[derive(Debug, Error)]
pub enum OutputError {
    /// File system.
    #[error("writing {path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Plot rendering.
    #[error("drawing {path}: {message}")]
    Plot {
        /// The file.
        path: String,
        /// What plotters said.
        message: String,
    },
    /// JSON encoding.
    #[error("encoding summary.json: {0}")]
    Json(#[from] serde_json::Error),
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> OutputError + '_ {
    move |source| OutputError::Io { path: path.display().to_string(), source }
}

/// Creates `dir` and removes the completion marker (`summary.json`) of an earlier run, before
/// a run writes anything there (qlog traces are written while it goes).
pub fn prepare(dir: &Path) -> Result<(), OutputError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let summary = dir.join("summary.json");
    if summary.exists() {
        std::fs::remove_file(&summary).map_err(io_err(&summary))?;
    }
    Ok(())
}

/// Writes every output of `report` into `dir` (created if needed); returns the files written.
pub fn write_all(dir: &Path, report: &Report) -> Result<Vec<PathBuf>, OutputError> {
    prepare(dir)?;
    let summary = dir.join("summary.json");
    let mut written = Vec::new();
    let ts_dir = dir.join("timeseries");
    let plot_dir = dir.join("plots");
    for d in [&ts_dir, &plot_dir] {
        std::fs::create_dir_all(d).map_err(io_err(d))?;
    }
    for (label, series) in &report.series {
        for s in series {
            let path = ts_dir.join(format!("{label}_{}.csv", s.name));
            std::fs::write(&path, series_csv(s)).map_err(io_err(&path))?;
            written.push(path);
        }
        for kind in PlotKind::ALL {
            written.extend(plot_series(&plot_dir, label, series, kind)?);
        }
    }
    if !report.comparisons.is_empty() {
        let path = dir.join("comparisons.csv");
        std::fs::write(&path, comparisons_csv(&report.comparisons)).map_err(io_err(&path))?;
        written.push(path);
        written.extend(plot_comparison(&plot_dir, &report.comparisons)?);
    }
    let json = serde_json::to_string_pretty(report)? + "\n";
    let tmp = dir.join("summary.json.partial");
    std::fs::write(&tmp, json).map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, &summary).map_err(io_err(&summary))?;
    written.push(summary);
    Ok(written)
}
