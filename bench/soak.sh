#!/usr/bin/env bash
# Soak test (not CI): many concurrent SSE streams through the gateway for a long time, plus a
# connection flood (idle, half-sent and abandoned connections), while the gateway's resident
# memory is sampled into a CSV. Ends with a summary that says whether RSS stayed flat.
#
#   bench/soak.sh                      1,000 streams for 10 minutes (release build)
#   SOAK_STREAMS=200 SOAK_DURATION=60 bench/soak.sh
#
# Loopback only; bounded in count (SOAK_STREAMS, SOAK_FLOOD) and in time (SOAK_DURATION plus a
# few seconds); every process it starts is stopped by PID on exit. Output: $SOAK_OUT/rss.csv,
# $SOAK_OUT/load.json, $SOAK_OUT/summary.txt.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${SOAK_DURATION:-600}          # seconds of load
STREAMS=${SOAK_STREAMS:-1000}           # concurrent streams (one connection each)
FLOOD=${SOAK_FLOOD:-500}                # connections per flood wave
SAMPLE=${SOAK_SAMPLE:-5}                # seconds between RSS samples
GROWTH_MB=${SOAK_MAX_GROWTH_MB:-10}     # allowed growth of the late window over the early one
OUT=${SOAK_OUT:-$ROOT/bench/out/soak}
REL=${CARGO_TARGET_DIR:-$ROOT/target}/release
STANDIN=${STANDIN_BIN:-$REL/examples/standin}
LOADGEN=${LOADGEN_BIN:-$REL/examples/loadgen}
CLIPROXY=${CLIPROXY_BIN:-$REL/cliproxy}
CLIENT_KEY=soak-client-key
MODEL=claude-sonnet-4-5-20250929

(( STREAMS <= 5000 && FLOOD <= 5000 && DURATION <= 7200 )) || {
  echo "refusing: SOAK_STREAMS/SOAK_FLOOD at most 5000, SOAK_DURATION at most 7200" >&2; exit 2; }

if [[ "${SOAK_BUILD:-1}" == 1 && -z "${CLIPROXY_BIN:-}" ]]; then
  echo "building release binaries..." >&2
  (cd "$ROOT" && cargo build --release --quiet --example standin --example loadgen --bin cliproxy) >&2
fi
for b in "$STANDIN" "$LOADGEN" "$CLIPROXY"; do
  [[ -x "$b" ]] || { echo "missing $b" >&2; exit 1; }
done

# Each stream and each flood connection is a file descriptor in the gateway.
need=$(( STREAMS + FLOOD + 256 ))
if (( $(ulimit -n) < need )); then
  ulimit -n "$(( need < $(ulimit -Hn) ? need : $(ulimit -Hn) ))" || true
fi
(( $(ulimit -n) >= need )) || echo "warning: open-file limit $(ulimit -n) < $need; some connections will be refused" >&2

mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/cliproxy-soak.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# --- upstream: long streams (100 deltas, 200 ms apart: about 20 s each) ---------------------------
TEXT=$(for i in $(seq 100); do printf 'word%03d ' "$i"; done)
"$STANDIN" --port 0 --no-record --chunks 100 --chunk-interval-ms 200 --threads 1 --text "$TEXT" \
  > "$WORK/standin.out" 2> "$WORK/standin.err" &
PIDS+=($!)
for _ in $(seq 100); do grep -q LISTENING "$WORK/standin.out" 2>/dev/null && break; sleep 0.05; done
SURL=$(awk '/^LISTENING/ {print $2}' "$WORK/standin.out")
[[ -n "$SURL" ]] || { echo "stand-in did not start: $(cat "$WORK/standin.err")" >&2; exit 1; }

# --- gateway ----------------------------------------------------------------------------------------
GPORT=$(free_port); mkdir -p "$WORK/gw/auths"
cat > "$WORK/gw/config.yaml" <<YML
host: 127.0.0.1
port: $GPORT
auth-dir: "$WORK/gw/auths"
api-keys: ["$CLIENT_KEY"]
claude-api-key:
  - api-key: "sk-ant-api03-soak"
    base-url: "$SURL"
YML
(cd "$WORK/gw" && HOME="$WORK/gw" RUST_LOG=warn exec "$CLIPROXY" serve --config "$WORK/gw/config.yaml") \
  > "$WORK/gw/log" 2>&1 &
GW=$!; PIDS+=("$GW")
for _ in $(seq 200); do
  curl -s -o /dev/null --noproxy '*' -m 1 "http://127.0.0.1:$GPORT/healthz" && break; sleep 0.05
