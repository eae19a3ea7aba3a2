//! `mpquic matrix --emit-slurm` through a real Slurm: the one-node cluster of
//! scripts/local-slurm.sh (munged, slurmctld and slurmd on 127.0.0.1).
//!
//! They need root and Debian's `slurm-wlm` and `munge`, so `cargo test --workspace` leaves them
//! out (`#[ignore]`); .ci/run installs the packages and runs them:
//!
//! ```sh
//! apt-get install -y slurm-wlm munge
//! cargo test -p mpquic-experiments --test slurm -- --ignored   # starts the cluster if needed
//! scripts/local-slurm.sh stop
//! ```
//!
//! Where that environment is missing they print why and pass, except under `CI=true`, where a
//! missing environment is a failure.

#[path = "common/cluster.rs"]
mod cluster;
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use cluster::{fails, ok, read, s, setup};

/// Why Slurm cannot be used here, or `None` once the local cluster answers.
fn missing() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if uid.as_deref() != Some("0") {
        return Some("not root (the local cluster's daemons need root)".into());
    }
    for tool in ["sbatch", "scancel", "scontrol", "sinfo", "slurmctld", "slurmd", "munged"] {
        let found = Command::new("sh").args(["-c", &format!("command -v {tool} || test -x /usr/sbin/{tool}")]).output();
        if !found.is_ok_and(|o| o.status.success()) {
            return Some(format!("{tool} is not installed (apt-get install -y slurm-wlm munge)"));
        }
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/local-slurm.sh");
    match Command::new("bash").arg(&script).arg("start").output() {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!("{} start failed: {}", script.display(), String::from_utf8_lossy(&o.stderr))),
        Err(e) => Some(format!("{}: {e}", script.display())),
    }
}

/// True when the local Slurm is up; else says why and is false, or fails under CI=true.
fn slurm_here() -> bool {
    // Checked (and the cluster started) once for all tests of this process.
    static MISSING: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    match MISSING.get_or_init(missing).clone() {
        None => true,
        Some(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true, and the Slurm tests cannot run: {why}")
        }
        Some(why) => {
            eprintln!("skipped: {why}");
            false
        }
    }
}

/// Runs a Slurm command; panics with its output if it fails.
fn slurm(cmd: &str, args: &[&str]) -> String {
    let o = Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("{cmd}: {e}"));
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{cmd} {args:?} failed:\n{out}{err}");
    out.trim().to_owned()
}

/// Waits until every task of job `id` has ended (finished, failed or cancelled): a job that
/// depends on it ends after it, and `sbatch --wait` returns when that one has.
fn wait_for(id: &str) {
    slurm(
        "sbatch",
        &["--wait", &format!("--dependency=afterany:{id}"), "--job-name=wait", "--output=/dev/null", "--wrap=true"],
    );
}

/// A matrix run locally and emitted as a Slurm job of `per_task` cells per task: the folder
/// (removed when its guard drops, so the caller keeps it), the matrix file, the local run's
/// output and the emitted job.
fn emitted(name: &str, per_task: &str) -> (common::TempDir, PathBuf, PathBuf, PathBuf) {
    let (dir, m) = setup(name);
    let local = dir.join("local");
    ok(&["matrix", s(&m), "--out", s(&local), "--jobs", "2", "--quiet"]);
    let job = dir.join("job");
    // A hung task ends after 10 minutes instead of holding the test forever.
    ok(&["matrix", s(&m), "--emit-slurm", s(&job), "--cells-per-task", per_task, "--sbatch-option=--time=10"]);
    (dir, m, local, job)
}

fn same_outputs(collected: &Path, local: &Path) {
    for f in ["results.csv", "summary.csv"] {
        assert_eq!(
            String::from_utf8(read(&collected.join(f))).unwrap(),
            String::from_utf8(read(&local.join(f))).unwrap(),
            "{f} collected from Slurm equals the local run's"
        );
    }
}

#[test]
#[ignore = "needs root, slurm-wlm and munge: cargo test -p mpquic-experiments --test slurm -- --ignored"]
fn a_job_array_collects_into_the_bytes_of_a_local_run() {
    if !slurm_here() {
        return;
    }
    let (_dir, m, local, job) = emitted("slurm-whole", "3");
    // `--wait`: sbatch returns when every task has ended, with a failure if one failed.
    slurm("sbatch", &["--wait", s(&job.join("job.sbatch"))]);
    for t in 0..3 {
        let log = String::from_utf8(read(&job.join(format!("logs/task-{t}.out")))).unwrap();
        assert!(log.contains("run now"), "task {t}'s log: {log}");
    }
    let out = job.parent().unwrap().join("collected");
    let said = ok(&["matrix", s(&m), "--collect", s(&job), "--out", s(&out)]);
    assert!(said.contains("collected 8 cells"), "{said}");
    same_outputs(&out, &local);
}

#[test]
#[ignore = "needs root, slurm-wlm and munge: cargo test -p mpquic-experiments --test slurm -- --ignored"]
fn a_killed_task_is_named_and_its_resubmission_completes_the_matrix() {
    if !slurm_here() {
        return;
    }
    let (_dir, m, local, job) = emitted("slurm-killed", "2");
    // Held, so that task 1 is killed before it can run, whatever the machine's speed.
    let id = slurm("sbatch", &["--hold", "--parsable", s(&job.join("job.sbatch"))]);
    let id = id.split(';').next().unwrap().to_owned();
    slurm("scancel", &[&format!("{id}_1")]);
    slurm("scontrol", &["release", &id]);
    wait_for(&id);

    let out = job.parent().unwrap().join("collected");
    let err = fails(&["matrix", s(&m), "--collect", s(&job), "--out", s(&out)]);
    assert!(err.contains("2 of 8 cells have no result (1 of 4 tasks)"), "{err}");
    assert!(err.contains("task 1: cells 2..4, missing 2 3"), "{err}");
    let resubmit = err.lines().map(str::trim).find(|l| l.starts_with("sbatch ")).expect("a re-submit command");
    assert_eq!(resubmit, format!("sbatch --array=1 {}", job.canonicalize().unwrap().join("job.sbatch").display()));
    assert!(!out.join("results.csv").exists());

    // The command as printed, waiting for its task.
    let mut words = resubmit.split_whitespace().skip(1).collect::<Vec<_>>();
    words.insert(0, "--wait");
    slurm("sbatch", &words);
    let said = ok(&["matrix", s(&m), "--collect", s(&job), "--out", s(&out)]);
    assert!(said.contains("collected 8 cells"), "{said}");
    same_outputs(&out, &local);
    // Only task 1 ran twice: the other tasks' logs are from the first submission.
    let log = String::from_utf8(read(&job.join("logs/task-1.out"))).unwrap();
    assert!(log.contains("cells 2..4 of 8: 2 run now"), "{log}");
}
