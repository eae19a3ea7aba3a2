//! The `mpquic` command line. Dispatch only: the work lives in the `mpquic_experiments` library
//! (simulator, scenarios, outputs) and in `hq` (the hq-interop client and server).

/// `println!` that never panics: when standard output is closed (`mpquic run | head`), what
/// is printed is dropped and the command goes on (its files are still written).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `print!` that never panics (see [`say!`]).
macro_rules! say_raw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}

mod commands;
mod emulate;
mod hq;
mod perf;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use mpquic_experiments::scenario::{Scenario, Workload};
use mpquic_experiments::{output, real, runner};

/// mpquic: Multipath QUIC for networking research.
#[derive(Debug, Parser)]
#[command(name = "mpquic", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a scenario in the deterministic simulator (the built-in demo without a file), or on
    /// real sockets through the link emulator (`--real`).
    Run(RunArgs),
    /// Run only the link emulator: one relay per scenario path, for `mpquic server` and
    /// `mpquic client` (or other QUIC stacks) in other processes.
    Emulate(emulate::EmulateArgs),
    /// Download files over hq-interop (HTTP/0.9 over QUIC).
    Client(hq::ClientArgs),
    /// Serve the files of a directory over hq-interop.
    Server(hq::ServerArgs),
    /// Memory-to-memory throughput and load, single or multipath (the iperf of the stack).
    Perf(perf::PerfArgs),
    /// Simulator speed: simulated time per wall-clock and CPU second, median of repeated runs.
    Bench(commands::bench::BenchArgs),
    /// Run a matrix of scenarios (sweeps x CSV rows x seeds) in parallel; re-runs resume.
    Matrix(commands::matrix::MatrixArgs),
    /// Re-run a paper's claims (papers/NAME/claims.toml) and check them against the paper.
    Reproduce(commands::reproduce::ReproduceArgs),
}

#[derive(Debug, Args)]
struct RunArgs {
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
    /// Overrides the scenario's congestion controller (`newreno|cubic|bbr|lia|olia|balia`).
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

/// How much `mpquic run` traces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum QlogMode {
    /// No traces.
    Off,
    /// State changes, recovery metrics, losses and path events.
    Events,
    /// Everything, each packet with its frames.
    Packets,
}

fn run(args: RunArgs) -> Result<()> {
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
    let qlog = (args.qlog != QlogMode::Off)
        .then(|| runner::QlogOptions { dir: args.out.join("qlog"), packets: args.qlog == QlogMode::Packets });
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

/// Runs an async command on a multi-threaded tokio runtime.
fn block_on(f: impl std::future::Future<Output = Result<()>>) -> Result<()> {
    tokio::runtime::Runtime::new().context("starting the tokio runtime")?.block_on(f)
}

/// Runs a network command on one thread, as quinn's and most QUIC tools do: the endpoint's
/// driver and the streams' tasks then never wait for each other across cores, and a benchmark
/// can pin the whole process to one core (file I/O has threads of its own, see `hq`).
fn block_on_current_thread(f: impl std::future::Future<Output = Result<()>>) -> Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?
        .block_on(f)
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Run(args) => run(args),
        Command::Emulate(args) => block_on(emulate::run_emulate(args)),
        Command::Client(args) => block_on_current_thread(hq::run_client(args)),
        Command::Server(args) => block_on_current_thread(hq::run_server(args)),
        Command::Perf(args) => block_on_current_thread(match args.command {
            perf::PerfCommand::Server(a) => {
                Box::pin(perf::run_server(a)) as std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>>>>
            }
            perf::PerfCommand::Client(a) => Box::pin(perf::run_client(a)),
        }),
        Command::Bench(args) => commands::bench::run(args),
        Command::Matrix(args) => commands::matrix::run(args),
        Command::Reproduce(args) => commands::reproduce::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
