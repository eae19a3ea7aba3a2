//! The subcommands of `mpquic`, one file each: its arguments, its dispatch and its terminal
//! output. The work is in the library, in `hq/` (client, server) and in `perf/`.

use anyhow::{Context, Result};

pub mod bench;
pub mod client;
pub mod emulate;
pub mod matrix;
pub mod perf;
pub mod reproduce;
pub mod run;
pub mod server;

/// How much a simulator run traces (`mpquic run --qlog`, `mpquic bench --qlog`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum QlogMode {
    /// No traces.
    Off,
    /// State changes, recovery metrics, losses and path events.
    Events,
    /// Everything, each packet with its frames.
    Packets,
}

impl QlogMode {
    /// The runner's trace settings, with the files in `dir` (`None` when off).
    pub fn options(self, dir: std::path::PathBuf) -> Option<mpquic_experiments::runner::QlogOptions> {
        (self != Self::Off).then(|| mpquic_experiments::runner::QlogOptions { dir, packets: self == Self::Packets })
    }
}

/// Runs an async command on a multi-threaded tokio runtime.
pub fn block_on(f: impl std::future::Future<Output = Result<()>>) -> Result<()> {
    tokio::runtime::Runtime::new().context("starting the tokio runtime")?.block_on(f)
}

/// Runs a network command on one thread, as quinn's and most QUIC tools do: the endpoint's
/// driver and the streams' tasks then never wait for each other across cores, and a benchmark
/// can pin the whole process to one core (file I/O has threads of its own, see `hq`).
pub fn block_on_current_thread(f: impl std::future::Future<Output = Result<()>>) -> Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?
        .block_on(f)
}
