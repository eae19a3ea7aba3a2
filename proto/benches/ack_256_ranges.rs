//! ACK processing with 256 ACK ranges (RFC 9000 §19.3, RFC 9002 §6 and Appendix A.7):
//! encoding the frame from a [`RangeSet`] with [`encode_ack`], decoding it with
//! [`frame::Iter`], and [`PathRecovery::on_ack_received`] over a window of 10,000 outstanding
//! packets with 255 one-packet holes (which loss detection declares lost).

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use mpquic_proto::frame::{self, encode_ack, Ack, Frame, MultipathVersion};
use mpquic_proto::recovery::{PathKind, PathRecovery, RecoveryConfig, RecoveryOutput, SentPacket, SpaceId};
use mpquic_proto::{Instant, PathId, RangeSet};

/// Packets outstanding when the ACK arrives.
const SENT: u64 = 10_000;
/// ACK ranges in the frame.
const RANGES: u64 = 256;
/// Each range acknowledges this many packets; one packet is missing between ranges.
const RANGE_LEN: u64 = 38;
/// Our ack_delay_exponent (RFC 9000 §18.2 default).
const ACK_DELAY_EXPONENT: u64 = 3;
const SIZE: u64 = 1200;

/// Packets `i * 39 .. i * 39 + 38` for `i` in `0..256`: 256 ranges over packets 0..9983.
fn ack_ranges() -> RangeSet {
    let mut ranges = RangeSet::default();
    for i in 0..RANGES {
        let start = i * (RANGE_LEN + 1);
        ranges.insert(start..start + RANGE_LEN);
    }
    ranges
}

/// The encoded ACK frame for [`ack_ranges`] (type 0x02, no ECN).
fn ack_frame(ranges: &RangeSet) -> Bytes {
    let mut buf = Vec::new();
    let written = encode_ack(&mut buf, None, MultipathVersion::default(), ranges, 1000, None, RANGES as usize, 1200)
        .expect("fits");
    assert_eq!(written.ranges as u64, RANGES);
    Bytes::from(buf)
}

fn sent_time(pn: u64) -> Instant {
    // One packet every 10 µs, starting 1 s after the epoch.
    Instant::from_nanos(1_000_000_000 + pn * 10_000)
}

/// Recovery of an additional path (application space only) with packets 0..SENT outstanding,
/// and an output buffer with room for them all, as a connection would keep it.
fn outstanding() -> (PathRecovery<u64>, RecoveryOutput<u64>) {
    let config = RecoveryConfig { ecn: false, ..RecoveryConfig::default() };
    let controller = Box::new(mpquic_cc::NewReno::new(SIZE));
    let mut recovery = PathRecovery::new(PathId(1), PathKind::Additional, config, controller);
    for pn in 0..SENT {
        let packet = SentPacket {
            packet_number: pn,
            time_sent: sent_time(pn),
            size: SIZE,
            ack_eliciting: true,
            in_flight: true,
            largest_acked: None,
            ecn: None,
            mtu_probe: false,
            frames: pn,
        };
        recovery.on_packet_sent(sent_time(pn), SpaceId::Data, packet, false).expect("sent in order");
    }
    let out = RecoveryOutput { acked: Vec::with_capacity(SENT as usize), lost: Vec::with_capacity(SENT as usize) };
    (recovery, out)
}

fn decode_ack(frame: Bytes) -> Ack {
    match frame::Iter::new(frame).next() {
        Some(Ok(Frame::Ack(ack))) => ack,
        other => panic!("not an ACK frame: {other:?}"),
    }
}

/// Decodes the ACK frame and hands its ranges to recovery, as the connection does.
fn process(recovery: &mut PathRecovery<u64>, out: &mut RecoveryOutput<u64>, frame: Bytes) -> (usize, usize) {
    let ack = decode_ack(frame);
    // The ACK arrives 50 ms after the last packet was sent.
    let now = sent_time(SENT) + Duration::from_millis(50);
    let ack_delay = Duration::from_micros(ack.delay << ACK_DELAY_EXPONENT);
    let summary =
        recovery.on_ack_received(now, SpaceId::Data, ack.iter(), ack_delay, ack.ecn, None, out).expect("valid ACK");
    (summary.newly_acked, summary.newly_lost)
}

fn ack_256_ranges(c: &mut Criterion) {
    let ranges = ack_ranges();
    let frame = ack_frame(&ranges);

    // Once, untimed: what one ACK does to the window.
    let (mut recovery, mut out) = outstanding();
    let (acked, lost) = process(&mut recovery, &mut out, frame.clone());
    assert_eq!(acked as u64, RANGES * RANGE_LEN);
    assert_eq!(lost as u64, RANGES - 1);

    let mut group = c.benchmark_group("ack_256_ranges");
    group.measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500)).sample_size(30);

    group.throughput(Throughput::Elements(RANGES));
    group.bench_function("encode_ack", |b| {
        let mut buf = Vec::with_capacity(1200);
        b.iter(|| {
            buf.clear();
            let written = encode_ack(
                &mut buf,
                None,
                MultipathVersion::default(),
                black_box(&ranges),
                1000,
                None,
                RANGES as usize,
                1200,
            );
            black_box((written, &buf));
        });
    });
    group.bench_function("decode_frame_iter", |b| {
        b.iter(|| {
            let ack = decode_ack(black_box(frame.clone()));
            let acked: u64 = ack.iter().map(|r| r.end - r.start).sum();
            black_box(acked)
        });
    });

    // Every packet of the window below the largest acknowledged is acknowledged or declared lost.
    group.throughput(Throughput::Elements(RANGES * (RANGE_LEN + 1) - 1));
    group.bench_function("on_ack_received_10000_outstanding", |b| {
        b.iter_batched(
            outstanding,
            |(mut recovery, mut out)| {
                let result = process(&mut recovery, &mut out, frame.clone());
                black_box(result);
                // Returned so that dropping them is not timed.
                (recovery, out)
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(benches, ack_256_ranges);
criterion_main!(benches);
