//! `mpquic matrix`: runs every cell of a matrix file (sweeps x CSV rows x seeds) in parallel with
//! a progress bar, skipping the cells a previous run recorded, and prints the grouped summary.
//! Beyond one machine: `--emit-slurm` writes a Slurm job array, `--cell-range` and `--shard` run
//! a part of the matrix, and `--collect` merges the parts into the outputs of a local run.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use mpquic_experiments::matrix::{self, ClusterError, EmitSettings, Matrix, RunSettings, Shard};

/// Arguments of `mpquic matrix`.
#[derive(Debug, Args)]
pub struct MatrixArgs {
    /// Matrix file (TOML, see experiments/MATRIX.md).
    file: PathBuf,
    /// Output directory (results.csv, summary.csv, cells/); default `mpquic-matrix-NAME`.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Cells run at once; default: the available cores.
    #[arg(long)]
    jobs: Option<usize>,
    /// Check the file and list the cells without running them.
    #[arg(long)]
    dry_run: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Use results recorded by other code (another code version) instead of running them again.
    #[arg(long)]
    reuse_stale: bool,
    /// Run only cells A to B-1 (matrix order, as `--dry-run` lists them) and record them in
    /// OUT/cells; write no results.csv (what each Slurm task runs).
    #[arg(long, value_name = "A..B", conflicts_with_all = ["shard", "collect", "emit_slurm", "dry_run"])]
    cell_range: Option<String>,
    /// Run only shard K of N (1 <= K <= N; contiguous, equal parts) and record its cells in
    /// OUT/cells; for GNU parallel or ssh loops. Then `--collect OUT`.
    #[arg(long, value_name = "K/N", conflicts_with_all = ["collect", "emit_slurm", "dry_run"])]
    shard: Option<Shard>,
    /// Write a Slurm job array for the matrix into DIR (job.sbatch, manifest.json, a copy of the
    /// matrix, its files and this binary); run nothing.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["collect", "dry_run", "out"])]
    emit_slurm: Option<PathBuf>,
    /// With --emit-slurm: cells per array task (default: 1, or more to stay within 1000 tasks).
    #[arg(long, value_name = "K", requires = "emit_slurm")]
    cells_per_task: Option<usize>,
    /// With --emit-slurm: run at most L tasks at once (`#SBATCH --array=0-N%L`).
    #[arg(long, value_name = "L", requires = "emit_slurm")]
    array_limit: Option<usize>,
    /// With --emit-slurm: an extra sbatch option for job.sbatch (`--time=1:00:00`); repeatable.
    #[arg(long, value_name = "OPT", requires = "emit_slurm", allow_hyphen_values = true)]
    sbatch_option: Vec<String>,
    /// Merge the cells recorded in DIR (a --emit-slurm job folder, or the --out of shards) into
    /// OUT/results.csv and OUT/summary.csv; names the missing cells and how to run them.
    #[arg(long, value_name = "DIR", conflicts_with = "dry_run")]
    collect: Option<PathBuf>,
}

/// Loads, runs and summarises the matrix.
pub fn run(args: MatrixArgs) -> Result<()> {
    let m = Matrix::load(&args.file)?;
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from(format!("mpquic-matrix-{}", m.spec.name)));
    if args.dry_run {
        // A closed pipe (`| head`) ends the listing quietly.
        let mut o = std::io::stdout().lock();
        let _ = writeln!(o, "{}: {} cells; columns: {}", m.spec.name, m.cells.len(), m.param_columns.join(", "));
        for c in &m.cells {
            if writeln!(o, "  {} {}", c.key, c.params.join(" ")).is_err() {
                break;
            }
        }
        return Ok(());
    }
    if let Some(dir) = &args.emit_slurm {
        return emit(&m, &args, dir);
    }
    if let Some(dir) = &args.collect {
        return collect(&m, &args, dir, &out);
    }
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    let settings = RunSettings { out: out.clone(), jobs, progress: !args.quiet, reuse_stale: args.reuse_stale };
    let started = std::time::Instant::now();
    let part = match (&args.cell_range, &args.shard) {
        (Some(text), _) => Some(matrix::parse_cell_range(text, m.cells.len()).map_err(anyhow::Error::msg)?),
        (None, Some(shard)) => Some(shard.range(m.cells.len())),
        (None, None) => None,
    };
    if let Some(range) = part {
        let (a, b) = (range.start, range.end);
        let done = matrix::run_cells(&m, &settings, range)
            .with_context(|| format!("running cells {a}..{b} of matrix {}", args.file.display()))?;
        let failed = done.results.iter().filter(|r| r.error.is_some()).count();
        say!(
            "{}: cells {a}..{b} of {}: {} run now, {} from an earlier run{}, {failed} failed, {:.1} s with {jobs} jobs; \
             recorded in {}",
            m.spec.name,
            m.cells.len(),
            done.ran,
            done.reused,
            stale_note(done.stale_rerun, done.stale_reused),
            started.elapsed().as_secs_f64(),
            out.join("cells").display(),
        );
        if args.shard.is_some() {
            say!(
                "when every shard is done (their cells/ in one folder): mpquic matrix {} --collect {} --out RESULTS",
                args.file.display(),
                out.display()
            );
        }
        return Ok(());
    }
    let outcome = matrix::run(&m, &settings).with_context(|| format!("running matrix {}", args.file.display()))?;
    let failed = outcome.results.iter().filter(|r| r.error.is_some()).count();
    say!(
        "{}: {} cells ({} run now, {} from an earlier run{}), {} failed, {:.1} s with {jobs} jobs",
        m.spec.name,
        m.cells.len(),
        outcome.ran,
        outcome.reused,
        stale_note(outcome.stale_rerun, outcome.stale_reused),
        failed,
        started.elapsed().as_secs_f64()
    );
    say_raw!("{}", matrix::summary_table(&m, &outcome.groups));
    say!("wrote {} and {}", outcome.results_csv.display(), outcome.summary_csv.display());
    Ok(())
}

