# Translated requests (sourced by bench/run.sh): a client of one dialect on a model whose
# upstream speaks another, through the gateway, against nginx passing the upstream's own request
# through to the same stand-in (what the upstream has to be sent in any case). Codex only streams
# upstream, so its JSON baseline is the streamed request.

# up_body DIALECT MODEL STREAM(0|1): the request a client of DIALECT sends (codex/openai: the
# upstream's own request).
up_body() {
  local s=""; [[ $3 == 1 ]] && s='"stream":true,'
  case $1 in
    anthropic|chat|openai) printf '{"model":"%s","max_tokens":256,%s"messages":[{"role":"user","content":"Say hello."}]}' "$2" "$s" ;;
    responses) printf '{"model":"%s","instructions":"Be brief.","max_output_tokens":256,%s"input":[{"role":"user","content":"Say hello."}]}' "$2" "$s" ;;
    codex) printf '{"model":"%s","instructions":"Be brief.","stream":true,"store":false,"include":["reasoning.encrypted_content"],"input":[{"role":"user","content":"Say hello."}]}' "$2" ;;
    gemini) printf '{"contents":[{"role":"user","parts":[{"text":"Say hello."}]}],"generationConfig":{"maxOutputTokens":256}}' ;;
  esac
}
up_path() { # DIALECT MODEL STREAM
  case $1 in
    anthropic) echo "/v1/messages?beta=true" ;;
    chat) echo "/v1/chat/completions" ;;
    openai) echo "/api/v1/chat/completions" ;;
    responses) echo "/v1/responses" ;;
    codex) echo "/backend-api/codex/responses" ;;
    gemini) if [[ $3 == 1 ]]; then echo "/v1beta/models/$2:streamGenerateContent?alt=sse"; else echo "/v1beta/models/$2:generateContent"; fi ;;
  esac
}
# up_hdrs DIALECT KEY: sets the array H to the dialect's auth headers.
up_hdrs() {
  case $1 in
    anthropic) H=(-H "x-api-key: $2" -H "anthropic-version: 2023-06-01") ;;
    gemini) H=(-H "x-goog-api-key: $2") ;;
    *) H=(-H "authorization: Bearer $2") ;;
  esac
}
up_model() {
  case $1 in
    anthropic) echo "$MODEL" ;; gemini) echo "$GEMINI_MODEL" ;; openai) echo "upstream/$OPENAI_MODEL" ;; codex) echo "$CODEX_MODEL" ;;
  esac
}
up_key() {
  case $1 in gemini) echo "$GEMINI_KEY" ;; openai) echo "$OPENAI_KEY" ;; *) echo "$UPSTREAM_KEY" ;; esac
}
# Client → upstream pairs: every client dialect, every upstream dialect.
TR_PAIRS=${BENCH_TRANSLATED_PAIRS:-"chat:anthropic responses:anthropic gemini:anthropic anthropic:gemini anthropic:openai anthropic:codex"}
declare -A TR_MODEL=([anthropic]=$MODEL [gemini]=$GEMINI_MODEL [openai]=$OPENAI_MODEL [codex]=$CODEX_MODEL)

if [[ -n "${URL[gateway]:-}" ]]; then
  echo "translated requests at $TR_CONC connections" >&2
  declare -A based=()
  for pair in $TR_PAIRS; do
    up=${pair#*:}
    [[ -n "${URL[nginx]:-}" && -z "${based[$up]:-}" ]] || continue
    based[$up]=1
    up_hdrs "$up" "$(up_key "$up")"
    for s in 0 1; do
      # Codex answers with a stream whatever is asked: its JSON baseline is the streamed request.
      [[ $up == codex && $s == 0 ]] && continue
      m=base-$up-json; [[ $s == 1 ]] && m=base-$up-stream
      measure_with nginx "$m" "$TR_CONC" "${URL[nginx]}$(up_path "$up" "$(up_model "$up")" "$s")" \
        "$(up_body "$up" "$(up_model "$up")" "$s")" "${CPU_PIDS[nginx]}" "${H[@]}" -d "$DUR"
    done
  done
  for pair in $TR_PAIRS; do
    cl=${pair%%:*} up=${pair#*:} model=${TR_MODEL[${pair#*:}]}
    up_hdrs "$cl" "$CLIENT_KEY"
    for s in 0 1; do
      m=tr-$cl-$up-json; [[ $s == 1 ]] && m=tr-$cl-$up-stream
      measure_with gateway "$m" "$TR_CONC" "${URL[gateway]}$(up_path "$cl" "$model" "$s")" \
        "$(up_body "$cl" "$model" "$s")" "${CPU_PIDS[gateway]}" "${H[@]}" -d "$DUR"
    done
  done
fi
