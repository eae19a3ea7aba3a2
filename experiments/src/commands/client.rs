//! `mpquic client`: downloads URLs over hq-interop (the work is in `hq/client.rs`).

use anyhow::Result;

pub use crate::hq::ClientArgs;

/// Runs the client on one thread (see [`super::block_on_current_thread`]).
pub fn run(args: ClientArgs) -> Result<()> {
    super::block_on_current_thread(crate::hq::run_client(args))
}
