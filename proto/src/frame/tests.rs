use super::*;
use crate::range_set::RangeSet;
use crate::shared::{ConnectionId, EcnCounts};
use proptest::prelude::*;

const VARINT_MAX: u64 = (1 << 62) - 1;

fn decode_all(bytes: &[u8]) -> Vec<Result<Frame, FrameError>> {
    Iter::new(Bytes::copy_from_slice(bytes)).collect()
}

fn first_error(bytes: &[u8]) -> FrameError {
    match decode_all(bytes).into_iter().find_map(Result::err) {
        Some(e) => e,
        None => panic!("no error decoding {bytes:02x?}"),
    }
}

fn varint() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..64, 0u64..16384, 0u64..(1 << 30), 0..=VARINT_MAX]
}

fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn path_id() -> impl Strategy<Value = PathId> {
    any::<u32>().prop_map(PathId)
}

fn ecn() -> impl Strategy<Value = Option<EcnCounts>> {
    proptest::option::of((varint(), varint(), varint()).prop_map(|(ect0, ect1, ce)| EcnCounts { ect0, ect1, ce }))
}

fn range_set() -> impl Strategy<Value = RangeSet> {
    (0u64..(1 << 40), proptest::collection::vec((0u64..1000, 1u64..100), 1..20)).prop_map(|(base, runs)| {
        let mut set = RangeSet::new();
        let mut at = base;
        for (gap, len) in runs {
            set.insert(at..at + len);
            at += len + gap + 1;
        }
        set
    })
}

fn ack(path: impl Strategy<Value = PathId>) -> impl Strategy<Value = Ack> {
    (path, range_set(), varint(), ecn())
        .prop_map(|(path_id, set, delay, ecn)| Ack::from_ranges(path_id, &set, delay, ecn).expect("non-empty"))
}

fn cid() -> impl Strategy<Value = ConnectionId> {
    proptest::collection::vec(any::<u8>(), 1..=20).prop_map(|b| ConnectionId::new(&b).expect("<= 20 bytes"))
}

fn new_cid(path: impl Strategy<Value = PathId>) -> impl Strategy<Value = NewConnectionId> {
    (path, varint(), any::<u64>(), cid(), any::<[u8; 16]>()).prop_map(|(path_id, sequence, r, id, reset_token)| {
        NewConnectionId { path_id, sequence, retire_prior_to: r % (sequence + 1), id, reset_token }
    })
}

fn dir() -> impl Strategy<Value = Dir> {
    prop_oneof![Just(Dir::Bi), Just(Dir::Uni)]
}

fn stream_id() -> impl Strategy<Value = StreamId> {
    varint().prop_map(StreamId)
}

/// Offsets that leave room for up to 64 bytes of data below 2^62.
fn offset() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), varint().prop_map(|o| o.min(VARINT_MAX - 64))]
}

fn frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        (1usize..40).prop_map(Frame::Padding),
        Just(Frame::Ping),
        ack(Just(PathId::ZERO)).prop_map(Frame::Ack),
        (stream_id(), varint(), varint()).prop_map(|(id, error_code, final_size)| Frame::ResetStream {
            id,
            error_code,
            final_size
        }),
        (stream_id(), varint()).prop_map(|(id, error_code)| Frame::StopSending { id, error_code }),
        (offset(), bytes(64)).prop_map(|(offset, data)| Frame::Crypto(Crypto { offset, data })),
        proptest::collection::vec(any::<u8>(), 1..64).prop_map(|t| Frame::NewToken(NewToken { token: Bytes::from(t) })),
        (stream_id(), offset(), any::<bool>(), bytes(64)).prop_map(|(id, offset, fin, data)| Frame::Stream(Stream {
            id,
            offset,
            fin,
            data
        })),
        varint().prop_map(Frame::MaxData),
        (stream_id(), varint()).prop_map(|(id, max)| Frame::MaxStreamData { id, max }),
        (dir(), 0..=MAX_STREAM_COUNT).prop_map(|(dir, count)| Frame::MaxStreams { dir, count }),
        varint().prop_map(Frame::DataBlocked),
        (stream_id(), varint()).prop_map(|(id, limit)| Frame::StreamDataBlocked { id, limit }),
        (dir(), 0..=MAX_STREAM_COUNT).prop_map(|(dir, limit)| Frame::StreamsBlocked { dir, limit }),
        new_cid(Just(PathId::ZERO)).prop_map(Frame::NewConnectionId),
        varint().prop_map(|sequence| Frame::RetireConnectionId(RetireConnectionId { path_id: PathId::ZERO, sequence })),
        any::<[u8; 8]>().prop_map(Frame::PathChallenge),
        any::<[u8; 8]>().prop_map(Frame::PathResponse),
        (varint(), varint(), bytes(32)).prop_map(|(code, ty, reason)| Frame::ConnectionClose(ConnectionClose {
            error_code: TransportErrorCode(code),
            frame_type: FrameType(ty),
            reason
        })),
        (varint(), bytes(32))
            .prop_map(|(error_code, reason)| Frame::ApplicationClose(ApplicationClose { error_code, reason })),
        Just(Frame::HandshakeDone),
        bytes(64).prop_map(|data| Frame::Datagram(Datagram { data })),
        ack(path_id()).prop_map(Frame::PathAck),
        (path_id(), varint()).prop_map(|(path_id, error_code)| Frame::PathAbandon(PathAbandon { path_id, error_code })),
        (path_id(), varint()).prop_map(|(path_id, sequence)| Frame::PathStatusBackup(PathStatus { path_id, sequence })),
        (path_id(), varint())
            .prop_map(|(path_id, sequence)| Frame::PathStatusAvailable(PathStatus { path_id, sequence })),
        new_cid(path_id()).prop_map(Frame::PathNewConnectionId),
        (path_id(), varint())
            .prop_map(|(path_id, sequence)| Frame::PathRetireConnectionId(RetireConnectionId { path_id, sequence })),
        path_id().prop_map(Frame::MaxPathId),
        path_id().prop_map(Frame::PathsBlocked),
        (path_id(), varint())
            .prop_map(|(path_id, next_sequence)| Frame::PathCidsBlocked(PathCidsBlocked { path_id, next_sequence })),
    ]
}

