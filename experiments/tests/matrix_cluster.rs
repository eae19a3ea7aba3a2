//! A matrix beyond one process, without Slurm: the tasks of an emitted job run by hand (each its
//! manifest command, through a shell) and shards collect into the bytes of a local run; a task is
//! idempotent; records of other code are stale; bad flags, manifests and folders get errors.
//! (tests/slurm.rs submits the same job through a real Slurm.)

#[path = "common/cluster.rs"]
mod cluster;
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cluster::{fails, ok, read, s, setup, ROWS, TEMPLATE};
use mpquic_experiments::matrix::Manifest;

fn manifest(job: &Path) -> Manifest {
    serde_json::from_slice(&read(&job.join("manifest.json"))).unwrap()
}

/// Runs task `t` of an emitted job as Slurm would: job.sbatch with `SLURM_ARRAY_TASK_ID` set.
fn run_task(job: &Path, t: usize) -> Output {
    Command::new("bash").arg(job.join("job.sbatch")).env("SLURM_ARRAY_TASK_ID", t.to_string()).output().unwrap()
}

#[test]
fn an_emitted_job_run_task_by_task_collects_into_the_bytes_of_a_local_run() {
    let (dir, m) = setup("emit");
    let local = dir.join("local");
    ok(&["matrix", s(&m), "--out", s(&local), "--jobs", "2", "--quiet"]);

    let job = dir.join("job");
    let said = ok(&[
        "matrix",
        s(&m),
        "--emit-slurm",
        s(&job),
        "--cells-per-task",
        "3",
        "--array-limit",
        "2",
        "--sbatch-option=--time=5",
        "--sbatch-option",
        "--partition=local",
    ]);
    assert!(said.contains("8 cells in 3 array tasks") && said.contains("sbatch "), "{said}");
    let man = manifest(&job);
    assert_eq!(man.cells.len(), 8);
    assert_eq!(man.tasks.iter().map(|t| t.cells).collect::<Vec<_>>(), [[0, 3], [3, 6], [6, 8]]);
    let script = String::from_utf8(read(&job.join("job.sbatch"))).unwrap();
    assert!(script.contains("#SBATCH --array=0-2%2\n"), "{script}");
    assert!(script.contains("#SBATCH --time=5\n#SBATCH --partition=local\n"), "{script}");
    assert!(script.contains(&format!("#SBATCH --output={}/logs/task-%a.out", job.canonicalize().unwrap().display())));
    for t in &man.tasks {
        assert!(
            script.contains(&format!("{}) exec {} ;;", t.task, t.command)),
            "task {} runs its manifest command",
            t.task
        );
        assert!(t.command.contains(&format!("--cell-range {}..{}", t.cells[0], t.cells[1])), "{}", t.command);
    }
    // Self-contained: the copy names its files beside it, which are byte copies; the binary too.
    let copy = String::from_utf8(read(&job.join(&man.matrix_file))).unwrap();
    assert!(copy.contains("template = \"tiny.toml\"") && copy.contains("file = \"rows.csv\""), "{copy}");
    assert_eq!(read(&job.join("matrix/rows.csv")), ROWS.as_bytes());
    assert_eq!(read(&job.join("matrix/tiny.toml")), TEMPLATE.as_bytes());
    assert_eq!(read(&job.join("bin/mpquic")), read(Path::new(common::BIN)));

    // Tasks 0 and 2 run; task 1 never does.
    for t in [0, 2] {
        let o = run_task(&job, t);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let out = dir.join("collected");
    let err = fails(&["matrix", s(&m), "--collect", s(&job), "--out", s(&out)]);
    assert!(err.contains("3 of 8 cells have no result (1 of 3 tasks)"), "{err}");
    assert!(err.contains("task 1: cells 3..6, missing 3 4 5"), "{err}");
    let resubmit = format!("sbatch --array=1 {}/job.sbatch", job.canonicalize().unwrap().display());
    assert!(err.contains(&resubmit), "{err}");
    assert!(!out.join("results.csv").exists(), "nothing is written while cells are missing");

    // Task 1, then all tasks again: the second time nothing runs.
    assert!(run_task(&job, 1).status.success());
    for t in 0..3 {
        let o = run_task(&job, t);
        let said = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
        assert!(said.contains(" 0 run now"), "task {t} is idempotent: {said}");
    }
    let said = ok(&["matrix", s(&m), "--collect", s(&job), "--out", s(&out)]);
    assert!(said.contains("collected 8 cells") && said.contains(&man.code_version), "{said}");
    assert_eq!(read(&out.join("results.csv")), read(&local.join("results.csv")));
    assert_eq!(read(&out.join("summary.csv")), read(&local.join("summary.csv")));
    // The copy collects the same, and the summary records the code version.
    let out2 = dir.join("collected-from-copy");
    ok(&["matrix", s(&job.join(&man.matrix_file)), "--collect", s(&job), "--out", s(&out2)]);
    assert_eq!(read(&out2.join("summary.csv")), read(&local.join("summary.csv")));
    let summary = String::from_utf8(read(&out.join("summary.csv"))).unwrap();
    assert!(summary.lines().next().unwrap().ends_with(",code_version"), "{summary}");
    assert!(summary.lines().skip(1).all(|l| l.ends_with(&format!(",{}", man.code_version))), "{summary}");

    // Emitting again into the same folder is allowed for the same matrix, not for another.
    ok(&["matrix", s(&m), "--emit-slurm", s(&job), "--cells-per-task", "3"]);
    std::fs::write(dir.join("shared/rows.csv"), "row,rate\nslow,4\nfast,9\n").unwrap();
    let err = fails(&["matrix", s(&m), "--emit-slurm", s(&job)]);
    assert!(err.contains("holds a job of another matrix"), "{err}");
    // ... and collecting the changed matrix against the job says how to collect it.
    let err = fails(&["matrix", s(&m), "--collect", s(&job), "--out", s(&out)]);
    assert!(err.contains("changed since it was emitted") && err.contains(&man.matrix_file), "{err}");
}

#[test]
fn shards_collect_into_the_bytes_of_a_local_run() {
    let (dir, m) = setup("shards");
    let local = dir.join("local");
    ok(&["matrix", s(&m), "--out", s(&local), "--jobs", "1", "--quiet"]);
    let shared = dir.join("shared-out");
    // Three shards, as GNU parallel would start them; the second is left out at first.
    for k in ["1/3", "3/3"] {
        let said = ok(&["matrix", s(&m), "--shard", k, "--out", s(&shared), "--quiet"]);
        assert!(said.contains("--collect"), "{said}");
    }
    let out = dir.join("out");
    let err = fails(&["matrix", s(&m), "--collect", s(&shared), "--out", s(&out)]);
    // Shard 2 of 3 of 8 cells is cells 2..5.
    assert!(err.contains("3 of 8 cells have no result") && err.contains("--cell-range 2..5"), "{err}");
    ok(&["matrix", s(&m), "--shard", "2/3", "--out", s(&shared), "--quiet"]);
    ok(&["matrix", s(&m), "--collect", s(&shared), "--out", s(&out)]);
    assert_eq!(read(&out.join("results.csv")), read(&local.join("results.csv")));
    assert_eq!(read(&out.join("summary.csv")), read(&local.join("summary.csv")));
}

#[test]
fn records_of_other_code_run_again_unless_reuse_stale() {
    let (dir, m) = setup("stale");
    let out = dir.join("out");
    ok(&["matrix", s(&m), "--out", s(&out), "--quiet"]);
    let fresh = read(&out.join("results.csv"));
    // Two records made by "other code".
    let cells = out.join("cells");
    let mut records: Vec<PathBuf> = std::fs::read_dir(&cells).unwrap().map(|e| e.unwrap().path()).collect();
    records.sort();
    let old = "0.0.1+src.0123456789abcdef";
    for r in &records[..2] {
        let mut v: serde_json::Value = serde_json::from_slice(&read(r)).unwrap();
        v["code_version"] = old.into();
        std::fs::write(r, serde_json::to_vec(&v).unwrap()).unwrap();
    }
    // --reuse-stale keeps them, and the outputs say which code made which numbers.
    let said = ok(&["matrix", s(&m), "--out", s(&out), "--reuse-stale", "--quiet"]);
    assert!(said.contains("0 run now") && said.contains("2 of them made by other code"), "{said}");
    let results = String::from_utf8(read(&out.join("results.csv"))).unwrap();
    assert_eq!(results.matches(old).count(), 2, "{results}");
    let summary = String::from_utf8(read(&out.join("summary.csv"))).unwrap();
    let all = summary.lines().nth(1).unwrap();
    assert!(all.starts_with("all,all,8,") && all.contains(old) && all.contains(" "), "{summary}");
    // A collect also refuses them without --reuse-stale.
    let err = fails(&["matrix", s(&m), "--collect", s(&out), "--out", s(&dir.join("c"))]);
    assert!(err.contains("2 of 8 cells have no result") && err.contains("--reuse-stale"), "{err}");
    ok(&["matrix", s(&m), "--collect", s(&out), "--out", s(&dir.join("c")), "--reuse-stale"]);
    // Without the flag they run again, and the results are the fresh run's.
    let said = ok(&["matrix", s(&m), "--out", s(&out), "--quiet"]);
    assert!(said.contains("2 run now") && said.contains("2 re-run because other code made them"), "{said}");
    assert_eq!(read(&out.join("results.csv")), fresh);
}

#[test]
fn bad_flags_manifests_and_folders_get_errors() {
    let (dir, m) = setup("bad");
    let m = s(&m);
    let out = dir.join("out");
    let o = s(&out);
    for (args, needle) in [
        (vec!["--shard", "0/3"], "shard `0/3`: expected K/N"),
        (vec!["--shard", "4/3"], "expected K/N with 1 <= K <= N"),
        (vec!["--cell-range", "5..2"], "cell range `5..2`: expected A..B with 0 <= A < B <= 8"),
        (vec!["--cell-range", "0..9"], "the matrix has 8 cells"),
        (vec!["--cell-range", "0..2", "--shard", "1/2"], "cannot be used with"),
        (vec!["--cells-per-task", "2"], "--emit-slurm"),
        (vec!["--emit-slurm", s(&dir.join("j0")), "--cells-per-task", "0"], "--cells-per-task must be at least 1"),
        (vec!["--emit-slurm", s(&dir.join("j1")), "--sbatch-option=--array=0-3"], "sets --array itself"),
        (vec!["--emit-slurm", s(&dir.join("j2")), "--sbatch-option", "time=5"], "one sbatch option per flag"),
        (vec!["--emit-slurm", s(&dir.join("shared"))], "is not empty and holds no job"),
        (vec!["--collect", s(&dir.join("nothing-here"))], "neither a job folder"),
    ] {
        let mut a = vec!["matrix", m, "--out", o];
        if args[0] == "--emit-slurm" || args[0] == "--cells-per-task" {
            a = vec!["matrix", m];
        }
        a.extend(args.iter().copied());
        let err = fails(&a);
        assert!(err.contains(needle), "{a:?}: expected `{needle}` in:\n{err}");
    }

    // Manifests: not JSON, another format, tasks that do not cover the cells.
    let job = dir.join("job");
    ok(&["matrix", m, "--emit-slurm", s(&job), "--cells-per-task", "4"]);
    let path = job.join("manifest.json");
    let good = read(&path);
    let text = String::from_utf8(good.clone()).unwrap();
    for (broken, needle) in [
        ("{\"format\": 1, \"matrix\"".to_owned(), "not a manifest of `mpquic matrix --emit-slurm`"),
        (text.replacen("\"format\": 1", "\"format\": 7", 1), "manifest format Some(7); this mpquic reads format 1"),
        (text.replacen("\"cells_per_task\": 4", "\"cells_per_tusk\": 4", 1), "malformed manifest: unknown field"),
        (text.replacen("\"cells\": [\n        4,", "\"cells\": [\n        5,", 1), "do not cover its cells"),
    ] {
        assert_ne!(broken, text, "the test's edit applies");
        std::fs::write(&path, &broken).unwrap();
        let err = fails(&["matrix", m, "--collect", s(&job), "--out", o]);
        assert!(err.contains(needle) && err.contains("manifest.json"), "expected `{needle}` in:\n{err}");
    }
    std::fs::write(&path, &good).unwrap();
    let err = fails(&["matrix", m, "--collect", s(&job), "--out", o]);
    assert!(err.contains("8 of 8 cells have no result (2 of 2 tasks)") && err.contains("--array=0-1"), "{err}");
}
