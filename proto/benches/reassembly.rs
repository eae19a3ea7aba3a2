//! Stream reassembly (RFC 9000 §2.2): an [`Assembler`] fed 1 MiB of STREAM data in 1200-byte
//! pieces, in order, in a seeded random order, and in reverse order, then read out to the end.
//! The pieces are slices of one buffer, as decoded STREAM frames are slices of their packets.

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mpquic_proto::stream::Assembler;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const TOTAL: usize = 1 << 20;
const PIECE: usize = 1200;

/// Inserts `pieces` (offset, data) and reads everything out; returns the bytes read.
fn reassemble(pieces: &[(u64, Bytes)]) -> usize {
    let mut assembler = Assembler::new();
    for (offset, data) in pieces {
        assembler.insert(*offset, data.clone());
    }
    let mut read = 0;
    while let Some((_, data)) = assembler.read(usize::MAX) {
        read += data.len();
    }
    read
}

fn reassembly(c: &mut Criterion) {
    let stream: Bytes = (0..TOTAL).map(|i| (i % 251) as u8).collect::<Vec<u8>>().into();
    let in_order: Vec<(u64, Bytes)> = (0..TOTAL)
        .step_by(PIECE)
        .map(|start| (start as u64, stream.slice(start..(start + PIECE).min(TOTAL))))
        .collect();
    let mut random = in_order.clone();
    random.shuffle(&mut ChaCha8Rng::seed_from_u64(0x5eed));
    let reverse: Vec<_> = in_order.iter().rev().cloned().collect();

    let mut group = c.benchmark_group("reassembly");
    group.measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500)).sample_size(30);
    group.throughput(Throughput::Bytes(TOTAL as u64));
    for (name, pieces) in [("in_order", &in_order), ("random", &random), ("reverse", &reverse)] {
        assert_eq!(reassemble(pieces), TOTAL, "{name}: every byte delivered");
        group.bench_with_input(BenchmarkId::new("1MiB_1200B_pieces", name), pieces, |b, pieces| {
            b.iter(|| black_box(reassemble(black_box(pieces))));
        });
    }
    group.finish();
}

criterion_group!(benches, reassembly);
criterion_main!(benches);
