//! The `mpquic` command line. Dispatch only: each subcommand's arguments and terminal output are in
//! `commands/<name>.rs`; the work lives in the `mpquic_experiments` library (simulator, scenarios,
//! outputs), in `hq/` (the hq-interop client and server) and in `perf/`.

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
mod hq;
mod perf;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    Run(commands::run::RunArgs),
    /// Run only the link emulator: one relay per scenario path, for `mpquic server` and
    /// `mpquic client` (or other QUIC stacks) in other processes.
    Emulate(commands::emulate::EmulateArgs),
    /// Download files over hq-interop (HTTP/0.9 over QUIC).
    Client(commands::client::ClientArgs),
    /// Serve the files of a directory over hq-interop.
    Server(commands::server::ServerArgs),
    /// Memory-to-memory throughput and load, single or multipath (the iperf of the stack).
    Perf(commands::perf::PerfArgs),
    /// Simulator speed: simulated time per wall-clock and CPU second, median of repeated runs.
    Bench(commands::bench::BenchArgs),
    /// Run a matrix of scenarios (sweeps x CSV rows x seeds) in parallel; re-runs resume.
    Matrix(commands::matrix::MatrixArgs),
    /// Re-run a paper's claims (papers/NAME/claims.toml) and check them against the paper.
    Reproduce(commands::reproduce::ReproduceArgs),
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Run(args) => commands::run::run(args),
        Command::Emulate(args) => commands::emulate::run(args),
        Command::Client(args) => commands::client::run(args),
        Command::Server(args) => commands::server::run(args),
        Command::Perf(args) => commands::perf::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Matrix(args) => commands::matrix::run(args),
        Command::Reproduce(args) => commands::reproduce::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // After SIGINT, SIGTERM or SIGHUP the cleanup handler is removing the namespaces and
            // child processes and exits with 130; an error met meanwhile is its consequence.
            while mpquic_experiments::real::interrupted() {
                std::thread::park();
            }
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
