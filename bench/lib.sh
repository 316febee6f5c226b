# Helpers shared by bench/run.sh and its scenario files (sourced, not run).
# Expects: WORK (temp dir), PIDS (array of started PIDs), LOADGEN, STANDIN, CLIPROXY, RESULTS.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
clk_tck=$(getconf CLK_TCK)
now_ms() { date +%s%3N; }
# utime+stime ticks of processes (nginx: master and workers).
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
fd_count() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
with_children() { local p=$1; echo "$p $(cat /proc/$p/task/*/children 2>/dev/null | tr '\n' ' ')"; }
wait_http() { # url timeout_s [curl args...]
  local url=$1 deadline=$(( $(now_ms) + $2 * 1000 )); shift 2
  while (( $(now_ms) < deadline )); do
    curl -s -o /dev/null --noproxy '*' -m 1 "$@" "$url" && return 0
    sleep 0.01
  done
  return 1
}
summ() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print("%.0f req/s, p50 %.3f ms, p99 %.3f ms, errors %d%s" % (d["rps"], d["latency_ms"]["p50"], d["latency_ms"]["p99"], d["errors"] + d["non_2xx"], (" (" + d["first_error"][:120] + ")") if d.get("first_error") else ""))' "$1"; }

# start_standin NAME [standin args...]: sets SURL_<NAME> and SPID_<NAME>.
start_standin() {
  local name=$1; shift
  "$STANDIN" --port 0 --no-record "$@" > "$WORK/standin-$name.out" 2> "$WORK/standin-$name.err" &
  local pid=$!; PIDS+=("$pid")
  for _ in $(seq 200); do grep -q LISTENING "$WORK/standin-$name.out" 2>/dev/null && break; sleep 0.05; done
  local url; url=$(awk '/^LISTENING/ {print $2}' "$WORK/standin-$name.out")
  [[ -n "$url" ]] || { echo "stand-in $name did not start: $(cat "$WORK/standin-$name.err")" >&2; return 1; }
  printf -v "SURL_$name" '%s' "$url"; printf -v "SPID_$name" '%s' "$pid"
}

# start_gateway NAME CONFIG_BODY [env assignments...]: writes host/port/auth-dir/api-keys plus
# CONFIG_BODY, starts `cliproxy serve`; sets GURL_<NAME>, GPID_<NAME>, GSTART_<NAME> (ms to the
# first /healthz answer) or returns 1 with the log tail in GERR_<NAME>.
start_gateway() {
  local name=$1 extra=$2; shift 2
  local port; port=$(free_port); mkdir -p "$WORK/gw-$name/auths"
  cat > "$WORK/gw-$name/config.yaml" <<YML
host: 127.0.0.1
port: $port
auth-dir: "$WORK/gw-$name/auths"
api-keys: ["$CLIENT_KEY"]
$extra
YML
  local t0; t0=$(now_ms)
  (cd "$WORK/gw-$name" && exec env HOME="$WORK/gw-$name" "$@" "$CLIPROXY" serve --config "$WORK/gw-$name/config.yaml") \
    > "$WORK/gw-$name/log" 2>&1 &
  local pid=$!; PIDS+=("$pid")
  if wait_http "http://127.0.0.1:$port/healthz" 10; then
    printf -v "GSTART_$name" '%s' "$(( $(now_ms) - t0 ))"
    printf -v "GURL_$name" '%s' "http://127.0.0.1:$port"; printf -v "GPID_$name" '%s' "$pid"
  else
    printf -v "GERR_$name" '%s' "gateway $name did not answer /healthz: $(tail -3 "$WORK/gw-$name/log" | tr '\n' ' ')"
    return 1
  fi
}

# measure_with TARGET MODE CONC URL BODY "PIDS" [loadgen args...]: one loadgen run, the CPU ticks
# and peak RSS of PIDS over it, one line appended to RESULTS.
measure_with() {
  local t=$1 mode=$2 c=$3 url=$4 b=$5 pids=$6; shift 6
  local cpu0 cpu1 rssmax r samp
  cpu0=$(cpu_ticks $pids)
  ( m=0; while :; do v=$(rss_kb $pids); (( v > m )) && m=$v && echo "$m" > "$WORK/rss.$t"; sleep 0.2; done ) &
  samp=$!
  r=$("$LOADGEN" --url "$url" -c "$c" --threads "$LG_THREADS" --body "$b" --label "$t/$mode/c$c" "$@")
  cpu1=$(cpu_ticks $pids)
  kill "$samp" 2>/dev/null; wait "$samp" 2>/dev/null || true
  rssmax=$(cat "$WORK/rss.$t" 2>/dev/null || echo 0); rm -f "$WORK/rss.$t"
  printf '{"target":"%s","mode":"%s","c":%s,"cpu_ticks":%s,"clk_tck":%s,"rss_max_kb":%s,"load":%s}\n' \
    "$t" "$mode" "$c" "$((cpu1 - cpu0))" "$clk_tck" "${rssmax:-0}" "$r" >> "$RESULTS"
  echo "  $t $mode c=$c: $(summ "$r")" >&2
}
