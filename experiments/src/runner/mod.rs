//! Runs scenarios: one run is a client and a server proto [`Endpoint`](mpquic_proto::Endpoint)
//! joined by the simulated [`Network`](crate::sim::Network) in virtual time ([`run_once`]); a
//! report gathers the repetitions of a scenario and, when asked, its single-path baselines and
//! the aggregation benefit ([`run_scenario`]).

mod competing;
mod one;

use bytes::BytesMut;
use mpquic_proto::Transmit;
use serde::Serialize;
use thiserror::Error;

pub(crate) use one::transport_config;
pub use one::{run_once, run_once_with, RunOutput};

use crate::metrics::{aggregation_benefit, RunSummary, Stat};
use crate::qlog::QlogFactory;
use crate::scenario::Scenario;

/// A run could not be set up (a run that fails to transfer is a result, not an error).
#[derive(Debug, Error)]
pub enum RunError {
    /// TLS configuration.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The scenario names a congestion controller that does not exist.
    #[error(transparent)]
    Controller(#[from] mpquic_cc::UnknownController),
    /// The scenario names a scheduler that does not exist.
    #[error(transparent)]
    Scheduler(#[from] mpquic_scheduler::UnknownScheduler),
    /// proto refused to start the connection.
    #[error("starting the connection: {0}")]
    Connect(#[from] mpquic_proto::ConnectError),
    /// A qlog trace could not be written.
    #[error("qlog: {0}")]
    Qlog(String),
    /// The simulation stopped making progress (a bug in a driver or in proto).
    #[error("the simulation made no progress at t = {at_s} s")]
    Stuck {
        /// Virtual time.
        at_s: f64,
    },
}

/// The UDP datagrams of one transmit (several when proto batched segments, as for UDP GSO): one
/// copy out of the send buffer, then each datagram is a view of it.
pub(crate) fn datagrams_of(buf: &[u8], t: &Transmit) -> impl Iterator<Item = BytesMut> {
    let seg = t.segment_size.unwrap_or(t.len).max(1);
    let mut all = BytesMut::from(&buf[..t.len.min(buf.len())]);
    std::iter::from_fn(move || (!all.is_empty()).then(|| all.split_to(seg.min(all.len()))))
}

/// Mean of the repetitions of one scenario variant.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Aggregate {
    /// Scenario name (or baseline label).
    pub label: String,
    /// Runs that completed.
    pub completed: usize,
    /// Runs.
    pub runs: usize,
    /// Goodput over runs, Mbit/s.
    pub goodput_mbps: Stat,
    /// Completion time over completed runs, s.
    pub completion_time_s: Stat,
}

impl Aggregate {
    fn of(label: &str, runs: &[RunSummary]) -> Self {
        let goodput: Vec<f64> = runs.iter().map(|r| r.goodput_mbps).collect();
        let completion: Vec<f64> = runs.iter().filter_map(|r| r.completion_time_s).collect();
        Self {
            label: label.to_owned(),
            completed: runs.iter().filter(|r| r.completed).count(),
            runs: runs.len(),
            goodput_mbps: Stat::of(&goodput),
            completion_time_s: Stat::of(&completion),
        }
    }
}

/// Where a report's runs took place.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The deterministic simulator, in virtual time.
    #[default]
    Simulated,
    /// Real UDP sockets through the user-space link emulator, in real time (`--real`).
    Real,
}

/// Everything `mpquic run` reports for one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Format version of summary.json.
    pub format: u32,
    /// Simulated or real (`"mode": "real"` in summary.json for `--real` runs).
    pub mode: Mode,
    /// Scenario name.
    pub scenario: String,
    /// Scenario description.
    pub description: String,
    /// Congestion controller.
    pub congestion_controller: String,
    /// Scheduler (recorded; see `notes`).
    pub scheduler: String,
    /// Caveats a reader of the numbers must know.
    pub notes: Vec<String>,
    /// Seeds run.
    pub seeds: Vec<u64>,
    /// The scenario's runs, one per seed.
    pub runs: Vec<RunSummary>,
    /// Mean over the runs.
    pub aggregate: Aggregate,
    /// Single-path baseline runs, per path then per seed (empty without `baselines`).
    pub baselines: Vec<RunSummary>,
    /// Mean over seeds of each baseline, per path.
    pub baseline_aggregates: Vec<Aggregate>,
    /// Experimental aggregation benefit of the mean goodputs (spec/papers.md §1.3).
    pub aggregation_benefit: Option<f64>,
    /// The qlog traces of the runs (file names in the qlog directory), in run order, client
    /// and server of each.
    pub qlog_files: Vec<String>,
    /// Real mode with `--netns` and `[compare]`: every protocol's run of each seed over the
    /// same emulated links, ours (`mpquic`) first (empty otherwise).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub comparisons: Vec<crate::metrics::Comparison>,
    /// Per-run time series, same order as `runs` then `baselines` (not serialised: CSV).
    #[serde(skip)]
    pub series: Vec<(String, Vec<crate::metrics::PathSeries>)>,
}

/// Settings of [`run_scenario`] from the command line.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Overrides the scenario's seed.
    pub seed: Option<u64>,
    /// Overrides the scenario's repetition count.
    pub repetitions: Option<u32>,
    /// Called after each run with (done, total).
    pub progress: Option<fn(usize, usize)>,
    /// Write qlog traces of every run's connection.
    pub qlog: Option<QlogOptions>,
}

