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
