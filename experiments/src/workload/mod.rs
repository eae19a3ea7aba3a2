//! The applications on both ends of a simulated connection: the client issues requests on
//! bidirectional streams (or waits for datagrams) and records when each answer is complete; the
//! server answers each request with the number of bytes it asks for.
//!
//! The wire format is minimal: a request is `[id: u64][response_bytes: u64]` followed by padding
//! up to the request size, then FIN; the response is `response_bytes` bytes then FIN, the byte at
//! stream offset `i` being `i mod 251` so that the client can check every byte. Datagrams
//! carry `[sequence: u64][send time ns: u64]` and padding.

mod client;
mod plan;
mod server;

pub use client::{ClientApp, DatagramRecord, RequestRecord};
pub use plan::{plan, RequestPlan, Start};
pub use server::ServerApp;

/// Size of the request header.
pub const REQUEST_HEADER_BYTES: usize = 16;

/// Period of the response byte pattern (a prime, so that it does not line up with packet sizes).
const PATTERN_PERIOD: usize = 251;

/// Bytes `0, 1, ..., 250, 0, 1, ...`: the response byte at stream offset `i` is
/// `pattern()[i % 251]`; a slice of length up to 64 KiB starts at any phase.
pub fn pattern() -> bytes::Bytes {
    static PATTERN: std::sync::OnceLock<bytes::Bytes> = std::sync::OnceLock::new();
    PATTERN.get_or_init(|| (0..64 * 1024 + PATTERN_PERIOD).map(|i| (i % PATTERN_PERIOD) as u8).collect()).clone()
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
    }
}
