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
