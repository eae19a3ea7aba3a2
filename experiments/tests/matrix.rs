//! `mpquic matrix`: cells expand as documented, results do not depend on the number of jobs, a
//! re-run resumes (skipping whole records only), a changed matrix never reuses a stale cell, bad
//! files get errors with the field and its line, and a reduced CoNEXT'17 WSP matrix (a few rows
//! of the paper's table, a small download) runs end to end.

#[path = "common/cluster.rs"]
mod cluster;
mod common;

use std::path::{Path, PathBuf};

use mpquic_experiments::matrix::{self, Matrix, MatrixError, RunSettings};

// Two paths, a 150 kB download, single-path baselines: a cell takes milliseconds (the template
// the cluster tests share).
use cluster::TEMPLATE;

const MATRIX: &str = r#"
name = "t"
template = "tiny.toml"
seeds = [1, 2]

[[sweep]]
field = "transport.scheduler"
values = ["minrtt", "roundrobin"]

[[sweep]]
name = "loss"
variants = [
  { label = "none" },
  { label = "lossy", set = { "paths[0].down.loss" = 0.02 } },
]

[report]
group_by = ["transport.scheduler"]
"#;

/// A directory holding `tiny.toml` and `m.toml` (the matrix text given).
fn setup(name: &str, matrix: &str) -> common::TempDir {
    let dir = common::temp_dir(name);
    std::fs::write(dir.join("tiny.toml"), TEMPLATE).unwrap();
    std::fs::write(dir.join("m.toml"), matrix).unwrap();
    dir
}

