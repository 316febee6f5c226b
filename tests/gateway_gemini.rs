//! The Gemini family through the real gateway: `/v1beta` clients to Gemini API keys,
//! Vertex keys, Antigravity and Gemini CLI accounts (native, envelope on and off), and
//! across dialects (Gemini clients to Claude / OpenAI-compatible upstreams, Anthropic
//! and OpenAI clients to Gemini and Antigravity models).
#![allow(clippy::unwrap_used)]

mod common;
mod standin;

use common::*;
use serde_json::{Value, json};
use standin::{Behavior, CloudCode, StandIn};

const CLIENT_KEY: &str = "client-key-1";

fn gemini_key_block(si: &StandIn) -> String {
    format!(
        "api-keys: [\"{CLIENT_KEY}\"]\ngemini-api-key:\n  - api-key: AIza-upstream-1\n    base-url: {}\n",
        si.base_url
    )
}

fn antigravity_block(si: &StandIn) -> String {
    format!(
        "api-keys: [\"{CLIENT_KEY}\"]\nantigravity:\n  token-url: {b}/oauth/token\n  base-urls: [\"{b}/unavailable\", \"{b}\"]\n  client-version: 2.9.1\n",
        b = si.base_url
    )
}

/// An Antigravity file as `cliproxy login antigravity` writes it when Code Assist named
/// no project (`project_id` empty), plus a field the gateway does not know.
fn antigravity_file(access: &str, refresh: &str, expires_in: i64) -> Value {
    let now = jiff::Timestamp::now();
    let exp = now + jiff::SignedDuration::from_secs(expires_in);
    json!({
        "type": "antigravity",
        "access_token": access,
        "refresh_token": refresh,
        "expires_in": expires_in,
        "timestamp": now.as_millisecond(),
        "expired": exp.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "email": "ag@example.com",
        "project_id": "",
        "note": {"kept": [1, 2]},
    })
}

fn gen_body(text: &str) -> Value {
    json!({
        "contents": [{"role": "user", "parts": [{"text": text}]}],
        "generationConfig": {"maxOutputTokens": 200, "temperature": 0.2},
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
    })
}

