//! Simulator speed: how much virtual time one run simulates per second of wall-clock time and
//! per second of CPU time, over repeated runs of one scenario (issue 6: a 2-path 50 + 20 Mbit/s
//! bulk transfer must run at least 20x faster than real time).
//!
//! Wall-clock time depends on what else the machine runs; the process's CPU time (`getrusage`,
//! every thread: the simulator's and, with qlog, the trace writer's) much less, so both are
//! reported, with the load average.
//! Each repetition runs the same seed, so each must give the same summary: a repetition that does
//! not is reported as a determinism failure.

use std::time::Instant;

use serde::Serialize;

use crate::runner::{run_once_with, QlogOptions, RunError};
use crate::scenario::Scenario;

/// The benchmark scenario shipped as `experiments/scenarios/speed_2path.toml`.
pub const SPEED_TOML: &str = include_str!("../scenarios/speed_2path.toml");

/// One timed run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SpeedSample {
    /// Virtual time simulated, s.
    pub simulated_s: f64,
    /// Wall-clock time, s.
    pub wall_s: f64,
    /// CPU time of the process while it ran (the simulator and, with qlog, the thread writing
    /// the traces), s (`None` where the OS does not tell).
    pub cpu_s: Option<f64>,
    /// UDP datagrams the two endpoints sent (each one built, sealed, carried through the link
    /// model, opened and processed).
    pub datagrams: u64,
    /// Bytes of qlog the run wrote (0 with qlog off).
    pub qlog_bytes: u64,
}

impl SpeedSample {
    /// Simulated time over wall-clock time.
    pub fn wall_ratio(&self) -> f64 {
        self.simulated_s / self.wall_s.max(1e-9)
    }

    /// Simulated time over CPU time.
    pub fn cpu_ratio(&self) -> Option<f64> {
        self.cpu_s.map(|c| self.simulated_s / c.max(1e-9))
    }

    /// CPU time per simulated datagram, µs: the cost of one packet's whole life in the
    /// simulator, sender and receiver together.
    pub fn cpu_us_per_datagram(&self) -> Option<f64> {
        self.cpu_s.filter(|_| self.datagrams > 0).map(|c| c * 1e6 / self.datagrams as f64)
    }
}

/// The result of [`measure`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpeedReport {
    /// Scenario name.
    pub scenario: String,
    /// Seed of every repetition.
    pub seed: u64,
    /// What the runs traced: `off`, `events` (state changes, metrics, losses, path events) or
    /// `packets` (also every packet with its frames).
    pub qlog: &'static str,
    /// Each repetition, in order.
    pub samples: Vec<SpeedSample>,
    /// Median of simulated / wall-clock time.
    pub median_wall_ratio: f64,
    /// Median of simulated / CPU time.
    pub median_cpu_ratio: Option<f64>,
    /// Median CPU time per simulated datagram, µs.
    pub median_cpu_us_per_datagram: Option<f64>,
    /// 1-, 5- and 15-minute load averages when the measurement ended (Linux `/proc/loadavg`).
    pub load_average: Option<[f64; 3]>,
    /// Every repetition gave the same summary.
    pub deterministic: bool,
    /// The run completed its workload.
    pub completed: bool,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// CPU time (user + system) the process has used so far, every thread counted, s.
pub fn process_cpu_s() -> Option<f64> {
    use nix::sys::resource::{getrusage, UsageWho};
    let u = getrusage(UsageWho::RUSAGE_SELF).ok()?;
    let s = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    Some(s(u.user_time()) + s(u.system_time()))
}

