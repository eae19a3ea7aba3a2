//! `mpquic perf`: memory-to-memory throughput and load (the work is in `perf/`).

use std::future::Future;
use std::pin::Pin;

use anyhow::Result;

pub use crate::perf::{PerfArgs, PerfCommand};

/// Runs the perf server or client on one thread (see [`super::block_on_current_thread`]).
pub fn run(args: PerfArgs) -> Result<()> {
    let side: Pin<Box<dyn Future<Output = Result<()>>>> = match args.command {
        PerfCommand::Server(a) => Box::pin(crate::perf::run_server(a)),
        PerfCommand::Client(a) => Box::pin(crate::perf::run_client(a)),
    };
    super::block_on_current_thread(side)
}
