//! The `mpquic` command line.

mod hq;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mpquic: a Multipath QUIC stack for networking research.
#[derive(Debug, Parser)]
#[command(name = "mpquic", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Download files over hq-interop (HTTP/0.9 over QUIC).
    Client(hq::ClientArgs),
    /// Serve the files of a directory over hq-interop.
    Server(hq::ServerArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = tokio::runtime::Runtime::new().map_err(anyhow::Error::from).and_then(|rt| match cli.command {
        Command::Client(args) => rt.block_on(hq::run_client(args)),
        Command::Server(args) => rt.block_on(hq::run_server(args)),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