fn mp_version() -> impl Strategy<Value = MultipathVersion> {
    prop_oneof![Just(MultipathVersion::Draft21), Just(MultipathVersion::Draft13To18)]
}

proptest! {
    #[test]
    fn every_frame_round_trips(frame in frame(), mp in mp_version()) {
        let mut buf = Vec::new();
        frame.encode_with(mp, &mut buf);
        prop_assert_eq!(buf.len(), frame.encoded_len_with(mp));
        let decoded: Vec<_> = Iter::with_multipath(Bytes::from(buf), Some(mp)).collect();
        prop_assert_eq!(decoded, vec![Ok(frame)]);
    }

    #[test]
    fn frame_sequences_round_trip(frames in proptest::collection::vec(frame(), 0..8)) {
        // Adjacent PADDING runs merge on decode.
        let mut expected: Vec<Frame> = Vec::new();
        let mut buf = Vec::new();
        for f in frames {
            f.encode(&mut buf);
            match (expected.last_mut(), &f) {
                (Some(Frame::Padding(n)), Frame::Padding(m)) => *n += m,
                _ => expected.push(f),
            }
        }
        let decoded: Result<Vec<_>, _> = Iter::new(Bytes::from(buf)).collect();
        prop_assert_eq!(decoded, Ok(expected));
    }

    #[test]
    fn truncated_frames_are_encoding_errors(frame in frame(), cut in any::<prop::sample::Index>()) {
        prop_assume!(!matches!(frame, Frame::Padding(_)));
        let mut buf = Vec::new();
        frame.encode(&mut buf);
        prop_assume!(buf.len() > 1);
        let cut = 1 + cut.index(buf.len() - 1);
        let mut iter = Iter::new(Bytes::copy_from_slice(&buf[..cut]));
        let err = iter.next().expect("one item").expect_err("truncated");
        prop_assert_eq!(TransportError::from(err).code, TransportErrorCode::FRAME_ENCODING_ERROR);
        prop_assert!(iter.next().is_none());
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200), mp in proptest::option::of(mp_version())) {
        for item in Iter::with_multipath(Bytes::from(data), mp) {
            if let Ok(Frame::Ack(a) | Frame::PathAck(a)) = &item {
                let n = a.iter().count() as u64;
                prop_assert_eq!(n, a.range_count());
            }
        }
    }

    #[test]
    fn ack_encoder_writes_newest_ranges(set in range_set(), delay in varint(), ecn in ecn(),
                                        max_ranges in 1usize..30, max_bytes in 0usize..200,
                                        path in proptest::option::of(path_id()), mp in mp_version()) {
        let mut buf = Vec::new();
        let written = encode_ack(&mut buf, path, mp, &set, delay, ecn.as_ref(), max_ranges, max_bytes);
        let Some(w) = written else {
            prop_assert!(buf.is_empty());
            return Ok(());
        };
        prop_assert_eq!(w.len, buf.len());
        prop_assert!(buf.len() <= max_bytes);
        prop_assert!(w.ranges <= max_ranges);
        let frame = Iter::with_multipath(Bytes::from(buf), Some(mp)).next().expect("a frame").expect("valid");
        let ack = match (frame, path) {
            (Frame::Ack(a), None) => a,
            (Frame::PathAck(a), Some(p)) => { prop_assert_eq!(a.path_id, p); a }
            (f, _) => return Err(TestCaseError::fail(format!("unexpected {f:?}"))),
        };
        prop_assert_eq!(ack.delay, delay);
        prop_assert_eq!(ack.ecn, ecn);
        let got: Vec<_> = ack.iter().collect();
        let want: Vec<_> = set.iter().rev().take(w.ranges).collect();
        prop_assert_eq!(got.last().map(|r| r.start), Some(w.smallest));
        prop_assert_eq!(got, want);
        // Greedy: one more range would not have fit (when one was available and allowed).
        if w.ranges < set.len() && w.ranges < max_ranges {
            let mut bigger = Vec::new();
            let more = encode_ack(&mut bigger, path, mp, &set, delay, ecn.as_ref(), w.ranges + 1, usize::MAX).expect("fits");
            prop_assert!(more.len > max_bytes);
        }
    }
}

