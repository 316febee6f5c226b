//! OpenAI-compatible upstreams (`openai-compatibility`: OpenRouter, Z.AI, ...):
//! `POST <base-url>/chat/completions` with a Bearer key.

use http::{HeaderMap, HeaderValue, header};

use super::{BuildInput, Outbound, apply_custom};

pub fn build(input: BuildInput<'_>) -> Outbound {
    let mut h = HeaderMap::with_capacity(8);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("Bearer {}", input.token.expose())) {
        h.insert(header::AUTHORIZATION, v);
    }
    if input.stream {
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/event-stream"),
        );
    } else {
        h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    }
    for name in [
        "user-agent",
        "x-stainless-lang",
        "x-stainless-package-version",
    ] {
        if let Some(v) = input.client_headers.get(name) {
            h.insert(name, v.clone());
        }
    }
    apply_custom(&mut h, &input.cred.headers);
    Outbound {
        url: format!("{}/chat/completions", input.cred.base_url),
        headers: h,
        body: input.body,
    }
}
