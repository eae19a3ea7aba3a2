#!/usr/bin/env bash
# CoNEXT'17 §4 on real links, root only (issue 16): MPQUIC against Linux MPTCP over a sample of
# the WSP scenarios, each protocol over the same emulated paths (`mpquic run --real --netns
# --compare mptcp`: a TUN pair per path, the simulator's link model at the IP level). For each
# of the first ROWS_PER_CLASS scenarios of each class (the CSV's corrected BDP + queuing-delay
# buffers), one download of BYTES with both paths, path p0 first; reported as the paper does,
# the ratio of completion times, MPTCP / MPQUIC (above 1: MPQUIC finished first).
#
# Both protocols use CUBIC (Linux has no OLIA: the comparison keeps the controller equal) with a
# delay-based slow-start exit (Linux's HyStart; HyStart++ for MPQUIC, CC=cubic+hystart, as the
# paper's mp-quic had Chromium's hybrid slow start), the lowest-RTT scheduler (MPQUIC's minrtt,
# MPTCP's default), a 16 MB receive window for MPQUIC.
#
#   cargo build --release -p mpquic-experiments --bin mpquic
#   sudo papers/conext17-mpquic/wsp_mptcp.sh [ROWS_PER_CLASS]     # default 20; BYTES=20000000
#
# Writes OUT/ratios.csv (one row per WSP scenario) and prints the median ratio per class.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-./target/release/mpquic}
ROWS=${1:-20}
BYTES=${BYTES:-20000000}
CC=${CC:-cubic+hystart}
OUT=${OUT:-out/wsp-mptcp}
CSV=papers/conext17-mpquic/conext17_wsp_scenarios.csv
if [ "$(id -u)" != 0 ]; then
  echo "wsp_mptcp.sh: needs root (network namespaces, TUN devices, MPTCP endpoints)" >&2
  exit 2
fi
mkdir -p "$OUT"
echo "class,scenario,mpquic_s,mptcp_s,ratio_mptcp_over_mpquic" > "$OUT/ratios.csv"
classes="low_bdp_no_loss low_bdp_losses high_bdp_no_loss high_bdp_losses"
total=$(( ROWS * 4 ))
done_rows=0
for class in $classes; do
  while IFS=, read -r _ sc b0 d0 _ _ q0 l0 b1 d1 _ _ q1 l1; do
    name="wsp-$class-$sc"
    dir="$OUT/$name"
    mkdir -p "$dir"
    link() { echo "{ rate_mbps = $1, delay_ms = $2, queue = { packets = $3 }, loss = $(awk -v p="$4" 'BEGIN { print p / 100 }') }"; }
    cat > "$dir/scenario.toml" <<TOML
name = "$name"
duration_s = 900.0
sample_interval_ms = 1000.0
[transport]
congestion_controller = "$CC"
scheduler = "minrtt"
receive_window_bytes = 16777216
[[paths]]
name = "p0"
client = "10.0.0.2:50000"
server = "10.9.0.1:4433"
up = $(link "$b0" "$d0" "$q0" "$l0")
down = $(link "$b0" "$d0" "$q0" "$l0")
[[paths]]
name = "p1"
client = "10.1.0.2:50000"
server = "10.9.1.1:4433"
up = $(link "$b1" "$d1" "$q1" "$l1")
down = $(link "$b1" "$d1" "$q1" "$l1")
[workload]
kind = "bulk"
bytes = $BYTES
TOML
    done_rows=$(( done_rows + 1 ))
    echo "[$done_rows/$total] $class scenario $sc: p0 $b0 Mbit/s ${d0} ms, p1 $b1 Mbit/s ${d1} ms" >&2
    "$BIN" run --real --netns "$dir/scenario.toml" --compare mptcp --qlog off --out "$dir" > "$dir/run.log" 2>&1 || true
    # comparisons.csv: seed,protocol,completed,error,goodput,completion,...; rows with an error
    # (which may hold commas) have no completion time.
    t() { awk -F, -v p="$1" '$2 == p && $3 == "true" && $4 == "" { print $6 }' "$dir/comparisons.csv" 2>/dev/null; }
    q=$(t mpquic); m=$(t mptcp)
    ratio=$( [ -n "$q" ] && [ -n "$m" ] && awk -v q="$q" -v m="$m" 'BEGIN { printf "%.3f", m / q }' || echo "")
    echo "$class,$sc,$q,$m,$ratio" >> "$OUT/ratios.csv"
  done < <(awk -F, -v c="$class" -v n="$ROWS" 'NR > 1 && $1 == c && $2 < n' "$CSV")
done
echo "class, runs with both complete, median ratio MPTCP/MPQUIC completion time, share of runs where MPQUIC was faster"
for class in $classes; do
  awk -F, -v c="$class" '$1 == c && $5 != "" { print $5 }' "$OUT/ratios.csv" | sort -g |
    awk -v c="$class" '{ v[NR] = $1; if ($1 > 1) f++ } END {
      if (NR == 0) { print c ", 0, -, -"; exit }
      m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      printf "%s, %d, %.3f, %.0f%%\n", c, NR, m, 100 * f / NR }'
done
echo "rows: $OUT/ratios.csv"