done
IDLE_KB=$(rss_kb "$GW")
echo "gateway pid $GW on :$GPORT, idle RSS ${IDLE_KB} KiB; $STREAMS streams for ${DURATION}s, flood waves of $FLOOD" >&2

# --- RSS sampler ------------------------------------------------------------------------------------
echo "t_s,rss_kb,threads,fds" > "$OUT/rss.csv"
(
  t0=$(date +%s)
  while kill -0 "$GW" 2>/dev/null; do
    t=$(( $(date +%s) - t0 ))
    th=$(awk '/^Threads:/ {print $2}' "/proc/$GW/status" 2>/dev/null || echo 0)
    fds=$(ls "/proc/$GW/fd" 2>/dev/null | wc -l)
    echo "$t,$(rss_kb "$GW"),$th,$fds" >> "$OUT/rss.csv"
    sleep "$SAMPLE"
  done
) &
PIDS+=($!)

# --- connection flood: idle sockets, half-sent requests, abandoned streams, in waves --------------
python3 - "$GPORT" "$FLOOD" "$DURATION" > "$WORK/flood.log" 2>&1 <<'PY' &
import socket, sys, time
port, n, duration = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
end = time.time() + duration
waves = opened = refused = 0
body = b'{"model":"claude-sonnet-4-5-20250929","max_tokens":8,"stream":true,"messages":[{"role":"user","content":"x"}]}'
while time.time() < end:
    socks = []
    for i in range(n):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
        except OSError:
            refused += 1
            continue
        kind = i % 3
        if kind == 1:   # headers cut off mid-line
            s.sendall(b"POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-len")
        elif kind == 2:  # a whole streaming request, then gone without reading
            s.sendall(b"POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: soak-client-key\r\n"
                      b"anthropic-version: 2023-06-01\r\ncontent-type: application/json\r\n"
                      b"content-length: %d\r\n\r\n" % len(body) + body)
        socks.append(s)
        opened += 1
    time.sleep(min(5, max(0, end - time.time())))
    for s in socks:
        s.close()
    waves += 1
print(f"flood: {waves} waves, {opened} connections, {refused} refused")
PY
PIDS+=($!)

# --- the streams -------------------------------------------------------------------------------------
BODY=$(printf '{"model":"%s","max_tokens":256,"stream":true,"messages":[{"role":"user","content":"Say hello."}]}' "$MODEL")
"$LOADGEN" --url "http://127.0.0.1:$GPORT/v1/messages" -c "$STREAMS" -d "$DURATION" --warmup 0 \
  --threads 2 --timeout 120 --body "$BODY" -H "x-api-key: $CLIENT_KEY" -H "anthropic-version: 2023-06-01" \
  --label "soak/$STREAMS" > "$OUT/load.json"
sleep "$SAMPLE"
END_KB=$(rss_kb "$GW")
alive=yes; kill -0 "$GW" 2>/dev/null || alive=no

python3 - "$OUT/rss.csv" "$OUT/load.json" "$IDLE_KB" "$END_KB" "$GROWTH_MB" "$alive" "$WORK/flood.log" <<'PY' | tee "$OUT/summary.txt"
import csv, json, statistics, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if int(r["rss_kb"]) > 0]
load = json.load(open(sys.argv[2]))
idle, end, growth_mb, alive = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
flood = open(sys.argv[7]).read().strip()
rss = [int(r["rss_kb"]) for r in rows]
# Skip the ramp-up (first fifth); compare the next fifth with the last fifth.
k = max(1, len(rss) // 5)
early, late = rss[k:2 * k] or rss[:1], rss[-k:]
e, l = statistics.median(early), statistics.median(late)
flat = l <= e + growth_mb * 1024 and alive == "yes"
print(f"samples: {len(rss)}; idle {idle / 1024:.1f} MiB; peak {max(rss) / 1024:.1f} MiB; "
      f"early median {e / 1024:.1f} MiB; late median {l / 1024:.1f} MiB; after load {end / 1024:.1f} MiB")
print(f"streams: {load.get('ok', 0)} completed, {load.get('errors', 0)} errors, "
      f"{load.get('non_2xx', 0)} non-2xx; {flood}")
print(f"max fds {max(int(r['fds']) for r in rows)}, max threads {max(int(r['threads']) for r in rows)}")
print("RSS FLAT" if flat else f"RSS GREW (late - early > {growth_mb} MiB) or the gateway died")
sys.exit(0 if flat else 1)
PY