#[test]
fn padding_coalesces() {
    let frames: Vec<_> = decode_all(&[0, 0, 0, 1, 0]).into_iter().map(Result::unwrap).collect();
    assert_eq!(frames, vec![Frame::Padding(3), Frame::Ping, Frame::Padding(1)]);
}

#[test]
fn non_minimal_frame_type_is_accepted() {
    assert_eq!(decode_all(&[0x40, 0x01]), vec![Ok(Frame::Ping)]);
    assert_eq!(decode_all(&[0x80, 0, 0, 0x1e]), vec![Ok(Frame::HandshakeDone)]);
}

#[test]
fn unknown_frame_type() {
    let e = first_error(&[0x1f]);
    assert_eq!(e, FrameError { frame_type: Some(FrameType(0x1f)), kind: FrameErrorKind::UnknownType });
    let t = TransportError::from(e);
    assert_eq!((t.code, t.frame), (TransportErrorCode::FRAME_ENCODING_ERROR, Some(FrameType(0x1f))));
    // Multipath frames are unknown when multipath is not negotiated.
    let mut buf = Vec::new();
    Frame::MaxPathId(PathId(3)).encode(&mut buf);
    let e = Iter::with_multipath(Bytes::from(buf), None).next().unwrap().unwrap_err();
    assert_eq!(e.kind, FrameErrorKind::UnknownType);
    // A frame type that ends early.
    assert_eq!(first_error(&[0x7e]).frame_type, None);
}

#[test]
fn out_of_range_values() {
    // MAX_STREAMS above 2^60 (RFC 9000 §19.11).
    let mut buf = vec![0x12];
    put_varint(&mut buf, (1 << 60) + 1);
    assert!(matches!(first_error(&buf).kind, FrameErrorKind::Invalid(_)));
    let mut buf = vec![0x17];
    put_varint(&mut buf, 1 << 60);
    assert!(decode_all(&buf)[0].is_ok());
    // NEW_CONNECTION_ID: retire_prior_to > sequence, then lengths 0 and 21 (RFC 9000 §19.15).
    let e = first_error(&[0x18, 1, 2, 4, 1, 2, 3, 4]);
    assert_eq!(TransportError::from(e).code, TransportErrorCode::FRAME_ENCODING_ERROR);
    assert!(matches!(e.kind, FrameErrorKind::Invalid(_)));
    let mut zero_len = vec![0x18, 1, 0, 0];
    zero_len.extend([0; 16]);
    assert!(matches!(first_error(&zero_len).kind, FrameErrorKind::Invalid(_)));
    let mut long = vec![0x18, 1, 0, 21];
    long.extend([0; 37]);
    assert!(matches!(first_error(&long).kind, FrameErrorKind::Invalid(_)));
    // Empty NEW_TOKEN (RFC 9000 §19.7).
    assert!(matches!(first_error(&[0x07, 0]).kind, FrameErrorKind::Invalid(_)));
    // STREAM whose end passes 2^62 - 1 (RFC 9000 §19.8): offset 2^62 - 1 with one byte of data.
    let mut buf = vec![0x0e, 0];
    put_varint(&mut buf, VARINT_MAX);
    buf.extend([1, 0xaa]);
    assert!(matches!(first_error(&buf).kind, FrameErrorKind::Invalid(_)));
    // ACK range below 0: largest 1, first range 2.
    let e = first_error(&[0x02, 1, 0, 0, 2]);
    assert_eq!(e.frame_type, Some(FrameType::ACK));
    assert!(matches!(e.kind, FrameErrorKind::Invalid(_)));
    // Path ID above 2^32 - 1 is a PROTOCOL_VIOLATION.
    let mut buf = vec![0x7e, 0x7a];
    put_varint(&mut buf, 1 << 32);
    let t = TransportError::from(first_error(&buf));
    assert_eq!(t.code, TransportErrorCode::PROTOCOL_VIOLATION);
    assert_eq!(t.frame, Some(FrameType(0x3e7a)));
}