fn run(m: &Matrix, out: &Path, jobs: usize) -> matrix::MatrixOutcome {
    matrix::run(m, &RunSettings::new(out, jobs)).unwrap()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

#[test]
fn cells_are_the_product_of_sweeps_and_seeds_in_order() {
    let dir = setup("expand", MATRIX);
    let m = Matrix::load(&dir.join("m.toml")).unwrap();
    assert_eq!(m.param_columns, ["transport.scheduler", "loss", "seed"]);
    let params: Vec<String> = m.cells.iter().map(|c| c.params.join(" ")).collect();
    assert_eq!(
        params,
        [
            "minrtt none 1",
            "minrtt none 2",
            "minrtt lossy 1",
            "minrtt lossy 2",
            "roundrobin none 1",
            "roundrobin none 2",
            "roundrobin lossy 1",
            "roundrobin lossy 2"
        ]
    );
    assert_eq!(m.cells[6].scenario.transport.scheduler, "roundrobin");
    assert_eq!(m.cells[6].scenario.paths[0].down.loss, 0.02);
    assert_eq!(m.cells[4].scenario.paths[0].down.loss, 0.0);
    let keys: std::collections::BTreeSet<&str> = m.cells.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(keys.len(), 8, "every cell has its own key");
}

#[test]
fn results_do_not_depend_on_the_number_of_jobs() {
    let dir = setup("jobs", MATRIX);
    let m = Matrix::load(&dir.join("m.toml")).unwrap();
    let one = run(&m, &dir.join("one"), 1);
    let three = run(&m, &dir.join("three"), 3);
    assert_eq!(one.ran, 8);
    assert_eq!(three.ran, 8);
    let text = read(&one.results_csv);
    assert_eq!(text, read(&three.results_csv));
    assert_eq!(read(&one.summary_csv), read(&three.summary_csv));
    assert_eq!(text.lines().count(), 9, "header + one row per cell:\n{text}");
    assert!(text.starts_with("cell,transport.scheduler,loss,seed,completed,"), "{text}");
    assert!(text
        .lines()
        .next()
        .unwrap()
        .ends_with("baseline_goodput_mbps_a,baseline_goodput_mbps_b,eaben,best_path_first,code_version,error"));
    for r in &one.results {
        assert!(r.completed && r.error.is_none(), "{r:?}");
        assert!(r.eaben.is_some() && r.best_path_first == Some(true), "{r:?}");
        assert!(r.bytes_delivered_down.iter().all(|(_, b)| *b > 0), "both paths carried data: {r:?}");
    }
    // The summary: the whole matrix, then one row per scheduler.
    assert_eq!(one.groups.len(), 3);
    assert_eq!((one.groups[1].key[0].as_str(), one.groups[1].cells), ("minrtt", 4));
}

#[test]
fn a_rerun_skips_recorded_cells_and_reruns_missing_or_broken_ones() {
    let dir = setup("resume", MATRIX);
    let m = Matrix::load(&dir.join("m.toml")).unwrap();
    let out = dir.join("out");
    let first = run(&m, &out, 2);
    let expected = read(&first.results_csv);
    let again = run(&m, &out, 2);
    assert_eq!((again.ran, again.reused), (0, 8));
    assert_eq!(read(&again.results_csv), expected);

    // A killed run: one record never written, one cut in half, a stray temporary file.
    let cells = out.join("cells");
    std::fs::remove_file(cells.join(format!("{}.json", m.cells[0].key))).unwrap();
    let half = cells.join(format!("{}.json", m.cells[5].key));
    let text = read(&half);
    std::fs::write(&half, &text[..text.len() / 2]).unwrap();
    std::fs::write(cells.join(format!("{}.partial", m.cells[3].key)), "{\"key\":").unwrap();
    // A record that names another key is not trusted either.
    let moved = cells.join(format!("{}.json", m.cells[7].key));
    std::fs::write(&moved, read(&cells.join(format!("{}.json", m.cells[6].key)))).unwrap();
    let resumed = run(&m, &out, 2);
    assert_eq!((resumed.ran, resumed.reused), (3, 5));
    assert_eq!(read(&resumed.results_csv), expected, "resumed results equal a fresh run's");
}

#[test]
fn a_changed_matrix_does_not_reuse_stale_cells() {
    let dir = setup("stale", MATRIX);
    let out = dir.join("out");
    let m = Matrix::load(&dir.join("m.toml")).unwrap();
    run(&m, &out, 2);
    // The template changes under the same sweep values: every cell is new.
    std::fs::write(dir.join("tiny.toml"), TEMPLATE.replace("bytes = 150000", "bytes = 120000")).unwrap();
    let changed = Matrix::load(&dir.join("m.toml")).unwrap();
    let r = run(&changed, &out, 2);
    assert_eq!((r.ran, r.reused), (8, 0));
    assert!(r.results.iter().all(|x| x.app_bytes_received == 120000));
    // One sweep value changes: only its cells run again; the stale ones stay out of results.csv.
    std::fs::write(dir.join("m.toml"), MATRIX.replace("\"roundrobin\"", "\"redundant\"")).unwrap();
    let swept = Matrix::load(&dir.join("m.toml")).unwrap();
    let r = run(&swept, &out, 2);
    assert_eq!((r.ran, r.reused), (4, 4));
    let text = read(&r.results_csv);
    assert!(!text.contains("roundrobin") && text.contains("redundant"), "{text}");
    assert_eq!(text.lines().count(), 9);
}

fn load_error(matrix: &str) -> String {
    let dir = setup("errors", matrix);
    match Matrix::load(&dir.join("m.toml")) {
        Ok(_) => panic!("expected an error for\n{matrix}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_matrix_files_name_the_field_and_line() {
    // Unknown key: toml names it, its line and the allowed keys.
    let e = load_error(&MATRIX.replace("seeds = [1, 2]", "seeds = [1, 2]\nsedes = 3"));
    assert!(e.contains("line 5") && e.contains("sedes") && e.contains("template"), "{e}");
    // A value the scenario rejects: the sweep value's line, the scenario's reason.
    let e = load_error(&MATRIX.replace("\"roundrobin\"]", "\"fastest\"]"));
    assert!(e.contains("sweep[0].values[1]") && e.contains("line 8") && e.contains("minrtt"), "{e}");
    // A field the scenario does not have.
    let e = load_error(&MATRIX.replace("transport.scheduler\"", "transport.schedular\""));
    assert!(e.contains("sweep[0]") && e.contains("schedular") && e.contains("scheduler"), "{e}");
    // A variant setting a path that does not exist.
    let e = load_error(&MATRIX.replace("paths[0].down.loss", "paths[4].down.loss"));
    assert!(e.contains("sweep[1].variants[1]") && e.contains("has 2 entries") && e.contains("line 14"), "{e}");
    // Neither form of sweep; a group that is no column.
    let e = load_error(&MATRIX.replace("values = [\"minrtt\", \"roundrobin\"]", ""));
    assert!(e.contains("sweep[0]") && e.contains("`variants`"), "{e}");
    let e = load_error(&MATRIX.replace("group_by = [\"transport.scheduler\"]", "group_by = [\"klass\"]"));
    assert!(e.contains("report.group_by[0]") && e.contains("klass") && e.contains("best_path_first"), "{e}");
    // A missing template names its path.
    let e = load_error(&MATRIX.replace("tiny.toml", "nope.toml"));
    assert!(e.contains("nope.toml"), "{e}");
    // A CSV filter on a column the table lacks lists its columns.
    let wsp = wsp_matrix("where = { klass = [\"x\"] }", 150000);
    let dir = setup("errors-csv", &wsp);
    let e = Matrix::load(&dir.join("m.toml")).unwrap_err();
    assert!(matches!(e, MatrixError::Invalid { .. }));
    let e = e.to_string();
    assert!(e.contains("csv.where.klass") && e.contains("p0_bw_mbps"), "{e}");
}

/// The paper's WSP table, the preset mapping, both initial paths, a small download.
fn wsp_matrix(select: &str, bytes: u64) -> String {
    let csv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../papers/conext17-mpquic/conext17_wsp_scenarios.csv");
    format!(
        r#"
name = "wsp-reduced"
template = "tiny.toml"
[csv]
file = "{}"
preset = "conext17-wsp"
{select}
[[sweep]]
field = "initial_path"
values = ["a", "b"]
[[sweep]]
field = "workload.bytes"
values = [{bytes}]
[report]
group_by = ["class", "best_path_first"]
"#,
        csv.display()
    )
}

#[test]
fn reduced_conext17_wsp_rows_run_with_both_paths_first() {
    // The CSV names its paths p0 and p1; the preset addresses them by index, so the template's
    // `a` and `b` take the rows' p0 and p1 values.
    let text = wsp_matrix("where = { class = [\"low_bdp_no_loss\", \"high_bdp_losses\"], scenario = [0, 1] }", 300_000);
    let dir = setup("wsp", &text);
    let m = Matrix::load(&dir.join("m.toml")).unwrap();
    assert_eq!(m.cells.len(), 8, "2 classes x 2 scenarios x 2 initial paths");
    let first = &m.cells[0].scenario;
    // low_bdp_no_loss scenario 0: p0 51.83 Mbit/s, 10.5 ms, 95 packets; p1 45.38 Mbit/s, 13.3 ms.
    assert_eq!(
        (first.paths[0].name.as_str(), first.paths[0].up.rate_mbps, first.paths[0].down.delay_ms),
        ("a", 51.83, 10.5)
    );
    assert_eq!(first.paths[1].down.rate_mbps, 45.38);
    let q = first.paths[0].down.queue.unwrap();
    assert_eq!((q.packets, q.bytes, q.bdp), (Some(95), None, None));
    // Path b first: the same links, in the other order.
    let swapped = &m.cells[1].scenario;
    assert_eq!((swapped.paths[0].name.as_str(), swapped.paths[0].up.rate_mbps), ("b", 45.38));
    // high_bdp_losses: the loss percentage becomes a probability in both directions.
    let lossy = m.cells.iter().find(|c| c.params[0] == "high_bdp_losses").unwrap();
    let pct: f64 = lossy.params[7].parse().unwrap();
    assert!((lossy.scenario.paths[0].up.loss - pct / 100.0).abs() < 1e-12);
    assert_eq!(lossy.scenario.paths[0].up.loss, lossy.scenario.paths[0].down.loss);

    let r = run(&m, &dir.join("out"), 2);
    let text = read(&r.results_csv);
    for (cell, res) in m.cells.iter().zip(&r.results) {
        assert!(res.eaben.is_some() && res.best_path_first.is_some(), "{cell:?}\n{text}");
    }
    // The twin with the other path first has the same single-path baselines, and the opposite
    // best-path-first flag (the baselines differ on these rows).
    for pair in r.results.chunks(2) {
        assert_eq!(pair[0].baseline_goodput_mbps.len(), 2);
        let sorted = |v: &[(String, f64)]| {
            let mut v = v.to_vec();
            v.sort_by(|x, y| x.0.cmp(&y.0));
            v
        };
        assert_eq!(sorted(&pair[0].baseline_goodput_mbps), sorted(&pair[1].baseline_goodput_mbps));
        assert_ne!(pair[0].best_path_first, pair[1].best_path_first, "{text}");
    }
    let summary = read(&r.summary_csv);
    assert!(summary.starts_with("class,best_path_first,cells,completed,median_goodput_mbps,eaben_cells,"), "{summary}");
    assert!(summary.contains("\nlow_bdp_no_loss,true,2,"), "{summary}");
}

#[test]
fn shipped_matrix_files_load() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let wlan = Matrix::load(&common::scenario_file("matrix_wlan_3g.toml")).unwrap();
    assert_eq!(wlan.cells.len(), 7 * 2 * 2 * 2);
    let papers = root.join("../papers/conext17-mpquic");
    let full = Matrix::load(&papers.join("wsp_matrix.toml")).unwrap();
    assert_eq!(full.cells.len(), 4 * 253 * 2 * 2);
    let subset = Matrix::load(&papers.join("wsp_subset.toml")).unwrap();
    assert_eq!(subset.cells.len(), 4 * 25 * 2 * 2);
    // The subset's cells are cells of the full matrix (same keys): its records serve both.
    let keys: std::collections::BTreeSet<&str> = full.cells.iter().map(|c| c.key.as_str()).collect();
    assert!(subset.cells.iter().all(|c| keys.contains(c.key.as_str())));
    // CoNEXT-as-run: every queue is 1000 packets whatever the row says.
    let as_run = full.cells.iter().find(|c| c.params.contains(&"conext-as-run".to_owned())).unwrap();
    for p in &as_run.scenario.paths {
        assert_eq!(p.up.queue.and_then(|q| q.packets), Some(1000));
        assert_eq!(p.down.queue.and_then(|q| q.packets), Some(1000));
    }
}

#[test]
fn a_csv_row_the_scenario_rejects_names_its_line() {
    let dir = setup("csv-row", "");
    std::fs::write(dir.join("rows.csv"), "id,rate\n1,10\n2,-5\n").unwrap();
    std::fs::write(
        dir.join("m.toml"),
        "name = \"r\"\ntemplate = \"tiny.toml\"\n[csv]\nfile = \"rows.csv\"\n\
         columns = { rate = { fields = [\"paths[0].up.rate_mbps\"] } }\n",
    )
    .unwrap();
    let e = Matrix::load(&dir.join("m.toml")).unwrap_err().to_string();
    assert!(e.contains("rows.csv, line 3") && e.contains("paths[0].up.rate_mbps"), "{e}");
    // A column the CSV lacks lists the columns it has.
    std::fs::write(dir.join("rows.csv"), "id,speed\n1,10\n").unwrap();
    let e = Matrix::load(&dir.join("m.toml")).unwrap_err().to_string();
    assert!(e.contains("csv.columns.rate") && e.contains("line 5") && e.contains("speed"), "{e}");
}

/// Without a terminal (a CI log, `2> file`) indicatif draws no bar, so `mpquic matrix` prints
/// plain progress lines instead; the last one counts every cell. `--quiet` prints none.
#[test]
fn matrix_progress_is_printed_without_a_terminal() {
    let dir = setup("matrix-progress", MATRIX);
    let out = dir.join("out");
    let run = |quiet: bool| {
        let mut cmd = std::process::Command::new(common::BIN);
        cmd.arg("matrix").arg(dir.join("m.toml")).arg("--out").arg(&out).args(["--jobs", "2"]);
        if quiet {
            cmd.arg("--quiet");
        }
        let output = cmd.output().expect("mpquic runs");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let quiet = run(true);
    assert!(!quiet.contains("cells,"), "--quiet printed progress: {quiet}");
    std::fs::remove_dir_all(&out).unwrap();
    let said = run(false);
    assert!(said.lines().any(|l| l.starts_with("8/8 cells, ")), "no final progress line in:\n{said}");
    let _ = std::fs::remove_dir_all(&dir);
}
