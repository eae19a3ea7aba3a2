//! Entry points for the cargo-fuzz targets in `fuzz/` (built only with the `fuzzing` feature).
//!
//! Each function takes fuzzer-chosen input, drives one decoder or state machine of this crate
//! with it, and checks the properties that must hold for *any* input: no panic, encoders and
//! decoders agree (what decodes re-encodes to something that decodes to the same value, and
//! `encoded_len` is the length written), and state machines keep their own accounting. A
//! violated property is returned as `Err` with a description; the fuzz target turns it into a
//! crash. Panics are crashes by themselves.
//!
//! Keeping the properties here rather than in the targets lets a crash found by the fuzzer be
//! replayed by a unit test of this crate, and keeps the internals private: the targets see
//! only this module (the other modules' items are re-exported here for them).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use arbitrary::Arbitrary;
use bytes::{Bytes, BytesMut};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub use crate::frame::{Frame, FrameType, Iter as FrameIter, MultipathVersion};
pub use crate::packet::{PartialDecode, ProtectedHeader};
pub use crate::recovery::{PathKind, PathRecovery, RecoveryConfig, RecoveryOutput, SentPacket, SpaceId};
pub use crate::stream::{ReadError, RecvStream};
pub use crate::transport_parameters::TransportParameters;

use crate::crypto::{TokenError, TokenKey, ValidToken};
use crate::path::PathId;
use crate::shared::{ConnectionId, Side, MAX_CID_SIZE};
use crate::{Connection, Instant};

/// Packet header decoding (RFC 9000 §17, RFC 8999): splits `data` into its coalesced packets
/// as a receiver with local CIDs of `data[0] % 21` bytes would, and reads every header field
/// of each, the fields under header protection included.
pub fn packet_header(data: &[u8]) -> Result<(), String> {
    let Some((&first, rest)) = data.split_first() else { return Ok(()) };
    let cid_len = usize::from(first) % (MAX_CID_SIZE + 1);
    let mut remaining = Some(BytesMut::from(rest));
    let mut total = 0usize;
    while let Some(datagram) = remaining.take() {
        let len = datagram.len();
        let Ok((partial, next)) = PartialDecode::new(datagram, cid_len) else { break };
        let packet_len = partial.packet().len();
        total += packet_len;
        if let Some(next) = &next {
            if packet_len + next.len() != len || next.is_empty() {
                return Err(format!("coalesced split lost bytes: {packet_len} + {} != {len}", next.len()));
            }
        }
        if partial.pn_offset() > packet_len {
            return Err(format!("packet number offset {} past the packet ({packet_len})", partial.pn_offset()));
        }
        if let Some(range) = partial.sample_range(16) {
            if range.end > packet_len {
                return Err(format!("header protection sample {range:?} past the packet ({packet_len})"));
            }
        }
        // RFC 8999 §5.1 lets other versions use CIDs of up to 255 bytes; version 1 has 20.
        let v1 = matches!(partial.header(), ProtectedHeader::Long { .. } | ProtectedHeader::Short { .. });
        if v1 && (partial.dst_cid().len() > MAX_CID_SIZE || partial.src_cid().len() > MAX_CID_SIZE) {
            return Err("version 1 connection ID longer than 20 bytes accepted".into());
        }
        let _ = (partial.token().len(), partial.supported_versions().count(), partial.retry_without_tag());
        let _ = (partial.packet_type(), partial.space(), partial.is_protected(), partial.retry_integrity_tag());
        if let Ok(header) = partial.finish() {
            if header.header_len > packet_len {
                return Err(format!("header of {} bytes in a packet of {packet_len}", header.header_len));
            }
            let _ = header.full_pn(None);
            let _ = header.full_pn(Some(u64::from(header.truncated_pn)));
            let _ = header.full_pn(Some((1 << 62) - 1));
        }
        remaining = next;
    }
    if total > rest.len() {
        return Err(format!("{total} bytes of packets in a {}-byte datagram", rest.len()));
    }
    Ok(())
}

