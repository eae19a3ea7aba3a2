//! The code version a matrix result was made by: the crate version plus the identity of the source
//! code (embedded by `experiments/build.rs` from git), or — when the binary was built without a
//! git repository — a hash of the running binary itself.
//!
//! Every cell record carries it; a record made by another version is stale and runs again
//! (unless the user asks to reuse stale results), and `results.csv` and `summary.csv` say which
//! version made each number.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};

/// `VERSION+src.ID` (built from a git checkout) or `VERSION+bin.HASH` (built without one).
pub fn code_version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let source = env!("MPQUIC_SOURCE_ID");
        if !source.is_empty() {
            return format!("{}+src.{source}", env!("CARGO_PKG_VERSION"));
        }
        let binary = std::env::current_exe()
            .and_then(std::fs::read)
            .map(|bytes| Sha256::digest(&bytes)[..8].iter().map(|b| format!("{b:02x}")).collect::<String>());
        // A binary that cannot read itself has no identity beyond its version: say so in the
        // version, so that such results are never mistaken for a known build's.
        format!("{}+bin.{}", env!("CARGO_PKG_VERSION"), binary.unwrap_or_else(|_| "unknown".to_owned()))
    })
}

/// `git describe --always --dirty` of the build, for people (empty without git).
pub fn git_describe() -> &'static str {
    env!("MPQUIC_GIT_DESCRIBE")
}
