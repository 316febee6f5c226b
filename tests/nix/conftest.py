"""Helpers for the offline Nix tests: evaluate modules/lib.nix with a bare nix-instantiate."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIB = ROOT / "modules" / "lib.nix"
FAKE_PACKAGE = "/nix/store/00000000000000000000000000000000-cliproxy-0.1.0"
FAKE_TEMPLATE = "/nix/store/11111111111111111111111111111111-cliproxy-config.template.yaml"

NIX_INSTANTIATE = shutil.which("nix-instantiate")


def in_ci():
    return os.environ.get("CI", "") not in ("", "0", "false")


def missing_tool(tool, hint):
    """A tool this test needs is missing: under CI that fails the test (a suite that did not run
    must never pass there); elsewhere the test is skipped and listed in a banner at the end."""
    if in_ci():
        pytest.fail(f"{tool} not found and CI is set: this suite must run in CI ({hint})", pytrace=False)
    pytest.skip(f"SKIPPED: {tool} not found ({hint})")


def require_nix():
    if NIX_INSTANTIATE is None:
        missing_tool("nix-instantiate", "install Debian's nix-bin: scripts/ci-nix.sh")


def require_systemd_analyze():
    path = shutil.which("systemd-analyze")
    if path is None:
        missing_tool("systemd-analyze", "Debian package `systemd`; scripts/ci-nix.sh installs it")
    return path


def cliproxy_bin():
    """The real binary (CLIPROXY_BIN, else target/debug/cliproxy)."""
    path = Path(os.environ.get("CLIPROXY_BIN", ROOT / "target" / "debug" / "cliproxy"))
    if not path.is_absolute():
        path = ROOT / path
    if not os.access(path, os.X_OK):
        missing_tool(f"the cliproxy binary at {path}", "set CLIPROXY_BIN or run cargo build")
    return path


def pytest_terminal_summary(terminalreporter):
    skipped = terminalreporter.stats.get("skipped", [])
    if not skipped:
        return
    tr = terminalreporter
    tr.write_sep("!", f"{len(skipped)} TEST(S) DID NOT RUN", red=True, bold=True)
    for rep in skipped:
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        tr.write_line(f"  {rep.nodeid}: {reason}", red=True)
    tr.write_sep("!", "", red=True, bold=True)


def nix_eval(expr, *, check=True, json_out=True):
    """Evaluate a Nix expression; `lib` is bound to modules/lib.nix. Returns parsed JSON or the result."""
    require_nix()
    full = f"let lib = import {LIB}; in {expr}"
    args = [NIX_INSTANTIATE, "--readonly-mode", "--eval", "--strict"]
    if json_out:
        args.append("--json")
    env = dict(os.environ, NIX_STATE_DIR=os.environ.get("NIX_STATE_DIR", "/tmp/cliproxy-test-nix-state"))
    proc = subprocess.run(args + ["-E", full], cwd=ROOT, capture_output=True, text=True, env=env)
    if not check:
        return proc
    assert proc.returncode == 0, f"nix-instantiate failed:\n{proc.stderr}"
    return json.loads(proc.stdout) if json_out else proc.stdout


def nix_str(s):
    """A Python string as a Nix string literal."""
    return json.dumps(s, ensure_ascii=False).replace("${", "\\${")


def to_nix(value):
    """Python value (dict/list/str/int/bool/None) -> Nix expression text."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return nix_str(value)
    if isinstance(value, list):
        return "[ " + " ".join(f"({to_nix(v)})" for v in value) + " ]"
    if isinstance(value, dict):
        return "{ " + " ".join(f"{nix_str(k)} = {to_nix(v)};" for k, v in value.items()) + " }"
    raise TypeError(value)


def resolved_expr(cfg, *, darwin, home):
    cfg_nix = cfg if isinstance(cfg, str) else to_nix(cfg)
    return (
        f"(lib.resolve {{ homeDirectory = {nix_str(home)}; "
        f"isDarwin = {'true' if darwin else 'false'}; cfg = {cfg_nix}; }})"
    )


def launchd(cfg, *, home="/Users/me", package=FAKE_PACKAGE, template=FAKE_TEMPLATE, prefix=None):
    r = resolved_expr(cfg, darwin=True, home=home)
    extra = f" labelPrefix = {nix_str(prefix)};" if prefix else ""
    return nix_eval(
        f"lib.launchdAgents {{ resolved = {r}; package = {nix_str(package)}; "
        f"templatePath = {nix_str(template)};{extra} }}"
    )


def systemd(cfg, *, home="/home/me", package=FAKE_PACKAGE, template=FAKE_TEMPLATE):
    r = resolved_expr(cfg, darwin=False, home=home)
    return nix_eval(
        f"lib.systemdUnits {{ resolved = {r}; package = {nix_str(package)}; "
        f"templatePath = {nix_str(template)}; }}"
    )


def errors(cfg, *, darwin=False, home="/home/me"):
    return nix_eval(f"lib.errors {resolved_expr(cfg, darwin=darwin, home=home)}")