/// The multipath code points `selector` picks: none (multipath not negotiated), or one of the
/// versions.
fn multipath_version(selector: u8) -> Option<MultipathVersion> {
    match selector % 3 {
        0 => None,
        1 => Some(MultipathVersion::default()),
        _ => Some(MultipathVersion::Draft13To18),
    }
}

/// Frame decoding (RFC 9000 §19, RFC 9221, RFC 10069 §4): decodes `data[1..]` as a packet
/// payload with the multipath code points chosen by `data[0]`, and re-encodes every frame.
pub fn frames(data: &[u8]) -> Result<(), String> {
    let Some((&selector, payload)) = data.split_first() else { return Ok(()) };
    let mp = multipath_version(selector);
    for frame in FrameIter::with_multipath(Bytes::copy_from_slice(payload), mp) {
        let Ok(frame) = frame else { break };
        let _ = (frame.kind(), frame.is_ack_eliciting(), frame.is_probing());
        if let Frame::Ack(ack) | Frame::PathAck(ack) = &frame {
            // The ranges must stay within what the frame declared.
            let mut previous: Option<u64> = None;
            for range in ack.iter() {
                if range.is_empty() || range.end > ack.largest + 1 || previous.is_some_and(|p| range.end >= p) {
                    return Err(format!("ACK range {range:?} out of order in {ack:?}"));
                }
                previous = Some(range.start);
            }
        }
        let version = mp.unwrap_or_default();
        let mut encoded = Vec::new();
        frame.encode_with(version, &mut encoded);
        if encoded.len() != frame.encoded_len_with(version) {
            return Err(format!(
                "{frame:?}: encoded_len {} but wrote {}",
                frame.encoded_len_with(version),
                encoded.len()
            ));
        }
        let mut again = FrameIter::with_multipath(Bytes::from(encoded), Some(version));
        match again.next() {
            Some(Ok(decoded)) if decoded == frame => {}
            other => return Err(format!("{frame:?} re-encoded decodes as {other:?}")),
        }
        if again.next().is_some() {
            return Err(format!("{frame:?} re-encoded to more than one frame"));
        }
    }
    Ok(())
}

/// Transport parameters (RFC 9000 §7.4, §18; RFC 10069 §2): decodes `data[1..]` as sent by the
/// side `data[0]` picks; what decodes must encode and decode to the same parameters.
pub fn transport_parameters(data: &[u8]) -> Result<(), String> {
    let Some((&selector, bytes)) = data.split_first() else { return Ok(()) };
    let sender = if selector & 1 == 0 { Side::Client } else { Side::Server };
    let Ok(params) = TransportParameters::decode(sender, bytes) else { return Ok(()) };
    let mut encoded = Vec::new();
    params.encode(&mut encoded);
    match TransportParameters::decode(sender, &encoded) {
        Ok(again) if again == params => Ok(()),
        other => Err(format!("{params:?} re-encoded decodes as {other:?}")),
    }
}

/// One step of [`ack_ranges_into_recovery`].
#[derive(Debug, Clone, Arbitrary)]
pub enum RecoveryOp {
    /// Send `count` packets of `size` bytes in the space `space % 3` picks.
    Send {
        /// Initial, Handshake or application data.
        space: u8,
        /// Packets.
        count: u8,
        /// Bytes per packet.
        size: u16,
        /// Whether they elicit an ACK (and count in flight).
        ack_eliciting: bool,
    },
    /// Skip the next packet number of the space (RFC 9000 §21.4, optimistic-ACK defence).
    Skip {
        /// The space.
        space: u8,
    },
    /// An ACK frame (type 0x02, or 0x03 with `ecn`) with this body, for the space.
    Ack {
        /// The space.
        space: u8,
        /// Type 0x03: ECN counts follow the ranges.
        ecn: bool,
        /// The frame body as on the wire.
        body: Vec<u8>,
    },
    /// Time passes; the loss detection timer fires if it is due.
    Advance {
        /// Milliseconds.
        millis: u16,
    },
    /// A handshake milestone.
    Milestone {
        /// Which one (`% 4`): Initial keys discarded, Handshake keys available or discarded,
        /// handshake confirmed.
        which: u8,
    },
}

