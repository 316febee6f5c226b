#!/usr/bin/env bash
# Sync benchmark (SPEC §11): the engine vs the seed's seven-step `aws s3 sync` cycle,
# on the same 20 auth files, everything on loopback (moto for the bucket).
# Usage: bench/sync.sh            (needs moto_server: $MOTO_SERVER, .venv/bin, or PATH)
set -euo pipefail
cd "$(dirname "$0")/.."
MOTO=${MOTO_SERVER:-}
[ -z "$MOTO" ] && [ -x .venv/bin/moto_server ] && MOTO=.venv/bin/moto_server
[ -z "$MOTO" ] && MOTO=$(command -v moto_server || true)
[ -z "$MOTO" ] && { echo "moto_server not found (python3 -m venv .venv && .venv/bin/pip install 'moto[server]==5.2.5')" >&2; exit 1; }
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
OUT=bench/out/sync; rm -rf "$OUT"; mkdir -p "$OUT"
"$MOTO" -H 127.0.0.1 -p "$PORT" >"$OUT/moto.log" 2>&1 & MOTO_PID=$!
trap 'kill $MOTO_PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -s "http://127.0.0.1:$PORT" >/dev/null && break; sleep 0.1; done
EP=http://127.0.0.1:$PORT
curl -s -X PUT "$EP/cliproxyapi" >/dev/null
cargo build --release --quiet --example syncbench
MOTO_ENDPOINT=$EP ./target/release/examples/syncbench "$OUT" | tee "$OUT/engine.txt"
ENGINE_MS=$(sed -n 's/^BENCH no_change_ms=//p' "$OUT/engine.txt")

if command -v aws >/dev/null && aws --version >/dev/null 2>&1; then
  # The seed's backup-auth.sh cycle, same data (already in sync: the "nothing changed" case).
  H="$OUT/home"; L="$H/.cli-proxy-api/objectstore/auths"; C="$H/.ccs/cliproxy/auth"; D="$H/dotfiles/objectstore/auths"
  export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_DEFAULT_REGION=us-east-1
  A="aws --endpoint-url=$EP s3 sync --only-show-errors"
  cycle() {
    $A s3://cliproxyapi/auths/ "$L/"
    $A s3://cliproxyapi/backup/auths/ "$L/"
    rsync -a "$C/" "$L/" 2>/dev/null || cp -a "$C/." "$L/"
    $A "$L/" s3://cliproxyapi/auths/
    $A "$L/" s3://cliproxyapi/backup/auths/
    rsync -a "$L/" "$C/" 2>/dev/null || cp -a "$L/." "$C/"
    rsync -a "$L/" "$D/" 2>/dev/null || cp -a "$L/." "$D/"
  }
  cycle # warm-up
  best=""
  for _ in 1 2 3; do
    s=$(date +%s%N); cycle; e=$(date +%s%N)
    ms=$(( (e - s) / 1000000 ))
    if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
  done
  echo "seed cycle (7 steps, aws s3 sync), nothing changed: best of 3 = ${best} ms"
  python3 -c "print(f'ratio: engine is {${best}/${ENGINE_MS}:.0f}x faster than the seed cycle')"
else
  echo "aws CLI not found: skipping the seed comparison"
fi