/// The load averages of `/proc/loadavg`.
pub fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = text.split_whitespace().map(|x| x.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// Runs `scenario` with `seed` `repeat` times (at least once) and times each run, each writing
/// its qlog traces where `qlog` says (the same files every time: same seed, same names). The
/// time to write them counts: it is what a run with that qlog setting costs.
pub fn measure(
    scenario: &Scenario,
    seed: u64,
    repeat: usize,
    qlog: Option<&QlogOptions>,
) -> Result<SpeedReport, RunError> {
    let mut samples = Vec::new();
    let mut first = None;
    let mut deterministic = true;
    for _ in 0..repeat.max(1) {
        let cpu0 = process_cpu_s();
        let t0 = Instant::now();
        let out = run_once_with(scenario, seed, qlog)?;
        let wall_s = t0.elapsed().as_secs_f64();
        let cpu_s = cpu0.zip(process_cpu_s()).map(|(a, b)| b - a);
        let qlog_bytes = out.qlog_files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
        samples.push(SpeedSample {
            simulated_s: out.summary.simulated_s,
            wall_s,
            cpu_s,
            datagrams: out.datagrams_sent,
            qlog_bytes,
        });
        match &first {
            None => first = Some(out.summary),
            Some(f) => deterministic &= *f == out.summary,
        }
    }
    let median_wall_ratio = median(samples.iter().map(SpeedSample::wall_ratio).collect());
    let cpu: Option<Vec<f64>> = samples.iter().map(SpeedSample::cpu_ratio).collect();
    let per_datagram: Option<Vec<f64>> = samples.iter().map(SpeedSample::cpu_us_per_datagram).collect();
    Ok(SpeedReport {
        scenario: scenario.name.clone(),
        seed,
        qlog: match qlog {
            None => "off",
            Some(q) if q.packets => "packets",
            Some(_) => "events",
        },
        median_wall_ratio,
        median_cpu_ratio: cpu.map(median),
        median_cpu_us_per_datagram: per_datagram.map(median),
        load_average: load_average(),
        deterministic,
        completed: first.is_some_and(|f| f.completed),
        samples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(Vec::new()), 0.0);
    }

    #[test]
    fn a_short_run_is_timed_and_deterministic() {
        let mut s = Scenario::from_toml(SPEED_TOML, "speed").unwrap();
        s.workload = crate::scenario::Workload::Bulk { bytes: 200_000 };
        let r = measure(&s, 1, 2, None).unwrap();
        assert_eq!(r.samples.len(), 2);
        assert!(r.completed && r.deterministic, "{r:?}");
        assert!(r.samples.iter().all(|x| x.simulated_s > 0.0 && x.wall_s > 0.0));
        // 200 kB in packets of at most 1500 bytes, plus their acknowledgements.
        assert!(r.samples.iter().all(|x| x.datagrams > 200_000 / 1500), "{r:?}");
        assert_eq!(r.samples[0].datagrams, r.samples[1].datagrams, "same seed, same packets");
        assert!(r.median_wall_ratio > 0.0);
        assert_eq!(r.qlog, "off");
        assert!(r.samples.iter().all(|x| x.qlog_bytes == 0), "{r:?}");
        if cfg!(target_os = "linux") {
            assert!(r.median_cpu_ratio.is_some(), "Linux tells a thread's CPU time");
            // A run this short may read no CPU time at all (the kernel updates a running thread's
            // schedstat at scheduler events), so only the arithmetic is checked here.
            assert!(r.median_cpu_us_per_datagram.is_some(), "{r:?}");
            for x in &r.samples {
                let (cpu, us) = (x.cpu_s.unwrap(), x.cpu_us_per_datagram().unwrap());
                assert!((us - cpu * 1e6 / x.datagrams as f64).abs() < 1e-9, "{x:?}");
            }
        }
    }

    #[test]
    fn traced_runs_write_their_qlog_and_count_its_bytes() {
        let mut s = Scenario::from_toml(SPEED_TOML, "speed").unwrap();
        s.workload = crate::scenario::Workload::Bulk { bytes: 100_000 };
        let dir = std::env::temp_dir().join(format!("mpquic-speed-qlog-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut sizes = Vec::new();
        for packets in [false, true] {
            let q = QlogOptions { dir: dir.clone(), packets };
            let r = measure(&s, 1, 1, Some(&q)).unwrap();
            assert_eq!(r.qlog, if packets { "packets" } else { "events" });
            let on_disk: u64 = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
            assert!(r.completed && r.samples[0].qlog_bytes > 0, "{r:?}");
            assert_eq!(r.samples[0].qlog_bytes, on_disk, "both sides' files, as written");
            sizes.push(on_disk);
        }
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(sizes[1] > 2 * sizes[0], "packets log every packet: {sizes:?}");
    }
}
