use super::*;
use proptest::prelude::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn cid(bytes: &[u8]) -> ConnectionId {
    ConnectionId::new(bytes).unwrap()
}

/// Writes a full long-header packet with `payload_len` payload bytes and patches Length.
#[allow(clippy::too_many_arguments)]
fn long_packet(
    ty: LongType,
    dst: &ConnectionId,
    src: &ConnectionId,
    token: &[u8],
    pn: u64,
    pn_len: usize,
    payload_len: usize,
) -> (Vec<u8>, HeaderLayout) {
    let mut buf = Vec::new();
    let layout = encode_long_header(&mut buf, ty, VERSION_1, dst, src, token, pn, pn_len);
    assert_eq!(buf.len(), layout.header_len);
    buf.extend((0..payload_len).map(|i| i as u8));
    layout.set_length(&mut buf).unwrap();
    (buf, layout)
}

#[test]
fn rfc9001_a2_client_initial_header() {
    // RFC 9001 Appendix A.2: unprotected header of the client Initial, Length 1182, pn 2 in 4 bytes.
    let expected = hex("c300000001088394c8f03e5157080000449e00000002");
    let dst = cid(&hex("8394c8f03e515708"));
    let (packet, layout) = long_packet(LongType::Initial, &dst, &ConnectionId::EMPTY, &[], 2, 4, 1178);
    assert_eq!(&packet[..layout.header_len], &expected[..]);
    assert_eq!((layout.pn_offset, layout.pn_len, layout.length_offset), (18, 4, Some(16)));

    let (p, rest) = PartialDecode::new(BytesMut::from(&packet[..]), 8).unwrap();
    assert!(rest.is_none());
    assert_eq!(
        p.header(),
        &ProtectedHeader::Long { ty: LongType::Initial, version: 1, dst_cid: dst, src_cid: ConnectionId::EMPTY }
    );
    assert_eq!(p.pn_offset(), 18);
    assert_eq!(p.packet_type(), Some(PacketType::Initial));
    assert_eq!(p.sample_range(16), Some(22..38));
    let u = p.finish().unwrap();
    assert_eq!((u.pn_len, u.truncated_pn, u.header_len, u.reserved_bits_zero), (4, 2, 22, true));
    assert_eq!(u.full_pn(None), 2);
}

#[test]
fn rfc9001_a4_retry() {
    // RFC 9001 Appendix A.4.
    let packet = hex("ff000000010008f067a5502a4262b5746f6b656e04a265ba2eff4d829058fb3f0f2496ba");
    let (p, rest) = PartialDecode::new(BytesMut::from(&packet[..]), 0).unwrap();
    assert!(rest.is_none());
    assert!(matches!(p.header(), ProtectedHeader::Long { ty: LongType::Retry, .. }));
    assert_eq!(p.src_cid(), &hex("f067a5502a4262b5")[..]);
    assert_eq!(p.dst_cid(), b"");
    assert_eq!(p.token(), b"token");
    assert_eq!(p.retry_integrity_tag().unwrap(), &hex("04a265ba2eff4d829058fb3f0f2496ba")[..]);
    assert_eq!(p.retry_without_tag().unwrap(), &packet[..packet.len() - RETRY_TAG_LEN]);
    assert!(!p.is_protected() && p.sample_range(16).is_none() && p.finish().is_err());

    // Our encoder writes the same bytes except the unused low bits (we send zeros).
    let mut buf = Vec::new();
    encode_retry(&mut buf, VERSION_1, &ConnectionId::EMPTY, &cid(&hex("f067a5502a4262b5")), b"token");
    assert_eq!(buf[0], 0xf0);
    assert_eq!(&buf[1..], &packet[1..packet.len() - RETRY_TAG_LEN]);

    // Pseudo-packet (RFC 9001 §5.8) with the A.4 original DCID.
    let odcid = cid(&hex("8394c8f03e515708"));
    let mut pseudo = Vec::new();
    encode_retry_pseudo_packet(&mut pseudo, &odcid, p.retry_without_tag().unwrap());
    assert_eq!(pseudo[0], 8);
    assert_eq!(&pseudo[1..9], &odcid[..]);
    assert_eq!(&pseudo[9..], p.retry_without_tag().unwrap());
}