fn space_of(selector: u8) -> SpaceId {
    match selector % 3 {
        0 => SpaceId::Initial,
        1 => SpaceId::Handshake,
        _ => SpaceId::Data,
    }
}

/// ACK ranges into recovery (RFC 9002 Appendix A, RFC 9000 §13.1, §19.3): sends packets and
/// feeds fuzzer-made ACK frames and timeouts to a server's path-0 recovery with a real CUBIC
/// controller. Each packet must come back at most once, acknowledged or lost, only if it was
/// sent, and bytes in flight must equal what is outstanding.
pub fn ack_ranges_into_recovery(ops: &[RecoveryOp]) -> Result<(), String> {
    let controller = Box::new(mpquic_cc::Cubic::new(1200));
    // Each packet's bookkeeping is its space and number: packet numbers repeat across spaces.
    let mut recovery: PathRecovery<(SpaceId, u64)> =
        PathRecovery::new(PathId::ZERO, PathKind::HandshakeServer, RecoveryConfig::default(), controller);
    let mut out: RecoveryOutput<(SpaceId, u64)> = RecoveryOutput::default();
    let mut now = Instant::from_nanos(1_000_000_000);
    // Packet numbers sent and not yet reported, per space.
    let mut outstanding: [std::collections::BTreeMap<u64, u64>; 3] = Default::default();
    for op in ops {
        out.clear();
        match op {
            RecoveryOp::Send { space, count, size, ack_eliciting } => {
                let space = space_of(*space);
                for _ in 0..*count {
                    let pn = recovery.next_packet_number(space);
                    let size = u64::from(*size).clamp(20, 1500);
                    let packet = SentPacket {
                        packet_number: pn,
                        time_sent: now,
                        size,
                        ack_eliciting: *ack_eliciting,
                        in_flight: *ack_eliciting,
                        largest_acked: None,
                        ecn: None,
                        mtu_probe: false,
                        frames: (space, pn),
                    };
                    if recovery.on_packet_sent(now, space, packet, false).is_ok() {
                        outstanding[space.index()].insert(pn, if *ack_eliciting { size } else { 0 });
                    }
                }
            }
            RecoveryOp::Skip { space } => {
                let space = space_of(*space);
                let pn = recovery.next_packet_number(space);
                recovery.skip_packet_number(space, pn);
            }
            RecoveryOp::Ack { space, ecn, body } => {
                let space = space_of(*space);
                let mut frame = vec![if *ecn { 0x03 } else { 0x02 }];
                frame.extend_from_slice(body);
                let Some(Ok(Frame::Ack(ack))) = FrameIter::new(Bytes::from(frame)).next() else { continue };
                let delay = Duration::from_micros(ack.delay.min(1 << 30));
                if recovery.on_ack_received(now, space, ack.iter(), delay, ack.ecn, None, &mut out).is_err() {
                    // A PROTOCOL_VIOLATION closes the connection: nothing more is processed.
                    return check_reported(&mut outstanding, &out);
                }
                check_reported(&mut outstanding, &out)?;
            }
            RecoveryOp::Advance { millis } => {
                now += Duration::from_millis(u64::from(*millis));
                if recovery.loss_detection_timer().is_some_and(|t| t <= now) {
                    recovery.on_loss_detection_timeout(now, None, &mut out);
                    check_reported(&mut outstanding, &out)?;
                }
            }
            RecoveryOp::Milestone { which } => match which % 4 {
                0 => {
                    recovery.discard_space(now, SpaceId::Initial);
                    outstanding[SpaceId::Initial.index()].clear();
                }
                1 => recovery.set_handshake_keys_available(now),
                2 => {
                    recovery.discard_space(now, SpaceId::Handshake);
                    outstanding[SpaceId::Handshake.index()].clear();
                }
                _ => recovery.set_handshake_confirmed(now),
            },
        }
        let expected: u64 = outstanding.iter().flat_map(|s| s.values()).sum();
        if recovery.bytes_in_flight() != expected {
            return Err(format!("bytes in flight {} but {expected} outstanding", recovery.bytes_in_flight()));
        }
    }
    Ok(())
}

