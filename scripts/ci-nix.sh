#!/usr/bin/env bash
# Installs what tests/nix needs on a fresh Debian machine; safe to run again (installs only what is
# missing). nix-bin gives nix-instantiate (evaluation only, no network); systemd gives
# `systemd-analyze verify --user`, which works in a container when XDG_RUNTIME_DIR points at a private
# folder (the tests set it). pytest itself is the caller's business (.venv or the CI script).
set -euo pipefail

need=()
command -v nix-instantiate >/dev/null 2>&1 || need+=(nix-bin)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)

if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

nix-instantiate --version
systemd-analyze --version | head -n 1
