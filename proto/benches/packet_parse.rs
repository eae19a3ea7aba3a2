//! Receiving a full-size protected 1-RTT packet: [`PartialDecode`] of the short header, header
//! protection removal (RFC 9001 §5.4), packet number recovery (RFC 9000 Appendix A.3), AEAD
//! open with real 1-RTT keys (RFC 9001 §5.3), and iteration over the decrypted frames.
//!
//! The datagram is copied into a fresh buffer outside the timed section (the receive path gets
//! it from the socket), since unprotection works in place.

mod common;

use std::hint::black_box;
use std::time::Duration;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use mpquic_proto::crypto::Keys;
use mpquic_proto::frame::{self, Frame};
use mpquic_proto::packet::PartialDecode;
use mpquic_proto::PathId;

/// Unprotects and decodes one 1-RTT packet with the receiver's `keys`; returns the full packet
/// number and the STREAM bytes it carried.
fn open_packet(keys: &Keys, datagram: BytesMut, largest_received: u64) -> (u64, usize) {
    let (mut partial, rest) = PartialDecode::new(datagram, common::DCID.len()).expect("short header");
    debug_assert!(rest.is_none());
    let pn_offset = partial.pn_offset();
    keys.header.remote.remove(partial.packet_mut(), pn_offset).expect("unprotect header");
    let header = partial.finish().expect("packet number");
    let full_pn = header.full_pn(Some(largest_received));
    let len = keys
        .packet
        .remote
        .decrypt_packet(PathId::ZERO, full_pn, partial.packet_mut(), header.header_len)
        .expect("authentic packet");
    let payload = partial.into_packet().freeze().slice(header.header_len..header.header_len + len);
    let mut stream_bytes = 0;
    for frame in frame::Iter::new(payload) {
        if let Frame::Stream(s) = frame.expect("valid frame") {
            stream_bytes += s.data.len();
        }
    }
    (full_pn, stream_bytes)
}

fn packet_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("packet_parse");
    group.measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500)).sample_size(30);
    let data = vec![0xa5u8; 2048];
    for (name, suite) in common::suites() {
        let keys = common::one_rtt_keys(suite);
        for size in [1200usize, 1452] {
            let pn = 1_000_000u64;
            let largest_received = pn - 1;
            let mut packet = Vec::new();
            common::build_packet(&mut packet, &keys.client, pn, Some(pn - 300), size, &data);
            // Once, untimed: the packet opens and carries a STREAM frame filling it.
            let (got_pn, stream_bytes) = open_packet(&keys.server, BytesMut::from(&packet[..]), largest_received);
            assert_eq!(got_pn, pn);
            assert!(stream_bytes > size - 40, "{stream_bytes} stream bytes in a {size}-byte packet");
            group.throughput(Throughput::Bytes(size as u64));
            group.bench_with_input(BenchmarkId::new(name, size), &size, |b, _| {
                b.iter_batched(
                    || BytesMut::from(&packet[..]),
                    |datagram| black_box(open_packet(&keys.server, datagram, largest_received)),
                    BatchSize::SmallInput,
                );
            });
        }
    }
    group.finish();
}

criterion_group!(benches, packet_parse);
criterion_main!(benches);
