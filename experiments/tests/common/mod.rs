//! Helpers shared by the experiments' integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// A fresh, empty directory under the system temp dir, unique per test and process.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mpquic-exp-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The path of a shipped scenario file.
pub fn scenario_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(name)
}
