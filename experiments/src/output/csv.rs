//! Per-path time series as CSV: one row per sample.

use std::fmt::Write;

use crate::metrics::PathSeries;

/// The CSV text of one path's series, with a header row.
pub fn series_csv(series: &PathSeries) -> String {
    let mut out = String::from("time_s,active,cwnd_bytes,srtt_ms,bytes_in_flight,bytes_delivered,goodput_mbps\n");
    for s in &series.samples {
        let _ = writeln!(
            out,
            "{:.3},{},{},{:.3},{},{},{:.3}",
            s.time_s,
            u8::from(s.active),
            s.cwnd_bytes,
            s.srtt_ms,
            s.bytes_in_flight,
            s.bytes_delivered,
            s.goodput_mbps
        );
    }
    out
}

/// The comparisons of a `--netns` run (`comparisons.csv`): one row per protocol and seed, one
/// `bytes_down_<path>` column per scenario path (the client devices' receive counters).
pub fn comparisons_csv(comparisons: &[crate::metrics::Comparison]) -> String {
    let paths: Vec<&str> =
        comparisons.first().map(|c| c.paths.iter().map(|p| p.name.as_str()).collect()).unwrap_or_default();
    let mut out = String::from(
        "seed,protocol,completed,error,goodput_mbps,completion_time_s,longest_delivery_gap_ms,congestion_controller",
    );
    for p in &paths {
        let _ = write!(out, ",bytes_down_{p}");
    }
    out.push('\n');
    let opt = |v: Option<f64>| v.map(|v| format!("{v:.6}")).unwrap_or_default();
    for c in comparisons {
        // A field with a comma or quote is quoted, quotes doubled (RFC 4180).
        let error = c.error.as_deref().map(|e| format!("\"{}\"", e.replace('"', "\"\""))).unwrap_or_default();
        let _ = write!(
            out,
            "{},{},{},{},{:.6},{},{},{}",
            c.seed,
            c.protocol,
            c.completed,
            error,
            c.goodput_mbps,
            opt(c.completion_time_s),
            opt(c.longest_delivery_gap_ms),
            c.congestion_controller.as_deref().unwrap_or("")
        );
        for p in &c.paths {
            let _ = write!(out, ",{}", p.bytes_down);
        }
        out.push('\n');
    }
    out
}
