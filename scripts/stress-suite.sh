#!/usr/bin/env bash
# Runs the test suite N times in a row while `stress` keeps every CPU busy (issue 18, part 6):
# a test that fails only under load is a flake to fix, not noise to retry.
#
#   scripts/stress-suite.sh [RUNS] [-- CARGO TEST ARGS ...]      (default: 20 runs, --workspace)
#
# Builds the tests first, without load, then starts `stress --cpu <cores>` and runs
# `cargo test` RUNS times; each run's output goes to $OUT/run-K.log (OUT defaults to a temporary
# directory). Stops at the first failing run, names it and exits non-zero; prints one line per
# run with its wall time and the 1-minute load average at its end. Installs stress with apt-get
# when it is missing.
#
# LOAD=external: start no `stress`; the caller keeps the CPUs busy with other CPU-bound work (for
# example one libFuzzer process per core, so the fuzzing hours double as the load). Each run then
# fails unless the load average at its end is at least the number of cores.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-20}"
shift || true
[ "${1:-}" = "--" ] && shift
args=("$@")
[ ${#args[@]} -eq 0 ] && args=(--workspace)
command -v stress >/dev/null 2>&1 || apt-get install -y stress >/dev/null
out="${OUT:-$(mktemp -d)}"
mkdir -p "$out"
cores=$(nproc)
echo "building the tests (cargo test ${args[*]} --no-run)" >&2
cargo test "${args[@]}" --no-run >"$out/build.log" 2>&1 || { tail -n 30 "$out/build.log" >&2; exit 1; }
if [ "${LOAD:-stress}" = external ]; then
    echo "no stress: the load is external; $runs runs, logs in $out" >&2
else
    stress --cpu "$cores" >/dev/null 2>&1 &
    stress_pid=$!
    # stress's workers first, then stress itself, which reaps them.
    trap 'pkill -P "$stress_pid" 2>/dev/null || true; kill "$stress_pid" 2>/dev/null || true; wait "$stress_pid" 2>/dev/null || true' EXIT INT TERM
    echo "stress --cpu $cores running (pid $stress_pid); $runs runs, logs in $out" >&2
fi
for k in $(seq 1 "$runs"); do
    start=$(date +%s)
    if cargo test "${args[@]}" >"$out/run-$k.log" 2>&1; then
        load=$(cut -d' ' -f1 /proc/loadavg)
        echo "run $k of $runs passed in $(( $(date +%s) - start )) s (load average $load)" >&2
        if [ "${LOAD:-stress}" = external ] && awk -v l="$load" -v c="$cores" 'BEGIN { exit !(l < c) }'; then
            echo "the external load is gone (load average $load < $cores cores): stopping" >&2
            exit 1
        fi
    else
        echo "run $k of $runs FAILED after $(( $(date +%s) - start )) s; failures:" >&2
        grep -E '^test .* FAILED|panicked at' "$out/run-$k.log" >&2 || tail -n 30 "$out/run-$k.log" >&2
        exit 1
    fi
done
echo "all $runs runs passed under stress" >&2
