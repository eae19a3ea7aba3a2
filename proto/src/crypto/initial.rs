//! Initial packet keys (RFC 9001 §5.2).
//!
//! Initial packets are protected with AEAD_AES_128_GCM keys derived from the Destination
//! Connection ID of the client's first Initial packet and the QUIC v1 salt. Anyone who sees that
//! packet can derive them: they protect against off-path injection only, not against observers.

use rustls::quic as rq;

use super::keys::Keys;
use crate::shared::Side;

/// The TLS 1.3 suite whose HKDF and AEAD define Initial protection (RFC 9001 §5.2).
fn initial_suite() -> rq::Suite {
    match rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256 {
        rustls::SupportedCipherSuite::Tls13(suite) => {
            suite.quic_suite().expect("the ring AES-128-GCM suite supports QUIC")
        }
        // A compile-time constant of the TLS 1.3 variant; never reached.
        _ => unreachable!("TLS13_AES_128_GCM_SHA256 is a TLS 1.3 suite"),
    }
}

/// The Initial keys of QUIC v1 for the endpoint on `side`, derived from the Destination
/// Connection ID the client put in its first Initial packet (RFC 9001 §5.2).
///
/// The client derives them from the DCID it chose; after a Retry both sides derive them again
/// from the DCID of the client's next Initial (RFC 9001 §5.2, RFC 9000 §17.2.5.2).
pub fn initial_keys(client_dst_connection_id: &[u8], side: Side) -> Keys {
    let side = match side {
        Side::Client => rustls::Side::Client,
        Side::Server => rustls::Side::Server,
    };
    Keys::from(initial_suite().keys(client_dst_connection_id, side, rq::Version::V1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::test_util::hex;
    use mpquic_core::PathId;

    const DCID: &str = "8394c8f03e515708";

    #[test]
    fn rfc9001_a2_client_initial_sample_and_mask() {
        let client = initial_keys(&hex(DCID), Side::Client);
        // The first 16 bytes of the CRYPTO frame in A.2; AES-GCM is a counter mode, so the first
        // 16 ciphertext bytes depend only on these, the key and the IV (pn 2).
        let header = hex("c300000001088394c8f03e5157080000449e00000002");
        let mut payload = hex("060040f1010000ed0303ebf8fa56f129");
        payload.resize(1162, 0);
        client.packet.local.encrypt_in_place_for_path(PathId::ZERO, 2, &header, &mut payload).unwrap();
        assert_eq!(&payload[..16], &hex("d1b1c98dd7689fb8ec11d242b123dc9b")[..]);

        // A.2 header protection: sample d1b1..., mask 437b9aec36, pn_offset 18.
        let mut packet = header.clone();
        packet.extend_from_slice(&payload[..16]);
        client.header.local.apply(&mut packet, 18).unwrap();
        assert_eq!(&packet[..22], &hex("c000000001088394c8f03e5157080000449e7b9aec34")[..]);

        // The server opens the client's header with its remote key.
        let server = initial_keys(&hex(DCID), Side::Server);
        assert_eq!(server.header.remote.remove(&mut packet, 18).unwrap(), 4);
        assert_eq!(&packet[..22], &header[..]);
    }

    #[test]
    fn rfc9001_a3_server_initial_packet() {
        let server = initial_keys(&hex(DCID), Side::Server);
        let header = hex("c1000000010008f067a5502a4262b50040750001");
        let payload = hex("02000000000600405a020000560303eefce7f7b37ba1d1632e96677825ddf73988cfc79825df566dc5430b\
             9a045a1200130100002e00330024001d00209d3c940d89690b84d08a60993c144eca684d1081287c834d53\
             11bcf32bb9da1a002b00020304");
        let expected = hex("cf000000010008f067a5502a4262b5004075c0d95a482cd0991cd25b0aac406a5816b6394100f37a1c6979\
             7554780bb38cc5a99f5ede4cf73c3ec2493a1839b3dbcba3f6ea46c5b7684df3548e7ddeb9c3bf9c73cc3f\
             3bded74b562bfb19fb84022f8ef4cdd93795d77d06edbb7aaf2f58891850abbdca3d20398c276456cbc421\
             58407dd074ee");
        let mut packet = header.clone();
        packet.extend_from_slice(&payload);
        packet.resize(packet.len() + 16, 0);
        server.packet.local.encrypt_packet(PathId::ZERO, 1, &mut packet, header.len()).unwrap();
        server.header.local.apply(&mut packet, 18).unwrap();
        assert_eq!(packet, expected);

        // The client opens it: header protection first, then the payload.
        let client = initial_keys(&hex(DCID), Side::Client);
        assert_eq!(client.header.remote.remove(&mut packet, 18).unwrap(), 2);
        assert_eq!(&packet[..20], &header[..]);
        let len = client.packet.remote.decrypt_packet(PathId::ZERO, 1, &mut packet, 20).unwrap();
        assert_eq!(&packet[20..20 + len], &payload[..]);
    }

    #[test]
    fn initial_keys_depend_on_dcid() {
        let a = initial_keys(&hex(DCID), Side::Server);
        let b = initial_keys(&hex("8394c8f03e515709"), Side::Client);
        let mut payload = b"hello".to_vec();
        let tag = a.packet.local.encrypt_in_place_for_path(PathId::ZERO, 0, b"h", &mut payload).unwrap();
        payload.extend_from_slice(tag.as_ref());
        assert!(b.packet.remote.decrypt_in_place_for_path(PathId::ZERO, 0, b"h", &mut payload).is_err());
    }
}
