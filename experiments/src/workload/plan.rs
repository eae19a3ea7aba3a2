//! Turns a scenario [`Workload`] into a list of requests with their start rules.

use crate::scenario::Workload;
use crate::sim::{ms_to_nanos, Nanos, SEC};

/// When a request may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// At this time after the connection is established (0: at once).
    At(Nanos),
    /// As soon as fewer than this many requests are outstanding.
    Window(u32),
}

/// One request of the workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestPlan {
    /// When it may start.
    pub start: Start,
    /// Bytes sent by the client (header included).
    pub request_bytes: u64,
    /// Bytes the server answers with.
    pub response_bytes: u64,
    /// Answer due this long after the request starts (video).
    pub deadline: Option<Nanos>,
}

/// The requests of a workload (empty for datagram flows).
pub fn plan(workload: &Workload) -> Vec<RequestPlan> {
    let header = super::REQUEST_HEADER_BYTES as u64;
    match *workload {
        Workload::Bulk { bytes } => {
            vec![RequestPlan { start: Start::At(0), request_bytes: header, response_bytes: bytes, deadline: None }]
        }
        Workload::Files { count, bytes, parallel } => (0..count)
            .map(|_| RequestPlan {
                start: Start::Window(parallel),
                request_bytes: header,
                response_bytes: bytes,
                deadline: None,
            })
            .collect(),
        Workload::RequestResponse { interval_ms, request_bytes, response_bytes, count } => (0..count)
            .map(|i| RequestPlan {
                start: Start::At(ms_to_nanos(interval_ms * f64::from(i))),
                request_bytes,
                response_bytes,
                deadline: None,
            })
            .collect(),
        Workload::Video { bitrate_mbps, chunk_s, chunks, deadline_s } => {
            let chunk_bytes = (bitrate_mbps * 1e6 / 8.0 * chunk_s).round() as u64;
            let period = (chunk_s * SEC as f64).round() as Nanos;
            let deadline = (deadline_s.unwrap_or(chunk_s) * SEC as f64).round() as Nanos;
            (0..chunks)
                .map(|i| RequestPlan {
                    start: Start::At(period * u64::from(i)),
                    request_bytes: header,
                    response_bytes: chunk_bytes.max(1),
                    deadline: Some(deadline),
                })
                .collect()
        }
        Workload::Datagrams { .. } => Vec::new(),
    }
}
