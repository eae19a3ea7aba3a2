//! `claims.toml`: what a paper claims, how we measure it, and how close we must come.
//!
//! ```toml
//! title = "De Coninck & Bonaventure, Multipath QUIC: Design and Evaluation, CoNEXT 2017"
//!
//! [[claim]]
//! id = "handover-delay"
//! text = "After the initial path fails, the longest application delay"
//! paper = 288.0                      # the paper's number, in `unit`
//! unit = "ms"
//! scenario = "handover.toml"         # relative to the paper's folder
//! metric = "runs.longest_delivery_gap_ms"   # a path into summary.json; arrays are reduced
//! reduce = "max"
//! expect = { within = 150.0 }        # |ours - paper| <= 150
//! why = "the reason for this tolerance"
//! differs = { expect = { at_most = 750.0 }, why = "what differs and why" }
//! quick = { repetitions = 1 }
//! ```
//!
//! A claim measures either one scenario (`metric` reduced over its runs), a scenario `against`
//! another (`combine` = `change_pct`, `ratio` or `difference` of the two values), or a matrix
//! (`matrix`: the share, in %, of its cells where `share_where` holds, among those matching
//! `filter`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A paper folder's `claims.toml` could not be used.
#[derive(Debug, Error)]
pub enum ClaimsError {
    /// Reading the file failed.
    #[error("reading {path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        error: std::io::Error,
    },
    /// Not valid TOML, or an unknown or missing key.
    #[error("{path}: {error}")]
    Toml {
        /// The file.
        path: String,
        /// What the parser said (with the line).
        error: Box<toml::de::Error>,
    },
    /// A claim is inconsistent.
    #[error("{path}: claim {id:?}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// The claim.
        id: String,
        /// What is wrong.
        message: String,
    },
}

/// A paper: its title and claims.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Paper {
    /// Citation of the paper.
    pub title: String,
    /// Where its setup is described (free text, e.g. a section of spec/papers.md).
    #[serde(default)]
    pub setup: String,
    /// The claims.
    #[serde(rename = "claim")]
    pub claims: Vec<Claim>,
    /// The folder holding claims.toml (set when loaded).
    #[serde(skip)]
    pub dir: PathBuf,
}

/// How two measured values combine into ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Combine {
    /// 100 x (scenario - against) / against.
    ChangePct,
    /// scenario / against.
    Ratio,
    /// scenario - against.
    Difference,
}

/// How the values of an array in summary.json become one number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reduce {
    /// The arithmetic mean.
    #[default]
    Mean,
    /// The median.
    Median,
    /// The largest.
    Max,
    /// The smallest.
    Min,
}

/// What a value must satisfy.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// |ours - paper| at most this (absolute, in the claim's unit).
    pub within: Option<f64>,
    /// |ours - paper| at most this % of |paper|.
    pub within_pct: Option<f64>,
    /// ours at least this.
    pub at_least: Option<f64>,
    /// ours at most this.
    pub at_most: Option<f64>,
}

impl Expect {
    /// Whether `ours` satisfies every bound given.
    pub fn holds(&self, ours: f64, paper: Option<f64>) -> bool {
        if !ours.is_finite() {
            return false;
        }
        let p = paper.unwrap_or(f64::NAN);
        self.within.is_none_or(|w| (ours - p).abs() <= w)
            && self.within_pct.is_none_or(|w| (ours - p).abs() <= w / 100.0 * p.abs())
            && self.at_least.is_none_or(|a| ours >= a)
            && self.at_most.is_none_or(|a| ours <= a)
    }

    /// `±15 ms`, `±20%`, `>= 5`, `<= 750`.
    pub fn describe(&self, unit: &str) -> String {
        let mut parts = Vec::new();
        if let Some(w) = self.within {
            parts.push(format!("±{w} {unit}").trim_end().to_string());
        }
        if let Some(w) = self.within_pct {
            parts.push(format!("±{w}%"));
        }
        if let Some(a) = self.at_least {
            parts.push(format!(">= {a} {unit}").trim_end().to_string());
        }
        if let Some(a) = self.at_most {
            parts.push(format!("<= {a} {unit}").trim_end().to_string());
        }
        parts.join(", ")
    }

    fn is_empty(&self) -> bool {
        self.within.is_none() && self.within_pct.is_none() && self.at_least.is_none() && self.at_most.is_none()
    }
}

/// A known, explained difference: when the paper's tolerance is missed but this holds, the
/// verdict is DIFFERS, with `why`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Differs {
    /// What our stack does hold to.
    pub expect: Expect,
    /// Why it differs from the paper.
    pub why: String,
}

/// The reduced form of a claim (`--quick`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Quick {
    /// Repetitions (seeds) of each scenario.
    pub repetitions: Option<u32>,
    /// Size of a `bulk` or `files` workload, bytes.
    pub bytes: Option<u64>,
    /// Matrices: keep every N-th cell.
    pub stride: Option<usize>,
}

/// A matrix claim's condition on a cell: `column` above or below a value.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CellCondition {
    /// `eaben`, `goodput_mbps` or `completion_time_s`.
    pub column: String,
    /// The value must be above this.
    pub above: Option<f64>,
    /// The value must be below this.
    pub below: Option<f64>,
}