/// Removes what `out` reports from `outstanding`; a packet not outstanding there was never
/// sent or was reported before.
fn check_reported(
    outstanding: &mut [std::collections::BTreeMap<u64, u64>; 3],
    out: &RecoveryOutput<(SpaceId, u64)>,
) -> Result<(), String> {
    for p in out.acked.iter().chain(&out.lost) {
        let (space, pn) = p.frames;
        if outstanding[space.index()].remove(&pn).is_none() {
            return Err(format!("{space:?} packet {pn} reported but not outstanding"));
        }
    }
    Ok(())
}

/// One STREAM or RESET_STREAM frame, or a read, for [`stream_reassembly`].
#[derive(Debug, Clone, Arbitrary)]
pub enum StreamOp {
    /// Bytes `offset..offset + len % 4096` of the stream (their content is a function of the
    /// offset), with the FIN bit.
    Frame {
        /// Offset.
        offset: u32,
        /// Length.
        len: u16,
        /// FIN.
        fin: bool,
    },
    /// A frame at an offset near 2^62, where lengths overflow.
    FarFrame {
        /// Subtracted from 2^62.
        below_limit: u16,
        /// Length.
        len: u16,
    },
    /// RESET_STREAM with this final size.
    Reset {
        /// Final size.
        final_size: u32,
    },
    /// The application reads at most this many bytes.
    Read {
        /// Bytes.
        max: u16,
    },
    /// The application stops reading (STOP_SENDING).
    Stop,
}

fn stream_byte(offset: u64) -> u8 {
    (offset.wrapping_mul(31) >> 3) as u8
}

/// Stream reassembly (RFC 9000 §2.2, §4.5): frames of one stream in any order, overlapping,
/// duplicated, beyond the window or the final size, into a receive stream. What the
/// application reads must be the stream's bytes in order, without gaps or repeats, and the
/// end of the stream only after all of them.
pub fn stream_reassembly(ops: &[StreamOp]) -> Result<(), String> {
    const WINDOW: u64 = 1 << 20;
    let mut stream = RecvStream::new(WINDOW, 4 * WINDOW);
    let mut read_to = 0u64;
    let mut connection_available = 16 * WINDOW;
    for op in ops {
        match *op {
            StreamOp::Frame { offset, len, fin } => {
                let offset = u64::from(offset);
                // Up to 4 KiB: longer frames only cost time to build.
                let len = u64::from(len % 4096);
                let data: Vec<u8> = (offset..offset + len).map(stream_byte).collect();
                if let Ok(r) = stream.on_stream_frame(offset, Bytes::from(data), fin, connection_available) {
                    connection_available -= r.new_bytes;
                }
            }
            StreamOp::FarFrame { below_limit, len } => {
                let offset = (1u64 << 62) - u64::from(below_limit);
                let data = Bytes::from(vec![0u8; usize::from(len)]);
                if stream.on_stream_frame(offset, data, false, connection_available).is_ok() {
                    return Err(format!("frame at {offset} accepted beyond the window"));
                }
            }
            StreamOp::Reset { final_size } => {
                if let Ok(r) = stream.on_reset(7, u64::from(final_size), connection_available) {
                    connection_available -= r.new_bytes;
                }
            }
            StreamOp::Read { max } => match stream.read(usize::from(max)) {
                Ok(Some((offset, data))) => {
                    if offset != read_to {
                        return Err(format!("read at {offset}, expected {read_to}"));
                    }
                    if data.is_empty() || data.len() > usize::from(max) {
                        return Err(format!("read {} bytes with a limit of {max}", data.len()));
                    }
                    if let Some(i) = (0..data.len()).find(|&i| data[i] != stream_byte(offset + i as u64)) {
                        return Err(format!("byte {} read wrong", offset + i as u64));
                    }
                    read_to += data.len() as u64;
                }
                Ok(None) => {
                    if stream.final_size() != Some(read_to) {
                        return Err(format!("end of stream at {read_to}, final size {:?}", stream.final_size()));
                    }
                }
                Err(_) => {}
            },
            StreamOp::Stop => {
                stream.stop(9);
            }
        }
        if stream.final_size().is_some_and(|f| read_to > f) {
            return Err(format!("read {read_to} bytes past the final size {:?}", stream.final_size()));
        }
    }
    Ok(())
}

