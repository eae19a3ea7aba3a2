//! `mpquic matrix`: runs every cell of a matrix file (sweeps x CSV rows x seeds) in parallel with
//! a progress bar, skipping the cells a previous run recorded, and prints the grouped summary.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use mpquic_experiments::matrix::{self, Matrix, RunSettings};

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
}

/// Loads, runs and summarises the matrix.
pub fn run(args: MatrixArgs) -> Result<()> {
    let m = Matrix::load(&args.file)?;
    let out = args.out.unwrap_or_else(|| PathBuf::from(format!("mpquic-matrix-{}", m.spec.name)));
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
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let started = std::time::Instant::now();
    let outcome = matrix::run(&m, &RunSettings { out: out.clone(), jobs, progress: !args.quiet })
        .with_context(|| format!("running matrix {}", args.file.display()))?;
    let failed = outcome.results.iter().filter(|r| r.error.is_some()).count();
    println!(
        "{}: {} cells ({} run now, {} from an earlier run), {} failed, {:.1} s with {jobs} jobs",
        m.spec.name,
        m.cells.len(),
        outcome.ran,
        outcome.reused,
        failed,
        started.elapsed().as_secs_f64()
    );
    print!("{}", matrix::summary_table(&m, &outcome.groups));
    println!("wrote {} and {}", outcome.results_csv.display(), outcome.summary_csv.display());
    Ok(())
}
