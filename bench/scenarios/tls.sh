# TLS (sourced by bench/run.sh): a second stand-in serving HTTPS with a certificate from a root
# generated here, a second gateway trusting that root through SSL_CERT_FILE, the same Anthropic
# load as the pass-through runs. What TLS adds = this gateway's figures minus the plain one's.

tls_skip() { note tls "SKIP: $1"; meta tls_skip "$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1")"; }
if [[ -z "${URL[gateway]:-}" ]]; then
  tls_skip "no gateway in this run"
elif ! "$STANDIN" --help 2>&1 | grep -q -- '--tls-cert'; then
  tls_skip "standin has no --tls-cert (the stand-in's TLS mode is not on this branch yet)"
elif ! command -v openssl >/dev/null; then
  tls_skip "openssl is not installed (apt-get install -y openssl)"
else
  T=$WORK/tls; mkdir -p "$T"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -keyout "$T/ca.key" -out "$T/ca.pem" -subj "/CN=cliproxy bench root" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$T/leaf.key" -out "$T/leaf.csr" -subj "/CN=127.0.0.1" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' > "$T/leaf.ext"
  openssl x509 -req -in "$T/leaf.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial -days 1 \
    -extfile "$T/leaf.ext" -out "$T/leaf.pem" 2>/dev/null
  if start_standin tls --tls-cert "$T/leaf.pem" --tls-key "$T/leaf.key" --chunks "$STREAM_CHUNKS" --text "$TEXT"; then
    TURL=${SURL_tls/http:/https:}; TPORT=${TURL##*:}
    if ! wait_http "$TURL/v1/models" 5 --cacert "$T/ca.pem"; then
      tls_skip "the TLS stand-in at $TURL did not answer over HTTPS with the generated root"
    elif start_gateway tls "claude-api-key:
  - api-key: \"$UPSTREAM_KEY\"
    base-url: \"$TURL\"" SSL_CERT_FILE="$T/ca.pem" "${GW_ENV[@]}"; then
      b_json=$(body ''); b_stream=$(body '"stream":true,')
      for mode in nonstream stream; do
        b=$b_json; [[ $mode == stream ]] && b=$b_stream
        for c in $TLS_CONCS; do
          measure_with gateway-tls "$mode" "$c" "$GURL_tls/v1/messages?beta=true" "$b" "$GPID_tls" "${HDRS[@]}" -d "$DUR"
          # Upstream connections opened so far (each one TLS handshake): those open now plus those
          # closed in the last minute (TIME-WAIT on whichever side closed; one is the readiness curl).
          est=$(ss -Htn state established "( dport = :$TPORT )" 2>/dev/null | wc -l)
          tw=$(ss -Htn state time-wait "( dport = :$TPORT or sport = :$TPORT )" 2>/dev/null | wc -l)
          meta "tls_upstream_conns:$mode:$c" "{\"open\": $est, \"closed\": $tw}"
        done
      done
    else
      tls_skip "$GERR_tls"
    fi
  else
    tls_skip "the stand-in did not start with --tls-cert: $(tail -2 "$WORK/standin-tls.err" | tr '\n' ' ')"
  fi
fi