/// Where and how much to trace.
#[derive(Debug, Clone)]
pub struct QlogOptions {
    /// Directory of the `.sqlog` files (one per run and side:
    /// `<scenario>-seed<N>_<odcid>_<client|server>.sqlog`).
    pub dir: std::path::PathBuf,
    /// Log every packet with its frames (`false`: state changes, metrics, losses and path
    /// events only, a fraction of the size).
    pub packets: bool,
}

impl QlogOptions {
    /// The trace writers of one run of `scenario` with `seed`: files named
    /// `<scenario>-seed<N>_<odcid>_<side>.sqlog`, times since `epoch` (`None`: each
    /// connection's creation).
    pub(crate) fn factory(&self, scenario: &Scenario, seed: u64, epoch: Option<mpquic_proto::Instant>) -> QlogFactory {
        let prefix = format!("{}-seed{seed}_", scenario.name);
        QlogFactory::with_options(&self.dir, epoch, &prefix, &scenario.name, self.packets)
    }
}

/// Once a run's endpoints (and with them the trace writers) are gone: fails the run if a trace
/// could not be written, else lists the traces in `out`.
pub(crate) fn collect_qlog(factory: Option<QlogFactory>, out: &mut RunOutput) -> Result<(), RunError> {
    if let Some(f) = factory {
        f.wait();
        if let Some(error) = f.error() {
            return Err(RunError::Qlog(error));
        }
        out.qlog_files = f.files();
    }
    Ok(())
}

/// Runs every repetition (and baselines if the scenario asks) in the simulator and summarises.
pub fn run_scenario(scenario: &Scenario, options: &RunOptions) -> Result<Report, RunError> {
    run_scenario_with(scenario, options, Mode::Simulated, |s, seed| run_once_with(s, seed, options.qlog.as_ref()))
}

/// Runs every repetition (and baselines if the scenario asks) with `run_once` (the simulator's
/// with or without qlog, real mode's, or a matrix's, which shares the baselines of twin cells)
/// and summarises.
pub fn run_scenario_with<E>(
    scenario: &Scenario,
    options: &RunOptions,
    mode: Mode,
    mut run_once: impl FnMut(&Scenario, u64) -> Result<RunOutput, E>,
) -> Result<Report, E> {
    let first = options.seed.unwrap_or(scenario.seed);
    let reps = options.repetitions.unwrap_or(scenario.repetitions).max(1);
    let seeds: Vec<u64> = (0..u64::from(reps)).map(|k| first.wrapping_add(k)).collect();
    let baseline_scenarios: Vec<Scenario> = if scenario.baselines {
        (0..scenario.paths.len()).map(|i| scenario.single_path(i)).collect()
    } else {
        Vec::new()
    };
    let total = seeds.len() * (1 + baseline_scenarios.len());
    let mut done = 0;
    let mut runs = Vec::new();
    let mut series = Vec::new();
    let mut qlog_files = Vec::new();
    for &seed in &seeds {
        let out = run_once(scenario, seed)?;
        qlog_files.extend(file_names(&out.qlog_files));
        series.push((format!("{}-seed{}", scenario.name, seed), out.series));
        runs.push(out.summary);
        done += 1;
        if let Some(p) = options.progress {
            p(done, total);
        }
    }
    let mut baselines = Vec::new();
    let mut baseline_aggregates = Vec::new();
    for b in &baseline_scenarios {
        let mut these = Vec::new();
        for &seed in &seeds {
            let out = run_once(b, seed)?;
            qlog_files.extend(file_names(&out.qlog_files));
            series.push((format!("{}-seed{}", b.name, seed), out.series));
            these.push(out.summary);
            done += 1;
            if let Some(p) = options.progress {
                p(done, total);
            }
        }
        baseline_aggregates.push(Aggregate::of(&b.name, &these));
        baselines.extend(these);
    }
    let aggregate = Aggregate::of(&scenario.name, &runs);
    let singles: Vec<f64> = baseline_aggregates.iter().map(|a| a.goodput_mbps.mean).collect();
    let aggregation_benefit =
        if singles.is_empty() { None } else { aggregation_benefit(aggregate.goodput_mbps.mean, &singles) };
    let mut notes = Vec::new();
    if scenario.transport.multipath && scenario.paths.len() > 1 {
        notes.push(format!(
            "multipath (RFC 10069): the client opens one path per scenario path after the \
             handshake; scheduler `{}` picks the path of each packet",
            scenario.transport.scheduler
        ));
    } else {
        notes.push(
            "single path: the transfer uses one path at a time (path 0 first); when that path's interface goes \
             down the client migrates the connection to the next working interface (RFC 9000 §9)"
                .to_owned(),
        );
    }
    if scenario.paths.len() > 1 && !scenario.baselines {
        notes.push("set `baselines = true` to run each path alone and get the aggregation benefit".to_owned());
    }
    Ok(Report {
        format: 1,
        mode,
        scenario: scenario.name.clone(),
        description: scenario.description.clone(),
        congestion_controller: scenario.transport.congestion_controller.clone(),
        scheduler: scenario.transport.scheduler.clone(),
        notes,
        seeds,
        runs,
        aggregate,
        baselines,
        baseline_aggregates,
        aggregation_benefit,
        qlog_files,
        comparisons: Vec::new(),
        series,
    })
}

/// The file names of `paths`.
fn file_names(paths: &[std::path::PathBuf]) -> impl Iterator<Item = String> + '_ {
    paths.iter().filter_map(|f| Some(f.file_name()?.to_string_lossy().into_owned()))
}
