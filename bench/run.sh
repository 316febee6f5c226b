#!/usr/bin/env bash
# Benchmark: the same Anthropic /v1/messages load, direct to the stand-in upstream, through nginx
# (reference "one HTTP proxy hop", when installed) and through the gateway (`cliproxy serve`).
# Loopback only, bounded in time (about 2 minutes with the defaults). See bench/README.md.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DUR=${BENCH_DURATION:-5}                 # seconds per measurement
CONCS=${BENCH_CONCURRENCY:-"1 16 64"}
MODES=${BENCH_MODES:-"nonstream stream"}
OUT=${BENCH_OUT:-$ROOT/bench/out}
LG_THREADS=${BENCH_LOADGEN_THREADS:-1}
REL=$ROOT/target/release
STANDIN=${STANDIN_BIN:-$REL/examples/standin}
LOADGEN=${LOADGEN_BIN:-$REL/examples/loadgen}
CLIPROXY=${CLIPROXY_BIN:-$REL/cliproxy}
CLIENT_KEY=bench-client-key
UPSTREAM_KEY=sk-ant-api03-bench
GEMINI_KEY=AIza-bench
MODEL=claude-sonnet-4-5-20250929
GEMINI_MODEL=gemini-2.5-flash
GEMINI_CONCS=${BENCH_GEMINI_CONCURRENCY:-"16"}
CODEX_MODEL=gpt-5-codex
RESPONSES=${BENCH_RESPONSES:-1}          # 0 skips the Responses API scenario
RESPONSES_CONCS=${BENCH_RESPONSES_CONCURRENCY:-"16 64"}
STREAM_CHUNKS=20
TEXT="The quick brown fox jumps over the lazy dog while the stand-in streams a modest answer of about two hundred characters, split into twenty deltas, to exercise chunk-by-chunk forwarding."

if [[ "${BENCH_BUILD:-1}" == 1 ]]; then
  echo "building release binaries..." >&2
  (cd "$ROOT" && cargo build --release --quiet --example standin --example loadgen --bin cliproxy) >&2
fi
for b in "$STANDIN" "$LOADGEN"; do
  [[ -x "$b" ]] || { echo "missing $b (cargo build --release --example standin --example loadgen)" >&2; exit 1; }
done

mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/cliproxy-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  [[ -n "${KEEP_WORK:-}" ]] || rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
clk_tck=$(getconf CLK_TCK)
now_ms() { date +%s%3N; }
# utime+stime ticks of a process and its direct children (nginx workers).
cpu_ticks() {
  local total=0 p
  for p in "$@"; do
    [[ -r /proc/$p/stat ]] || continue
    total=$((total + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
  done
  echo "$total"
}
rss_kb() {
  local total=0 p v
  for p in "$@"; do
    v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}
with_children() { local p=$1; echo "$p $(cat /proc/$p/task/*/children 2>/dev/null | tr '\n' ' ')"; }
wait_http() { # url timeout_s
  local deadline=$(( $(now_ms) + $2 * 1000 ))
  while (( $(now_ms) < deadline )); do
    curl -s -o /dev/null --noproxy '*' -m 1 "$1" && return 0
    sleep 0.01
  done
  return 1
}

# --- stand-in ---------------------------------------------------------------------------------
"$STANDIN" --port 0 --no-record --chunks "$STREAM_CHUNKS" --text "$TEXT" > "$WORK/standin.out" 2> "$WORK/standin.err" &
STANDIN_PID=$!; PIDS+=("$STANDIN_PID")
for _ in $(seq 100); do grep -q LISTENING "$WORK/standin.out" 2>/dev/null && break; sleep 0.05; done
SURL=$(awk '/^LISTENING/ {print $2}' "$WORK/standin.out")
[[ -n "$SURL" ]] || { echo "stand-in did not start: $(cat "$WORK/standin.err")" >&2; exit 1; }
SPORT=${SURL##*:}
declare -A URL CPU_PIDS NOTE
URL[direct]=$SURL
CPU_PIDS[direct]=$STANDIN_PID
TARGETS=(direct)

# --- nginx (reference proxy) ------------------------------------------------------------------
if command -v nginx >/dev/null; then
  NPORT=$(free_port); mkdir -p "$WORK/nginx/tmp"
  cat > "$WORK/nginx/nginx.conf" <<NGX
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/tmp/body;
  proxy_temp_path $WORK/nginx/tmp/proxy;
  fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
  uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
  scgi_temp_path $WORK/nginx/tmp/scgi;
  upstream standin { server 127.0.0.1:$SPORT; keepalive 256; }
  server {
    listen 127.0.0.1:$NPORT;
    location / {
      proxy_pass http://standin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
    }
  }
}
NGX
  nginx -e "$WORK/nginx/error.log" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' &
  NGINX_PID=$!; PIDS+=("$NGINX_PID")
  if wait_http "http://127.0.0.1:$NPORT/v1/models" 5; then
    URL[nginx]=http://127.0.0.1:$NPORT; TARGETS+=(nginx)
  else
    NOTE[nginx]="nginx did not start: $(tail -3 "$WORK/nginx/error.log" 2>/dev/null)"
  fi
else
  NOTE[nginx]="nginx not installed (apt-get install nginx-light)"
fi

# --- gateway ------------------------------------------------------------------------------------
GW_STARTUP_MS=null; GW_IDLE_KB=null
if [[ -x "$CLIPROXY" ]]; then
  GPORT=$(free_port); mkdir -p "$WORK/gw/auths"
  cat > "$WORK/gw/config.yaml" <<YML
host: 127.0.0.1
port: $GPORT
auth-dir: "$WORK/gw/auths"
api-keys: ["$CLIENT_KEY"]
claude-api-key:
  - api-key: "$UPSTREAM_KEY"
    base-url: "$SURL"
gemini-api-key:
  - api-key: "$GEMINI_KEY"
    base-url: "$SURL"
codex-api-key:
  - api-key: "$UPSTREAM_KEY"
    base-url: "$SURL/backend-api/codex"
    models:
      - name: "$CODEX_MODEL"
YML
  t0=$(now_ms)
  (cd "$WORK/gw" && HOME="$WORK/gw" exec "$CLIPROXY" serve --config "$WORK/gw/config.yaml") > "$WORK/gw/log" 2>&1 &
  GW_PID=$!; PIDS+=("$GW_PID")
  if wait_http "http://127.0.0.1:$GPORT/healthz" 10; then
    GW_STARTUP_MS=$(( $(now_ms) - t0 ))
    sleep 1; GW_IDLE_KB=$(rss_kb "$GW_PID")
    URL[gateway]=http://127.0.0.1:$GPORT; CPU_PIDS[gateway]=$GW_PID; TARGETS+=(gateway)
  else
    NOTE[gateway]="gateway did not answer /healthz: $(tail -3 "$WORK/gw/log" | tr '\n' ' ')"
  fi
else
  NOTE[gateway]="no gateway binary at $CLIPROXY"
fi
[[ -n "${NGINX_PID:-}" && -n "${URL[nginx]:-}" ]] && CPU_PIDS[nginx]=$(with_children "$NGINX_PID")

# --- measurements --------------------------------------------------------------------------------
RESULTS=$OUT/results.jsonl; : > "$RESULTS"
body() { printf '{"model":"%s","max_tokens":256,%s"messages":[{"role":"user","content":"Say hello."}]}' "$MODEL" "$1"; }
HDRS=(-H "x-api-key: $CLIENT_KEY" -H "anthropic-version: 2023-06-01" -H "user-agent: claude-cli/2.1.63 (external, cli)")

measure() { # target mode concurrency [extra loadgen args...]
  local t=$1 mode=$2 c=$3; shift 3
  local b; if [[ $mode == stream* ]]; then b=$(body '"stream":true,'); else b=$(body ''); fi
  measure_with "$t" "$mode" "$c" "${URL[$t]}/v1/messages?beta=true" "$b" "$@"
}

measure_with() { # target mode concurrency url body [extra loadgen args...]
  local t=$1 mode=$2 c=$3 url=$4 b=$5; shift 5
  local pids=${CPU_PIDS[$t]}
  local cpu0 rssmax=0 r samp
  cpu0=$(cpu_ticks $pids)
  ( m=0; while :; do v=$(rss_kb $pids); (( v > m )) && m=$v && echo "$m" > "$WORK/rss.$t"; sleep 0.2; done ) &
  samp=$!
  r=$("$LOADGEN" --url "$url" -c "$c" --threads "$LG_THREADS" --body "$b" "${HDRS[@]}" --label "$t/$mode/c$c" "$@")
  kill "$samp" 2>/dev/null; wait "$samp" 2>/dev/null || true
  rssmax=$(cat "$WORK/rss.$t" 2>/dev/null || echo 0); rm -f "$WORK/rss.$t"
  rssmax=${rssmax:-0}  # the sampler may be stopped mid-write
  local cpu1; cpu1=$(cpu_ticks $pids)
  printf '{"target":"%s","mode":"%s","c":%s,"cpu_ticks":%s,"clk_tck":%s,"rss_max_kb":%s,"load":%s}\n' \
    "$t" "$mode" "$c" "$((cpu1 - cpu0))" "$clk_tck" "$rssmax" "$r" >> "$RESULTS"
  echo "  $t $mode c=$c: $(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print("%.0f req/s, p50 %.3f ms, p99 %.3f ms, errors %d" % (d["rps"], d["latency_ms"]["p50"], d["latency_ms"]["p99"], d["errors"] + d["non_2xx"]))' "$r")" >&2
}

echo "targets: ${TARGETS[*]}; ${DUR}s per run" >&2
for mode in $MODES; do
  for c in $CONCS; do
    for t in "${TARGETS[@]}"; do measure "$t" "$mode" "$c" -d "$DUR"; done
  done
done

# Gemini: a google-genai-shaped client on /v1beta, native to a Gemini API key (direct and through
# the gateway), and the same request translated to the Claude key (gateway only).
GBODY='{"contents":[{"role":"user","parts":[{"text":"Say hello."}]}],"generationConfig":{"maxOutputTokens":256}}'
gemini_measure() { # target mode concurrency model
  local t=$1 mode=$2 c=$3 model=$4 action=generateContent
  [[ $mode == *stream ]] && [[ $mode != *nonstream ]] && action="streamGenerateContent?alt=sse"
  local pids=${CPU_PIDS[$t]} cpu0 cpu1 r key=$CLIENT_KEY
  [[ $t == direct ]] && key=$GEMINI_KEY
  cpu0=$(cpu_ticks $pids)
  r=$("$LOADGEN" --url "${URL[$t]}/v1beta/models/$model:$action" -c "$c" --threads "$LG_THREADS" \
      --body "$GBODY" -H "x-goog-api-key: $key" --label "$t/$mode/c$c" -d "$DUR")
  cpu1=$(cpu_ticks $pids)
  printf '{"target":"%s","mode":"%s","c":%s,"cpu_ticks":%s,"clk_tck":%s,"rss_max_kb":0,"load":%s}\n' \
    "$t" "$mode" "$c" "$((cpu1 - cpu0))" "$clk_tck" "$r" >> "$RESULTS"
  echo "  $t $mode c=$c: $(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print("%.0f req/s, p50 %.3f ms, p99 %.3f ms, errors %d" % (d["rps"], d["latency_ms"]["p50"], d["latency_ms"]["p99"], d["errors"] + d["non_2xx"]))' "$r")" >&2
}
if [[ "${BENCH_GEMINI:-1}" == 1 ]]; then
  for c in $GEMINI_CONCS; do
    for mode in gemini-nonstream gemini-stream; do
      gemini_measure direct "$mode" "$c" "$GEMINI_MODEL"
      [[ -n "${URL[gateway]:-}" ]] && gemini_measure gateway "$mode" "$c" "$GEMINI_MODEL"
    done
    [[ -n "${URL[gateway]:-}" ]] && gemini_measure gateway gemini-to-claude-stream "$c" "$MODEL"
  done
fi
# Responses API (SPEC §11, translated requests): a Responses client on a Claude model (the gateway
# translates Responses → Anthropic and the answer back), against the same Anthropic request sent
# direct and through nginx; and a Responses client on a Codex model (native: normalised body, the
# stream passed through), against the normalised Codex request sent direct and through nginx.
rbody() { printf '{"model":"%s","instructions":"Be brief.",%s"input":[{"role":"user","content":"Say hello."}]}' "$1" "$2"; }
if [[ "$RESPONSES" == 1 ]]; then
  for c in $RESPONSES_CONCS; do
    for t in "${TARGETS[@]}"; do
      if [[ $t == gateway ]]; then
        measure_with "$t" responses "$c" "${URL[$t]}/v1/responses" "$(rbody "$MODEL" '"max_output_tokens":256,')" -d "$DUR"
        measure_with "$t" responses-stream "$c" "${URL[$t]}/v1/responses" "$(rbody "$MODEL" '"stream":true,')" -d "$DUR"
        measure_with "$t" codex-stream "$c" "${URL[$t]}/v1/responses" "$(rbody "$CODEX_MODEL" '"stream":true,')" -d "$DUR"
      else
        measure_with "$t" responses "$c" "${URL[$t]}/v1/messages?beta=true" "$(body '')" -d "$DUR"
        measure_with "$t" responses-stream "$c" "${URL[$t]}/v1/messages?beta=true" "$(body '"stream":true,')" -d "$DUR"
        measure_with "$t" codex-stream "$c" "${URL[$t]}/backend-api/codex/responses" \
          "$(rbody "$CODEX_MODEL" '"stream":true,"store":false,"include":["reasoning.encrypted_content"],')" -d "$DUR"
      fi
    done
  done
fi

# SSE pacing: 10 deltas 5 ms apart must keep their spacing through each hop.
curl -s --noproxy '*' -o /dev/null -X POST "$SURL/_standin/behavior" -H 'content-type: application/json' \
  -d '{"key":"*","chunks":10,"chunk_interval_ms":5}'
for t in "${TARGETS[@]}"; do measure "$t" stream-paced 1 -n 30 --warmup 2 --gaps; done
curl -s --noproxy '*' -o /dev/null -X POST "$SURL/_standin/behavior" -H 'content-type: application/json' \
  -d "{\"key\":\"*\",\"chunks\":$STREAM_CHUNKS,\"text\":\"$TEXT\"}"

notes_json=$(for k in "${!NOTE[@]}"; do printf '%s\n%s\n' "$k" "${NOTE[$k]}"; done | python3 -c '
import json,sys; l=sys.stdin.read().split("\n"); print(json.dumps({l[i]:l[i+1] for i in range(0,len(l)-1,2)}))')
cat > "$OUT/meta.json" <<JSON
{"duration_s": $DUR, "gateway_startup_ms": $GW_STARTUP_MS, "gateway_idle_rss_kb": $GW_IDLE_KB,
 "nproc": $(nproc), "nginx": "$(nginx -v 2>&1 | sed 's/.*\///' || true)", "notes": $notes_json,
 "date": "$(date -u +%FT%TZ)", "commit": "$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)"}
JSON
python3 "$ROOT/bench/report.py" "$OUT/results.jsonl" "$OUT/meta.json" | tee "$OUT/report.md"
