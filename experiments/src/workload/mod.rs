//! The applications on both ends of a simulated connection: the client issues requests on
//! bidirectional streams (or waits for datagrams) and records when each answer is complete; the
//! server answers each request with the number of bytes it asks for.
//!
//! The wire format is minimal: a request is `[id: u64][response_bytes: u64]` followed by padding
//! up to the request size, then FIN; the response is `response_bytes` bytes then FIN. Datagrams
//! carry `[sequence: u64][send time ns: u64]` and padding.

mod client;
mod plan;
mod server;

pub use client::{ClientApp, DatagramRecord, RequestRecord};
pub use plan::{plan, RequestPlan, Start};
pub use server::ServerApp;

/// Size of the request header.
pub const REQUEST_HEADER_BYTES: usize = 16;
