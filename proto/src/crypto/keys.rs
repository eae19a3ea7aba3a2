//! Packet protection (RFC 9001 §5.3) and header protection (RFC 9001 §5.4) keys.
//!
//! These wrap rustls's QUIC key objects. Payload protection is path-aware: with multipath
//! (RFC 10069 §2.4) the AEAD nonce is `IV xor (path_id:32 || 0b00 || pn:62)`,
//! which rustls implements in `PacketKey::{encrypt,decrypt}_in_place_for_path`. For path 0 the
//! nonce is exactly the RFC 9001 §5.3 nonce, so single-path QUIC needs no separate code path.
//!
//! Header protection keys never change during a connection; packet keys of the 1-RTT level are
//! replaced on every key update (RFC 9001 §6), which is why [`Keys`] keeps the two apart.

use core::fmt;

use rustls::quic as rq;
use thiserror::Error;

use mpquic_core::PathId;

/// Why a protection operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum CryptoError {
    /// The packet did not authenticate (wrong key, wrong packet number, or tampered bytes).
    /// RFC 9001 §5.3 / RFC 9000 §12.2: such a packet is discarded, not an error to report.
    #[error("packet failed authentication")]
    DecryptFailed,
    /// The AEAD refused to seal (the payload is longer than the algorithm allows).
    #[error("packet encryption failed")]
    EncryptFailed,
    /// The buffer is too short for the operation (e.g. no room for the header protection
    /// sample at `pn_offset + 4`, or for the authentication tag).
    #[error("packet too short: need {needed} bytes, have {have}")]
    PacketTooShort {
        /// Bytes the operation needs.
        needed: usize,
        /// Bytes the buffer holds.
        have: usize,
    },
    /// A header length or packet number offset that cannot be right (e.g. offset 0).
    #[error("invalid header layout")]
    InvalidHeader,
}

/// Payload protection key for one direction (RFC 9001 §5.3).
pub struct PacketKey(Box<dyn rq::PacketKey>);

impl PacketKey {
    /// Wraps a rustls packet key.
    pub fn new(inner: Box<dyn rq::PacketKey>) -> Self {
        Self(inner)
    }

    /// Length of the AEAD authentication tag appended to every packet (16 for all QUIC v1 suites).
    pub fn tag_len(&self) -> usize {
        self.0.tag_len()
    }

    /// RFC 9001 §6.6: how many packets may be protected with this key before it must be updated
    /// (2^23 for AES-GCM; no practical limit for ChaCha20-Poly1305).
    pub fn confidentiality_limit(&self) -> u64 {
        self.0.confidentiality_limit()
    }

    /// RFC 9001 §6.6: how many packets may fail authentication with this key before the
    /// connection must close with AEAD_LIMIT_REACHED (2^52 for AES-GCM, 2^36 for ChaCha20).
    pub fn integrity_limit(&self) -> u64 {
        self.0.integrity_limit()
    }

    /// Seals `payload` in place for packet number `pn` on path `path_id`, with `header` as
    /// associated data, and returns the tag to append.
    ///
    /// RFC 10069 §2.4: the nonce mixes in the path ID; for
    /// [`PathId::ZERO`] it is the RFC 9001 §5.3 nonce.
    pub fn encrypt_in_place_for_path(
        &self,
        path_id: PathId,
        pn: u64,
        header: &[u8],
        payload: &mut [u8],
    ) -> Result<rq::Tag, CryptoError> {
        let result = if path_id == PathId::ZERO {
            // Same nonce as the path-aware call; this form also works for providers that do not
            // implement the multipath nonce.
            self.0.encrypt_in_place(pn, header, payload)
        } else {
            self.0.encrypt_in_place_for_path(path_id.0, pn, header, payload)
        };
        result.map_err(|_| CryptoError::EncryptFailed)
    }

