#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ in turn (issue 18, part 3).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET ...]      (default: 20 s, every target)
#   RUNS=10000000 scripts/fuzz.sh 0 frames                  (a number of executions instead)
#
# Each target starts from its committed seeds (fuzz/corpus/TARGET, read only) and writes what
# it finds to a scratch corpus (FUZZ_WORK, default a temporary directory removed at the end).
# A crash stops the script with libFuzzer's exit code and leaves the input in
# fuzz/artifacts/TARGET/.
# Built without a sanitizer (`-s none`): proto forbids unsafe code, and AddressSanitizer's
# allocator made the connection target 5x slower. Installs cargo-fuzz and nightly if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(packet_header frames transport_parameters ack_recovery stream_reassembly tokens connection)
fi
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
if [ -n "${FUZZ_WORK:-}" ]; then
    work="$FUZZ_WORK"
else
    # Our own scratch corpus goes when we do (a crash's input is kept in fuzz/artifacts/ and
    # its log tail printed); every CI run left 15 MB of it in /tmp.
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
fi
limit=()
if [ "$seconds" != 0 ]; then limit+=("-max_total_time=$seconds"); fi
if [ -n "${RUNS:-}" ]; then limit+=("-runs=$RUNS"); fi
cargo +nightly fuzz build -O -s none
for t in "${targets[@]}"; do
    mkdir -p "$work/$t"
    echo "fuzzing $t (${limit[*]})" >&2
    status=0
    cargo +nightly fuzz run -O -s none "$t" "$work/$t" "fuzz/corpus/$t" -- "${limit[@]}" -print_final_stats=1 \
        >"$work/$t.log" 2>&1 || status=$?
    grep -E 'stat::number_of_executed_units|panicked|SUMMARY|Test unit written' "$work/$t.log" >&2 || true
    if [ "$status" != 0 ]; then
        tail -n 40 "$work/$t.log" >&2
        echo "fuzz target $t failed with status $status" >&2
        exit "$status"
    fi
done
