//! Errors the gateway itself produces (unknown route, wrong method, body or headers
//! too large, bodies it cannot read, mid-stream failures) come out in the route's
//! dialect, through the real binary over HTTP.
#![allow(clippy::unwrap_used)]

mod common;
mod standin;

use common::*;
use serde_json::{Value, json};
use standin::{Behavior, StandIn};

/// Which error shape a body has (and that it is one).
#[derive(Debug, PartialEq)]
enum Shape {
    Anthropic,
    OpenAi,
    Gemini,
}

fn shape_of(v: &Value) -> Shape {
    let e = &v["error"];
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    if v["type"] == "error" {
        assert!(e["type"].is_string(), "{v}");
        Shape::Anthropic
    } else if e["status"].is_string() {
        assert!(e["code"].is_u64(), "{v}");
        Shape::Gemini
    } else {
        assert!(e["type"].is_string() && e.get("code").is_some(), "{v}");
        Shape::OpenAi
    }
}

/// Status, shape and body of an error answer; it must be JSON.
async fn error_of(r: reqwest::Response) -> (u16, Shape, Value) {
    let status = r.status().as_u16();
    assert_eq!(
        r.headers()["content-type"],
        "application/json",
        "status {status}"
    );
    let v: Value = r.json().await.unwrap();
    (status, shape_of(&v), v)
}