#[test]
fn coalesced_datagram() {
    let dst = cid(&[1, 2, 3, 4]);
    let src = cid(&[9; 8]);
    let (initial, _) = long_packet(LongType::Initial, &dst, &src, b"tok", 0, 1, 40);
    let (handshake, _) = long_packet(LongType::Handshake, &dst, &src, &[], 300, 2, 30);
    let mut short = Vec::new();
    let layout = encode_short_header(&mut short, true, true, &dst, 0x1234_5678, 4);
    short.extend([0xee; 20]);
    assert_eq!(layout.set_length(&mut short), Ok(()));

    let mut datagram = BytesMut::new();
    datagram.extend_from_slice(&initial);
    datagram.extend_from_slice(&handshake);
    datagram.extend_from_slice(&short);

    let (p1, rest) = PartialDecode::new(datagram, 4).unwrap();
    assert_eq!(p1.packet(), &initial[..]);
    assert_eq!(p1.token(), b"tok");
    assert_eq!(p1.space(), Some(SpaceId::Initial));
    let (p2, rest) = PartialDecode::new(rest.unwrap(), 4).unwrap();
    assert_eq!(p2.packet(), &handshake[..]);
    assert_eq!(p2.space(), Some(SpaceId::Handshake));
    assert_eq!(p2.finish().unwrap().full_pn(Some(299)), 300);
    let (p3, rest) = PartialDecode::new(rest.unwrap(), 4).unwrap();
    assert!(rest.is_none());
    assert_eq!(p3.header(), &ProtectedHeader::Short { spin: true, dst_cid: dst });
    assert_eq!(p3.pn_offset(), 5);
    let u = p3.finish().unwrap();
    assert!(u.key_phase && u.reserved_bits_zero);
    assert_eq!((u.truncated_pn, u.header_len), (0x1234_5678, 9));
}

#[test]
fn reserved_bits_are_reported() {
    let dst = cid(&[7; 8]);
    let mut short = Vec::new();
    encode_short_header(&mut short, false, false, &dst, 1, 1);
    short.extend([0; 20]);
    short[0] |= 0x10;
    let (p, _) = PartialDecode::new(BytesMut::from(&short[..]), 8).unwrap();
    assert!(!p.finish().unwrap().reserved_bits_zero);
    let (mut long, _) = long_packet(LongType::Handshake, &dst, &dst, &[], 1, 1, 20);
    long[0] |= 0x08;
    let (p, _) = PartialDecode::new(BytesMut::from(&long[..]), 8).unwrap();
    let u = p.finish().unwrap();
    assert!(!u.reserved_bits_zero && !u.key_phase);
}

#[test]
fn invalid_headers() {
    let dst = cid(&[7; 8]);
    // Fixed bit 0.
    let (mut long, _) = long_packet(LongType::Handshake, &dst, &dst, &[], 1, 1, 20);
    long[0] &= !0x40;
    assert_eq!(PartialDecode::new(BytesMut::from(&long[..]), 8).unwrap_err(), HeaderError::FixedBitZero);
    assert_eq!(PartialDecode::new(BytesMut::from(&[0x01, 0, 0][..]), 0).unwrap_err(), HeaderError::FixedBitZero);
    // Length past the end of the datagram.
    let (long, _) = long_packet(LongType::Handshake, &dst, &dst, &[], 1, 1, 20);
    assert_eq!(PartialDecode::new(BytesMut::from(&long[..long.len() - 1]), 8).unwrap_err(), HeaderError::Truncated);
    // Version 1 CID longer than 20 bytes.
    let mut bad = vec![0xc0, 0, 0, 0, 1, 21];
    bad.extend([0; 30]);
    assert_eq!(PartialDecode::new(BytesMut::from(&bad[..]), 8).unwrap_err(), HeaderError::CidTooLong);
    // Short header shorter than the local CID.
    assert_eq!(PartialDecode::new(BytesMut::from(&[0x40, 1, 2][..]), 8).unwrap_err(), HeaderError::Truncated);
    // Packet number runs past the end (Length 1 but pn_len 4).
    let packet = [0xe3, 0, 0, 0, 1, 0, 0, 1, 0xaa];
    let (p, _) = PartialDecode::new(BytesMut::from(&packet[..]), 0).unwrap();
    assert_eq!(p.finish(), Err(HeaderError::Truncated));
    assert_eq!(p.sample_range(16), None);
    // Too long for a 2-byte Length field.
    let mut buf = Vec::new();
    let layout = encode_long_header(&mut buf, LongType::Handshake, VERSION_1, &dst, &dst, &[], 0, 1);
    buf.resize(20_000, 0);
    assert_eq!(layout.set_length(&mut buf), Err(HeaderError::TooLong));
}

