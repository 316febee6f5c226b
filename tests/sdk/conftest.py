"""Fixtures for the SDK suite: official `anthropic` / `openai` SDKs talk to the real gateway binary,
which talks to the stand-in upstream binary, all on loopback.

Binaries:
  STANDIN_BIN   default <repo>/target/debug/examples/standin   (cargo build --example standin)
  CLIPROXY_BIN  default <repo>/target/debug/cliproxy           (cargo build --bin cliproxy)
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STANDIN_BIN = Path(os.environ.get("STANDIN_BIN") or ROOT / "target/debug/examples/standin")
CLIPROXY_BIN = Path(os.environ.get("CLIPROXY_BIN") or ROOT / "target/debug/cliproxy")

CLIENT_KEY = "client-key-1"
CLAUDE_KEY = "sk-ant-api03-fake-1"
OPENROUTER_KEY = "sk-or-fake-1"
CLAUDE_MODEL = "claude-opus-4-5-20251101"
DEFAULT_TEXT = "Hello from the stand-in."
START_TIMEOUT = float(os.environ.get("SDK_START_TIMEOUT", "15"))

# SDKs use httpx, which honours proxy variables; everything here is loopback.
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
for _var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_var, None)
# SDK env defaults must not leak into tests.
for _var in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
    os.environ.pop(_var, None)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, body=None, headers=None, timeout=10.0):
    """Plain HTTP call (no proxies). Returns (status, headers, parsed JSON or text)."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None and "Content-Type" not in req.headers:
        req.add_header("Content-Type", "application/json")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=timeout) as r:
            status, hdrs, raw = r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        status, hdrs, raw = e.code, dict(e.headers), e.read()
    try:
        return status, hdrs, json.loads(raw)
    except ValueError:
        return status, hdrs, raw.decode("utf-8", "replace")