async fn send(g: &Gateway, method: reqwest::Method, path: &str) -> reqwest::Response {
    reqwest::Client::new()
        .request(method, g.url(path))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_routes_answer_404_in_the_dialect_of_their_path() {
    let g = start("", &[]).await;
    use reqwest::Method as M;
    for (method, path, shape) in [
        (M::POST, "/v1/messages/batches", Shape::Anthropic),
        (M::POST, "/v1/embeddings", Shape::OpenAi),
        (M::POST, "/v1/responses/x/y", Shape::OpenAi),
        (M::GET, "/v1/models/x/y", Shape::OpenAi),
        (M::POST, "/v1beta/cachedContents", Shape::Gemini),
        (M::GET, "/no/such/thing", Shape::OpenAi),
    ] {
        let (status, got, v) = error_of(send(&g, method.clone(), path).await).await;
        assert_eq!((status, got), (404, shape), "{method} {path}: {v}");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains(path), "{msg}");
    }
    // Gemini's model routes exist: a model nothing serves is a 404 naming it.
    let (status, got, v) =
        error_of(send(&g, M::POST, "/v1beta/models/x:streamGenerateContent").await).await;
    assert_eq!((status, got), (404, Shape::Gemini), "{v}");
    assert_eq!(v["error"]["code"], 404);
    assert_eq!(v["error"]["status"], "NOT_FOUND");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("`x`"),
        "{v}"
    );
    let (_, _, v) = error_of(send(&g, M::POST, "/v1/messages/batches").await).await;
    assert_eq!(v["error"]["type"], "not_found_error");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_methods_answer_405_with_allow_in_the_route_dialect() {
    let g = start("", &[]).await;
    use reqwest::Method as M;
    for (method, path, shape, allow) in [
        (M::GET, "/v1/messages", Shape::Anthropic, "POST"),
        (
            M::PUT,
            "/v1/messages/count_tokens",
            Shape::Anthropic,
            "POST",
        ),
        (M::GET, "/v1/chat/completions", Shape::OpenAi, "POST"),
        (M::GET, "/v1/responses", Shape::OpenAi, "POST"),
        (M::PUT, "/v1/completions", Shape::OpenAi, "POST"),
        (M::DELETE, "/v1/models", Shape::OpenAi, "GET"),
        (M::POST, "/v1beta/models", Shape::Gemini, "GET"),
        (
            M::PUT,
            "/v1beta/models/m:generateContent",
            Shape::Gemini,
            "POST",
        ),
        (M::POST, "/healthz", Shape::OpenAi, "GET"),
    ] {
        let r = send(&g, method.clone(), path).await;
        let got_allow = r.headers()["allow"].to_str().unwrap().to_string();
        assert!(
            got_allow.contains(allow),
            "{method} {path}: allow {got_allow}"
        );
        let (status, got, v) = error_of(r).await;
        assert_eq!((status, got), (405, shape), "{method} {path}: {v}");
    }
    let (_, _, v) = error_of(send(&g, M::GET, "/v1/chat/completions").await).await;
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert_eq!(v["error"]["code"], "method_not_allowed");
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_bodies_answer_413_whether_sized_or_chunked() {
    let si = StandIn::start().await;
    let g = start(
        &format!(
            "body-limit: 1024\nclaude-api-key:\n  - api-key: sk-ant-api03-t\n    base-url: {}\n",
            si.base_url
        ),
        &[],
    )
    .await;
    let big = json!({"model": "claude-sonnet-4-5", "max_tokens": 5,
        "messages": [{"role": "user", "content": "x".repeat(2000)}]})
    .to_string();
    // Declared length over the limit.
    let r = reqwest::Client::new()
        .post(g.url("/v1/messages"))
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    let (status, shape, v) = error_of(r).await;
    assert_eq!((status, shape), (413, Shape::Anthropic), "{v}");
    assert_eq!(v["error"]["type"], "request_too_large");
    assert!(v["error"]["message"].as_str().unwrap().contains("1024"));
    // No length, chunks until the limit is passed.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        big.as_bytes().chunks(300).map(|c| Ok(c.to_vec())).collect();
    let r = reqwest::Client::new()
        .post(g.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    let (status, shape, v) = error_of(r).await;
    assert_eq!((status, shape), (413, Shape::OpenAi), "{v}");
    assert_eq!(v["error"]["code"], "request_too_large");
    assert!(si.requests().is_empty(), "nothing reached the upstream");
    // A body within the limit, in chunks, still goes through whole.
    let small = messages_body("claude-sonnet-4-5", false).to_string();
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        small.as_bytes().chunks(7).map(|c| Ok(c.to_vec())).collect();
    let r = reqwest::Client::new()
        .post(g.url("/v1/messages"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", g.logs());
    let sent = si.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].json().unwrap()["messages"][0]["content"], "test");
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_headers_answer_431_in_the_route_dialect() {
    let g = start("", &[]).await;
    let pad = "a".repeat(70 * 1024);
    for (path, shape) in [
        ("/v1/messages", Shape::Anthropic),
        ("/v1/chat/completions", Shape::OpenAi),
    ] {
        let r = reqwest::Client::new()
            .post(g.url(path))
            .header("content-type", "application/json")
            .header("x-pad", &pad)
            .body(messages_body("m", false).to_string())
            .send()
            .await
            .unwrap();
        let (status, got, v) = error_of(r).await;
        assert_eq!((status, got), (431, shape), "{path}: {v}");
        assert!(v["error"]["message"].as_str().unwrap().contains("65536"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unreadable_json_bodies_answer_400_in_the_route_dialect() {
    let g = start("", &[]).await;
    for (path, body, shape) in [
        ("/v1/messages", "{not json", Shape::Anthropic),
        (
            "/v1/messages/count_tokens",
            r#"["claude", true]"#,
            Shape::Anthropic,
        ),
        ("/v1/chat/completions", r#"{"messages":[]}"#, Shape::OpenAi),
        ("/v1/chat/completions", "", Shape::OpenAi),
    ] {
        let r = reqwest::Client::new()
            .post(g.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let (status, got, v) = error_of(r).await;
        assert_eq!((status, got), (400, shape), "{path} {body}: {v}");
        assert_eq!(v["error"]["type"], "invalid_request_error");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn translated_streams_report_upstream_failures_as_client_dialect_events() {
    let si = StandIn::start().await;
    let g = start(
        &format!(
            "openai-compatibility:\n  - name: compat\n    base-url: {}/v1\n    api-key-entries:\n      - api-key: sk-compat\n    models:\n      - name: up-model\n        alias: model-x\n",
            si.base_url
        ),
        &[],
    )
    .await;
    si.set_behavior(
        "sk-compat",
        Behavior {
            stream_error_after: Some(1),
            ..Behavior::stream(3, 0)
        },
    );
    let r = post_messages(&g, &messages_body("model-x", true), &[]).await;
    assert_eq!(r.status(), 200, "{}", g.logs());
    let text = r.text().await.unwrap();
    let events: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(events.first(), Some(&"message_start"), "{text}");
    assert_eq!(events.last(), Some(&"error"), "{text}");
    assert!(!events.contains(&"message_stop"), "{text}");
    let last_data = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap();
    let v: Value = serde_json::from_str(last_data).unwrap();
    assert_eq!(shape_of(&v), Shape::Anthropic);
    assert_eq!(v["error"]["type"], "api_error");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("server had an error"),
        "{v}"
    );
}