#[test]
fn version_negotiation_and_unsupported_versions() {
    // A client Initial of an unknown version with 30-byte CIDs (allowed by RFC 8999).
    let mut packet = vec![0xc0, 0x1a, 0x2a, 0x3a, 0x4a, 30];
    packet.extend([0xdd; 30]);
    packet.push(25);
    packet.extend([0x55; 25]);
    packet.extend([0; 1200]);
    let (p, rest) = PartialDecode::new(BytesMut::from(&packet[..]), 8).unwrap();
    assert!(rest.is_none());
    assert_eq!(p.header(), &ProtectedHeader::UnsupportedVersion { version: 0x1a2a_3a4a });
    assert_eq!(p.dst_cid(), &[0xdd; 30][..]);
    assert_eq!(p.src_cid(), &[0x55; 25][..]);
    assert!(!p.is_protected());

    let mut vn = Vec::new();
    encode_version_negotiation(&mut vn, p.dst_cid(), p.src_cid(), &[VERSION_1, 0x0a0a_0a0a], 0xff);
    assert_eq!(vn[0], 0xff);
    let (v, rest) = PartialDecode::new(BytesMut::from(&vn[..]), 8).unwrap();
    assert!(rest.is_none());
    assert_eq!(v.header(), &ProtectedHeader::VersionNegotiation);
    // The IDs are swapped.
    assert_eq!(v.dst_cid(), &[0x55; 25][..]);
    assert_eq!(v.src_cid(), &[0xdd; 30][..]);
    assert_eq!(v.supported_versions().collect::<Vec<_>>(), vec![VERSION_1, 0x0a0a_0a0a]);
    assert_eq!(v.token(), b"");
    // A version list that is not a multiple of 4 bytes.
    assert_eq!(
        PartialDecode::new(BytesMut::from(&vn[..vn.len() - 1]), 8).unwrap_err(),
        HeaderError::InvalidVersionNegotiation
    );
}

fn conn_id() -> impl Strategy<Value = ConnectionId> {
    proptest::collection::vec(any::<u8>(), 0..=20).prop_map(|b| cid(&b))
}

proptest! {
    #[test]
    fn long_headers_round_trip(
        ty in prop_oneof![Just(LongType::Initial), Just(LongType::ZeroRtt), Just(LongType::Handshake)],
        dst in conn_id(), src in conn_id(),
        token in proptest::collection::vec(any::<u8>(), 0..100),
        pn in 0u64..(1 << 62), gap in proptest::option::of(1u64..(1 << 30)),
        payload_len in 0usize..200,
        trailing in proptest::collection::vec(any::<u8>(), 0..50),
    ) {
        // The receiver has seen up to the largest acknowledged packet, if any; with nothing
        // acknowledged, only small packet numbers are encodable.
        let largest = gap.and_then(|g| pn.checked_sub(g));
        let pn = if largest.is_none() { pn % (1 << 30) } else { pn };
        let pn_len = number::encoded_len(pn, largest);
        let (packet, layout) = long_packet(ty, &dst, &src, &token, pn, pn_len, payload_len);
        let mut datagram = BytesMut::from(&packet[..]);
        datagram.extend_from_slice(&trailing);
        let (p, rest) = PartialDecode::new(datagram, 5).unwrap();
        prop_assert_eq!(p.header(), &ProtectedHeader::Long { ty, version: VERSION_1, dst_cid: dst, src_cid: src });
        prop_assert_eq!(p.packet(), &packet[..]);
        prop_assert_eq!(rest.as_deref().unwrap_or(&[]), &trailing[..]);
        prop_assert_eq!(p.token(), if ty == LongType::Initial { &token[..] } else { &[][..] });
        prop_assert_eq!(p.pn_offset(), layout.pn_offset);
        let u = p.finish().unwrap();
        prop_assert_eq!(u.header_len, layout.header_len);
        prop_assert!(u.reserved_bits_zero);
        prop_assert_eq!(u.full_pn(largest), pn);
    }

    #[test]
    fn short_headers_round_trip(dst in conn_id(), spin: bool, key_phase: bool, pn in 0u64..(1 << 62),
                                pn_len in 1usize..=4, payload in proptest::collection::vec(any::<u8>(), 0..50)) {
        let mut buf = Vec::new();
        let layout = encode_short_header(&mut buf, spin, key_phase, &dst, pn, pn_len);
        buf.extend_from_slice(&payload);
        let (p, rest) = PartialDecode::new(BytesMut::from(&buf[..]), dst.len()).unwrap();
        prop_assert!(rest.is_none());
        prop_assert_eq!(p.header(), &ProtectedHeader::Short { spin, dst_cid: dst });
        let u = p.finish().unwrap();
        prop_assert_eq!((u.pn_len, u.key_phase, u.header_len), (pn_len, key_phase, layout.header_len));
        prop_assert_eq!(u64::from(u.truncated_pn), u64::from(number::truncate(pn, pn_len)));
    }

    #[test]
    fn random_datagrams_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300), cid_len in 0usize..=24) {
        let mut next = Some(BytesMut::from(&data[..]));
        while let Some(datagram) = next.take() {
            let Ok((p, rest)) = PartialDecode::new(datagram, cid_len) else { break };
            let _ = (p.finish(), p.sample_range(16), p.token(), p.dst_cid(), p.src_cid(), p.space());
            let _ = (p.retry_integrity_tag(), p.retry_without_tag(), p.supported_versions().count());
            next = rest;
        }
    }
}