    /// Opens `payload` (ciphertext followed by the tag) in place and returns the plaintext,
    /// a prefix of `payload`.
    pub fn decrypt_in_place_for_path<'a>(
        &self,
        path_id: PathId,
        pn: u64,
        header: &[u8],
        payload: &'a mut [u8],
    ) -> Result<&'a [u8], CryptoError> {
        if payload.len() < self.tag_len() {
            return Err(CryptoError::PacketTooShort { needed: self.tag_len(), have: payload.len() });
        }
        let result = if path_id == PathId::ZERO {
            self.0.decrypt_in_place(pn, header, payload)
        } else {
            self.0.decrypt_in_place_for_path(path_id.0, pn, header, payload)
        };
        result.map_err(|_| CryptoError::DecryptFailed)
    }

    /// Seals a whole packet laid out as `header (header_len bytes) | plaintext | tag_len spare
    /// bytes`: the plaintext is encrypted in place and the tag written into the spare bytes.
    /// Header protection is applied afterwards with [`HeaderKey::apply`].
    pub fn encrypt_packet(
        &self,
        path_id: PathId,
        pn: u64,
        packet: &mut [u8],
        header_len: usize,
    ) -> Result<(), CryptoError> {
        let tag_len = self.tag_len();
        let needed = header_len + tag_len;
        if packet.len() < needed {
            return Err(CryptoError::PacketTooShort { needed, have: packet.len() });
        }
        let body_end = packet.len() - tag_len;
        let (header, rest) = packet.split_at_mut(header_len);
        let (payload, tag_space) = rest.split_at_mut(body_end - header_len);
        let tag = self.encrypt_in_place_for_path(path_id, pn, header, payload)?;
        tag_space.copy_from_slice(tag.as_ref());
        Ok(())
    }

    /// Opens a whole packet laid out as `header | ciphertext | tag` (header protection already
    /// removed) and returns the plaintext length; the plaintext is at
    /// `packet[header_len..header_len + len]`.
    pub fn decrypt_packet(
        &self,
        path_id: PathId,
        pn: u64,
        packet: &mut [u8],
        header_len: usize,
    ) -> Result<usize, CryptoError> {
        if packet.len() < header_len {
            return Err(CryptoError::PacketTooShort { needed: header_len, have: packet.len() });
        }
        let (header, payload) = packet.split_at_mut(header_len);
        self.decrypt_in_place_for_path(path_id, pn, header, payload).map(|p| p.len())
    }
}

impl fmt::Debug for PacketKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PacketKey").field("tag_len", &self.tag_len()).finish_non_exhaustive()
    }
}

/// The longest header protection sample of any QUIC v1 suite (RFC 9001 §5.4.2: 16 bytes).
const MAX_SAMPLE_LEN: usize = 16;

/// RFC 9001 §5.4.2: the sample starts 4 bytes after the start of the Packet Number field,
/// as if the packet number were 4 bytes long.
const SAMPLE_OFFSET_FROM_PN: usize = 4;

/// Header protection key for one direction (RFC 9001 §5.4).
pub struct HeaderKey(Box<dyn rq::HeaderProtectionKey>);

impl HeaderKey {
    /// Wraps a rustls header protection key.
    pub fn new(inner: Box<dyn rq::HeaderProtectionKey>) -> Self {
        Self(inner)
    }

    /// Length of the ciphertext sample the mask is computed from (16 bytes).
    pub fn sample_len(&self) -> usize {
        self.0.sample_len()
    }

    /// The smallest packet, counted from its first byte, whose header protection can be
    /// computed when the packet number starts at `pn_offset` (RFC 9001 §5.4.2). A sender pads
    /// short packets to at least this length.
    pub fn min_packet_len(&self, pn_offset: usize) -> usize {
        pn_offset + SAMPLE_OFFSET_FROM_PN + self.sample_len()
    }

    /// Applies header protection to a sealed packet whose Packet Number field starts at
    /// `pn_offset` (RFC 9001 §5.4.1). The packet-number length is read from the unprotected
    /// first byte; the mask covers its 4 low bits for long headers and 5 for short headers.
    pub fn apply(&self, packet: &mut [u8], pn_offset: usize) -> Result<(), CryptoError> {
        self.xor(packet, pn_offset, false).map(|_| ())
    }

    /// Removes header protection from a received packet whose Packet Number field starts at
    /// `pn_offset`, and returns the packet-number length (1 to 4 bytes) now readable in the
    /// first byte. The bytes after the packet number are left untouched.
    pub fn remove(&self, packet: &mut [u8], pn_offset: usize) -> Result<usize, CryptoError> {
        self.xor(packet, pn_offset, true)
    }

