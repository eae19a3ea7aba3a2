//! The applications on both ends of a simulated connection: the client issues requests on
//! bidirectional streams (or waits for datagrams) and records when each answer is complete; the
//! server answers each request with the number of bytes it asks for.
//!
//! The wire format is minimal: a request is `[id: u64][response_bytes: u64]` followed by padding
//! up to the request size, then FIN; the response is `response_bytes` bytes then FIN, the byte at
//! stream offset `i` being `i mod 251` so that the client can check every byte. Datagrams
//! carry `[sequence: u64][send time ns: u64]` and padding.

mod client;
mod gaps;
mod plan;
mod server;

pub use client::{ClientApp, DatagramRecord, RequestRecord};
pub use gaps::DeliveryGaps;
pub use plan::{plan, RequestPlan, Start};
pub use server::ServerApp;

use bytes::{Buf, BufMut, BytesMut};

/// Size of the request header.
pub const REQUEST_HEADER_BYTES: usize = 16;

/// The bytes of request `id` of `plan`: `[id][response_bytes]`, zero-padded to the plan's
/// request size.
pub fn encode_request(id: u64, plan: &RequestPlan) -> BytesMut {
    let mut req = BytesMut::with_capacity((plan.request_bytes as usize).max(REQUEST_HEADER_BYTES));
    req.put_u64(id);
    req.put_u64(plan.response_bytes);
    req.resize((plan.request_bytes as usize).max(REQUEST_HEADER_BYTES), 0);
    req
}

/// `(id, response_bytes)` of a request, from its first [`REQUEST_HEADER_BYTES`]; `None` when
/// `header` is shorter.
pub fn decode_request_header(mut header: &[u8]) -> Option<(u64, u64)> {
    if header.len() < REQUEST_HEADER_BYTES {
        return None;
    }
    Some((header.get_u64(), header.get_u64()))
}

/// Period of the response byte pattern (a prime, so that it does not line up with packet sizes).
const PATTERN_PERIOD: usize = 251;

/// Bytes `0, 1, ..., 250, 0, 1, ...`: the response byte at stream offset `i` is
/// `pattern()[i % 251]`; a slice of length up to 64 KiB starts at any phase.
pub fn pattern() -> bytes::Bytes {
    static PATTERN: std::sync::OnceLock<bytes::Bytes> = std::sync::OnceLock::new();
    PATTERN.get_or_init(|| (0..64 * 1024 + PATTERN_PERIOD).map(|i| (i % PATTERN_PERIOD) as u8).collect()).clone()
}

/// The response bytes from stream offset `offset` on, at most `max_len` and at most 64 KiB (a
/// slice of [`pattern`], no copy).
pub fn pattern_chunk(offset: u64, max_len: u64) -> bytes::Bytes {
    let block = pattern();
    let phase = (offset % PATTERN_PERIOD as u64) as usize;
    let n = max_len.min((block.len() - PATTERN_PERIOD) as u64) as usize;
    block.slice(phase..phase + n)
}

/// Number of bytes of `data`, received at stream offset `offset`, that differ from the pattern.
pub fn pattern_mismatches(offset: u64, data: &[u8]) -> u64 {
    let block = pattern();
    let mut bad = 0;
    let mut at = offset;
    for piece in data.chunks(64 * 1024) {
        let phase = (at % PATTERN_PERIOD as u64) as usize;
        let expected = &block[phase..phase + piece.len()];
        if piece != expected {
            bad += piece.iter().zip(expected).filter(|(a, b)| a != b).count() as u64;
        }
        at += piece.len() as u64;
    }
    bad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_checks_offsets() {
        let p = pattern();
        assert_eq!(pattern_mismatches(0, &p[..1000]), 0);
        assert_eq!(pattern_mismatches(251 * 7 + 3, &p[3..60_000]), 0);
        // Longer than one 64 KiB piece.
        let long: Vec<u8> = (0..200_000u64).map(|i| ((i + 9) % 251) as u8).collect();
        assert_eq!(pattern_mismatches(9, &long), 0);
        assert_eq!(pattern_mismatches(10, &long), 200_000);
        assert_eq!(pattern_mismatches(1, &p[..10]), 10);
        let mut bad = p[5..200].to_vec();
        bad[17] ^= 1;
        assert_eq!(pattern_mismatches(5, &bad), 1);
        let chunk = pattern_chunk(1000, 70_000);
        assert_eq!(chunk.len(), 64 * 1024);
        assert_eq!(pattern_mismatches(1000, &chunk), 0);
        assert_eq!(pattern_chunk(3, 10).len(), 10);
    }

    #[test]
    fn request_header_round_trip() {
        let plan = RequestPlan { start: Start::At(0), request_bytes: 750, response_bytes: 123_456, deadline: None };
        let req = encode_request(7, &plan);
        assert_eq!(req.len(), 750);
        assert_eq!(decode_request_header(&req), Some((7, 123_456)));
        assert_eq!(decode_request_header(&req[..15]), None);
    }
}