def estimate_tokens(body: dict) -> int:
    """The stand-in's deterministic token estimate (characters of strings under system/messages/tools / 4)."""

    def walk(v):
        if isinstance(v, str):
            return len(v)
        if isinstance(v, list):
            return sum(walk(x) for x in v)
        if isinstance(v, dict):
            return sum(walk(x) for x in v.values())
        return 0

    n = sum(walk(body[k]) for k in ("system", "messages", "tools") if k in body)
    return max(1, -(-n // 4))


def _tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


# --------------------------------------------------------------------------------------------
# Stand-in upstream
# --------------------------------------------------------------------------------------------


class StandIn:
    def __init__(self, url: str, proc: subprocess.Popen):
        self.url = url
        self.proc = proc

    def _ctl(self, method, path, body=None):
        status, _, data = http(method, self.url + path, body)
        assert status == 200, f"stand-in control {method} {path} -> {status} {data}"
        return data

    def requests(self, suffix: str | None = None) -> list[dict]:
        """Recorded upstream requests; each has method, uri, path, query, headers (lower-case), body, json."""
        reqs = self._ctl("GET", "/_standin/requests")
        return [r for r in reqs if suffix is None or r["path"].endswith(suffix)]

    def clear_requests(self):
        self._ctl("DELETE", "/_standin/requests")

    def reset(self):
        self._ctl("POST", "/_standin/reset")

    def behavior(self, key: str, **kw):
        """E.g. behavior("sk-x", fail_next=2, fail_status=429, retry_after="3")."""
        self._ctl("POST", "/_standin/behavior", {"key": key, **kw})

    def seed_oauth(self, refresh_tokens=(), access_tokens=(), expires_in=None, strict=None):
        body = {
            "refresh_tokens": [r if isinstance(r, dict) else {"token": r} for r in refresh_tokens],
            "access_tokens": list(access_tokens),
        }
        if expires_in is not None:
            body["expires_in"] = expires_in
        if strict is not None:
            body["strict"] = strict
        self._ctl("POST", "/_standin/oauth", body)

    def oauth_state(self) -> dict:
        return self._ctl("GET", "/_standin/oauth")


def credential(req: dict) -> str | None:
    """The upstream credential of a recorded request: x-api-key, else the Bearer token."""
    h = req["headers"]
    if h.get("x-api-key"):
        return h["x-api-key"]
    auth = h.get("authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else (auth or None)


@pytest.fixture(scope="session")
def standin_server():
    if not STANDIN_BIN.is_file():
        pytest.fail(
            f"stand-in binary not found at {STANDIN_BIN}: run `cargo build --example standin` "
            "or set STANDIN_BIN",
            pytrace=False,
        )
    proc = subprocess.Popen(
        [str(STANDIN_BIN), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(START_TIMEOUT)
    if not line or not line[0].startswith("LISTENING "):
        _stop(proc)
        err = proc.stderr.read() if proc.stderr else ""
        pytest.fail(f"stand-in did not print LISTENING within {START_TIMEOUT}s: {line!r} {err}", pytrace=False)
    s = StandIn(line[0].split()[1].strip(), proc)
    yield s
    _stop(proc)


@pytest.fixture
def standin(standin_server) -> StandIn:
    """The stand-in, reset before each test (no requests, no behaviours, any credential accepted)."""
    standin_server.reset()
    return standin_server


# --------------------------------------------------------------------------------------------
# Gateway
# --------------------------------------------------------------------------------------------


def q(s: str) -> str:
    """A YAML scalar (JSON strings are valid YAML)."""
    return json.dumps(s)


def gateway_config(
    port: int,
    auth_dir: Path,
    standin_url: str,
    *,
    api_keys=(CLIENT_KEY,),
    claude_keys=(CLAUDE_KEY,),
    openrouter=True,
    extra: str = "",
) -> str:
    lines = [
        "host: 127.0.0.1",
        f"port: {port}",
        f"auth-dir: {q(str(auth_dir))}",
        "api-keys: [" + ", ".join(q(k) for k in api_keys) + "]",
    ]
    if claude_keys:
        lines.append("claude-api-key:")
        for k in claude_keys:
            lines += [f"  - api-key: {q(k)}", f"    base-url: {q(standin_url)}"]
    if openrouter:
        lines += [
            "openai-compatibility:",
            "  - name: openrouter",
            f"    base-url: {q(standin_url + '/api/v1')}",
            "    api-key-entries:",
            f"      - api-key: {q(OPENROUTER_KEY)}",
            "    models:",
            '      - name: "upstream/model-x"',
            '        alias: "model-x"',
        ]
    lines += [
        "claude:",
        f"  base-url: {q(standin_url)}",
        f"  token-url: {q(standin_url + '/v1/oauth/token')}",
    ]
    return "\n".join(lines) + "\n" + extra


def claude_auth_file(auth_dir: Path, email: str, access: str, refresh: str, expires_in_s: int) -> Path:
    now = datetime.now(timezone.utc)
    path = auth_dir / f"claude-{email}.json"
    path.write_text(
        json.dumps(
            {
                "type": "claude",
                "access_token": access,
                "refresh_token": refresh,
                "email": email,
                "expired": (now + timedelta(seconds=expires_in_s)).isoformat(timespec="seconds"),
                "last_refresh": (now - timedelta(hours=1)).isoformat(timespec="seconds"),
                "id_token": "",
            },
            indent=2,
        )
    )
    return path


@dataclass
class Gateway:
    url: str
    port: int
    dir: Path
    auth_dir: Path
    config: Path
    log: Path
    proc: subprocess.Popen | None = None
    client_key: str | None = CLIENT_KEY
    extra: dict = field(default_factory=dict)


def start_gateway(tmp: Path, config_text_for_port) -> Gateway:
    if not CLIPROXY_BIN.is_file():
        pytest.fail(
            f"gateway binary not found at {CLIPROXY_BIN}: run `cargo build --bin cliproxy` or set CLIPROXY_BIN",
            pytrace=False,
        )
    auth_dir = tmp / "auths"
    auth_dir.mkdir(parents=True, exist_ok=True)
    last_err = ""
    for _attempt in range(3):  # a free port can be taken between probe and bind
        port = free_port()
        cfg = tmp / "config.yaml"
        cfg.write_text(config_text_for_port(port, auth_dir))
        log = tmp / f"gateway-{port}.log"
        with open(log, "wb") as logf:
            proc = subprocess.Popen(
                [str(CLIPROXY_BIN), "serve", "--config", str(cfg)],
                stdout=logf,
                stderr=subprocess.STDOUT,
                cwd=tmp,
                env={**os.environ, "HOME": str(tmp), "RUST_LOG": os.environ.get("RUST_LOG", "info")},
            )
        gw = Gateway(f"http://127.0.0.1:{port}", port, tmp, auth_dir, cfg, log, proc)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            try:
                status, _, body = http("GET", gw.url + "/healthz", timeout=1)
                if status == 200 and body == {"status": "ok"}:
                    return gw
                last_err = f"/healthz answered {status} {body!r}"
            except OSError as e:
                last_err = str(e)
            time.sleep(0.05)
        _stop(proc)
        last_err = (
            f"gateway `{CLIPROXY_BIN} serve --config {cfg}` "
            + (f"exited with code {proc.returncode}" if proc.returncode is not None else "timed out")
            + f" before GET /healthz -> 200 {{\"status\":\"ok\"}} ({last_err})\n--- config ---\n"
            + cfg.read_text()
            + "--- log tail ---\n"
            + _tail(log)
        )
        if "address already in use" not in _tail(log).lower():
            break
    pytest.fail(last_err, pytrace=False)


@pytest.fixture(scope="session")
def gateway(standin_server, tmp_path_factory):
    """Gateway with a client key, one Claude API key and an OpenRouter-style compat provider."""
    tmp = tmp_path_factory.mktemp("gateway")
    gw = start_gateway(tmp, lambda port, auth_dir: gateway_config(port, auth_dir, standin_server.url))
    yield gw
    _stop(gw.proc)


@pytest.fixture
def gateway_factory(standin_server, tmp_path):
    """Start extra gateways for one test: factory(config_fn(port, auth_dir) -> yaml, prepare(auth_dir))."""
    started: list[Gateway] = []

    def factory(config_fn, prepare=None, name="gw"):
        tmp = tmp_path / f"{name}{len(started)}"
        (tmp / "auths").mkdir(parents=True, exist_ok=True)
        if prepare:
            prepare(tmp / "auths")
        gw = start_gateway(tmp, config_fn)
        started.append(gw)
        return gw

    yield factory
    for gw in started:
        _stop(gw.proc)


@pytest.fixture
def anthropic_client(gateway):
    import anthropic

    return anthropic.Anthropic(base_url=gateway.url, api_key=CLIENT_KEY, max_retries=0, timeout=20)


@pytest.fixture
def openai_client(gateway):
    import openai

    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=CLIENT_KEY, max_retries=0, timeout=20)
