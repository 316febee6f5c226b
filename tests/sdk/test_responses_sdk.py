"""Official `openai` SDK's Responses API (`responses.create` / `responses.stream`) through the gateway to
Codex (stand-in ChatGPT backend), Claude and OpenAI-compatible models; the `anthropic` SDK on a Codex model
with a two-turn tool call."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from conftest import CLAUDE_MODEL, CLIENT_KEY, DEFAULT_TEXT, credential, gateway_config, q

CODEX_MODEL = "gpt-5-codex"
CODEX_TOKEN = "codex-access-1"

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the current weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def codex_auth_file(auth_dir):
    now = datetime.now(timezone.utc)
    (auth_dir / "codex-user@example.com-plus.json").write_text(
        json.dumps(
            {
                "id_token": "",
                "access_token": CODEX_TOKEN,
                "refresh_token": "codex-rt-1",
                "account_id": "acct-sdk",
                "last_refresh": (now - timedelta(hours=1)).isoformat(timespec="seconds"),
                "email": "user@example.com",
                "type": "codex",
                "expired": (now + timedelta(days=10)).isoformat(timespec="seconds"),
            }
        )
    )


@pytest.fixture
def codex_gateway(gateway_factory, standin):
    extra = f"codex:\n  base-url: {q(standin.url + '/backend-api/codex')}\n"
    return gateway_factory(
        lambda port, auth_dir: gateway_config(port, auth_dir, standin.url, extra=extra),
        prepare=codex_auth_file,
        name="codex",
    )


@pytest.fixture
def oai(codex_gateway):
    import openai

    return openai.OpenAI(base_url=codex_gateway.url + "/v1", api_key=CLIENT_KEY, max_retries=0, timeout=20)


@pytest.fixture
def claude_sdk(codex_gateway):
    import anthropic

    return anthropic.Anthropic(base_url=codex_gateway.url, api_key=CLIENT_KEY, max_retries=0, timeout=20)


def codex_requests(standin):
    return standin.requests("/backend-api/codex/responses")


@pytest.mark.parametrize("model", [CODEX_MODEL, CLAUDE_MODEL, "model-x"])
def test_responses_create(oai, standin, model):
    # Twice: the Codex stand-in sends an empty `output` in every second `response.completed`.
    for _ in range(2):
        res = oai.responses.create(model=model, input="Hello there", instructions="Be brief.")
        assert res.object == "response"
        assert res.status == "completed"
        assert res.output_text == DEFAULT_TEXT
        assert res.model == model
        assert res.usage.total_tokens == res.usage.input_tokens + res.usage.output_tokens
    if model == CODEX_MODEL:
        ups = codex_requests(standin)
        assert len(ups) == 2
        assert credential(ups[0]) == CODEX_TOKEN
        assert ups[0]["headers"]["chatgpt-account-id"] == "acct-sdk"
        assert ups[0]["json"]["stream"] is True and ups[0]["json"]["store"] is False
        assert ups[0]["json"]["instructions"] == "Be brief."


@pytest.mark.parametrize("model", [CODEX_MODEL, CLAUDE_MODEL, "model-x"])
def test_responses_stream(oai, standin, model):
    for _ in range(2):
        deltas = []
        kinds = []
        with oai.responses.stream(model=model, input="Stream please") as stream:
            for event in stream:
                kinds.append(event.type)
                if event.type == "response.output_text.delta":
                    deltas.append(event.delta)
            final = stream.get_final_response()
        assert "".join(deltas) == DEFAULT_TEXT
        assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
        assert final.output_text == DEFAULT_TEXT, "the final response carries the output"
        assert final.status == "completed"


@pytest.mark.parametrize("model", [CODEX_MODEL, CLAUDE_MODEL])
def test_responses_function_call_two_turns(oai, standin, model):
    first = oai.responses.create(model=model, input="What is the weather in Paris?", tools=[WEATHER])
    calls = [i for i in first.output if i.type == "function_call"]
    assert len(calls) == 1
    call = calls[0]
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "San Francisco, CA"}
    second = oai.responses.create(
        model=model,
        tools=[WEATHER],
        input=[
            {"role": "user", "content": "What is the weather in Paris?"},
            *[i.model_dump(exclude_none=True) for i in first.output],
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
        ],
    )
    assert second.output_text == "The tool returned: sunny"


def test_responses_with_reasoning_keep_encrypted_content(oai, standin):
    res = oai.responses.create(
        model=CODEX_MODEL,
        input="think",
        reasoning={"effort": "low", "summary": "auto"},
        include=["reasoning.encrypted_content"],
    )
    reasoning = [i for i in res.output if i.type == "reasoning"]
    assert reasoning and reasoning[0].encrypted_content.startswith("gAAAA-standin-")
    assert reasoning[0].summary[0].text == "Thinking about the answer."
    assert res.usage.output_tokens_details.reasoning_tokens > 0


def test_responses_unknown_model_is_a_not_found_error(oai):
    import openai

    with pytest.raises(openai.NotFoundError) as e:
        oai.responses.create(model="no-such-model", input="x")
    assert "no-such-model" in str(e.value)


def test_anthropic_sdk_on_a_codex_model_runs_a_two_turn_tool_call(claude_sdk, standin):
    tool = {
        "name": "get_weather",
        "description": "Get the current weather",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = claude_sdk.messages.create(model=CODEX_MODEL, max_tokens=200, tools=[tool], messages=messages)
    assert first.stop_reason == "tool_use"
    use = next(b for b in first.content if b.type == "tool_use")
    assert use.name == "get_weather" and use.input == {"city": "San Francisco, CA"}
    messages += [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}]},
    ]
    with claude_sdk.messages.stream(model=CODEX_MODEL, max_tokens=200, tools=[tool], messages=messages) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == "The tool returned: sunny"
    assert final.stop_reason == "end_turn"
    ups = codex_requests(standin)
    items = ups[-1]["json"]["input"]
    assert any(i.get("type") == "function_call" and i["call_id"] == use.id for i in items)
    assert any(i.get("type") == "function_call_output" and i["call_id"] == use.id for i in items)
