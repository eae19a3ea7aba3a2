//! The small matrix and the command helpers that tests/matrix_cluster.rs and tests/slurm.rs share.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::common;

pub const TEMPLATE: &str = r#"
name = "tiny"
duration_s = 20.0
baselines = true
[[paths]]
name = "a"
client = "10.0.0.2:5000"
server = "10.9.0.1:4433"
up = { rate_mbps = 20.0, delay_ms = 5.0, queue = { packets = 50 } }
down = { rate_mbps = 20.0, delay_ms = 5.0, queue = { packets = 50 } }
[[paths]]
name = "b"
client = "10.1.0.2:5000"
server = "10.9.1.1:4433"
up = { rate_mbps = 5.0, delay_ms = 15.0, queue = { packets = 50 } }
down = { rate_mbps = 5.0, delay_ms = 15.0, queue = { packets = 50 } }
[workload]
kind = "bulk"
bytes = 150000
"#;

/// 2 CSV rows x 2 initial paths x 2 schedulers x 1 seed = 8 cells; the template and the CSV sit
/// in a folder beside the matrix's, so the job folder must copy them.
pub const MATRIX: &str = r#"
# a comment the copy drops
name = "cluster"
template = "../shared/tiny.toml"
seeds = [3]
[csv]
file = "../shared/rows.csv"
columns = { rate = { fields = ["paths[1].down.rate_mbps"] } }
[[sweep]]
field = "initial_path"
values = ["a", "b"]
[[sweep]]
field = "transport.scheduler"
values = ["minrtt", "roundrobin"]
[report]
group_by = ["row", "transport.scheduler"]
"#;

pub const ROWS: &str = "row,rate\nslow,4\nfast,8.5\n";

/// A folder with `shared/tiny.toml`, `shared/rows.csv` and `m/m.toml`; returns the matrix file.
pub fn setup(name: &str) -> (common::TempDir, PathBuf) {
    let dir = common::temp_dir(name);
    std::fs::create_dir_all(dir.join("shared")).unwrap();
    std::fs::create_dir_all(dir.join("m")).unwrap();
    std::fs::write(dir.join("shared/tiny.toml"), TEMPLATE).unwrap();
    std::fs::write(dir.join("shared/rows.csv"), ROWS).unwrap();
    std::fs::write(dir.join("m/m.toml"), MATRIX).unwrap();
    let m = dir.join("m/m.toml");
    (dir, m)
}

pub fn mpquic(args: &[&str]) -> Output {
    Command::new(common::BIN).args(args).output().unwrap()
}

pub fn ok(args: &[&str]) -> String {
    let o = mpquic(args);
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "mpquic {args:?} failed:\n{out}{err}");
    format!("{out}{err}")
}

/// The error output of a command that must fail (and not by a panic).
pub fn fails(args: &[&str]) -> String {
    let o = mpquic(args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "mpquic {args:?} should fail");
    assert!(!err.contains("panicked"), "mpquic {args:?} panicked: {err}");
    err
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

pub fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}
