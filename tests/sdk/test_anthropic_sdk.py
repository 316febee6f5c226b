"""Official `anthropic` SDK → gateway → stand-in Anthropic upstream (same-dialect pass-through)."""

from __future__ import annotations

from conftest import CLAUDE_KEY, CLAUDE_MODEL, DEFAULT_TEXT, credential, estimate_tokens

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Get the current weather for a location",
    "input_schema": {
        "type": "object",
        "properties": {"location": {"type": "string", "description": "City and state"}},
        "required": ["location"],
    },
}


def last_user_text(body: dict) -> str:
    content = body["messages"][-1]["content"]
    if isinstance(content, str):
        return content
    return " ".join(b.get("text", "") for b in content if b.get("type") == "text")


def only_request(standin, suffix="/v1/messages") -> dict:
    reqs = standin.requests(suffix)
    assert len(reqs) == 1, f"expected one upstream request to {suffix}, got {[r['uri'] for r in standin.requests()]}"
    return reqs[0]


def test_messages_non_stream(anthropic_client, standin):
    msg = anthropic_client.messages.create(
        model=CLAUDE_MODEL,
        max_tokens=64,
        messages=[{"role": "user", "content": "Hello there"}],
    )
    assert msg.type == "message"
    assert msg.role == "assistant"
    assert msg.id.startswith("msg_")
    assert [b.type for b in msg.content] == ["text"]
    assert msg.content[0].text == DEFAULT_TEXT
    assert msg.stop_reason == "end_turn"
    assert msg.usage.output_tokens == 4
    assert msg.usage.input_tokens >= 1

    up = only_request(standin)
    assert up["method"] == "POST"
    assert credential(up) == CLAUDE_KEY, "the gateway swaps the client key for the upstream key"
    assert "client-key-1" not in str(up["headers"]), "the client key must not leak upstream"
    # The client's own anthropic-version is honoured (the SDK sends its pinned one).
    sdk_version = anthropic_client.default_headers.get("anthropic-version")
    assert sdk_version
    assert up["headers"].get("anthropic-version") == sdk_version
    assert up["json"]["model"] == CLAUDE_MODEL
    assert up["json"]["max_tokens"] == 64
    assert "Hello there" in last_user_text(up["json"])
    assert up["json"].get("stream") in (None, False)


def test_messages_stream_helper(anthropic_client, standin):
    with anthropic_client.messages.stream(
        model=CLAUDE_MODEL,
        max_tokens=64,
        messages=[{"role": "user", "content": "Stream please"}],
    ) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) == 4, f"each upstream delta reaches the client: {pieces}"
    assert "".join(pieces) == DEFAULT_TEXT
    assert final.content[0].text == DEFAULT_TEXT
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 4

    up = only_request(standin)
    assert up["json"]["stream"] is True
    assert "Stream please" in last_user_text(up["json"])


def test_messages_stream_true_event_order(anthropic_client, standin):
    events = list(
        anthropic_client.messages.create(
            model=CLAUDE_MODEL,
            max_tokens=32,
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
        )
    )
    types = [e.type for e in events]
    assert types[:2] == ["message_start", "content_block_start"]
    assert types[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(types[2:-3]) == {"content_block_delta"}
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta")
    assert text == DEFAULT_TEXT
    assert events[-2].delta.stop_reason == "end_turn"
    assert events[-2].usage.output_tokens == 4


def test_tool_use_round_trip(anthropic_client, standin):
    first = anthropic_client.messages.create(
        model=CLAUDE_MODEL,
        max_tokens=256,
        tools=[WEATHER_TOOL],
        messages=[{"role": "user", "content": "What's the weather in Paris?"}],
    )
    assert first.stop_reason == "tool_use"
    tool = next(b for b in first.content if b.type == "tool_use")
    assert tool.name == "get_weather"
    assert tool.input == {"location": "San Francisco, CA"}
    assert tool.id.startswith("toolu_")

    second = anthropic_client.messages.create(
        model=CLAUDE_MODEL,
        max_tokens=256,
        tools=[WEATHER_TOOL],
        messages=[
            {"role": "user", "content": "What's the weather in Paris?"},
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": tool.id, "content": "15 degrees and sunny"}],
            },
        ],
    )
    assert second.stop_reason == "end_turn"
    assert second.content[0].text == "The tool returned: 15 degrees and sunny"

    ups = standin.requests("/v1/messages")
    assert len(ups) == 2
    assert [t["name"] for t in ups[0]["json"]["tools"]] == ["get_weather"]
    results = [b for b in ups[1]["json"]["messages"][-1]["content"] if b["type"] == "tool_result"]
    assert results and results[0]["tool_use_id"] == tool.id


def test_tool_use_streamed(anthropic_client, standin):
    with anthropic_client.messages.stream(
        model=CLAUDE_MODEL,
        max_tokens=256,
        tools=[WEATHER_TOOL],
        messages=[{"role": "user", "content": "weather in Oslo?"}],
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert final.content[0].type == "tool_use"
    assert final.content[0].input == {"location": "San Francisco, CA"}


def test_count_tokens(anthropic_client, standin):
    res = anthropic_client.messages.count_tokens(
        model=CLAUDE_MODEL,
        messages=[{"role": "user", "content": "0123456789abcdef"}],
    )
    up = only_request(standin, "/v1/messages/count_tokens")
    assert credential(up) == CLAUDE_KEY
    assert up["json"]["model"] == CLAUDE_MODEL
    # The stand-in's count of exactly what it received reaches the client.
    assert res.input_tokens == estimate_tokens(up["json"])
    assert res.input_tokens >= 5
