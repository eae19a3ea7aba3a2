//! Building a full-size protected 1-RTT packet (RFC 9000 §17.3.1, RFC 9001 §5): short header,
//! one STREAM frame filling the packet, AEAD seal with real 1-RTT keys from an in-memory TLS
//! handshake, then header protection. Sizes 1200 (the QUIC minimum) and 1452 (Ethernet MTU
//! minus IPv4/IPv6 and UDP headers, common in practice); AES-128-GCM and ChaCha20-Poly1305.

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn packet_build(c: &mut Criterion) {
    let mut group = c.benchmark_group("packet_build");
    group.measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500)).sample_size(30);
    let data = vec![0xa5u8; 2048];
    for (name, suite) in common::suites() {
        let keys = common::one_rtt_keys(suite);
        for size in [1200usize, 1452] {
            group.throughput(Throughput::Bytes(size as u64));
            group.bench_with_input(BenchmarkId::new(name, size), &size, |b, &size| {
                let mut buf = Vec::with_capacity(size);
                // Packet numbers advance as on a real connection, with the peer's
                // acknowledgements a few hundred packets behind (2-byte packet numbers).
                let mut pn = 1_000_000u64;
                b.iter(|| {
                    pn += 1;
                    common::build_packet(&mut buf, &keys.client, pn, Some(pn - 300), size, &data);
                    black_box(&buf);
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, packet_build);
criterion_main!(benches);
