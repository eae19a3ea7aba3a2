//! `mpquic bench`: simulator speed (simulated time per wall-clock and per CPU second) over
//! repeated runs of one scenario, the built-in 2-path 50 + 20 Mbit/s transfer by default.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use mpquic_experiments::scenario::Scenario;
use mpquic_experiments::speed;

use super::QlogMode;

/// Arguments of `mpquic bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Scenario file; the built-in speed benchmark (`experiments/scenarios/speed_2path.toml`)
    /// when absent.
    scenario: Option<PathBuf>,
    /// Timed runs (the median is reported).
    #[arg(long, default_value_t = 5)]
    repeat: usize,
    /// Seed of every run (default: the scenario's).
    #[arg(long)]
    seed: Option<u64>,
    /// Also write the measurements as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Trace each run as `mpquic run --qlog` does (its default is `packets`), to measure what
    /// tracing costs; the time to write the files counts.
    #[arg(long, value_enum, default_value_t = QlogMode::Off)]
    qlog: QlogMode,
    /// Directory of the traces with `--qlog events|packets` (default: a fresh directory in the
    /// system's temporary directory, deleted afterwards).
    #[arg(long, value_name = "DIR")]
    qlog_dir: Option<PathBuf>,
}

/// Runs the benchmark and prints one line per run and the medians.
pub fn run(args: BenchArgs) -> Result<()> {
    let scenario = match &args.scenario {
        Some(path) => Scenario::load(path)?,
        None => Scenario::from_toml(speed::SPEED_TOML, "<builtin speed_2path.toml>")?,
    };
    let seed = args.seed.unwrap_or(scenario.seed);
    let temporary =
        args.qlog_dir.is_none().then(|| std::env::temp_dir().join(format!("mpquic-bench-qlog-{}", std::process::id())));
    let dir = args.qlog_dir.clone().or_else(|| temporary.clone()).unwrap_or_default();
    let qlog = args.qlog.options(dir);
    if let Some(q) = &qlog {
        std::fs::create_dir_all(&q.dir).with_context(|| format!("creating {}", q.dir.display()))?;
    }
    let measured = speed::measure(&scenario, seed, args.repeat, qlog.as_ref());
    if let (Some(dir), Some(_)) = (&temporary, &qlog) {
        // The traces were only written to be paid for.
        let _ = std::fs::remove_dir_all(dir);
    }
    let report = measured.context("running the benchmark")?;
    say!("{} (seed {seed}), {} runs, qlog {}", report.scenario, report.samples.len(), report.qlog);
    for (i, s) in report.samples.iter().enumerate() {
        let cpu = s.cpu_s.map_or("cpu ?".to_owned(), |c| format!("cpu {c:.3} s"));
        let ratio = s.cpu_ratio().map_or(String::new(), |r| format!(", {r:.1}x per CPU second"));
        let per = s.cpu_us_per_datagram().map_or(String::new(), |us| format!(", {us:.2} µs CPU per datagram"));
        let traced =
            if s.qlog_bytes > 0 { format!("; {:.1} MB of qlog", s.qlog_bytes as f64 / 1e6) } else { String::new() };
        say!(
            "  run {}: simulated {:.3} s, wall {:.3} s, {cpu}: {:.1}x real time{ratio}; {} datagrams{per}{traced}",
            i + 1,
            s.simulated_s,
            s.wall_s,
            s.wall_ratio(),
            s.datagrams
        );
    }
    let cpu = report.median_cpu_ratio.map_or(String::new(), |r| format!(", {r:.1}x per CPU second"));
    let per = report.median_cpu_us_per_datagram.map_or(String::new(), |us| format!(", {us:.2} µs CPU per datagram"));
    say!("median: {:.1}x real time{cpu}{per}", report.median_wall_ratio);
    if let Some([a, b, c]) = report.load_average {
        say!("load average at the end: {a:.2} {b:.2} {c:.2}");
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report)? + "\n";
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    if !report.completed {
        bail!("the benchmark run did not complete its workload");
    }
    if !report.deterministic {
        bail!("the repetitions gave different summaries: the simulator is not deterministic");
    }
    Ok(())
}
