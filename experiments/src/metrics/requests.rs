//! The request outcomes of a run, from the client application's records (the same for the
//! simulator and for real mode).

use super::{RequestSummary, Stat};
use crate::scenario::Workload;
use crate::workload::RequestRecord;

/// Completed requests, their latency (start to last response byte) and, for a video workload,
/// the chunks that missed their deadline (late, unfinished, or never started: `planned` counts
/// the requests of the plan).
pub fn request_summary(records: &[RequestRecord], planned: usize, workload: &Workload) -> RequestSummary {
    let latencies: Vec<f64> =
        records.iter().filter_map(|r| r.completed_ns.map(|c| (c - r.started_ns) as f64 / 1e6)).collect();
    let never_started =
        if matches!(workload, Workload::Video { .. }) { planned.saturating_sub(records.len()) } else { 0 };
    let deadlines_missed =
        records.iter().filter(|r| r.deadline_ns.is_some_and(|d| r.completed_ns.is_none_or(|c| c > d))).count()
            + never_started;
    RequestSummary { planned, completed: latencies.len(), latency_ms: Stat::of(&latencies), deadlines_missed }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(started_ns: u64, completed_ns: Option<u64>, deadline_ns: Option<u64>) -> RequestRecord {
        RequestRecord { id: 0, started_ns, completed_ns, bytes: 0, expected_bytes: 0, corrupt_bytes: 0, deadline_ns }
    }

    #[test]
    fn latencies_and_missed_deadlines() {
        let video = Workload::Video { bitrate_mbps: 1.0, chunk_s: 1.0, chunks: 4, deadline_s: None };
        let records = [
            record(0, Some(2_000_000), Some(5_000_000)),
            record(0, Some(6_000_000), Some(5_000_000)),
            record(0, None, Some(5_000_000)),
        ];
        let s = request_summary(&records, 4, &video);
        assert_eq!((s.planned, s.completed, s.deadlines_missed), (4, 2, 3));
        assert_eq!(s.latency_ms.max, 6.0);
        let bulk = Workload::Bulk { bytes: 1 };
        assert_eq!(request_summary(&records[..1], 1, &bulk).deadlines_missed, 0);
    }
}