/// Address-validation tokens (RFC 9000 §8.1.2-§8.1.4): `data[0]` picks the client address, the
/// rest is a token a client presents. Forged tokens must be refused, and a token this server
/// sealed must come back as what it was issued for (and be refused from another address or
/// too late). Retry packets carrying the data are checked against their integrity tag
/// (RFC 9001 §5.8).
pub fn tokens(data: &[u8]) -> Result<(), String> {
    let Some((&selector, token)) = data.split_first() else { return Ok(()) };
    let key = TokenKey::new(b"mpquic fuzz token key");
    let ip = if selector & 1 == 0 {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, selector))
    } else {
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(selector)))
    };
    let client = SocketAddr::new(ip, 4433 + u16::from(selector));
    let now = Instant::from_nanos(u64::from(selector) << 30);
    // A forgery would have to break AES-256-GCM.
    if let Ok(valid) = key.validate(token, client, now) {
        return Err(format!("forged token accepted as {valid:?}"));
    }
    // Genuine tokens, with connection IDs taken from the input.
    let mut rng = ChaCha8Rng::seed_from_u64(u64::from(selector));
    let cid_len = token.len().min(MAX_CID_SIZE);
    let original = ConnectionId::new(&token[..cid_len]).ok_or("CID of at most 20 bytes refused")?;
    let retry_scid = ConnectionId::new(&token[token.len() - cid_len..]).ok_or("CID of at most 20 bytes refused")?;
    let retry = key.seal_retry_token(&mut rng, client, now, &original, &retry_scid);
    match key.validate(&retry, client, now + Duration::from_secs(1)) {
        Ok(ValidToken::Retry { original_dcid, retry_scid: scid })
            if original_dcid == original && scid == retry_scid => {}
        other => return Err(format!("own Retry token validated as {other:?}")),
    }
    let elsewhere = SocketAddr::new(client.ip(), client.port().wrapping_add(1));
    if key.validate(&retry, elsewhere, now) != Err(TokenError::AddressMismatch) {
        return Err("Retry token accepted from another port".into());
    }
    if key.validate(&retry, client, now + key.retry_lifetime + Duration::from_secs(1)) != Err(TokenError::Expired) {
        return Err("expired Retry token accepted".into());
    }
    let new_token = key.seal_new_token(&mut rng, client.ip(), now);
    if key.validate(&new_token, elsewhere, now) != Ok(ValidToken::NewToken) {
        return Err("NEW_TOKEN token refused from its IP address".into());
    }
    // Flipping any bit makes it invalid.
    let mut tampered = new_token.clone();
    let bit = usize::from(selector) % (tampered.len() * 8);
    tampered[bit / 8] ^= 1 << (bit % 8);
    if key.validate(&tampered, client, now).is_ok() {
        return Err(format!("token with bit {bit} flipped accepted"));
    }
    // A Retry packet made of the input: the integrity tag must not verify by chance.
    if crate::crypto::is_valid_retry(&original, token) && token.len() > 16 {
        let without_tag = &token[..token.len() - 16];
        let expected = crate::crypto::retry_integrity_tag(&original, without_tag);
        if expected.as_ref().map(|t| &t[..]) != Some(&token[token.len() - 16..]) {
            return Err("Retry accepted with a wrong integrity tag".into());
        }
    }
    Ok(())
}