#[test]
fn wire_examples() {
    let mut buf = Vec::new();
    Frame::PathAbandon(PathAbandon { path_id: PathId(1), error_code: 0x3e }).encode(&mut buf);
    assert_eq!(buf, [0x7e, 0x75, 0x01, 0x3e]);
    buf.clear();
    Frame::PathAbandon(PathAbandon { path_id: PathId(1), error_code: 0 })
        .encode_with(MultipathVersion::Draft13To18, &mut buf);
    assert_eq!(buf, [0x95, 0x22, 0x8c, 0x05, 0x01, 0x00]);
    buf.clear();
    let set = {
        let mut s = RangeSet::new();
        s.insert(0..3);
        s.insert(5..6);
        s
    };
    encode_ack(&mut buf, Some(PathId(2)), MultipathVersion::Draft21, &set, 9, None, 10, 100).unwrap();
    // PATH_ACK, path 2, largest 5, delay 9, one more range, first range 0, then
    // gap = previous smallest 5 - largest 2 - 2 = 1 and range length 2 (RFC 9000 §19.3.1).
    assert_eq!(buf, [0x3e, 2, 5, 9, 1, 0, 1, 2]);
    buf.clear();
    Frame::Stream(Stream { id: StreamId(4), offset: 0, fin: true, data: Bytes::from_static(b"hi") }).encode(&mut buf);
    assert_eq!(buf, [0x0b, 4, 2, b'h', b'i']);
}

#[test]
fn decoding_is_zero_copy() {
    let mut buf = Vec::new();
    Frame::Stream(Stream { id: StreamId(0), offset: 7, fin: false, data: Bytes::from_static(b"payload") })
        .encode(&mut buf);
    let payload = Bytes::from(buf);
    let range = payload.as_ptr() as usize..payload.as_ptr() as usize + payload.len();
    let Some(Ok(Frame::Stream(s))) = Iter::new(payload.clone()).next() else { panic!("stream") };
    assert!(range.contains(&(s.data.as_ptr() as usize)));
    // STREAM without a Length field runs to the end of the packet.
    let mut buf = Vec::new();
    s.encode(&mut buf, false);
    assert_eq!(buf.len(), s.encoded_len(false));
    assert_eq!(decode_all(&buf), vec![Ok(Frame::Stream(s))]);
    // Likewise DATAGRAM type 0x30.
    let d = Datagram { data: Bytes::from_static(b"dgram") };
    let mut buf = Vec::new();
    d.encode(&mut buf, false);
    assert_eq!(buf[0], 0x30);
    assert_eq!(buf.len(), d.encoded_len(false));
    assert_eq!(decode_all(&buf), vec![Ok(Frame::Datagram(d))]);
}

#[test]
fn predicates() {
    assert!(!Frame::Padding(1).is_ack_eliciting() && Frame::Padding(1).is_probing());
    assert!(Frame::PathChallenge([0; 8]).is_probing() && Frame::PathChallenge([0; 8]).is_ack_eliciting());
    assert!(!Frame::MaxData(0).is_probing());
    assert!(!Frame::MaxPathId(PathId(1)).allowed_in(PacketType::Handshake));
    assert!(Frame::MaxPathId(PathId(1)).allowed_in(PacketType::OneRtt));
    assert!(!Frame::HandshakeDone.allowed_in(PacketType::ZeroRtt));
}

#[test]
fn connection_close_from_error() {
    let err = TransportError::PROTOCOL_VIOLATION("bad thing").with_frame(FrameType::STREAM);
    let close = ConnectionClose::from_error(&err, 3);
    assert_eq!(close.error_code, TransportErrorCode::PROTOCOL_VIOLATION);
    assert_eq!(close.frame_type, FrameType::STREAM);
    assert_eq!(&close.reason[..], b"bad");
}