    fn xor(&self, packet: &mut [u8], pn_offset: usize, remove: bool) -> Result<usize, CryptoError> {
        let sample_len = self.sample_len();
        if pn_offset == 0 || sample_len > MAX_SAMPLE_LEN {
            return Err(CryptoError::InvalidHeader);
        }
        let needed = self.min_packet_len(pn_offset);
        if packet.len() < needed {
            return Err(CryptoError::PacketTooShort { needed, have: packet.len() });
        }
        // The sample is ciphertext and is not changed by header protection; copy it so that the
        // first byte and the packet number can be borrowed mutably at the same time.
        let sample_start = pn_offset + SAMPLE_OFFSET_FROM_PN;
        let mut sample = [0u8; MAX_SAMPLE_LEN];
        sample[..sample_len].copy_from_slice(&packet[sample_start..sample_start + sample_len]);
        let (first, rest) = packet.split_at_mut(1);
        let pn = &mut rest[pn_offset - 1..pn_offset - 1 + 4];
        let result = if remove {
            self.0.decrypt_in_place(&sample[..sample_len], &mut first[0], pn)
        } else {
            self.0.encrypt_in_place(&sample[..sample_len], &mut first[0], pn)
        };
        result.map_err(|_| CryptoError::InvalidHeader)?;
        // RFC 9000 §17.2 / §17.3.1: the two low bits of the first byte encode length - 1.
        Ok(usize::from(first[0] & 0x03) + 1)
    }
}

impl fmt::Debug for HeaderKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeaderKey").field("sample_len", &self.sample_len()).finish_non_exhaustive()
    }
}

/// Packet keys for both directions: `local` seals what we send, `remote` opens what we receive.
#[derive(Debug)]
pub struct PacketKeys {
    /// Seals outgoing packets.
    pub local: PacketKey,
    /// Opens incoming packets.
    pub remote: PacketKey,
}

impl From<rq::PacketKeySet> for PacketKeys {
    fn from(set: rq::PacketKeySet) -> Self {
        Self { local: PacketKey::new(set.local), remote: PacketKey::new(set.remote) }
    }
}

/// Header protection keys for both directions.
#[derive(Debug)]
pub struct HeaderKeys {
    /// Protects outgoing headers.
    pub local: HeaderKey,
    /// Unprotects incoming headers.
    pub remote: HeaderKey,
}

/// Header and packet keys of one direction, as 0-RTT uses them (only the client sends 0-RTT).
#[derive(Debug)]
pub struct DirectionalKeys {
    /// Header protection key.
    pub header: HeaderKey,
    /// Packet protection key.
    pub packet: PacketKey,
}

impl From<rq::DirectionalKeys> for DirectionalKeys {
    fn from(keys: rq::DirectionalKeys) -> Self {
        Self { header: HeaderKey::new(keys.header), packet: PacketKey::new(keys.packet) }
    }
}

/// All keys of one encryption level (Initial, Handshake or 1-RTT) in both directions.
///
/// Kept as header keys and packet keys rather than per direction because a 1-RTT key update
/// (RFC 9001 §6) replaces `packet` and keeps `header`.
#[derive(Debug)]
pub struct Keys {
    /// Header protection keys; fixed for the life of the level.
    pub header: HeaderKeys,
    /// Packet protection keys; replaced on key update.
    pub packet: PacketKeys,
}

