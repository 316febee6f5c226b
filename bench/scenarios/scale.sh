# Scale (sourced by bench/run.sh): a fresh gateway in front of a slow stand-in (a delta every
# 5 ms). 1,000 concurrent streams for BENCH_SCALE_DURATION seconds (each stream about 2 s long,
# reopened at once, starts spread over the first second), then 10,000 idle keep-alive client
# connections held BENCH_IDLE_HOLD seconds, then BENCH_SETTLE seconds of quiet and the RSS again
# (its open files too: the upstream pool's idle connections are live memory until they expire).

if [[ ! -x "$CLIPROXY" ]]; then
  note scale "SKIP: no gateway binary"
elif (( $(ulimit -n) < NEED_FDS )); then
  note scale "SKIP: open-file limit $(ulimit -n) < $NEED_FDS (the hard limit is $(ulimit -Hn); raise it: ulimit -Hn)"
else
  SLOW_CHUNKS=${BENCH_SCALE_CHUNKS:-400}
  SLOW_TEXT=$(python3 -c "print('x' * $SLOW_CHUNKS)")
  meta scale_spacing_ms 5; meta scale_streams "$SCALE_STREAMS"; meta scale_duration_s "$SCALE_DUR"
  start_standin slow --chunks "$SLOW_CHUNKS" --chunk-interval-ms 5 --text "$SLOW_TEXT"
  if start_gateway scale "max-connections: $(( IDLE_CONNS + SCALE_STREAMS + 256 ))
claude-api-key:
  - api-key: \"$UPSTREAM_KEY\"
    base-url: \"$SURL_slow\"" "${GW_ENV[@]}"; then
    SB=$(body '"stream":true,')
    # One stream first so that what the first request sets up counts as idle.
    curl -s --noproxy '*' -o /dev/null "${HDRS[@]}" -H 'content-type: application/json' -d "$SB" "$GURL_scale/v1/messages"
    sleep 1
    meta scale_idle_rss_kb "$(rss_kb "$GPID_scale")"
    slow_args=(-d "$SCALE_DUR" --warmup 0 --gaps --stagger 1 --timeout 120)
    echo "scale: $SCALE_STREAMS streams, 5 ms spacing, ${SCALE_DUR}s" >&2
    if [[ "$SCALE_DIRECT" == 1 ]]; then
      LG_THREADS=2 measure_with direct scale-streams "$SCALE_STREAMS" "$SURL_slow/v1/messages" "$SB" "$SPID_slow" "${HDRS[@]}" "${slow_args[@]}"
    fi
    LG_THREADS=2 measure_with gateway scale-streams "$SCALE_STREAMS" "$GURL_scale/v1/messages" "$SB" "$GPID_scale" "${HDRS[@]}" "${slow_args[@]}"
    sleep 1
    meta scale_after_streams_rss_kb "$(rss_kb "$GPID_scale")"

    echo "scale: $IDLE_CONNS idle keep-alive connections, held ${IDLE_HOLD}s" >&2
    "$LOADGEN" --url "$GURL_scale/healthz" --idle "$IDLE_CONNS" --hold "$IDLE_HOLD" --threads 2 --timeout 30 \
      > "$WORK/idle.json" 2> "$WORK/idle.err" &
    IDLE_PID=$!; PIDS+=("$IDLE_PID")
    for _ in $(seq $(( 120 * 10 ))); do grep -q '^IDLE' "$WORK/idle.err" 2>/dev/null && break; kill -0 "$IDLE_PID" 2>/dev/null || break; sleep 0.1; done
    held_rss=0; held_fds=0
    if grep -q '^IDLE' "$WORK/idle.err"; then
      sleep "$(python3 -c "print(min(2, $IDLE_HOLD / 2))")"
      held_rss=$(rss_kb "$GPID_scale"); held_fds=$(fd_count "$GPID_scale")
    fi
    wait "$IDLE_PID" || true
    if [[ -s "$WORK/idle.json" ]]; then
      printf '{"target":"gateway","mode":"scale-idle","c":%s,"rss_held_kb":%s,"fds_held":%s,"load":%s}\n' \
        "$IDLE_CONNS" "$held_rss" "$held_fds" "$(cat "$WORK/idle.json")" >> "$RESULTS"
      echo "  gateway scale-idle: $(cat "$WORK/idle.json"); RSS ${held_rss} KiB, ${held_fds} fds while held" >&2
    else
      note scale-idle "the idle-connection run failed: $(tail -3 "$WORK/idle.err" | tr '\n' ' ')"
    fi

    # Memory returned: the loads are over and their connections closed. The upstream pool keeps
    # its idle connections (and their buffers) until its idle timeout (90 s) is noticed, which
    # takes up to twice that, so the reading that counts is taken BENCH_SETTLE (default 200)
    # seconds later; one at 10 s shows the way down.
    early=$(( SETTLE < 10 ? SETTLE : 10 ))
    sleep "$early"
    meta scale_early_s "$early"
    meta scale_early_rss_kb "$(rss_kb "$GPID_scale")"
    meta scale_early_fds "$(fd_count "$GPID_scale")"
    (( SETTLE > early )) && sleep $(( SETTLE - early ))
    meta scale_settle_s "$SETTLE"
    meta scale_after_load_rss_kb "$(rss_kb "$GPID_scale")"
    meta scale_after_load_fds "$(fd_count "$GPID_scale")"
    kill -0 "$GPID_scale" 2>/dev/null && meta scale_alive true || meta scale_alive false
  else
    note scale "$GERR_scale"
  fi
fi
