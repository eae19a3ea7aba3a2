//! `mpquic reproduce`: re-runs a paper's claims and checks them against the paper
//! (`papers/NAME/claims.toml`; the work is in `mpquic_experiments::reproduce`).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use mpquic_experiments::reproduce::{self, claims, Paper, Settings, Verdict};

/// Arguments of `mpquic reproduce`.
#[derive(Debug, Args)]
pub struct ReproduceArgs {
    /// The paper: a folder name under --papers (see --list).
    #[arg(required_unless_present = "list")]
    name: Option<String>,
    /// List the papers, one per line: NAME and title.
    #[arg(long)]
    list: bool,
    /// The reduced form of every claim (minutes; what CI runs).
    #[arg(long)]
    quick: bool,
    /// Output directory; default `mpquic-reproduce-NAME` (`-quick` appended with --quick).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Simulations run at once; default: the available cores.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    jobs: Option<u32>,
    /// Seeds per scenario, overriding the claims' and the scenarios' counts.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    seeds: Option<u32>,
    /// The folder holding one folder per paper.
    #[arg(long, default_value = "papers")]
    papers: PathBuf,
}

/// Lists the papers, or runs one and prints its report; fails when a claim fails.
pub fn run(args: ReproduceArgs) -> Result<()> {
    if !args.papers.is_dir() {
        bail!(
            "--papers {}: no such folder (run from the repository root, or give --papers DIR)",
            args.papers.display()
        );
    }
    let papers = claims::list(&args.papers).with_context(|| format!("reading {}", args.papers.display()))?;
    if args.list {
        for (name, paper) in &papers {
            match paper {
                Ok(p) => say!("{name:<18} {} ({} claims)", p.title, p.claims.len()),
                Err(e) => say!("{name:<18} (broken claims.toml: {e})"),
            }
        }
        return Ok(());
    }
    let Some(name) = args.name else { bail!("name a paper, or give --list") };
    let dir = args.papers.join(&name);
    if !dir.join("claims.toml").is_file() {
        let names: Vec<&str> = papers.iter().map(|(n, _)| n.as_str()).collect();
        bail!("no paper {name:?} in {} (known: {})", args.papers.display(), names.join(", "));
    }
    let paper = Paper::load(&dir)?;
    let out = args
        .out
        .unwrap_or_else(|| PathBuf::from(format!("mpquic-reproduce-{name}{}", if args.quick { "-quick" } else { "" })));
    let jobs = args.jobs.map_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()), |j| j as usize);
    say!(
        "{name}: {} ({} claims{}) into {}",
        paper.title,
        paper.claims.len(),
        if args.quick { ", quick" } else { "" },
        out.display()
    );
    let report = reproduce::run(
        &name,
        &paper,
        &Settings { out: out.clone(), quick: args.quick, jobs, seeds: args.seeds, progress: true },
    )?;
    say_raw!("{}", reproduce::markdown(&report));
    say!("wrote {} and {}", out.join("report.md").display(), out.join("report.json").display());
    let failed = report.failed();
    let differs = report.claims.iter().filter(|c| c.verdict == Verdict::Differs).count();
    if failed > 0 {
        bail!("{failed} of {} claims FAILED ({differs} differ from the paper, explained)", report.claims.len());
    }
    Ok(())
}
