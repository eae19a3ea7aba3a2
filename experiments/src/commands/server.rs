//! `mpquic server`: serves a directory over hq-interop (the work is in `hq/server.rs`).

use anyhow::Result;

pub use crate::hq::ServerArgs;

/// Runs the server on one thread (see [`super::block_on_current_thread`]).
pub fn run(args: ServerArgs) -> Result<()> {
    super::block_on_current_thread(crate::hq::run_server(args))
}
