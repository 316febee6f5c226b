# cliproxy: build, install as a service, and everyday chores.
#
#   make build                 nix build (or cargo build --release without Nix)
#   make switch FLAKE=~/dotfiles#me     activate a home-manager / nix-darwin flake that imports our module
#   make restart | logs | test | fmt | lint

SHELL := /bin/bash
.DEFAULT_GOAL := build

UNAME_S := $(shell uname -s)
HAVE_NIX := $(shell command -v nix >/dev/null 2>&1 && echo yes)
NIX := nix --extra-experimental-features 'nix-command flakes'

# The flake to activate with `make switch`: your own home-manager / nix-darwin flake that imports our
# module (see examples/), e.g. make switch FLAKE=$(HOME)/dotfiles#me  (SWITCH=darwin for nix-darwin).
FLAKE ?=
# home-manager (default) or darwin: which tool `make switch` drives.
SWITCH ?= home-manager

# Labels as home-manager (org.nix-community.home.) or nix-darwin (org.nixos.) names the agent.
LABEL ?= $(if $(filter darwin,$(SWITCH)),org.nixos.cliproxy,org.nix-community.home.cliproxy)
LOG_DIR ?= $(HOME)/Library/Logs/cliproxy

.PHONY: build switch restart logs test test-nix fmt lint check

build:
ifeq ($(HAVE_NIX),yes)
	$(NIX) build .#cliproxy
else
	cargo build --release --locked
endif

switch:
	@test -n "$(FLAKE)" || { echo 'make switch needs FLAKE=<flake>#<config>, e.g. FLAKE=~/dotfiles#me (see docs/nix.md)' >&2; exit 2; }
ifeq ($(SWITCH),darwin)
	sudo darwin-rebuild switch --flake $(FLAKE)
else
	$(if $(shell command -v home-manager 2>/dev/null),home-manager,$(NIX) run home-manager/master --) switch --flake $(FLAKE)
endif

# launchd restarts in place (no unload/load with sleep); systemd restarts the user unit.
restart:
ifeq ($(UNAME_S),Darwin)
	launchctl kickstart -k gui/$$(id -u)/$(LABEL)
else
	systemctl --user restart cliproxy.service
endif

logs:
ifeq ($(UNAME_S),Darwin)
	tail -n 200 -F $(LOG_DIR)/cliproxy.log $(wildcard $(LOG_DIR)/cliproxy-sync.log)
else
	journalctl --user -u cliproxy.service -u cliproxy-sync.service -n 200 -f
endif

# The project's full test script (Rust, Python and Nix tests).
test:
	scripts/test

# Only the offline Nix tests.
test-nix:
	python3 -m pytest tests/nix -q

fmt:
	cargo fmt --all
ifeq ($(HAVE_NIX),yes)
	$(NIX) fmt
endif

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets --locked -- -D warnings
	@for f in $$(git ls-files '*.nix'); do nix-instantiate --parse "$$f" >/dev/null || exit 1; done
	bash -n scripts/ci-nix.sh

# Flake checks (needs nixpkgs, so network or a populated store).
check:
	$(NIX) flake check