/// One claim.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    /// Short name, unique in the file.
    pub id: String,
    /// What is claimed.
    pub text: String,
    /// The paper's value; absent for a qualitative claim (then `expect` has bounds only).
    pub paper: Option<f64>,
    /// Unit of `paper` and of ours.
    #[serde(default)]
    pub unit: String,
    /// The scenario measured (relative to the paper folder).
    pub scenario: Option<PathBuf>,
    /// A second scenario; ours is `combine` of the two.
    pub against: Option<PathBuf>,
    /// How `scenario` and `against` combine.
    pub combine: Option<Combine>,
    /// The metric read from `against` when it is not `metric` (e.g. another protocol's entry of
    /// the same real run's `comparisons`).
    pub against_metric: Option<String>,
    /// Dotted path into summary.json (`aggregate.completion_time_s.mean`,
    /// `runs.longest_delivery_gap_ms`, `aggregation_benefit`).
    pub metric: Option<String>,
    /// How arrays on the way are reduced.
    #[serde(default)]
    pub reduce: Reduce,
    /// A matrix file (relative to the paper folder) instead of a scenario.
    pub matrix: Option<PathBuf>,
    /// Matrix claims: the condition whose share of cells is ours, in %.
    pub share_where: Option<CellCondition>,
    /// Matrix claims: only cells whose parameter columns have these values.
    #[serde(default)]
    pub filter: BTreeMap<String, String>,
    /// The paper's tolerance.
    pub expect: Expect,
    /// Why the tolerance is what it is.
    pub why: String,
    /// A known difference.
    pub differs: Option<Differs>,
    /// The reduced form.
    #[serde(default)]
    pub quick: Quick,
    /// Runs only as root (real mode in network namespaces).
    #[serde(default)]
    pub needs_root: bool,
    /// Runs on real sockets (`mpquic run --real`).
    #[serde(default)]
    pub real: bool,
}

impl Paper {
    /// Loads `dir/claims.toml` and checks every claim.
    pub fn load(dir: &Path) -> Result<Self, ClaimsError> {
        let path = dir.join("claims.toml");
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|error| ClaimsError::Io { path: shown.clone(), error })?;
        let mut paper: Paper =
            toml::from_str(&text).map_err(|error| ClaimsError::Toml { path: shown.clone(), error: Box::new(error) })?;
        paper.dir = dir.to_path_buf();
        let mut ids = std::collections::HashSet::new();
        for c in &paper.claims {
            let bad = |message: String| ClaimsError::Invalid { path: shown.clone(), id: c.id.clone(), message };
            if !ids.insert(c.id.clone()) {
                return Err(bad("the id is used twice".into()));
            }
            match (&c.scenario, &c.matrix) {
                (Some(_), Some(_)) | (None, None) => {
                    return Err(bad("give exactly one of `scenario` and `matrix`".into()))
                }
                (Some(_), None) if c.metric.is_none() => return Err(bad("a scenario claim needs `metric`".into())),
                (None, Some(_)) if c.share_where.is_none() => {
                    return Err(bad("a matrix claim needs `share_where`".into()))
                }
                _ => {}
            }
            if c.against.is_some() != c.combine.is_some() {
                return Err(bad("`against` and `combine` go together".into()));
            }
            if c.against_metric.is_some() && c.against.is_none() {
                return Err(bad("`against_metric` needs `against`".into()));
            }
            if c.expect.is_empty() {
                return Err(bad("`expect` needs at least one bound".into()));
            }
            if c.paper.is_none() && (c.expect.within.is_some() || c.expect.within_pct.is_some()) {
                return Err(bad("`within` bounds need the paper's value (`paper`)".into()));
            }
            if c.why.trim().is_empty() {
                return Err(bad("say `why` the tolerance is what it is".into()));
            }
            for file in [&c.scenario, &c.against, &c.matrix].into_iter().flatten() {
                if !dir.join(file).is_file() {
                    return Err(bad(format!("{} does not exist in {}", file.display(), dir.display())));
                }
            }
        }
        Ok(paper)
    }
}

/// A paper folder's name and its claims (or why they could not be read).
pub type Listed = (String, Result<Paper, ClaimsError>);

/// The papers under `root`: every folder with a `claims.toml`, by name.
pub fn list(root: &Path) -> Result<Vec<Listed>, std::io::Error> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root)? {
        let dir = entry?.path();
        if dir.join("claims.toml").is_file() {
            let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            out.push((name, Paper::load(&dir)));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_hold_or_not() {
        let e = Expect { within: Some(10.0), within_pct: None, at_least: None, at_most: None };
        assert!(e.holds(295.0, Some(288.0)));
        assert!(!e.holds(300.0, Some(288.0)));
        assert!(!e.holds(f64::NAN, Some(288.0)));
        let e = Expect { within: None, within_pct: Some(20.0), at_least: Some(0.0), at_most: None };
        assert!(e.holds(0.9, Some(1.0)) && !e.holds(0.7, Some(1.0)));
        assert_eq!(e.describe("%"), "±20%, >= 0 %");
    }
}
