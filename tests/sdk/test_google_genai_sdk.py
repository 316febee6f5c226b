"""Official `google-genai` SDK (and `openai`'s chat completions and Responses API for Gemini models) →
gateway → stand-in upstreams: a Gemini API key, an Antigravity account (Gemini and Claude models, project
discovered, a Cloud Code host that is down first) and a Claude API key (translated). The Gemini stand-ins
sign their answers and, for Gemini 3 models, refuse a replayed call without its thought signature."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from conftest import CLAUDE_MODEL, CLIENT_KEY, DEFAULT_TEXT, gateway_config, q

GEMINI_KEY = "AIza-upstream-sdk"

# model → the upstream path suffix its generate call reaches
MODELS = {
    "gemini-2.5-pro": "/v1beta/models/gemini-2.5-pro:generateContent",  # Gemini API key, native
    "gemini-3-flash": "/v1internal:generateContent",  # Antigravity, envelope
    "claude-sonnet-4-6": "/v1internal:streamGenerateContent",  # Antigravity Claude: streamed upstream
    CLAUDE_MODEL: "/v1/messages",  # Claude API key, translated
}


def antigravity_file(auth_dir):
    now = datetime.now(timezone.utc)
    (auth_dir / "antigravity-sdk@example.com.json").write_text(
        json.dumps(
            {
                "type": "antigravity",
                "access_token": "ag-sdk-at",
                "refresh_token": "ag-sdk-rt",
                "expires_in": 3600,
                "timestamp": int(now.timestamp() * 1000),
                "expired": (now + timedelta(hours=1)).isoformat(timespec="seconds"),
                "email": "sdk@example.com",
                "project_id": "",
            }
        )
    )


@pytest.fixture
def gemini_gateway(gateway_factory, standin):
    url = standin.url

    def config(port, auth_dir):
        extra = "\n".join(
            [
                "gemini-api-key:",
                f"  - api-key: {q(GEMINI_KEY)}",
                f"    base-url: {q(url)}",
                # gemini-3-flash is Antigravity's alone: a thought signature is only good where it was made.
                "    excluded-models: [gemini-3-flash]",
                "antigravity:",
                f"  token-url: {q(url + '/oauth/token')}",
                f"  base-urls: [{q(url + '/unavailable')}, {q(url)}]",
            ]
        )
        return gateway_config(port, auth_dir, url, openrouter=False, extra=extra + "\n")

    return gateway_factory(config, prepare=antigravity_file, name="genai")


@pytest.fixture
def genai_client(gemini_gateway):
    from google import genai
    from google.genai import types

    return genai.Client(
        api_key=CLIENT_KEY,
        http_options=types.HttpOptions(base_url=gemini_gateway.url, api_version="v1beta"),
    )


def served(standin, suffix):
    return [r for r in standin.requests(suffix) if not r["path"].startswith("/unavailable/")]


@pytest.mark.parametrize("model", list(MODELS))
def test_generate(genai_client, standin, model):
    from google.genai import types

    res = genai_client.models.generate_content(
        model=model,
        contents="Hello there",
        config=types.GenerateContentConfig(system_instruction="Be brief.", max_output_tokens=100),
    )
    assert res.text == DEFAULT_TEXT
    assert res.candidates[0].finish_reason == types.FinishReason.STOP
    assert res.usage_metadata.prompt_token_count >= 1
    ups = served(standin, MODELS[model])
    assert len(ups) == 1, standin.requests()
    body = ups[0]["json"]
    if model == "gemini-2.5-pro":
        assert ups[0]["headers"]["x-goog-api-key"] == GEMINI_KEY
        assert body["systemInstruction"]["parts"][0]["text"] == "Be brief."
    elif model == CLAUDE_MODEL:
        assert body["system"] == "Be brief." or "Be brief." in json.dumps(body["system"])
        assert body["max_tokens"] == 100
    else:
        assert body["model"] == model
        assert body["project"] == "standin-project", "discovered through loadCodeAssist/onboardUser"
        assert "safetySettings" not in body["request"]


@pytest.mark.parametrize("model", list(MODELS))
def test_stream(genai_client, standin, model):
    chunks = list(genai_client.models.generate_content_stream(model=model, contents="Hello there"))
    assert len(chunks) >= 2
    assert "".join(c.text or "" for c in chunks) == DEFAULT_TEXT
    assert chunks[-1].candidates[0].finish_reason is not None


@pytest.mark.parametrize("model", list(MODELS))
def test_function_calling_over_two_turns(genai_client, standin, model):
    from google.genai import types

    tool = types.Tool(
        function_declarations=[
            types.FunctionDeclaration(
                name="get_weather",
                description="Current weather",
                parameters_json_schema={
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            )
        ]
    )
    config = types.GenerateContentConfig(
        tools=[tool],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    first = types.Content(role="user", parts=[types.Part(text="What is the weather in Paris?")])
    res = genai_client.models.generate_content(model=model, contents=[first], config=config)
    calls = res.function_calls
    assert calls and calls[0].name == "get_weather"
    assert calls[0].args == {"city": "San Francisco, CA"}, standin.requests()[-1]["json"]
    answer = types.Part.from_function_response(name="get_weather", response={"result": "18C sunny"})
    if calls[0].id:
        answer.function_response.id = calls[0].id
    res2 = genai_client.models.generate_content(
        model=model,
        contents=[first, res.candidates[0].content, types.Content(role="user", parts=[answer])],
        config=config,
    )
    assert "18C sunny" in res2.text
    sent = json.dumps(standin.requests()[-1]["json"])
    assert "18C sunny" in sent


@pytest.mark.parametrize("model", list(MODELS))
def test_count_tokens(genai_client, standin, model):
    res = genai_client.models.count_tokens(model=model, contents="count these few words please")
    assert res.total_tokens >= 1


def test_models_list(genai_client):
    names = [m.name for m in genai_client.models.list()]
    assert "models/gemini-2.5-pro" in names
    assert "models/claude-sonnet-4-6" in names


def test_openai_sdk_to_a_gemini_model(gemini_gateway, standin):
    import openai

    client = openai.OpenAI(base_url=gemini_gateway.url + "/v1", api_key=CLIENT_KEY, max_retries=0, timeout=20)
    res = client.chat.completions.create(
        model="gemini-2.5-pro", messages=[{"role": "user", "content": "Hello there"}]
    )
    assert res.choices[0].message.content == DEFAULT_TEXT
    assert res.choices[0].finish_reason == "stop"
    stream = client.chat.completions.create(
        model="gemini-3-flash",
        messages=[{"role": "user", "content": "Hello there"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage = "", None
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage:
            usage = chunk.usage
    assert text == DEFAULT_TEXT
    assert usage is not None and usage.prompt_tokens >= 1


# Responses clients (Codex CLI, the openai SDK) on Gemini models: model → upstream path suffix.
RESPONSES_MODELS = {
    "gemini-2.5-pro": "/v1beta/models/gemini-2.5-pro:generateContent",  # Gemini API key
    "gemini-3-pro-preview": "/v1beta/models/gemini-3-pro-preview:generateContent",  # Gemini API key, Gemini 3
    "gemini-3-flash": "/v1internal:generateContent",  # Antigravity
}

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the current weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture
def oai(gemini_gateway):
    import openai

    return openai.OpenAI(base_url=gemini_gateway.url + "/v1", api_key=CLIENT_KEY, max_retries=0, timeout=20)


@pytest.mark.parametrize("model", list(RESPONSES_MODELS))
def test_responses_create_on_gemini_models(oai, standin, model):
    res = oai.responses.create(model=model, input="Hello there", instructions="Be brief.", max_output_tokens=100)
    assert res.object == "response" and res.status == "completed"
    assert res.output_text == DEFAULT_TEXT
    assert res.model == model
    # usageMetadata → usage: candidatesTokenCount is the stand-in's word count of its answer.
    assert res.usage.output_tokens == len(DEFAULT_TEXT.split())
    assert res.usage.input_tokens >= 1
    assert res.usage.total_tokens == res.usage.input_tokens + res.usage.output_tokens
    ups = served(standin, RESPONSES_MODELS[model])
    assert len(ups) == 1, standin.requests()
    body = ups[0]["json"].get("request", ups[0]["json"])
    assert body["systemInstruction"]["parts"][0]["text"] == "Be brief."
    assert body["contents"][0]["parts"][0]["text"] == "Hello there"


@pytest.mark.parametrize("model", list(RESPONSES_MODELS))
def test_responses_stream_on_gemini_models(oai, standin, model):
    deltas, kinds = [], []
    with oai.responses.stream(model=model, input="Stream please") as stream:
        for event in stream:
            kinds.append(event.type)
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = stream.get_final_response()
    assert "".join(deltas) == DEFAULT_TEXT
    assert len(deltas) >= 2, "streamed in pieces"
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert final.output_text == DEFAULT_TEXT and final.status == "completed"
    assert final.usage.output_tokens == len(DEFAULT_TEXT.split())
    assert final.usage.total_tokens == final.usage.input_tokens + final.usage.output_tokens


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
@pytest.mark.parametrize("model", list(RESPONSES_MODELS))
def test_responses_function_calling_over_two_turns_on_gemini_models(oai, standin, model, stream):
    def ask(**kw):
        if not stream:
            return oai.responses.create(model=model, tools=[WEATHER], **kw)
        with oai.responses.stream(model=model, tools=[WEATHER], **kw) as s:
            for _ in s:
                pass
            return s.get_final_response()

    question = {"role": "user", "content": "What is the weather in Paris?"}
    first = ask(input=[question], include=["reasoning.encrypted_content"])
    calls = [i for i in first.output if i.type == "function_call"]
    assert len(calls) == 1, first.output
    assert calls[0].name == "get_weather"
    assert json.loads(calls[0].arguments) == {"city": "San Francisco, CA"}
    signed = [i.encrypted_content for i in first.output if i.type == "reasoning" and i.encrypted_content]
    assert len(signed) == 1, "the call's thought signature reaches the client"
    second = ask(
        input=[
            question,
            *[i.model_dump(exclude_none=True) for i in first.output],
            {"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny"},
        ]
    )
    assert second.output_text == 'The tool returned: {"result":"sunny"}'
    suffix = RESPONSES_MODELS[model].replace(":generateContent", ":streamGenerateContent" if stream else ":generateContent")
    sent = served(standin, suffix)[-1]["json"]
    sent = sent.get("request", sent)
    model_turn = next(c for c in sent["contents"] if c["role"] == "model")
    call = next(p for p in model_turn["parts"] if "functionCall" in p)
    assert call["thoughtSignature"] == signed[0], "the signature is back on the call it signed"
    answer = next(p for c in sent["contents"] for p in c["parts"] if "functionResponse" in p)
    assert answer["functionResponse"]["name"] == "get_weather"
    assert answer["functionResponse"]["response"] == {"result": "sunny"}


@pytest.mark.parametrize("model", ["gemini-2.5-pro", "gemini-3-flash"])
def test_responses_errors_on_gemini_models_have_the_responses_shape(oai, standin, model):
    import openai

    key = GEMINI_KEY if model == "gemini-2.5-pro" else "ag-sdk-at"
    # One good call first: the Antigravity account finds its project before generate fails.
    assert oai.responses.create(model=model, input="Hello there").output_text == DEFAULT_TEXT
    standin.behavior(key, fail_next=5, fail_status=400, fail_message="Invalid value at 'contents[0]'")
    with pytest.raises(openai.BadRequestError) as e:
        oai.responses.create(model=model, input="Hello there")
    assert e.value.status_code == 400
    assert e.value.type == "invalid_request_error", e.value.body
    assert "Invalid value at 'contents[0]'" in e.value.message
    with pytest.raises(openai.BadRequestError) as e:
        with oai.responses.stream(model=model, input="Hello there") as s:
            list(s)
    assert "Invalid value at 'contents[0]'" in e.value.message

