#!/usr/bin/env bash
# Issue 8 on real sockets, full size: a 50 MB download with `mpquic client` from `mpquic server`
# over two paths through `mpquic emulate experiments/scenarios/failover_bulk.toml` (50 Mbit/s
# 20 ms RTT + 20 Mbit/s 60 ms RTT, 1-BDP queues, the fast path black-holed 3 s after the first
# datagram). Three processes on loopback addresses 127.0.6.x; prints the client's and the
# emulator's tables and the SHA-256 of both files.
#
#   cargo build --release -p mpquic-experiments --bin mpquic
#   papers/conext17-mpquic/failover_real.sh            # from the repository root
set -euo pipefail
BIN=${BIN:-./target/release/mpquic}
WORK=${WORK:-$(mktemp -d)}
BYTES=${BYTES:-50000000}
mkdir -p "$WORK/root"
head -c "$BYTES" /dev/urandom > "$WORK/root/big.bin"
"$BIN" server --listen 127.0.6.1:4433 --listen 127.0.6.2:4433 --root "$WORK/root" --cc cubic > "$WORK/server.log" 2>&1 &
SERVER=$!
"$BIN" emulate experiments/scenarios/failover_bulk.toml \
  --relay fast=127.0.6.1:7001,127.0.6.1:4433 --relay slow=127.0.6.2:7001,127.0.6.2:4433 \
  --stats "$WORK/emulator.json" > "$WORK/emulator.log" 2>&1 &
EMULATOR=$!
trap 'kill $SERVER $EMULATOR 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  grep -q serving "$WORK/server.log" && grep -q ready "$WORK/emulator.log" && break
  sleep 0.1
done
CA=$(grep -o -- '--ca [^ ]*' "$WORK/server.log" | head -1 | cut -d' ' -f2)
"$BIN" client https://127.0.6.1:7001/big.bin --output "$WORK/out" --ca "$CA" --cc cubic \
  --path 127.0.6.11 --path 127.0.6.12=127.0.6.2:7001
kill -TERM $EMULATOR && wait $EMULATOR || true
cat "$WORK/emulator.log"
sha256sum "$WORK/root/big.bin" "$WORK/out/big.bin"
echo "outputs in $WORK (emulator.json: the relays' and links' counters)"
