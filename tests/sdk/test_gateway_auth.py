"""Client keys, error dialects, and Claude OAuth accounts (header rules, refresh)."""

from __future__ import annotations

import json
import time

import anthropic
import openai
import pytest
from conftest import CLAUDE_MODEL, DEFAULT_TEXT, claude_auth_file, gateway_config, http

EMAIL = "alice@example.com"
ACCESS = "sk-ant-oat01-standin-alice-access"
REFRESH = "sk-ant-ort01-standin-alice-refresh"
CURL_BODY = {"model": CLAUDE_MODEL, "messages": [{"role": "user", "content": "test"}], "max_tokens": 10}
CURL_HEADERS = {"Content-Type": "application/json", "anthropic-version": "2023-06-01"}


def test_wrong_client_key_anthropic(gateway, standin):
    client = anthropic.Anthropic(base_url=gateway.url, api_key="wrong-key", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as ei:
        client.messages.create(model=CLAUDE_MODEL, max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert ei.value.status_code == 401
    # Raw body: Anthropic error shape on the Anthropic route.
    status, _, body = http(
        "POST", gateway.url + "/v1/messages", CURL_BODY, {**CURL_HEADERS, "x-api-key": "wrong-key"}
    )
    assert status == 401
    assert body["type"] == "error", body
    assert body["error"]["type"] == "authentication_error"
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert "wrong-key" not in json.dumps(body), "the presented key is not echoed"
    assert standin.requests() == [], "rejected requests never reach the upstream"


def test_missing_client_key_is_401(gateway, standin):
    status, _, body = http("POST", gateway.url + "/v1/messages", CURL_BODY, CURL_HEADERS)
    assert status == 401
    assert body["type"] == "error" and body["error"]["type"] == "authentication_error"
    assert standin.requests() == []


def test_wrong_client_key_openai(gateway, standin):
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="wrong-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as ei:
        client.chat.completions.create(model="model-x", messages=[{"role": "user", "content": "hi"}])
    assert ei.value.status_code == 401
    status, _, body = http(
        "POST",
        gateway.url + "/v1/chat/completions",
        {"model": "model-x", "messages": [{"role": "user", "content": "hi"}]},
        {"Authorization": "Bearer wrong-key"},
    )
    assert status == 401
    err = body["error"]
    assert isinstance(err, dict), body
    assert isinstance(err["message"], str) and err["message"]
    assert "type" in err and "code" in err
    assert standin.requests() == []


def test_client_key_accepted_in_every_documented_place(gateway, standin):
    url = gateway.url + "/v1/messages"
    for headers, query in [
        ({"Authorization": "Bearer client-key-1"}, ""),
        ({"x-api-key": "client-key-1"}, ""),
        ({"x-goog-api-key": "client-key-1"}, ""),
        ({}, "?key=client-key-1"),
        ({}, "?auth_token=client-key-1"),
    ]:
        status, _, body = http("POST", url + query, CURL_BODY, {**CURL_HEADERS, **headers})
        assert status == 200, (headers, query, body)
        assert body["content"][0]["text"] == DEFAULT_TEXT
    assert len(standin.requests("/v1/messages")) == 5


def _oauth_gateway(gateway_factory, standin, expires_in_s=8 * 3600, access=ACCESS):
    return gateway_factory(
        lambda port, auth_dir: gateway_config(
            port, auth_dir, standin.url, api_keys=(), claude_keys=(), openrouter=False
        ),
        prepare=lambda auth_dir: claude_auth_file(auth_dir, EMAIL, access, REFRESH, expires_in_s),
        name="oauth",
    )


def test_seed_curl_check_with_claude_oauth(gateway_factory, standin):
    """The seed README's check: open gateway, one Claude OAuth account."""
    standin.seed_oauth(access_tokens=[ACCESS], refresh_tokens=[{"token": REFRESH, "email": EMAIL}])
    gw = _oauth_gateway(gateway_factory, standin)
    status, _, body = http("POST", gw.url + "/v1/messages", CURL_BODY, CURL_HEADERS)
    assert status == 200, body
    assert body["type"] == "message"
    assert body["content"][0]["text"] == DEFAULT_TEXT

    ups = standin.requests("/v1/messages")
    assert len(ups) == 1
    h = ups[0]["headers"]
    assert h.get("authorization") == f"Bearer {ACCESS}"
    assert "x-api-key" not in h, "OAuth tokens go in Authorization, not x-api-key"
    betas = [b.strip() for b in h.get("anthropic-beta", "").split(",")]
    assert "oauth-2025-04-20" in betas, h.get("anthropic-beta")
    assert h.get("anthropic-version") == "2023-06-01"
    assert "beta=true" in (ups[0]["query"] or "")
    assert ups[0]["json"]["max_tokens"] == 10
    assert standin.oauth_state()["issued"] == [], "a fresh token is not refreshed"


def _wait_file_token(path, key, want, timeout=3.0):
    deadline = time.monotonic() + timeout
    data = {}
    while time.monotonic() < deadline:
        try:
            data = json.loads(path.read_text())
            if data.get(key) == want:
                return data
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    return data


def test_expired_oauth_token_is_refreshed_before_use(gateway_factory, standin):
    # Strict: the expired access token would be refused upstream.
    standin.seed_oauth(refresh_tokens=[{"token": REFRESH, "email": EMAIL}], strict=True)
    gw = _oauth_gateway(gateway_factory, standin, expires_in_s=-60)
    status, _, body = http("POST", gw.url + "/v1/messages", CURL_BODY, CURL_HEADERS)
    assert status == 200, body

    state = standin.oauth_state()
    assert len(state["issued"]) == 1, "exactly one refresh"
    issued = state["issued"][0]
    assert issued["spent"] == REFRESH
    assert state["refresh_tokens"][REFRESH]["used"] is True
    token_reqs = standin.requests("/v1/oauth/token")
    assert len(token_reqs) == 1
    assert token_reqs[0]["json"]["grant_type"] == "refresh_token"
    assert token_reqs[0]["json"]["client_id"]
    ups = standin.requests("/v1/messages")
    assert len(ups) == 1, "the expired token is never sent"
    assert ups[0]["headers"]["authorization"] == f"Bearer {issued['access_token']}"

    data = _wait_file_token(gw.auth_dir / f"claude-{EMAIL}.json", "refresh_token", issued["refresh_token"])
    assert data.get("access_token") == issued["access_token"], "refreshed tokens are written back to the file"
    assert data.get("refresh_token") == issued["refresh_token"]


def test_upstream_401_triggers_one_refresh_and_one_replay(gateway_factory, standin):
    # The file's access token is not accepted upstream; its refresh token is valid.
    standin.seed_oauth(refresh_tokens=[{"token": REFRESH, "email": EMAIL}], strict=True)
    gw = _oauth_gateway(gateway_factory, standin, access="sk-ant-oat01-revoked")
    status, _, body = http("POST", gw.url + "/v1/messages", CURL_BODY, CURL_HEADERS)
    assert status == 200, body
    ups = standin.requests("/v1/messages")
    assert [u["headers"]["authorization"] for u in ups][:1] == ["Bearer sk-ant-oat01-revoked"]
    issued = standin.oauth_state()["issued"]
    assert len(issued) == 1
    assert len(ups) == 2, "one replay after the refresh, never a loop"
    assert ups[1]["headers"]["authorization"] == f"Bearer {issued[0]['access_token']}"
