//! Packet number encoding and decoding (RFC 9000 §17.1, Appendix A.2 and A.3).
//!
//! A packet number is sent truncated to 1-4 bytes, long enough that the receiver can recover
//! it from the largest packet number it has processed in the same space.

use bytes::BufMut;

/// Bytes needed to send `full_pn` so that the peer, which has acknowledged up to
/// `largest_acked` (`None` if nothing yet), can recover it (RFC 9000 §17.1, Appendix A.2):
/// the encoding must cover more than twice the number of packets in flight.
pub fn encoded_len(full_pn: u64, largest_acked: Option<u64>) -> usize {
    let num_unacked = match largest_acked {
        None => full_pn.saturating_add(1),
        Some(largest) => full_pn.saturating_sub(largest).max(1),
    };
    // RFC 9000 A.2: num_bytes = ceil((log2(num_unacked) + 1) / 8), i.e. the smallest b with
    // num_unacked <= 2^(8b - 1).
    (1..=4).find(|b| num_unacked <= 1u64 << (8 * b - 1)).unwrap_or(4)
}

/// The low `len` bytes of `full_pn` (`len` in 1..=4).
pub fn truncate(full_pn: u64, len: usize) -> u32 {
    let len = len.clamp(1, 4);
    (full_pn & ((1u64 << (8 * len)) - 1)) as u32
}

/// Writes the low `len` bytes of `full_pn` big-endian (`len` in 1..=4).
pub fn encode<B: BufMut + ?Sized>(buf: &mut B, full_pn: u64, len: usize) {
    let len = len.clamp(1, 4);
    let bytes = truncate(full_pn, len).to_be_bytes();
    buf.put_slice(&bytes[4 - len..]);
}

/// Recovers a full packet number from `truncated_pn` of `len` bytes, given the largest packet
/// number processed so far in its space (`None` if none) (RFC 9000 Appendix A.3).
pub fn decode(truncated_pn: u32, len: usize, largest_pn: Option<u64>) -> u64 {
    let len = len.clamp(1, 4);
    let expected = largest_pn.map_or(0, |l| l + 1);
    let win = 1u64 << (8 * len);
    let hwin = win / 2;
    let mask = win - 1;
    let candidate = (expected & !mask) | (u64::from(truncated_pn) & mask);
    // The candidate is the closest value to `expected` with the right low bits.
    if expected.checked_sub(hwin).is_some_and(|low| candidate <= low) && candidate < (1u64 << 62) - win {
        candidate + win
    } else if candidate > expected + hwin && candidate >= win {
        candidate - win
    } else {
        candidate
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc9000_a2_examples() {
        // RFC 9000 §17.1: largest acked 0xabe8b3, sending 0xac5c02 needs 16 bits ...
        assert_eq!(encoded_len(0xac5c02, Some(0xabe8b3)), 2);
        // ... and sending 0xace8fe needs 24 bits.
        assert_eq!(encoded_len(0xace8fe, Some(0xabe8b3)), 3);
        assert_eq!(encoded_len(0, None), 1);
        assert_eq!(encoded_len(127, None), 1);
        assert_eq!(encoded_len(128, None), 2);
        assert_eq!(encoded_len(1 << 40, Some(0)), 4);
        let mut buf = Vec::new();
        encode(&mut buf, 0xac5c02, 2);
        assert_eq!(buf, [0x5c, 0x02]);
    }

    #[test]
    fn rfc9000_a3_example() {
        // RFC 9000 §A.3: largest 0xa82f30ea, 16-bit truncated 0x9b32 -> 0xa82f9b32.
        assert_eq!(decode(0x9b32, 2, Some(0xa82f30ea)), 0xa82f9b32);
        assert_eq!(decode(0, 1, None), 0);
        // Wrap forward and backward.
        assert_eq!(decode(0x01, 1, Some(0xff)), 0x101);
        assert_eq!(decode(0xff, 1, Some(0x100)), 0xff);
        // Near the top of the number space nothing overflows.
        let top = (1u64 << 62) - 1;
        assert_eq!(decode(truncate(top, 4), 4, Some(top - 1)), top);
    }

    proptest! {
        #[test]
        fn roundtrip(largest_acked in proptest::option::of(0u64..(1 << 40)), delta in 1u64..(1 << 30)) {
            let full = largest_acked.map_or(delta - 1, |l| l + delta);
            let len = encoded_len(full, largest_acked);
            // The receiver has processed at least up to largest_acked.
            prop_assert_eq!(decode(truncate(full, len), len, largest_acked), full);
        }

        #[test]
        fn never_panics(t: u32, len in 0usize..6, largest: Option<u64>) {
            let _ = decode(t, len, largest.map(|l| l & ((1 << 62) - 1)));
        }
    }
}