impl From<rq::Keys> for Keys {
    fn from(keys: rq::Keys) -> Self {
        Self {
            header: HeaderKeys { local: HeaderKey::new(keys.local.header), remote: HeaderKey::new(keys.remote.header) },
            packet: PacketKeys { local: PacketKey::new(keys.local.packet), remote: PacketKey::new(keys.remote.packet) },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::test_util::hex;
    use rustls::crypto::cipher::{AeadKey, Iv};
    use rustls::crypto::ring::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256;

    fn chacha_alg() -> &'static dyn rq::Algorithm {
        match TLS13_CHACHA20_POLY1305_SHA256 {
            rustls::SupportedCipherSuite::Tls13(s) => s.quic.expect("ring suites support QUIC"),
            _ => unreachable!("a TLS 1.3 suite"),
        }
    }

    fn key32(bytes: &[u8]) -> AeadKey {
        let mut k = [0u8; 32];
        k.copy_from_slice(bytes);
        AeadKey::from(k)
    }

    /// RFC 9001 Appendix A.5: key, IV and header protection key of the ChaCha20 example.
    fn a5_keys() -> (PacketKey, HeaderKey) {
        let alg = chacha_alg();
        let key = hex("c6d98ff3441c3fe1b2182094f69caa2ed4b716b65488960a7a984979fb23e1c8");
        let iv = hex("e0459b3474bdd0e44a41c144");
        let hp = hex("25a282b9e82f06f21f488917a4fc8f1b73573685608597d0efcb076b0ab7a7a4");
        (
            PacketKey::new(alg.packet_key(key32(&key), Iv::copy(&iv))),
            HeaderKey::new(alg.header_protection_key(key32(&hp))),
        )
    }

    #[test]
    fn rfc9001_a5_short_header_chacha20() {
        let (packet_key, header_key) = a5_keys();
        const PN: u64 = 654_360_564;
        // Unprotected header 4200bff4 (3-byte packet number), payload a PING frame.
        let mut packet = hex("4200bff401");
        packet.resize(packet.len() + packet_key.tag_len(), 0);
        packet_key.encrypt_packet(PathId::ZERO, PN, &mut packet, 4).unwrap();
        header_key.apply(&mut packet, 1).unwrap();
        assert_eq!(packet, hex("4cfe4189655e5cd55c41f69080575d7999c25a5bfb"));

        let pn_len = header_key.remove(&mut packet, 1).unwrap();
        assert_eq!(pn_len, 3);
        assert_eq!(&packet[..4], &hex("4200bff4")[..]);
        let len = packet_key.decrypt_packet(PathId::ZERO, PN, &mut packet, 4).unwrap();
        assert_eq!(&packet[4..4 + len], &[0x01]);
    }

    #[test]
    fn multipath_nonce_matches_draft_vector() {
        // RFC 10069: IV 6b26114b9cba2b63a9e8dd4f, path 3, pn 54321 gives the
        // nonce 6b2611489cba2b63a9e8097e. Seal with our key, then check with ring directly.
        let alg = chacha_alg();
        let key = [7u8; 32];
        let iv = hex("6b26114b9cba2b63a9e8dd4f");
        let packet_key = PacketKey::new(alg.packet_key(AeadKey::from(key), Iv::copy(&iv)));
        let header = b"header";
        let mut payload = b"multipath payload".to_vec();
        let tag = packet_key.encrypt_in_place_for_path(PathId(3), 54321, header, &mut payload).unwrap();
        payload.extend_from_slice(tag.as_ref());

        let ring_key =
            ring::aead::LessSafeKey::new(ring::aead::UnboundKey::new(&ring::aead::CHACHA20_POLY1305, &key).unwrap());
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&hex("6b2611489cba2b63a9e8097e"));
        let mut copy = payload.clone();
        let plain = ring_key
            .open_in_place(
                ring::aead::Nonce::assume_unique_for_key(nonce),
                ring::aead::Aad::from(&header[..]),
                &mut copy,
            )
            .unwrap();
        assert_eq!(plain, b"multipath payload");

        // Path 0 is the RFC 9001 nonce, so a path-3 packet does not open on path 0.
        let mut copy = payload.clone();
        assert_eq!(
            packet_key.decrypt_in_place_for_path(PathId::ZERO, 54321, header, &mut copy),
            Err(CryptoError::DecryptFailed)
        );
        let mut copy = payload.clone();
        let plain = packet_key.decrypt_in_place_for_path(PathId(3), 54321, header, &mut copy).unwrap();
        assert_eq!(plain, b"multipath payload");
    }