fn stale_note(rerun: usize, reused: usize) -> String {
    match (rerun, reused) {
        (0, 0) => String::new(),
        (r, 0) => format!(", {r} re-run because other code made them"),
        (_, u) => format!(", {u} of them made by other code (--reuse-stale)"),
    }
}

fn emit(m: &Matrix, args: &MatrixArgs, dir: &std::path::Path) -> Result<()> {
    let binary = std::env::current_exe().context("finding this mpquic binary to copy into the job folder")?;
    let settings = EmitSettings {
        dir: dir.to_path_buf(),
        cells_per_task: args.cells_per_task,
        array_limit: args.array_limit,
        sbatch_options: args.sbatch_option.clone(),
        binary,
    };
    let e = matrix::emit_slurm(m, &args.file, &settings)
        .with_context(|| format!("writing a Slurm job for {} into {}", args.file.display(), dir.display()))?;
    let d = e.dir.display();
    say!(
        "{}: {} cells in {} array tasks of up to {} cells; code version {}",
        m.spec.name,
        m.cells.len(),
        e.manifest.tasks.len(),
        e.manifest.cells_per_task,
        e.manifest.code_version
    );
    if e.manifest.tasks.len() > 1001 {
        say!("note: Slurm's default MaxArraySize allows 1001 tasks; raise --cells-per-task if sbatch refuses the job");
    }
    say!("submit:  sbatch {}", e.job_script.display());
    say!("watch:   squeue --me   (logs in {d}/logs)");
    say!("collect: {d}/bin/mpquic matrix {d}/{} --collect {d} --out OUT", e.manifest.matrix_file);
    Ok(())
}

fn collect(m: &Matrix, args: &MatrixArgs, dir: &std::path::Path, out: &std::path::Path) -> Result<()> {
    match matrix::collect(m, &args.file, dir, out, args.reuse_stale) {
        Ok(c) => {
            let version =
                c.manifest.as_ref().map_or_else(|| matrix::code_version().to_owned(), |m| m.code_version.clone());
            say!(
                "{}: collected {} cells from {} (code version {version}{}), {} failed",
                m.spec.name,
                c.results.len(),
                dir.display(),
                if c.stale_reused > 0 { format!("; {} made by other code", c.stale_reused) } else { String::new() },
                c.failed.len()
            );
            if !c.failed.is_empty() {
                let list: Vec<String> = c.failed.iter().take(20).map(usize::to_string).collect();
                say!(
                    "failed cells (each a result, with its error in results.csv, as in a local run): {}{}",
                    list.join(" "),
                    if c.failed.len() > 20 { " ..." } else { "" }
                );
            }
            say_raw!("{}", matrix::summary_table(m, &c.groups));
            say!("wrote {} and {}", c.results_csv.display(), c.summary_csv.display());
            Ok(())
        }
        // The listing is the message; no context line above it.
        Err(ClusterError::Incomplete(i)) => bail!("{i}"),
        Err(e) => Err(anyhow::Error::new(e).context(format!("collecting {}", dir.display()))),
    }
}
