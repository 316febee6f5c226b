#!/usr/bin/env bash
# Benchmark of the gateway against the issue-11 / SPEC §11 targets, in one run beside the direct
# stand-in upstream and nginx (the reference "one HTTP proxy hop"): same-dialect pass-through
# (JSON and streams), translated requests, the stand-in behind TLS, and scale (1,000 slow streams,
# 10,000 idle keep-alive connections, memory returned afterwards). Loopback only, bounded in time
# (about 12 minutes with the defaults). Prints every target with PASS, FAIL or SKIP; see bench/README.md.
#
# nginx is not a dependency of the project: install it for the comparison (Debian/Ubuntu):
#   apt-get install -y nginx-light
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DUR=${BENCH_DURATION:-5}                 # seconds per measurement
CONCS=${BENCH_CONCURRENCY:-"1 16 64"}
MODES=${BENCH_MODES-"nonstream stream"}   # empty: no pass-through runs
OUT=${BENCH_OUT:-$ROOT/bench/out}
LG_THREADS=${BENCH_LOADGEN_THREADS:-1}
REL=${CARGO_TARGET_DIR:-$ROOT/target}/release
STANDIN=${STANDIN_BIN:-$REL/examples/standin}
LOADGEN=${LOADGEN_BIN:-$REL/examples/loadgen}
CLIPROXY=${CLIPROXY_BIN:-$REL/cliproxy}
TRANSLATED=${BENCH_TRANSLATED:-1}        # 0 skips the translated scenarios
TR_CONC=${BENCH_TRANSLATED_CONCURRENCY:-64}
TLS=${BENCH_TLS:-1}                      # 0 skips the TLS scenario
TLS_CONCS=${BENCH_TLS_CONCURRENCY:-"1 16"}
SCALE=${BENCH_SCALE:-1}                  # 0 skips the scale scenarios
SCALE_STREAMS=${BENCH_SCALE_STREAMS:-1000}
SCALE_DUR=${BENCH_SCALE_DURATION:-60}    # seconds of slow streams (per target: direct, gateway)
SCALE_DIRECT=${BENCH_SCALE_DIRECT:-1}    # 0 skips the direct baseline of the slow streams
IDLE_CONNS=${BENCH_IDLE_CONNS:-10000}
IDLE_HOLD=${BENCH_IDLE_HOLD:-10}         # seconds the idle connections are held
SETTLE=${BENCH_SETTLE:-200}              # seconds of quiet before "memory returned" is read (the upstream pool drops idle connections 90-180 s after their last use)
read -r -a GW_ENV <<< "${BENCH_GATEWAY_ENV:-}"   # extra environment for every gateway (experiments)
CLIENT_KEY=bench-client-key
UPSTREAM_KEY=sk-ant-api03-bench
GEMINI_KEY=AIza-bench
OPENAI_KEY=sk-or-bench
MODEL=claude-sonnet-4-5-20250929
GEMINI_MODEL=gemini-2.5-flash
CODEX_MODEL=gpt-5-codex
OPENAI_MODEL=model-x
STREAM_CHUNKS=20
TEXT="The quick brown fox jumps over the lazy dog while the stand-in streams a modest answer of about two hundred characters, split into twenty deltas, to exercise chunk-by-chunk forwarding."

if [[ "${BENCH_BUILD:-1}" == 1 ]]; then
  echo "building release binaries..." >&2
  (cd "$ROOT" && cargo build --release --quiet --example standin --example loadgen --bin cliproxy) >&2
fi
for b in "$STANDIN" "$LOADGEN"; do
  [[ -x "$b" ]] || { echo "missing $b (cargo build --release --example standin --example loadgen)" >&2; exit 1; }
done

# Every idle connection and every stream is a descriptor in the gateway and in the load generator.
NEED_FDS=$(( SCALE == 1 ? IDLE_CONNS + SCALE_STREAMS + 1024 : 4096 ))
if (( $(ulimit -n) < NEED_FDS )); then
  ulimit -n "$(( NEED_FDS < $(ulimit -Hn) ? NEED_FDS : $(ulimit -Hn) ))" 2>/dev/null || true
fi

mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/cliproxy-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  [[ -n "${KEEP_WORK:-}" ]] || rm -rf "$WORK"
}
trap cleanup EXIT
RESULTS=$OUT/results.jsonl; : > "$RESULTS"
META=$OUT/meta.jsonl; : > "$META"   # one {"key": value} per line, merged by report.py
meta() { python3 -c 'import json,sys; print(json.dumps({sys.argv[1]: json.loads(sys.argv[2])}))' "$1" "$2" >> "$META"; }
note() { meta "note:$1" "$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$2")"; echo "note: $1: $2" >&2; }
source "$ROOT/bench/lib.sh"

