"""Official `openai` SDK → gateway → stand-in OpenAI-compatible upstream (OpenRouter-style base `/api/v1`)."""

from __future__ import annotations

import json

from conftest import CLAUDE_MODEL, DEFAULT_TEXT, OPENROUTER_KEY, credential

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def test_chat_non_stream_with_alias_rewrite(openai_client, standin):
    res = openai_client.chat.completions.create(
        model="model-x",
        messages=[{"role": "user", "content": "Hello there"}],
    )
    assert res.object == "chat.completion"
    assert res.choices[0].message.role == "assistant"
    assert res.choices[0].message.content == DEFAULT_TEXT
    assert res.choices[0].finish_reason == "stop"
    assert res.usage.total_tokens == res.usage.prompt_tokens + res.usage.completion_tokens
    assert res.usage.completion_tokens == 4

    ups = standin.requests("/chat/completions")
    assert len(ups) == 1
    up = ups[0]
    assert up["path"] == "/api/v1/chat/completions", "posted to <base-url>/chat/completions"
    assert up["json"]["model"] == "upstream/model-x", "alias model-x is rewritten to the upstream name"
    assert credential(up) == OPENROUTER_KEY
    assert up["headers"]["authorization"] == f"Bearer {OPENROUTER_KEY}"
    assert up["json"]["messages"][-1]["content"] == "Hello there"


def test_chat_stream(openai_client, standin):
    stream = openai_client.chat.completions.create(
        model="model-x",
        messages=[{"role": "user", "content": "Stream please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == DEFAULT_TEXT
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    usage = [c.usage for c in chunks if c.usage]
    assert usage and usage[-1].completion_tokens == 4

    up = standin.requests("/chat/completions")[0]
    assert up["json"]["stream"] is True
    assert up["json"]["model"] == "upstream/model-x"


def test_tool_call_round_trip(openai_client, standin):
    first = openai_client.chat.completions.create(
        model="model-x",
        tools=[WEATHER_TOOL],
        messages=[{"role": "user", "content": "What's the weather in Rome?"}],
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "San Francisco, CA"}

    second = openai_client.chat.completions.create(
        model="model-x",
        tools=[WEATHER_TOOL],
        messages=[
            {"role": "user", "content": "What's the weather in Rome?"},
            choice.message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "20C"},
        ],
    )
    assert second.choices[0].message.content == "The tool returned: 20C"
    assert second.choices[0].finish_reason == "stop"

    ups = standin.requests("/chat/completions")
    assert len(ups) == 2
    tool_msg = ups[1]["json"]["messages"][-1]
    assert tool_msg["role"] == "tool" and tool_msg["tool_call_id"] == call.id


def test_models_list(openai_client, standin):
    ids = [m.id for m in openai_client.models.list()]
    assert "model-x" in ids, ids
    assert len(ids) == len(set(ids)), "no duplicate model ids"


def test_openai_sdk_to_claude_model_is_translated(openai_client, standin):
    """OpenAI chat in, Anthropic Messages upstream, OpenAI chat out."""
    res = openai_client.chat.completions.create(
        model=CLAUDE_MODEL,
        max_tokens=50,
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}],
    )
    assert res.choices[0].message.content == DEFAULT_TEXT
    assert res.choices[0].finish_reason == "stop"
    ups = standin.requests("/v1/messages")
    assert len(ups) == 1
    body = ups[0]["json"]
    assert body["model"] == CLAUDE_MODEL
    assert isinstance(body["max_tokens"], int)
    assert all(m["role"] in ("user", "assistant") for m in body["messages"]), "system moved out of messages"
    assert "Hello there" in json.dumps(body["messages"])


def test_openai_sdk_stream_to_claude_model_is_translated(openai_client, standin):
    chunks = list(
        openai_client.chat.completions.create(
            model=CLAUDE_MODEL,
            max_tokens=50,
            messages=[{"role": "user", "content": "Hello"}],
            stream=True,
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == DEFAULT_TEXT
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert standin.requests("/v1/messages")[0]["json"]["stream"] is True
