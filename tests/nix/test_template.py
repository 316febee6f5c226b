"""The config template: the module's YAML writer, the shipped seed template, and rendering it with
the real binary (`cliproxy config render`; the binary comes from $CLIPROXY_BIN or target/debug/cliproxy)."""

import json
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, missing_tool, nix_eval, resolved_expr, to_nix

TEMPLATE = ROOT / "templates" / "config.template.yaml"
SEED_SECRETS = {"CLIPROXY_MANAGEMENT_PASSWORD", "OPENROUTER_API_KEY", "ZAI_API_KEY", "AMP_UPSTREAM_API_KEY"}
PLACEHOLDER = re.compile(r"__([A-Za-z_][A-Za-z0-9_]*)__|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def placeholders(text):
    names = set()
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        for m in PLACEHOLDER.finditer(line):
            names.add(m.group(1) or m.group(2))
    return names


def test_yaml_writer_quotes_what_plain_yaml_would_misread():
    out = nix_eval(
        "lib.toYAML "
        + to_nix(
            {
                "a": {"secret-key": "__PW__", "api-key": "${KEY}"},
                "b": ["yes", "8317", "1.5", "plain/word", "has: colon", "# hash", "quote\"d", "ends:", ""],
                "c": [{"name": "x", "models": [{"alias": "y"}]}],
                "d": {},
                "e": [],
                "f": True,
                "g": 3,
            }
        )
    )
    assert out == (
        "a:\n"
        "  api-key: ${KEY}\n"
        "  secret-key: __PW__\n"
        "b:\n"
        '  - "yes"\n'
        '  - "8317"\n'
        '  - "1.5"\n'
        "  - plain/word\n"
        '  - "has: colon"\n'
        '  - "# hash"\n'
        '  - "quote\\"d"\n'
        '  - "ends:"\n'
        '  - ""\n'
        "c:\n"
        "  - models:\n"
        "      - alias: \"y\"\n"  # YAML 1.1 reads a bare y as true

        "    name: x\n"
        "d: {}\n"
        "e: []\n"
        "f: true\n"
        "g: 3\n"
    )
    # Every quoted scalar is a JSON string, which YAML reads the same way.
    for line in out.splitlines():
        value = line.split(": ", 1)[-1].lstrip("- ").strip()
        if value.startswith('"'):
            json.loads(value)


def test_module_template_from_example_settings():
    example = ROOT / "examples" / "home-manager" / "cliproxy.nix"
    cfg = f'((import {example}) {{ config.home.homeDirectory = "/home/me"; }}).services.cliproxy'
    text = nix_eval(f"lib.templateText {resolved_expr(cfg, darwin=False, home='/home/me')}")
    assert placeholders(text) == SEED_SECRETS
    lines = text.splitlines()
    assert "host: \"127.0.0.1\"" in lines and "port: 8317" in lines
    assert "auth-dir: /home/me/.cli-proxy-api/objectstore/auths" in lines
    assert "  secret-key: __CLIPROXY_MANAGEMENT_PASSWORD__" in lines
    assert "      - api-key: ${OPENROUTER_API_KEY}" in lines
    assert "    base-url: https://api.z.ai/api/coding/paas/v4" in lines
    assert "  dotfiles-dir: /home/me/dotfiles/objectstore/auths" in lines
    assert "  poll-interval: 60" in lines
    assert "    name: cliproxyapi" in lines


def test_shipped_template_uses_only_the_seed_secret_names():
    text = TEMPLATE.read_text()
    assert placeholders(text) == SEED_SECRETS
    assert "port: 8317" in text
    assert "base-url: https://openrouter.ai/api/v1" in text
    assert "base-url: https://api.z.ai/api/coding/paas/v4" in text
    # Secret-looking keys hold placeholders only.
    for line in text.splitlines():
        m = re.match(r"\s*-?\s*(secret-key|api-key|upstream-api-key):\s*(\S*)", line)
        if m:
            assert PLACEHOLDER.fullmatch(m.group(2)), line


def cliproxy_bin():
    path = Path(os.environ.get("CLIPROXY_BIN", ROOT / "target" / "debug" / "cliproxy"))
    if not path.is_absolute():
        path = ROOT / path
    if not os.access(path, os.X_OK):
        missing_tool(f"the cliproxy binary at {path}", "set CLIPROXY_BIN or run cargo build")
    return path


SEED_ENV = """\
# The seed's ~/dotfiles/.env, with fake values
OBJECTSTORE_ENDPOINT="https://0123456789abcdef.r2.cloudflarestorage.com"
OBJECTSTORE_BUCKET="cliproxyapi"
OBJECTSTORE_ACCESS_KEY="fake-access-key"
OBJECTSTORE_SECRET_KEY="fake-secret-key"
CLIPROXY_MANAGEMENT_PASSWORD="fake management pw: with # and & and 'quotes'"
OPENROUTER_API_KEY="sk-or-v1-fake0000"
ZAI_API_KEY="fake-zai-key"
AMP_UPSTREAM_API_KEY="sgamp_user_fake"
"""


def render(bin_path, template, env_text, tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(env_text)
    out = tmp_path / "out" / "config.yaml"
    out.parent.mkdir()
    clean_env = {k: v for k, v in os.environ.items() if k not in SEED_SECRETS}
    proc = subprocess.run(
        [str(bin_path), "config", "render", "--template", str(template), "--env-file", str(env_file), "--out", str(out)],
        capture_output=True,
        text=True,
        env=clean_env,
        timeout=30,
    )
    return proc, out


def test_shipped_template_renders_with_the_seed_env(tmp_path):
    bin_path = cliproxy_bin()
    proc, out = render(bin_path, TEMPLATE, SEED_ENV, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    text = out.read_text()
    assert placeholders(text) == set()
    for value in ("sk-or-v1-fake0000", "fake-zai-key", "sgamp_user_fake"):
        assert value in text
    check = subprocess.run(
        [str(bin_path), "config", "check", "--config", str(out)], capture_output=True, text=True, timeout=30
    )
    assert check.returncode == 0, check.stderr


def test_module_template_renders(tmp_path):
    bin_path = cliproxy_bin()
    example = ROOT / "examples" / "home-manager" / "cliproxy.nix"
    cfg = f'((import {example}) {{ config.home.homeDirectory = "/home/me"; }}).services.cliproxy'
    template = tmp_path / "module.template.yaml"
    template.write_text(nix_eval(f"lib.templateText {resolved_expr(cfg, darwin=False, home='/home/me')}"))
    proc, out = render(bin_path, template, SEED_ENV, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert placeholders(out.read_text()) == set()


def test_missing_variables_are_all_named(tmp_path):
    bin_path = cliproxy_bin()
    proc, out = render(bin_path, TEMPLATE, 'OPENROUTER_API_KEY="x"\n', tmp_path)
    assert proc.returncode == 2, proc.stderr
    for name in SEED_SECRETS - {"OPENROUTER_API_KEY"}:
        assert name in proc.stderr
    assert not out.exists()