async fn gemini_post(g: &Gateway, path: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(g.url(path))
        .header("x-goog-api-key", CLIENT_KEY)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn text_of(r: reqwest::Response) -> String {
    String::from_utf8(r.bytes().await.unwrap().to_vec()).unwrap()
}

fn sse_payloads(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

fn all_text(chunks: &[Value]) -> String {
    chunks
        .iter()
        .flat_map(|c| {
            c["candidates"][0]["content"]["parts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|p| p.get("thought") != Some(&json!(true)))
        .filter_map(|p| p["text"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn gemini_keys_serve_v1beta_natively() {
    let si = StandIn::start().await;
    let g = start(&gemini_key_block(&si), &[]).await;
    let body = gen_body("hi");

    let r = gemini_post(&g, "/v1beta/models/gemini-2.5-flash:generateContent", &body).await;
    assert_eq!(r.status(), 200, "{}", g.logs());
    let v: Value = r.json().await.unwrap();
    assert_eq!(all_text(std::slice::from_ref(&v)), standin::DEFAULT_TEXT);
    let up = &si.requests_to("/v1beta/models/gemini-2.5-flash:generateContent")[0];
    assert_eq!(up.header("x-goog-api-key"), Some("AIza-upstream-1"));
    assert_eq!(up.json().unwrap(), body, "native bodies pass as sent");

    // alt=sse: SSE as Google sends it; the key may also come as ?key=.
    let r = reqwest::Client::new()
        .post(g.url(&format!(
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key={CLIENT_KEY}"
        )))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = text_of(r).await;
    assert!(
        text.contains("\r\n\r\n") && !text.contains("[DONE]"),
        "{text}"
    );
    let chunks = sse_payloads(&text);
    assert!(chunks.len() > 1);
    assert_eq!(all_text(&chunks), standin::DEFAULT_TEXT);
    assert_eq!(
        chunks.last().unwrap()["candidates"][0]["finishReason"],
        "STOP"
    );
    let up = si.requests_to(":streamGenerateContent").pop().unwrap();
    assert_eq!(up.query(), Some("alt=sse"));

    // No alt: one JSON array.
    let r = gemini_post(
        &g,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
        &body,
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let arr: Vec<Value> = serde_json::from_str(&text_of(r).await).unwrap();
    assert_eq!(all_text(&arr), standin::DEFAULT_TEXT);

    let r = gemini_post(
        &g,
        "/v1beta/models/gemini-2.5-flash:countTokens",
        &json!({"contents": body["contents"]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(v["totalTokens"].as_u64().unwrap() >= 1, "{v}");

    let list: Value = reqwest::Client::new()
        .get(g.url("/v1beta/models"))
        .header("x-goog-api-key", CLIENT_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        list["models"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "models/gemini-2.5-flash")
    );
    let one = reqwest::Client::new()
        .get(g.url(&format!("/v1beta/models/gemini-2.5-pro?key={CLIENT_KEY}")))
        .send()
        .await
        .unwrap();
    assert_eq!(one.status(), 200);
    let missing = reqwest::Client::new()
        .get(g.url(&format!("/v1beta/models/nope?key={CLIENT_KEY}")))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let e: Value = missing.json().await.unwrap();
    assert_eq!(e["error"]["status"], "NOT_FOUND");
    assert_eq!(e["error"]["code"], 404);

    let unauth = reqwest::Client::new()
        .post(g.url("/v1beta/models/gemini-2.5-flash:generateContent"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(unauth.status(), 401);
    let e: Value = unauth.json().await.unwrap();
    assert_eq!(e["error"]["status"], "UNAUTHENTICATED");
}

#[tokio::test(flavor = "multi_thread")]
async fn vertex_keys_use_the_publisher_path() {
    let si = StandIn::start().await;
    let cfg = format!(
        "vertex-api-key:\n  - api-key: vx-key-1\n    base-url: {}\n    models:\n      - name: gemini-2.5-pro\n        alias: vx-pro\n",
        si.base_url
    );
    let g = start(&cfg, &[]).await;
    let r = reqwest::Client::new()
        .post(g.url("/v1beta/models/vx-pro:generateContent"))
        .json(&gen_body("hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", g.logs());
    let up = &si.requests_to(":generateContent")[0];
    assert_eq!(
        up.path(),
        "/v1/publishers/google/models/gemini-2.5-pro:generateContent"
    );
    assert_eq!(up.header("x-goog-api-key"), Some("vx-key-1"));
}

#[tokio::test(flavor = "multi_thread")]
async fn antigravity_discovers_its_project_once_and_falls_back_across_hosts() {
    let si = StandIn::start().await;
    si.set_cloud_code(CloudCode {
        pending_polls: 2,
        onboard_project: "proj-onboarded".into(),
        ..CloudCode::default()
    });
    let g = start(
        &antigravity_block(&si),
        &[(
            "antigravity-ag@example.com.json",
            antigravity_file("ag-at-1", "ag-rt-1", 3600),
        )],
    )
    .await;
    let body = json!({
        "contents": [{"role": "user", "parts": [{"text": "hello there"}]}],
        "generationConfig": {"maxOutputTokens": 100},
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "OFF"}],
        "tools": [{"functionDeclarations": [{"name": "lookup", "parametersJsonSchema":
            {"type": "object", "$schema": "http://json-schema.org/draft-07/schema#",
             "additionalProperties": false, "properties": {"q": {"type": "string"}}}}]}],
    });
    for _ in 0..2 {
        let r = gemini_post(&g, "/v1beta/models/gemini-3-flash:generateContent", &body).await;
        assert_eq!(r.status(), 200, "{}", g.logs());
        let v: Value = r.json().await.unwrap();
        assert!(v.get("response").is_none(), "envelope removed: {v}");
        assert_eq!(all_text(&[v]), standin::DEFAULT_TEXT);
    }
    let served = |suffix: &str| {
        si.requests_to(suffix)
            .into_iter()
            .filter(|r| !r.path().starts_with("/unavailable/"))
            .count()
    };
    assert_eq!(served("/v1internal:loadCodeAssist"), 1);
    assert_eq!(served("/v1internal:onboardUser"), 3, "polled until done");
    let saved = g.read_auth("antigravity-ag@example.com.json");
    assert_eq!(saved["project_id"], "proj-onboarded");
    assert_eq!(
        saved["note"],
        json!({"kept": [1, 2]}),
        "unknown fields kept"
    );

    let sent: Vec<_> = si
        .requests_to("/v1internal:generateContent")
        .into_iter()
        .filter(|r| !r.path().starts_with("/unavailable"))
        .collect();
    assert_eq!(sent.len(), 2);
    assert_eq!(
        si.requests_to("/v1internal:generateContent")
            .iter()
            .filter(|r| r.path().starts_with("/unavailable/"))
            .count(),
        2,
        "the first host is tried first each time"
    );
    let up = &sent[0];
    assert_eq!(up.header("authorization"), Some("Bearer ag-at-1"));
    assert_eq!(
        up.header("user-agent"),
        Some("antigravity/2.9.1 darwin/arm64")
    );
    let env = up.json().unwrap();
    assert_eq!(env["model"], "gemini-3-flash");
    assert_eq!(env["project"], "proj-onboarded");
    assert_eq!(env["userAgent"], "antigravity");
    assert_eq!(env["requestType"], "agent");
    assert!(env["requestId"].as_str().unwrap().starts_with("agent-"));
    let req = &env["request"];
    assert!(req.get("safetySettings").is_none());
    assert!(req["generationConfig"].get("maxOutputTokens").is_none());
    let params = &req["tools"][0]["functionDeclarations"][0]["parameters"];
    assert!(params.get("$schema").is_none() && params.get("additionalProperties").is_none());
    assert_eq!(
        req["sessionId"],
        sent[1].json().unwrap()["request"]["sessionId"],
        "one session per conversation"
    );
}

/// What Claude Code sends: system blocks with cache control, tools with full JSON
/// Schemas, thinking, metadata, tool history, streaming.
fn claude_code_body(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "max_tokens": 32000,
        "stream": stream,
        "thinking": {"type": "enabled", "budget_tokens": 4096},
        "metadata": {"user_id": "user_abc_account__session_1"},
        "system": [
            {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
            {"type": "text", "text": "Be terse.", "cache_control": {"type": "ephemeral"}}
        ],
        "tools": [{
            "name": "get_weather",
            "description": "Weather for a city",
            "input_schema": {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                "additionalProperties": false, "required": ["city"],
                "properties": {"city": {"type": "string", "minLength": 1}}}
        }],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "what is the weather in Paris?"}]},
        ],
    })
}

async fn anthropic_post(g: &Gateway, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(g.url("/v1/messages"))
        .header("x-api-key", CLIENT_KEY)
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", "interleaved-thinking-2025-05-14")
        .header("user-agent", "claude-cli/2.1.0 (external, cli)")
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn claude_code_reaches_antigravity_claude_and_gemini_models() {
    let si = StandIn::start().await;
    si.set_cloud_code(CloudCode {
        project_on_load: Some("proj-loaded".into()),
        ..CloudCode::default()
    });
    let cfg = format!(
        "{}oauth-model-alias:\n  antigravity:\n    - name: gemini-3-flash\n      alias: claude-haiku-4-5-20251001\n",
        antigravity_block(&si)
    );
    let g = start(
        &cfg,
        &[(
            "antigravity-ag@example.com.json",
            antigravity_file("ag-at-1", "ag-rt-1", 3600),
        )],
    )
    .await;

    // Non-stream Claude model: streamed upstream, assembled, tool call answered.
    let r = anthropic_post(&g, &claude_code_body("claude-sonnet-4-6", false)).await;
    assert_eq!(r.status(), 200, "{}", g.logs());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "message");
    assert_eq!(v["model"], "claude-sonnet-4-6");
    assert_eq!(v["stop_reason"], "tool_use", "{v}");
    let call = v["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "tool_use")
        .unwrap()
        .clone();
    assert_eq!(call["name"], "get_weather");
    assert_eq!(call["input"]["city"], "San Francisco, CA");
    let up = si
        .requests_to("/v1internal:streamGenerateContent")
        .pop()
        .unwrap();
    assert_eq!(
        up.query(),
        Some("alt=sse"),
        "Claude models are streamed upstream"
    );
    let env = up.json().unwrap();
    assert_eq!(env["project"], "proj-loaded");
    let req = &env["request"];
    assert_eq!(
        req["toolConfig"]["functionCallingConfig"]["mode"],
        "VALIDATED"
    );
    assert_eq!(req["generationConfig"]["maxOutputTokens"], 32000);
    let params = &req["tools"][0]["functionDeclarations"][0]["parameters"];
    assert!(params.get("$schema").is_none(), "{params}");
    assert_eq!(req["systemInstruction"]["parts"][1]["text"], "Be terse.");

    // Second turn: the tool result goes back; the thinking signature round-trips.
    let mut second = claude_code_body("claude-sonnet-4-6", true);
    second["messages"] = json!([
        {"role": "user", "content": "what is the weather in Paris?"},
        {"role": "assistant", "content": v["content"]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call["id"], "content": "18C"}]},
    ]);
    let r = anthropic_post(&g, &second).await;
    assert_eq!(r.status(), 200);
    let text = text_of(r).await;
    assert!(text.contains("event: message_stop"), "{text}");
    let said: String = sse_payloads(&text)
        .iter()
        .filter_map(|v| v["delta"]["text"].as_str().map(str::to_string))
        .collect();
    assert!(said.starts_with("The tool returned"), "{text}");
    let env = si
        .requests_to("/v1internal:streamGenerateContent")
        .pop()
        .unwrap()
        .json()
        .unwrap();
    let sent = env["request"]["contents"].to_string();
    assert!(
        sent.contains("functionResponse") && sent.contains("18C"),
        "{sent}"
    );
    assert!(
        sent.contains(standin::GEMINI_SIGNATURE),
        "signature replayed: {sent}"
    );

    // The Haiku preflight resolves through the alias to a Gemini model.
    let r = anthropic_post(
        &g,
        &json!({"model": "claude-haiku-4-5-20251001", "max_tokens": 1,
                "messages": [{"role": "user", "content": "quota"}]}),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", g.logs());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["model"], "claude-haiku-4-5-20251001");
    let said: Vec<_> = v["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "text")
        .collect();
    assert_eq!(said[0]["text"], standin::DEFAULT_TEXT, "{v}");
    let env = si
        .requests_to("/v1internal:generateContent")
        .pop()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(env["model"], "gemini-3-flash");
    assert!(
        env["request"]["generationConfig"]
            .get("maxOutputTokens")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_antigravity_token_is_refreshed_on_401_and_saved() {
    let si = StandIn::start().await;
    si.set_cloud_code(CloudCode {
        project_on_load: Some("proj-loaded".into()),
        ..CloudCode::default()
    });
    si.seed_refresh_token("ag-rt-1", "ag@example.com");
    si.set_behavior("ag-at-old", Behavior::unauthorized());
    let g = start(
        &antigravity_block(&si),
        &[(
            "antigravity-ag@example.com.json",
            antigravity_file("ag-at-old", "ag-rt-1", 3600),
        )],
    )
    .await;
    let r = gemini_post(
        &g,
        "/v1beta/models/gemini-2.5-flash:generateContent",
        &gen_body("hi"),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", g.logs());
    let issued = si.issued();
    assert_eq!(issued.len(), 1);
    let saved = g.read_auth("antigravity-ag@example.com.json");
    assert_eq!(saved["access_token"], issued[0].access_token.as_str());
    assert_eq!(saved["project_id"], "proj-loaded");
    let up = si.requests_to("/v1internal:generateContent").pop().unwrap();
    assert_eq!(
        up.header("authorization"),
        Some(format!("Bearer {}", issued[0].access_token).as_str())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn gemini_cli_accounts_use_their_envelope_and_explain_403() {
    let si = StandIn::start().await;
    let exp = (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3600))
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let file = json!({
        "type": "gemini",
        "email": "cli@example.com",
        "project_id": "cli-proj",
        "token": {"access_token": "cli-at", "refresh_token": "cli-rt", "token_type": "Bearer", "expiry": exp},
    });
    let cfg = format!("gemini:\n  base-url: {}\n", si.base_url);
    let g = start(&cfg, &[("cli@example.com-cli-proj.json", file)]).await;
    let r = reqwest::Client::new()
        .post(g.url("/v1beta/models/gemini-2.5-pro:generateContent"))
        .json(&gen_body("hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", g.logs());
    let up = si.requests_to("/v1internal:generateContent").pop().unwrap();
    assert_eq!(up.header("authorization"), Some("Bearer cli-at"));
    assert!(up.header("user-agent").unwrap().starts_with("GeminiCLI/"));
    assert!(
        up.header("x-goog-api-client")
            .unwrap()
            .starts_with("google-genai-sdk/")
    );
    let env = up.json().unwrap();
    assert_eq!(env["project"], "cli-proj");
    assert_eq!(env["model"], "gemini-2.5-pro");

    si.set_behavior(
        "cli-at",
        Behavior::fail(1, 403).with_message("The caller does not have permission"),
    );
    let r = reqwest::Client::new()
        .post(g.url("/v1/chat/completions"))
        .json(&json!({"model": "gemini-2.5-pro", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let e: Value = r.json().await.unwrap();
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(msg.contains("The caller does not have permission"), "{msg}");
    assert!(
        msg.contains("paid tiers") && msg.contains("cliproxy login antigravity"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn gemini_clients_reach_claude_and_openai_compatible_upstreams() {
    let si = StandIn::start().await;
    let cfg = format!(
        "claude-api-key:\n  - api-key: sk-ant-api03-fake-1\n    base-url: {b}\n\
openai-compatibility:\n  - name: router\n    base-url: {b}/api/v1\n    api-key-entries:\n      - api-key: sk-or-1\n    models:\n      - name: upstream/model-x\n        alias: model-x\n",
        b = si.base_url
    );
    let g = start(&cfg, &[]).await;
    let tools = json!([{"functionDeclarations": [{"name": "get_weather",
        "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]}}]}]);
    let mut body = gen_body("weather in Oslo?");
    body["tools"] = tools.clone();
    body["systemInstruction"] = json!({"parts": [{"text": "Be brief."}]});
    let r = gemini_post(
        &g,
        "/v1beta/models/claude-sonnet-4-5-20250929:generateContent",
        &body,
    )
    .await;
    assert_eq!(r.status(), 200, "{}", g.logs());
    let v: Value = r.json().await.unwrap();
    let part = &v["candidates"][0]["content"]["parts"][0];
    assert_eq!(part["functionCall"]["name"], "get_weather");
    assert_eq!(v["modelVersion"], "claude-sonnet-4-5-20250929");
    let up = si
        .requests_to("/v1/messages")
        .pop()
        .unwrap()
        .json()
        .unwrap();
    assert!(up["system"].to_string().contains("Be brief."), "{up}");
    assert_eq!(up["tools"][0]["name"], "get_weather");
    assert_eq!(up["max_tokens"], 200);

    let r = gemini_post(
        &g,
        "/v1beta/models/claude-sonnet-4-5-20250929:streamGenerateContent?alt=sse",
        &gen_body("hi"),
    )
    .await;
    assert_eq!(r.status(), 200);
    let text = text_of(r).await;
    let chunks = sse_payloads(&text);
    assert_eq!(all_text(&chunks), standin::DEFAULT_TEXT, "{text}");
    assert_eq!(
        chunks.last().unwrap()["candidates"][0]["finishReason"],
        "STOP"
    );
    assert!(
        chunks.last().unwrap()["usageMetadata"]["promptTokenCount"]
            .as_u64()
            .is_some()
    );

    let r = gemini_post(
        &g,
        "/v1beta/models/claude-sonnet-4-5-20250929:countTokens",
        &json!({"contents": [{"role": "user", "parts": [{"text": "count these words"}]}]}),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", g.logs());
    let v: Value = r.json().await.unwrap();
    assert!(v["totalTokens"].as_u64().unwrap() >= 1);
    assert!(!si.requests_to("/v1/messages/count_tokens").is_empty());

    let r = gemini_post(
        &g,
        "/v1beta/models/model-x:streamGenerateContent",
        &gen_body("hi"),
    )
    .await;
    assert_eq!(r.status(), 200);
    let text = text_of(r).await;
    let arr: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(
        all_text(&arr),
        standin::DEFAULT_TEXT,
        "{text}\n{}",
        g.logs()
    );
    let up = si
        .requests_to("/chat/completions")
        .pop()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(up["model"], "upstream/model-x");
    assert_eq!(up["messages"][0]["content"], "hi");

    // Upstream errors come back in Gemini's shape.
    si.set_behavior(
        "sk-ant-api03-fake-1",
        Behavior::fail(1, 400).with_message("bad thing"),
    );
    let r = gemini_post(
        &g,
        "/v1beta/models/claude-sonnet-4-5-20250929:generateContent",
        &gen_body("hi"),
    )
    .await;
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["status"], "INVALID_ARGUMENT");
    assert_eq!(e["error"]["message"], "bad thing");
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_clients_reach_gemini_models() {
    let si = StandIn::start().await;
    let g = start(&gemini_key_block(&si), &[]).await;
    let r = reqwest::Client::new()
        .post(g.url("/v1/chat/completions"))
        .bearer_auth(CLIENT_KEY)
        .json(&json!({"model": "gemini-2.5-flash", "stream": true,
            "stream_options": {"include_usage": true},
            "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", g.logs());
    let text = text_of(r).await;
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    let content: String = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(content, standin::DEFAULT_TEXT);
    let up = si.requests_to(":streamGenerateContent").pop().unwrap();
    let up = up.json().unwrap();
    assert_eq!(up["systemInstruction"]["parts"][0]["text"], "sys");
    assert_eq!(up["contents"][0]["parts"][0]["text"], "hi");
}