# --- stand-in -------------------------------------------------------------------------------------
start_standin main --chunks "$STREAM_CHUNKS" --text "$TEXT"
SURL=$SURL_main; SPORT=${SURL##*:}
declare -A URL CPU_PIDS
URL[direct]=$SURL; CPU_PIDS[direct]=$SPID_main
TARGETS=(direct)

# --- nginx (reference proxy) ----------------------------------------------------------------------
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
    CPU_PIDS[nginx]=$(with_children "$NGINX_PID")
  else
    note nginx "nginx did not start: $(tail -3 "$WORK/nginx/error.log" 2>/dev/null | tr '\n' ' ')"
  fi
else
  note nginx "nginx is not installed (apt-get install -y nginx-light): every target relative to nginx is SKIP"
fi

# --- gateway --------------------------------------------------------------------------------------
GW_UPSTREAMS="claude-api-key:
  - api-key: \"$UPSTREAM_KEY\"
    base-url: \"$SURL\"
gemini-api-key:
  - api-key: \"$GEMINI_KEY\"
    base-url: \"$SURL\"
codex-api-key:
  - api-key: \"$UPSTREAM_KEY\"
    base-url: \"$SURL/backend-api/codex\"
    models:
      - name: \"$CODEX_MODEL\"
openai-compatibility:
  - name: router
    base-url: \"$SURL/api/v1\"
    api-key-entries:
      - api-key: \"$OPENAI_KEY\"
    models:
      - name: \"upstream/$OPENAI_MODEL\"
        alias: \"$OPENAI_MODEL\""
if [[ -x "$CLIPROXY" ]]; then
  if start_gateway main "$GW_UPSTREAMS" "${GW_ENV[@]}"; then
    meta gateway_startup_ms "$GSTART_main"
    sleep 1; meta gateway_idle_rss_kb "$(rss_kb "$GPID_main")"
    URL[gateway]=$GURL_main; CPU_PIDS[gateway]=$GPID_main; TARGETS+=(gateway)
  else
    note gateway "$GERR_main"
  fi
else
  note gateway "no gateway binary at $CLIPROXY"
fi

# --- same-dialect pass-through (Anthropic /v1/messages) ---------------------------------------------
body() { printf '{"model":"%s","max_tokens":256,%s"messages":[{"role":"user","content":"Say hello."}]}' "$MODEL" "$1"; }
HDRS=(-H "x-api-key: $CLIENT_KEY" -H "anthropic-version: 2023-06-01" -H "user-agent: claude-cli/2.1.63 (external, cli)")
measure() { # target mode concurrency [extra loadgen args...]
  local t=$1 mode=$2 c=$3; shift 3
  local b; if [[ $mode == stream* ]]; then b=$(body '"stream":true,'); else b=$(body ''); fi
  measure_with "$t" "$mode" "$c" "${URL[$t]}/v1/messages?beta=true" "$b" "${CPU_PIDS[$t]}" "${HDRS[@]}" "$@"
}
echo "targets: ${TARGETS[*]}; ${DUR}s per run" >&2
for mode in $MODES; do
  for c in $CONCS; do
    for t in "${TARGETS[@]}"; do measure "$t" "$mode" "$c" -d "$DUR"; done
  done
done

# SSE pacing: 10 deltas 5 ms apart must keep their spacing through each hop.
curl -s --noproxy '*' -o /dev/null -X POST "$SURL/_standin/behavior" -H 'content-type: application/json' \
  -d '{"key":"*","chunks":10,"chunk_interval_ms":5}'
for t in "${TARGETS[@]}"; do measure "$t" stream-paced 1 -n 30 --warmup 2 --gaps; done
curl -s --noproxy '*' -o /dev/null -X POST "$SURL/_standin/behavior" -H 'content-type: application/json' \
  -d "{\"key\":\"*\",\"chunks\":$STREAM_CHUNKS,\"text\":\"$TEXT\"}"

[[ "$TRANSLATED" == 1 ]] && source "$ROOT/bench/scenarios/translated.sh"
[[ "$TLS" == 1 ]] && source "$ROOT/bench/scenarios/tls.sh"
[[ "$SCALE" == 1 ]] && source "$ROOT/bench/scenarios/scale.sh"

meta duration_s "$DUR"; meta nproc "$(nproc)"
meta nginx "\"$(nginx -v 2>&1 | sed 's/.*\///' || true)\""
meta date "\"$(date -u +%FT%TZ)\""
meta commit "\"$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)\""
meta loadavg "\"$(cut -d' ' -f1-3 /proc/loadavg)\""
python3 "$ROOT/bench/report.py" "$RESULTS" "$META" | tee "$OUT/report.md"