/// Applies `payload`, the plaintext of a 1-RTT packet, to `conn` as if it had arrived on
/// `path_id` with the next packet number: the frame handling of a received packet (RFC 9000
/// §12.4, §19) without the packet protection, so that a fuzzer reaches it. A frame that breaks
/// the rules closes the connection, exactly as from the network.
pub fn handle_payload(conn: &mut Connection, now: Instant, path_id: PathId, payload: Bytes) {
    conn.handle_plaintext_payload(now, path_id, payload);
}

/// A frame for the connection target: every frame type of RFC 9000, RFC 9221 and RFC 10069,
/// with fields in ranges where a real peer's values lie (small stream IDs, offsets, packet and
/// path numbers), so that many are valid and reach deep into the state machines; the fuzzer
/// still finds the edges (limits, duplicates, frames for paths or streams that do not exist).
#[derive(Debug, Clone, Arbitrary)]
pub enum FrameSpec {
    /// PADDING bytes.
    Padding(u8),
    /// PING.
    Ping,
    /// ACK, or PATH_ACK with `path`: the ranges go down from `largest`, each a (gap, length).
    Ack {
        /// PATH_ACK's path ID.
        path: Option<u8>,
        /// Largest Acknowledged.
        largest: u8,
        /// First ACK Range.
        first: u8,
        /// (Gap, ACK Range Length) pairs.
        ranges: Vec<(u8, u8)>,
        /// ACK Delay.
        delay: u16,
        /// ECN counts (ECT(0), ECT(1), CE).
        ecn: Option<(u8, u8, u8)>,
    },
    /// RESET_STREAM.
    ResetStream {
        /// Stream ID.
        id: u8,
        /// Error code.
        code: u8,
        /// Final size.
        final_size: u16,
    },
    /// STOP_SENDING.
    StopSending {
        /// Stream ID.
        id: u8,
        /// Error code.
        code: u8,
    },
    /// CRYPTO with `len` bytes of junk at `offset`.
    Crypto {
        /// Offset.
        offset: u16,
        /// Length.
        len: u8,
    },
    /// NEW_TOKEN (a server must refuse it: PROTOCOL_VIOLATION).
    NewToken {
        /// Token length.
        len: u8,
    },
    /// STREAM.
    Stream {
        /// Stream ID.
        id: u8,
        /// Offset.
        offset: u16,
        /// Length.
        len: u16,
        /// FIN.
        fin: bool,
    },
    /// MAX_DATA.
    MaxData(u32),
    /// MAX_STREAM_DATA.
    MaxStreamData {
        /// Stream ID.
        id: u8,
        /// Limit.
        max: u32,
    },
    /// MAX_STREAMS.
    MaxStreams {
        /// Bidirectional.
        bidi: bool,
        /// Count.
        count: u16,
    },
    /// DATA_BLOCKED.
    DataBlocked(u32),
    /// STREAM_DATA_BLOCKED.
    StreamDataBlocked {
        /// Stream ID.
        id: u8,
        /// Limit.
        limit: u32,
    },
    /// STREAMS_BLOCKED.
    StreamsBlocked {
        /// Bidirectional.
        bidi: bool,
        /// Limit.
        limit: u16,
    },
    /// NEW_CONNECTION_ID, or PATH_NEW_CONNECTION_ID with `path`.
    NewConnectionId {
        /// The path ID of PATH_NEW_CONNECTION_ID.
        path: Option<u8>,
        /// Sequence number.
        sequence: u8,
        /// Retire Prior To.
        retire_prior_to: u8,
        /// The CID's first bytes; `len % 21` of them (zero-length is invalid here).
        cid: [u8; 8],
        /// CID length.
        len: u8,
        /// Stateless reset token.
        reset_token: [u8; 16],
    },
    /// RETIRE_CONNECTION_ID, or PATH_RETIRE_CONNECTION_ID with `path`.
    RetireConnectionId {
        /// The path ID of PATH_RETIRE_CONNECTION_ID.
        path: Option<u8>,
        /// Sequence number.
        sequence: u8,
    },
    /// PATH_CHALLENGE.
    PathChallenge([u8; 8]),
    /// PATH_RESPONSE.
    PathResponse([u8; 8]),
    /// CONNECTION_CLOSE (transport).
    ConnectionClose {
        /// Error code.
        code: u16,
        /// Frame Type.
        frame_type: u8,
    },
    /// CONNECTION_CLOSE (application).
    ApplicationClose {
        /// Error code.
        code: u8,
    },
    /// HANDSHAKE_DONE (a server may not receive it).
    HandshakeDone,
    /// DATAGRAM of `len` bytes.
    Datagram {
        /// Length.
        len: u16,
    },
    /// PATH_ABANDON.
    PathAbandon {
        /// Path ID.
        path: u8,
        /// Error code.
        code: u8,
    },
    /// PATH_STATUS_BACKUP or PATH_STATUS_AVAILABLE.
    PathStatus {
        /// Path ID.
        path: u8,
        /// Sequence number.
        sequence: u8,
        /// Backup rather than available.
        backup: bool,
    },
    /// MAX_PATH_ID.
    MaxPathId(u8),
    /// PATHS_BLOCKED.
    PathsBlocked(u8),
    /// PATH_CIDS_BLOCKED.
    PathCidsBlocked {
        /// Path ID.
        path: u8,
        /// Next sequence number.
        next: u8,
    },
}

