//! The `mpquic` command line.

mod hq;

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

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new()?;
    match cli.command {
        Command::Client(args) => runtime.block_on(hq::run_client(args)),
        Command::Server(args) => runtime.block_on(hq::run_server(args)),
    }
}
