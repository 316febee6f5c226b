#!/usr/bin/env bash
# Profiles the gateway's serving thread, one scenario at a time, with examples/allocs.rs
# (the real router and connection loop in-process, the stand-in upstream beside them):
# perf record (cpu-clock, DWARF call graphs), folded stacks in bench/out/profile/, a summary
# of where the time goes, and an SVG flame graph when inferno-flamegraph is installed
# (`cargo install inferno`). Needs perf (Debian: apt-get install -y linux-perf).
#
#   bench/profile.sh                         # every scenario, 3000 requests each
#   PROFILE_REQUESTS=1000 bench/profile.sh same-dialect-stream
set -euo pipefail
cd "$(dirname "$0")/.."
N=${PROFILE_REQUESTS:-3000}
BIN=${ALLOCS_BIN:-${CARGO_TARGET_DIR:-target}/release/examples/allocs}
OUT=bench/out/profile
mkdir -p "$OUT"
command -v perf >/dev/null || { echo "perf not found: apt-get install -y linux-perf" >&2; exit 1; }
[[ -x $BIN ]] || cargo build --release --example allocs
SCENARIOS=("$@")
[[ ${#SCENARIOS[@]} -gt 0 ]] || SCENARIOS=(same-dialect-json same-dialect-stream translated-json translated-stream)
for s in "${SCENARIOS[@]}"; do
  echo "== $s"
  perf record -q -F 1999 --call-graph dwarf,16384 -o "$OUT/$s.data" -- \
    "$BIN" --requests "$N" --scenario "$s" | tail -1
  perf script -i "$OUT/$s.data" 2>/dev/null | bench/profile.py "$OUT/$s.folded"
  if command -v inferno-flamegraph >/dev/null; then
    inferno-flamegraph < "$OUT/$s.folded" > "$OUT/$s.svg" && echo "flame graph: $OUT/$s.svg"
  fi
  rm -f "$OUT/$s.data"
done
