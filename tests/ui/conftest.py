"""Fixtures for the status page in a real headless browser: Debian's chromium driven
by selenium through chromium-driver (scripts/ci-browser.sh installs both), against the
real gateway binary and the stand-in upstream (helpers shared with tests/sdk).

Binaries: CLIPROXY_BIN, STANDIN_BIN as in tests/sdk; CHROMIUM_BIN (/usr/bin/chromium),
CHROMEDRIVER_BIN (/usr/bin/chromedriver). UI_SCREENSHOTS=DIR keeps the screenshots.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("sdk_support", ROOT / "tests/sdk/conftest.py")
sdk = importlib.util.module_from_spec(_spec)
sys.modules["sdk_support"] = sdk  # dataclasses look their module up there
_spec.loader.exec_module(sdk)

# The stand-in fixtures, shared with the SDK suite.
standin_server = sdk.standin_server
standin = sdk.standin
http = sdk.http

CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver")
SECRET = "ui-management-secret-0001"
MODEL = sdk.CLAUDE_MODEL
A = "claude-a@example.com.json"
B = "claude-b@example.com.json"
DAY = 24 * 3600


class Gw:
    """The gateway under test and how to reach it."""

    def __init__(self, g, standin):
        self.g = g
        self.url = g.url
        self.standin = standin

    def api(self, method, path, body=None, key=SECRET):
        headers = {"X-Management-Key": key} if key else {}
        return http(method, f"{self.url}/v0/management{path}", body, headers)

    def status(self):
        code, _, body = self.api("GET", "/status")
        assert code == 200, body
        return body

    def account(self, name):
        return next(a for a in self.status()["accounts"] if a["name"] == name)

    def message(self):
        code, _, body = http(
            "POST",
            self.url + "/v1/messages",
            {"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]},
            {"anthropic-version": "2023-06-01"},
        )
        assert code == 200, body
        return body

    def make_cooling(self, name=A, token="at-a"):
        """Upstream rate-limits the account's token; requests go on until it cools down."""
        self.standin.behavior(token, fail_next=50, fail_status=429, retry_after="600")
        for _ in range(6):
            self.message()
            if self.account(name)["state"]["state"] == "cooling":
                return
        pytest.fail(f"{name} never cooled down: {self.account(name)}")


def _config(standin_url):
    def cfg(port, auth_dir):
        return sdk.gateway_config(
            port, auth_dir, standin_url, api_keys=(), claude_keys=(), openrouter=False,
            extra=f"remote-management:\n  secret-key: {sdk.q(SECRET)}\n",
        )

    return cfg


def _accounts(auth_dir: Path):
    import json

    for email, at, rt, plan in (("a@example.com", "at-a", "rt-a", "max"), ("b@example.com", "at-b", "rt-b", "pro")):
        p = sdk.claude_auth_file(auth_dir, email, at, rt, DAY)
        data = json.loads(p.read_text())
        data["plan"] = plan
        p.write_text(json.dumps(data, indent=2))


@pytest.fixture
def gw(standin, tmp_path):
    auth = tmp_path / "auths"
    auth.mkdir()
    _accounts(auth)
    g = sdk.start_gateway(tmp_path, _config(standin.url))
    yield Gw(g, standin)
    sdk._stop(g.proc)


def _driver(dark: bool):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not Path(CHROMIUM).is_file() or not Path(CHROMEDRIVER).is_file():
        pytest.fail(
            f"{CHROMIUM} / {CHROMEDRIVER} missing: run scripts/ci-browser.sh (apt: chromium chromium-driver)",
            pytrace=False,
        )
    profile = tempfile.mkdtemp(prefix="cliproxy-ui-profile-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1400,1100",
        f"--user-data-dir={profile}",
    ):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # The driver binary is given: selenium must not look for (or download) one.
    d = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    d.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": "dark" if dark else "light"}]},
    )
    return d, profile


@pytest.fixture
def browser_factory():
    made = []

    def make(dark=False):
        d, profile = _driver(dark)
        made.append((d, profile))
        return d

    yield make
    for d, profile in made:
        try:
            d.quit()
        finally:
            shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def browser(browser_factory):
    return browser_factory(False)


def screenshot_dir(tmp_path: Path) -> Path:
    d = Path(os.environ["UI_SCREENSHOTS"]) if os.environ.get("UI_SCREENSHOTS") else tmp_path
    d.mkdir(parents=True, exist_ok=True)
    return d


def wait_for(what, fn, timeout=20.0):
    """Polls fn until it returns something truthy (the page updates itself every 2 s)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except Exception as e:  # the element may be replaced between lookups
            last = e
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what} (last: {last!r})", pytrace=False)