impl FrameSpec {
    /// The frame this describes.
    pub fn to_frame(&self) -> Frame {
        use crate::frame::{
            Ack, ApplicationClose, ConnectionClose, Crypto, Datagram, NewConnectionId, NewToken, PathAbandon,
            PathCidsBlocked, PathStatus, RetireConnectionId, Stream,
        };
        use crate::shared::{Dir, EcnCounts, StreamId};
        use crate::{RangeSet, TransportErrorCode};
        let dir = |bidi: bool| if bidi { Dir::Bi } else { Dir::Uni };
        let path_id = |p: u8| PathId(u32::from(p % 8));
        let junk = |len: usize| Bytes::from(vec![0x5a; len]);
        match *self {
            FrameSpec::Padding(n) => Frame::Padding(usize::from(n) + 1),
            FrameSpec::Ping => Frame::Ping,
            FrameSpec::Ack { path, largest, first, ref ranges, delay, ecn } => {
                let mut set = RangeSet::new();
                let largest = u64::from(largest);
                let mut smallest = largest.saturating_sub(u64::from(first));
                set.insert(smallest..largest + 1);
                for &(gap, len) in ranges.iter().take(32) {
                    let Some(top) = smallest.checked_sub(u64::from(gap) + 2) else { break };
                    smallest = top.saturating_sub(u64::from(len));
                    set.insert(smallest..top + 1);
                }
                let ecn = ecn.map(|(a, b, c)| EcnCounts { ect0: a.into(), ect1: b.into(), ce: c.into() });
                let ack = Ack::from_ranges(path.map_or(PathId::ZERO, path_id), &set, u64::from(delay), ecn);
                match (ack, path) {
                    (Some(ack), None) => Frame::Ack(ack),
                    (Some(ack), Some(_)) => Frame::PathAck(ack),
                    (None, _) => Frame::Ping,
                }
            }
            FrameSpec::ResetStream { id, code, final_size } => {
                Frame::ResetStream { id: StreamId(id.into()), error_code: code.into(), final_size: final_size.into() }
            }
            FrameSpec::StopSending { id, code } => {
                Frame::StopSending { id: StreamId(id.into()), error_code: code.into() }
            }
            FrameSpec::Crypto { offset, len } => {
                Frame::Crypto(Crypto { offset: offset.into(), data: junk(usize::from(len)) })
            }
            FrameSpec::NewToken { len } => Frame::NewToken(NewToken { token: junk(usize::from(len).max(1)) }),
            FrameSpec::Stream { id, offset, len, fin } => Frame::Stream(Stream {
                id: StreamId(id.into()),
                offset: offset.into(),
                fin,
                data: Bytes::from((0..len).map(|i| i as u8).collect::<Vec<u8>>()),
            }),
            FrameSpec::MaxData(max) => Frame::MaxData(max.into()),
            FrameSpec::MaxStreamData { id, max } => Frame::MaxStreamData { id: StreamId(id.into()), max: max.into() },
            FrameSpec::MaxStreams { bidi, count } => Frame::MaxStreams { dir: dir(bidi), count: count.into() },
            FrameSpec::DataBlocked(limit) => Frame::DataBlocked(limit.into()),
            FrameSpec::StreamDataBlocked { id, limit } => {
                Frame::StreamDataBlocked { id: StreamId(id.into()), limit: limit.into() }
            }
            FrameSpec::StreamsBlocked { bidi, limit } => Frame::StreamsBlocked { dir: dir(bidi), limit: limit.into() },
            FrameSpec::NewConnectionId { path, sequence, retire_prior_to, cid, len, reset_token } => {
                let len = usize::from(len % 8) + 1;
                let id = ConnectionId::new(&cid[..len]).unwrap_or(ConnectionId::EMPTY);
                let n = NewConnectionId {
                    path_id: path.map_or(PathId::ZERO, path_id),
                    sequence: sequence.into(),
                    retire_prior_to: retire_prior_to.into(),
                    id,
                    reset_token,
                };
                if path.is_some() {
                    Frame::PathNewConnectionId(n)
                } else {
                    Frame::NewConnectionId(n)
                }
            }
            FrameSpec::RetireConnectionId { path, sequence } => {
                let r = RetireConnectionId { path_id: path.map_or(PathId::ZERO, path_id), sequence: sequence.into() };
                if path.is_some() {
                    Frame::PathRetireConnectionId(r)
                } else {
                    Frame::RetireConnectionId(r)
                }
            }
            FrameSpec::PathChallenge(data) => Frame::PathChallenge(data),
            FrameSpec::PathResponse(data) => Frame::PathResponse(data),
            FrameSpec::ConnectionClose { code, frame_type } => Frame::ConnectionClose(ConnectionClose {
                error_code: TransportErrorCode(code.into()),
                frame_type: FrameType(frame_type.into()),
                reason: junk(3),
            }),
            FrameSpec::ApplicationClose { code } => {
                Frame::ApplicationClose(ApplicationClose { error_code: code.into(), reason: junk(2) })
            }
            FrameSpec::HandshakeDone => Frame::HandshakeDone,
            FrameSpec::Datagram { len } => Frame::Datagram(Datagram { data: junk(usize::from(len)) }),
            FrameSpec::PathAbandon { path, code } => {
                Frame::PathAbandon(PathAbandon { path_id: path_id(path), error_code: code.into() })
            }
            FrameSpec::PathStatus { path, sequence, backup } => {
                let s = PathStatus { path_id: path_id(path), sequence: sequence.into() };
                if backup {
                    Frame::PathStatusBackup(s)
                } else {
                    Frame::PathStatusAvailable(s)
                }
            }
            FrameSpec::MaxPathId(p) => Frame::MaxPathId(PathId(p.into())),
            FrameSpec::PathsBlocked(p) => Frame::PathsBlocked(PathId(p.into())),
            FrameSpec::PathCidsBlocked { path, next } => {
                Frame::PathCidsBlocked(PathCidsBlocked { path_id: path_id(path), next_sequence: next.into() })
            }
        }
    }
}

/// Encodes `frames` as one packet payload with the RFC 10069 code points.
pub fn encode_frames(frames: &[FrameSpec]) -> Bytes {
    let mut out = Vec::new();
    for f in frames {
        f.to_frame().encode(&mut out);
    }
    Bytes::from(out)
}
