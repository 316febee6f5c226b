#!/usr/bin/env bash
# Profiles the real gateway binary under load, as bench/run.sh measures it: the stand-in
# upstream, `cliproxy serve` with one claude-api-key, and examples/loadgen at CONNS
# connections for SECONDS, while `perf record --call-graph dwarf` samples every gateway
# thread. Prints CPU µs per request (the gateway's utime+stime / requests) and the
# inclusive share of the request path's parts (bench/profile.py); folded stacks go to
# bench/out/profile/live-MODE.folded. Needs perf (Debian: apt-get install -y linux-perf).
#
#   bench/profile-live.sh [json|stream] [CONNS] [SECONDS]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODE=${1:-json}; CONNS=${2:-64}; SECS=${3:-4}
REL=${CARGO_TARGET_DIR:-$ROOT/target}/release
STANDIN=$REL/examples/standin; LOADGEN=$REL/examples/loadgen; CLIPROXY=$REL/cliproxy
CLIENT_KEY=bench-client-key
OUT=$ROOT/bench/out/profile
command -v perf >/dev/null || { echo "perf not found: apt-get install -y linux-perf" >&2; exit 1; }
for b in "$CLIPROXY" "$STANDIN" "$LOADGEN"; do
  [[ -x $b ]] || { echo "missing $b: cargo build --release --bin cliproxy --examples" >&2; exit 1; }
done
mkdir -p "$OUT"
WORK=$(mktemp -d); PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

start_standin main --chunks 20
start_gateway main "claude-api-key:
  - api-key: \"sk-ant-api03-bench\"
    base-url: \"$SURL_main\"" || { echo "$GERR_main" >&2; exit 1; }
STREAM=""; [[ $MODE == stream ]] && STREAM='"stream":true,'
BODY='{"model":"claude-sonnet-4-5-20250929","max_tokens":256,'$STREAM'"messages":[{"role":"user","content":"Say hello."}]}'
load() {
  "$LOADGEN" --url "$GURL_main/v1/messages" -c "$CONNS" --body "$BODY" \
    -H "x-api-key: $CLIENT_KEY" -H "anthropic-version: 2023-06-01" "$@"
}
load -d 1 >/dev/null   # warm-up: pools, pages, metric handles
c0=$(cpu_ticks "$GPID_main")
perf record -q -F 999 --call-graph dwarf,16384 -p "$GPID_main" -o "$WORK/perf.data" & PP=$!
sleep 0.2
R=$(load -d "$SECS")
kill -INT "$PP"; wait "$PP" || true
c1=$(cpu_ticks "$GPID_main")
python3 - "$R" "$c0" "$c1" "$clk_tck" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); n = r.get("requests") or r.get("completed") or 0
us = (int(sys.argv[3]) - int(sys.argv[2])) * 1e6 / int(sys.argv[4]) / max(n, 1)
print(f"{n} requests, {r['rps']:.0f} req/s, {r['errors']} errors, {us:.1f} µs CPU per request (perf running)")
PY
perf script -i "$WORK/perf.data" 2>/dev/null | PROFILE_ALL_THREADS=1 "$ROOT/bench/profile.py" "$OUT/live-$MODE.folded"
