//! The Retry Integrity Tag (RFC 9001 §5.8).
//!
//! A Retry packet ends in a 16-byte AES-128-GCM tag computed over a pseudo-packet that prepends
//! the client's original Destination Connection ID to the Retry packet. The key and nonce are
//! fixed constants of QUIC v1, so the tag proves nothing about the server's identity: it only
//! lets the client discard Retry packets injected by an off-path attacker that never saw the
//! original DCID, and corrupted ones.

use ring::aead;

use crate::shared::MAX_CID_SIZE;

/// Length of the Retry Integrity Tag.
pub const RETRY_INTEGRITY_TAG_LEN: usize = 16;

/// RFC 9001 §5.8: the QUIC v1 Retry key.
const RETRY_KEY_V1: [u8; 16] =
    [0xbe, 0x0c, 0x69, 0x0b, 0x9f, 0x66, 0x57, 0x5a, 0x1d, 0x76, 0x6b, 0x54, 0xe3, 0x68, 0xc8, 0x4e];
/// RFC 9001 §5.8: the QUIC v1 Retry nonce.
const RETRY_NONCE_V1: [u8; 12] = [0x46, 0x15, 0x99, 0xd3, 0x5d, 0x63, 0x2b, 0xf2, 0x23, 0x98, 0x25, 0xbb];

fn retry_key() -> aead::LessSafeKey {
    // A 16-byte key for AES-128-GCM is always accepted.
    aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_128_GCM, &RETRY_KEY_V1).expect("16-byte AES-128 key"))
}

/// RFC 9001 §5.8: ODCID Length (1 byte) || Original Destination Connection ID || Retry packet
/// without its tag.
fn pseudo_packet(original_dcid: &[u8], retry_without_tag: &[u8]) -> Vec<u8> {
    let mut pseudo = Vec::with_capacity(1 + original_dcid.len() + retry_without_tag.len());
    // Callers bound the length to MAX_CID_SIZE, so it fits a byte.
    pseudo.push(original_dcid.len() as u8);
    pseudo.extend_from_slice(original_dcid);
    pseudo.extend_from_slice(retry_without_tag);
    pseudo
}

/// The Retry Integrity Tag for a Retry packet `retry_without_tag` (every byte of the packet up
/// to the tag) sent in answer to an Initial whose Destination Connection ID was
/// `original_dcid`. A server appends it to the Retry packet it builds.
///
/// Returns `None` if `original_dcid` is longer than 20 bytes (RFC 9000 §17.2).
pub fn retry_integrity_tag(original_dcid: &[u8], retry_without_tag: &[u8]) -> Option<[u8; RETRY_INTEGRITY_TAG_LEN]> {
    if original_dcid.len() > MAX_CID_SIZE {
        return None;
    }
    let aad = pseudo_packet(original_dcid, retry_without_tag);
    let tag = retry_key()
        .seal_in_place_separate_tag(
            aead::Nonce::assume_unique_for_key(RETRY_NONCE_V1),
            aead::Aad::from(&aad[..]),
            &mut [],
        )
        .ok()?;
    let mut out = [0u8; RETRY_INTEGRITY_TAG_LEN];
    out.copy_from_slice(tag.as_ref());
    Some(out)
}

/// Whether `retry_packet` (a whole Retry packet, tag included) carries a valid Retry Integrity
/// Tag for the client's `original_dcid` (RFC 9001 §5.8). A client discards a Retry that fails
/// this check (RFC 9000 §17.2.5.2). The comparison is constant-time.
pub fn is_valid_retry(original_dcid: &[u8], retry_packet: &[u8]) -> bool {
    if original_dcid.len() > MAX_CID_SIZE || retry_packet.len() < RETRY_INTEGRITY_TAG_LEN {
        return false;
    }
    let (without_tag, tag) = retry_packet.split_at(retry_packet.len() - RETRY_INTEGRITY_TAG_LEN);
    let aad = pseudo_packet(original_dcid, without_tag);
    // Opening an empty plaintext verifies the tag in constant time.
    let mut tag_copy = [0u8; RETRY_INTEGRITY_TAG_LEN];
    tag_copy.copy_from_slice(tag);
    retry_key()
        .open_in_place(aead::Nonce::assume_unique_for_key(RETRY_NONCE_V1), aead::Aad::from(&aad[..]), &mut tag_copy)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::test_util::hex;

    /// RFC 9001 Appendix A.4: Retry answering the A.2 Initial (original DCID 8394c8f03e515708).
    const A4_RETRY: &str = "ff000000010008f067a5502a4262b5746f6b656e04a265ba2eff4d829058fb3f0f2496ba";

    #[test]
    fn rfc9001_a4_retry_tag() {
        let odcid = hex("8394c8f03e515708");
        let packet = hex(A4_RETRY);
        let (without_tag, tag) = packet.split_at(packet.len() - 16);
        assert_eq!(retry_integrity_tag(&odcid, without_tag).unwrap(), tag);
        assert!(is_valid_retry(&odcid, &packet));
    }

    #[test]
    fn bad_retries_are_rejected() {
        let odcid = hex("8394c8f03e515708");
        let packet = hex(A4_RETRY);
        assert!(!is_valid_retry(&hex("8394c8f03e515709"), &packet));
        for i in 0..packet.len() {
            let mut bad = packet.clone();
            bad[i] ^= 0x01;
            assert!(!is_valid_retry(&odcid, &bad), "flipped byte {i}");
        }
        assert!(!is_valid_retry(&odcid, &packet[..15]));
        assert!(!is_valid_retry(&[0; 21], &packet));
        assert!(retry_integrity_tag(&[0; 21], &packet).is_none());
    }
}
