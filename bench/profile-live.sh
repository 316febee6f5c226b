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
cd "$(dirname "$0")/.."
MODE=${1:-json}; CONNS=${2:-64}; SECS=${3:-4}
REL=${CARGO_TARGET_DIR:-target}/release
OUT=bench/out/profile
mkdir -p "$OUT"
command -v perf >/dev/null || { echo "perf not found: apt-get install -y linux-perf" >&2; exit 1; }
for b in cliproxy examples/standin examples/loadgen; do
  [[ -x $REL/$b ]] || { echo "missing $REL/$b: cargo build --release --bin cliproxy --examples" >&2; exit 1; }
done
W=$(mktemp -d)
GP=""; SP=""
cleanup() { [[ -n $GP ]] && kill "$GP" 2>/dev/null; [[ -n $SP ]] && kill "$SP" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
"$REL/examples/standin" --port 0 --no-record --chunks 20 > "$W/standin.out" 2>&1 & SP=$!
for _ in $(seq 50); do grep -q '^LISTENING' "$W/standin.out" && break; sleep 0.1; done
UPSTREAM=$(awk '/^LISTENING/ {print $2}' "$W/standin.out")
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$W/auths"
cat > "$W/config.yaml" <<YML
host: 127.0.0.1
port: $PORT
auth-dir: "$W/auths"
api-keys: ["bench-client-key"]
claude-api-key:
  - api-key: "sk-ant-api03-bench"
    base-url: "$UPSTREAM"
YML
(cd "$W" && exec env HOME="$W" "$OLDPWD/$REL/cliproxy" serve --config "$W/config.yaml") > "$W/gateway.log" 2>&1 & GP=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.05; done
STREAM=""; [[ $MODE == stream ]] && STREAM='"stream":true,'
BODY='{"model":"claude-sonnet-4-5-20250929","max_tokens":256,'$STREAM'"messages":[{"role":"user","content":"Say hello."}]}'
load() {
  "$REL/examples/loadgen" --url "http://127.0.0.1:$PORT/v1/messages" -c "$CONNS" --body "$BODY" \
    -H "x-api-key: bench-client-key" -H "anthropic-version: 2023-06-01" "$@"
}
load -d 1 >/dev/null   # warm-up: pools, pages, metric handles
cpu() { sed 's/.*) //' "/proc/$GP/stat" | awk '{print $12 + $13}'; }
c0=$(cpu)
perf record -q -F 999 --call-graph dwarf,16384 -p "$GP" -o "$W/perf.data" & PP=$!
sleep 0.2
R=$(load -d "$SECS")
kill -INT "$PP"; wait "$PP" || true
c1=$(cpu)
TICK=$(getconf CLK_TCK)
python3 - "$R" "$c0" "$c1" "$TICK" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); n = r.get("requests") or r.get("completed") or 0
us = (int(sys.argv[3]) - int(sys.argv[2])) * 1e6 / int(sys.argv[4]) / max(n, 1)
print(f"{n} requests, {r['rps']:.0f} req/s, {r['errors']} errors, {us:.1f} µs CPU per request (perf running)")
PY
perf script -i "$W/perf.data" 2>/dev/null | PROFILE_ALL_THREADS=1 bench/profile.py "$OUT/live-$MODE.folded"
