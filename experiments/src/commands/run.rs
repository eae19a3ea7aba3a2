//! `mpquic run`: a scenario in the deterministic simulator (the built-in demo without a file), or
//! on real sockets through the link emulator (`--real`, with `--netns --compare mptcp,tcp` the
//! baselines on the same links); prints the summary table and writes summary.json, time series,
//! plots and qlog traces, with a progress line per run on standard error.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;

use super::QlogMode;
use mpquic_experiments::scenario::{Scenario, Workload};
use mpquic_experiments::{output, real, runner};

/// Arguments of `mpquic run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario file (TOML, see experiments/SCENARIOS.md); the built-in demo when absent.
    scenario: Option<PathBuf>,
    /// Output directory.
    #[arg(long, default_value = "mpquic-out")]
    out: PathBuf,
    /// Seed of the first repetition (overrides the scenario's).
    #[arg(long)]
    seed: Option<u64>,
    /// Number of repetitions (overrides the scenario's).
    #[arg(long)]
    repetitions: Option<u32>,
    /// Overrides the scenario's packet scheduler (`minrtt`, `roundrobin`, `weighted`, `redundant`,
    /// `backup`, `blest`, `ecf`, ...).
    #[arg(long)]
    scheduler: Option<String>,
    /// Overrides the scenario's congestion controller (`newreno|cubic|bbr|lia|olia|balia`,
    /// `newreno+hystart` / `cubic+hystart`, or `olia-mpquic` / `cubic-quicgo`).
    #[arg(long)]
    cc: Option<String>,
    /// Overrides the size of a `bulk` or `files` workload, bytes.
    #[arg(long)]
    bytes: Option<u64>,
    /// Run on real UDP sockets (loopback) through the user-space link emulator instead of the
    /// simulator (see experiments/SCENARIOS.md, real mode).
    #[arg(long)]
    real: bool,
    /// With --real: put the client and the server in network namespaces of their own, joined by
    /// one pair of TUN devices per path through the IP-level link emulator, made for the run and
    /// deleted after it (needs root).
    #[arg(long, requires = "real")]
    netns: bool,
    /// With --netns: after our run, the same workload over the same emulated links with these
    /// protocols (`mptcp`, `tcp`; replaces the scenario's `[compare] protocols`).
    #[arg(long, requires = "netns", value_delimiter = ',')]
    compare: Option<Vec<String>>,
    /// qlog traces of each run's connection in DIR/qlog/ (JSON-SEQ): `packets` logs every
    /// packet with its frames, `events` only state changes, recovery metrics, losses and path
    /// events, `off` nothing.
    #[arg(long, value_enum, default_value_t = QlogMode::Packets)]
    qlog: QlogMode,
}

/// Runs the scenario and writes its outputs.
pub fn run(args: RunArgs) -> Result<()> {
    let mut scenario = match &args.scenario {
        Some(path) => Scenario::load(path)?,
        None => Scenario::demo(),
    };
    if let Some(name) = &args.scheduler {
        scenario.transport.scheduler = name.clone();
    }
    if let Some(name) = &args.cc {
        scenario.transport.congestion_controller = name.clone();
    }
    if let Some(n) = args.bytes {
        match &mut scenario.workload {
            Workload::Bulk { bytes } | Workload::Files { bytes, .. } => *bytes = n,
            _ => bail!("--bytes needs a `bulk` or `files` workload"),
        }
    }
    if let Some(protocols) = &args.compare {
        scenario.compare.protocols.clone_from(protocols);
    }
    scenario.validate().context("the scenario with the command-line overrides")?;
    // The traces are written while the runs go: clear the completion marker first, so that a
    // failed run never leaves a directory that looks complete.
    output::prepare(&args.out).with_context(|| format!("preparing {}", args.out.display()))?;
    let qlog = args.qlog.options(args.out.join("qlog"));
    let started = std::time::Instant::now();
    let _ = RUN_STARTED.set(started);
    let runs = args.repetitions.unwrap_or(scenario.repetitions) as usize
        * if scenario.baselines { 1 + scenario.paths.len() } else { 1 };
    if args.real {
        eprintln!(
            "{runs} run(s) on real sockets, each up to {:.0} s (the scenario's duration_s); a line after each",
            scenario.duration_s
        );
    }
    let options =
        runner::RunOptions { seed: args.seed, repetitions: args.repetitions, progress: Some(print_progress), qlog };
    let report = if args.real {
        let topology = if args.netns { real::Topology::Netns } else { real::Topology::Loopback };
        real::run_scenario(&scenario, &options, topology).context("running the scenario on real sockets")?
    } else {
        runner::run_scenario(&scenario, &options).context("running the scenario")?
    };
    let wall = started.elapsed().as_secs_f64();
    say_raw!("{}", output::table(&report));
    let simulated: f64 = report.runs.iter().chain(&report.baselines).map(|r| r.simulated_s).sum();
    if args.real {
        say!("ran {simulated:.2} s on real sockets ({wall:.2} s of wall time with set-up)");
    } else {
        say!("simulated {simulated:.2} s in {wall:.2} s of wall time ({:.1}x real time)", simulated / wall.max(1e-9));
    }
    let files =
        output::write_all(&args.out, &report).with_context(|| format!("writing outputs to {}", args.out.display()))?;
    say!(
        "wrote {} files to {} (summary.json, timeseries/, plots/{})",
        files.len() + report.qlog_files.len(),
        args.out.display(),
        if report.qlog_files.is_empty() { "" } else { ", qlog/" }
    );
    Ok(())
}

/// When `mpquic run` started, for [`print_progress`].
static RUN_STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// One line on standard error after each run of `mpquic run` (real runs take seconds each).
fn print_progress(done: usize, total: usize) {
    let elapsed = RUN_STARTED.get().map_or(0.0, |t| t.elapsed().as_secs_f64());
    eprintln!("[{done}/{total}] runs done, {elapsed:.1} s");
}