    #[test]
    fn tampering_and_short_buffers_are_errors() {
        let (packet_key, header_key) = a5_keys();
        let mut packet = hex("4200bff401");
        packet.resize(packet.len() + 16, 0);
        packet_key.encrypt_packet(PathId(1), 9, &mut packet, 4).unwrap();
        let mut bad = packet.clone();
        bad[2] ^= 1; // header is associated data
        assert_eq!(packet_key.decrypt_packet(PathId(1), 9, &mut bad, 4), Err(CryptoError::DecryptFailed));
        let mut bad = packet.clone();
        assert_eq!(packet_key.decrypt_packet(PathId(1), 10, &mut bad, 4), Err(CryptoError::DecryptFailed));
        assert!(matches!(
            packet_key.decrypt_packet(PathId(1), 9, &mut packet[..10], 4),
            Err(CryptoError::PacketTooShort { .. })
        ));
        assert!(matches!(
            packet_key.encrypt_packet(PathId(1), 9, &mut [0u8; 8], 4),
            Err(CryptoError::PacketTooShort { .. })
        ));
        assert!(matches!(header_key.apply(&mut [0u8; 20], 1), Err(CryptoError::PacketTooShort { .. })));
        assert_eq!(header_key.min_packet_len(1), 21);
        assert_eq!(header_key.apply(&mut [0u8; 40], 0), Err(CryptoError::InvalidHeader));
        assert_eq!(packet_key.confidentiality_limit(), u64::MAX);
        assert_eq!(packet_key.integrity_limit(), 1 << 36);
    }

    #[test]
    fn header_protection_masks_4_or_5_bits() {
        let (_, header_key) = a5_keys();
        for first in [0x40u8, 0xc0] {
            let mut packet = vec![0u8; 40];
            packet[0] = first;
            for (i, b) in packet.iter_mut().enumerate().skip(1) {
                *b = i as u8;
            }
            let original = packet.clone();
            header_key.apply(&mut packet, 5).unwrap();
            let changed_bits = packet[0] ^ original[0];
            let allowed = if first & 0x80 != 0 { 0x0f } else { 0x1f };
            assert_eq!(changed_bits & !allowed, 0);
            // pn length 1: only one packet number byte is masked.
            assert_eq!(&packet[6..], &original[6..]);
            assert_eq!(header_key.remove(&mut packet, 5).unwrap(), 1);
            assert_eq!(packet, original);
        }
    }

    proptest::proptest! {
        #[test]
        fn protection_round_trips(
            path in proptest::prelude::any::<u32>(),
            pn in 0u64..(1 << 62),
            long_header in proptest::prelude::any::<bool>(),
            pn_len in 1usize..=4,
            pn_offset in 1usize..30,
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
        ) {
            let (packet_key, header_key) = a5_keys();
            let header_len = pn_offset + pn_len;
            let mut packet = vec![0x55u8; header_len];
            packet[0] = if long_header { 0xc0 } else { 0x40 } | (pn_len as u8 - 1);
            packet.extend_from_slice(&payload);
            // Pad so that the header protection sample exists (RFC 9001 §5.4.2).
            let min = header_key.min_packet_len(pn_offset).saturating_sub(packet_key.tag_len());
            if packet.len() < min {
                packet.resize(min, 0);
            }
            let plain = packet.clone();
            packet.resize(packet.len() + packet_key.tag_len(), 0);
            packet_key.encrypt_packet(PathId(path), pn, &mut packet, header_len).unwrap();
            header_key.apply(&mut packet, pn_offset).unwrap();
            proptest::prop_assert_eq!(header_key.remove(&mut packet, pn_offset).unwrap(), pn_len);
            proptest::prop_assert_eq!(&packet[..header_len], &plain[..header_len]);
            let len = packet_key.decrypt_packet(PathId(path), pn, &mut packet, header_len).unwrap();
            proptest::prop_assert_eq!(&packet[header_len..header_len + len], &plain[header_len..]);
        }

        #[test]
        fn opening_garbage_never_panics(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
            pn_offset in 0usize..40,
        ) {
            let (packet_key, header_key) = a5_keys();
            let mut packet = bytes.clone();
            let _ = header_key.remove(&mut packet, pn_offset);
            let _ = packet_key.decrypt_packet(PathId(3), 1, &mut packet, pn_offset);
        }
    }
}
