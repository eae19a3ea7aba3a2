#!/usr/bin/env bash
# The side-by-side benchmark of `mpquic perf` against quinn 0.11: builds the release binaries,
# then runs experiments/examples/perf_compare.rs (separate processes, server and client pinned to
# different cores, rounds interleaved, medians and per-round ratios).
#
#   scripts/bench-vs-quinn.sh [--bytes 1Gi] [--rounds 5] [--no-multipath]
#
# Needs two cores and taskset. Run it on a quiet machine: its numbers are only as good as that.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p mpquic-experiments --bin mpquic --example quinn_perf --example perf_compare
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
exec "$target_dir/release/examples/perf_compare" \
    --mpquic "$target_dir/release/mpquic" --quinn "$target_dir/release/examples/quinn_perf" "$@"
