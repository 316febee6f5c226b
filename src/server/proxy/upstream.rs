//! One attempt on one route: build the request through its provider, send it, and
//! turn the answer into an [`Attempt`]. A 2xx is committed to the client only once its
//! first byte has arrived, so a stream that dies before that can go to another account;
//! after it, chunks are passed on (unwrapped and translated where needed) as they come.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::Call;
use super::policy::{Failure, Outcome};
use crate::auth::registry::Route;
use crate::config::{Config, Secret};
use crate::providers::envelope::{self, SseUnwrap};
use crate::providers::{BuildInput, NotServed};
use crate::server::error::{ApiError, Kind};
use crate::server::state::AppState;
use crate::translate::{self, Dialect, StreamTranslator};

/// How one attempt ended, with what the client may be shown.
pub enum Attempt {
    /// A 2xx, committed: the response streams to the client.
    Done(Response),
    /// The client's request cannot be put in the upstream's dialect.
    Untranslatable(String),
    /// The route could not be used; nothing was sent.
    Skipped(String),
    /// The upstream's error answer (already in the client's dialect).
    Upstream {
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
    },
    /// No answer: connection failed or the stream died before its first byte.
    Transport(String),
}

impl Attempt {
    /// What the policy needs to know; `level` is asked only for upstream errors.
    pub fn outcome(&self, level: impl FnOnce() -> u32) -> Outcome {
        match self {
            Attempt::Done(_) => Outcome::Success,
            Attempt::Untranslatable(_) => Outcome::Untranslatable,
            Attempt::Skipped(_) => Outcome::Skipped,
            Attempt::Upstream {
                status, headers, ..
            } => Outcome::Upstream {
                status: status.as_u16(),
                retry_after: headers
                    .get(header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| {
                        crate::auth::cooldown::parse_retry_after(v, jiff::Timestamp::now())
                    }),
                level: level(),
            },
            Attempt::Transport(m) => Outcome::Transport(m.clone()),
        }
    }

    /// The failure kind kept for the final answer.
    pub fn failure(&self) -> Option<Failure> {
        match self {
            Attempt::Upstream { .. } => Some(Failure::Upstream),
            Attempt::Transport(_) => Some(Failure::Transport),
            _ => None,
        }
    }

    /// `cliproxy_upstream_responses_total` outcome label (`None`: nothing was sent).
    pub fn metric_label(&self) -> Option<&'static str> {
        match self {
            Attempt::Done(_) => Some("ok"),
            Attempt::Untranslatable(_) => Some("untranslatable"),
            Attempt::Upstream { status, .. } if status.is_client_error() => Some("4xx"),
            Attempt::Upstream { .. } => Some("5xx"),
            Attempt::Transport(_) => Some("transport"),
            Attempt::Skipped(_) => None,
        }
    }

    /// The answer for the client: the response, the upstream's error as received, or
    /// the gateway's own error in the route's dialect.
    pub fn into_response(self, dialect: Dialect, all_headers: bool) -> Response {
        let own = |status, kind, msg: String| ApiError::new(dialect, status, kind, msg);
        match self {
            Attempt::Done(r) => r,
            Attempt::Upstream {
                status,
                headers,
                body,
            } => passthrough(status, &headers, Body::from(body), all_headers),
            Attempt::Untranslatable(m) => {
                own(StatusCode::BAD_REQUEST, Kind::InvalidRequest, m).into_response()
            }
            Attempt::Transport(m) => own(StatusCode::BAD_GATEWAY, Kind::Api, m).into_response(),
            Attempt::Skipped(m) => {
                own(StatusCode::SERVICE_UNAVAILABLE, Kind::Overloaded, m).into_response()
            }
        }
    }
}

/// Headers of an upstream answer that are passed to the client.
const PASSED_HEADERS: &[&str] = &[
    "content-type",
    "request-id",
    "x-request-id",
    "retry-after",
    "anthropic-organization-id",
];

fn passthrough(status: StatusCode, headers: &HeaderMap, body: Body, all_headers: bool) -> Response {
    let mut out = Response::new(body);
    *out.status_mut() = status;
    let h = out.headers_mut();
    if all_headers {
        for (k, v) in headers {
            if !matches!(
                k.as_str(),
                "connection"
                    | "transfer-encoding"
                    | "content-length"
                    | "keep-alive"
                    | "content-encoding"
            ) {
                h.append(k.clone(), v.clone());
            }
        }
    } else {
        for name in PASSED_HEADERS {
            if let Some(v) = headers.get(*name) {
                h.insert(*name, v.clone());
            }
        }
    }
    out
}

/// The request body in the upstream's dialect, with the upstream model name. The
/// common case (same dialect, same name) forwards the client's bytes as received.
fn request_body(call: &Call, upstream: Dialect, model: &str) -> Result<Bytes, String> {
    if upstream != call.dialect {
        translate::translate_request(call.dialect, upstream, &call.body, model)
            .map_err(|e| e.to_string())
    } else if model != call.model {
        translate::rewrite_model(&call.body, model).map_err(|e| e.to_string())
    } else {
        Ok(call.body.clone())
    }
}

/// How the 2xx answer is to be turned into the client's.
struct Shape {
    status: StatusCode,
    upstream: Dialect,
    translating: bool,
    envelope: Option<&'static str>,
}

/// Sends `call` on `route` with `token`.
pub async fn send(
    state: &AppState,
    cfg: &Config,
    call: &Call,
    route: &Route,
    token: &Secret,
) -> Attempt {
    let provider = route.cred.provider;
    let Some(upstream) = provider.dialect() else {
        return Attempt::Skipped(NotServed(provider).to_string());
    };
    let model = route.upstream_model.as_str();
    let body = match request_body(call, upstream, model) {
        Ok(b) => b,
        Err(e) => return Attempt::Untranslatable(e),
    };
    let upstream_streams = provider.upstream_streams(model, call.stream);
    let out = match provider.build(BuildInput {
        cred: &route.cred,
        token,
        op: call.op,
        model,
        body,
        client_headers: &call.headers,
        stream: upstream_streams,
        config: cfg,
    }) {
        Ok(o) => o,
        Err(e) => return Attempt::Skipped(e.to_string()),
    };
    let client = match state
        .clients
        .get(route.cred.proxy_url.as_deref(), &cfg.proxy_url)
    {
        Ok(c) => c,
        Err(e) => return Attempt::Transport(e.to_string()),
    };
    let resp = match client
        .post(&out.url)
        .headers(out.headers)
        .body(out.body)
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => return Attempt::Transport(format!("upstream unreachable: {}", e.without_url())),
    };
    let status = resp.status();
    let translating = upstream != call.dialect;
    if !status.is_success() {
        let headers = resp.headers().clone();
        let mut body = resp.bytes().await.unwrap_or_default();
        if translating {
            body = translate::translate_error(upstream, call.dialect, status.as_u16(), &body);
        }
        return Attempt::Upstream {
            status,
            headers,
            body,
        };
    }
    let shape = Shape {
        status,
        upstream,
        translating,
        envelope: provider.envelope(),
    };
    if call.stream {
        streamed(call, cfg, shape, resp).await
    } else if upstream_streams {
        Attempt::Skipped(format!(
            "{} answers `{model}` only streamed; assembling a non-stream answer from it is not supported yet",
            provider.name()
        ))
    } else {
        whole(call, cfg, shape, resp).await
    }
}

/// A non-stream 2xx.
async fn whole(call: &Call, cfg: &Config, shape: Shape, resp: reqwest::Response) -> Attempt {
    let Shape {
        status,
        upstream,
        translating,
        envelope,
    } = shape;
    if !translating && envelope.is_none() {
        // Streamed through as it arrives; clients read a sized body, so keep the length.
        let headers = resp.headers().clone();
        let mut out = passthrough(
            status,
            &headers,
            Body::from_stream(resp.bytes_stream()),
            cfg.passthrough_headers,
        );
        if let Some(len) = headers.get(header::CONTENT_LENGTH) {
            out.headers_mut()
                .insert(header::CONTENT_LENGTH, len.clone());
        }
        return Attempt::Done(out);
    }
    let headers = (!translating).then(|| resp.headers().clone());
    let body = match resp.bytes().await {
        Ok(b) => b,
        Err(e) => {
            return Attempt::Transport(format!("reading upstream answer: {}", e.without_url()));
        }
    };
    let body = match envelope {
        Some(field) => envelope::unwrap_body(body, field),
        None => body,
    };
    if let Some(headers) = headers {
        return Attempt::Done(passthrough(
            status,
            &headers,
            Body::from(body),
            cfg.passthrough_headers,
        ));
    }
    match translate::translate_response(upstream, call.dialect, &body, &call.model) {
        Ok(b) => {
            let mut r = Response::new(Body::from(b));
            *r.status_mut() = status;
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            Attempt::Done(r)
        }
        Err(e) => Attempt::Transport(format!("upstream answer could not be translated: {e}")),
    }
}

/// A streamed 2xx: wait for the first chunk (the commit point), then stream.
async fn streamed(call: &Call, cfg: &Config, shape: Shape, resp: reqwest::Response) -> Attempt {
    let Shape {
        status,
        upstream,
        translating,
        envelope,
    } = shape;
    let headers = (!translating).then(|| resp.headers().clone());
    let mut reframe = Reframe {
        unwrap: envelope.map(SseUnwrap::new),
        translate: translating.then(|| {
            StreamTranslator::new(upstream, call.dialect, &call.model)
                .with_include_usage(include_usage(&call.body))
        }),
    };
    let mut chunks = resp.bytes_stream();
    let first = match chunks.next().await {
        Some(Ok(b)) => b,
        Some(Err(e)) => {
            return Attempt::Transport(format!(
                "stream failed before first byte: {}",
                e.without_url()
            ));
        }
        None => return Attempt::Transport("stream ended before first byte".into()),
    };
    let head = reframe.push(first);
    let body = stream_body(head, chunks, reframe, call.dialect);
    Attempt::Done(match headers {
        Some(headers) => passthrough(status, &headers, body, cfg.passthrough_headers),
        None => {
            let mut r = Response::new(body);
            *r.status_mut() = status;
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            r
        }
    })
}

/// `stream_options.include_usage` of an OpenAI request.
fn include_usage(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/stream_options/include_usage")
                .and_then(serde_json::Value::as_bool)
        })
        .unwrap_or(false)
}

/// Upstream chunks → client bytes: the provider's envelope off, then the dialect
/// translated. Both absent (the common case) hands each chunk on untouched.
struct Reframe {
    unwrap: Option<SseUnwrap>,
    translate: Option<StreamTranslator>,
}

impl Reframe {
    fn push(&mut self, chunk: Bytes) -> Bytes {
        let chunk = match &mut self.unwrap {
            Some(u) => u.push(&chunk),
            None => chunk,
        };
        match &mut self.translate {
            Some(t) if !chunk.is_empty() => Joined::all(t.push(&chunk)),
            Some(_) => Bytes::new(),
            None => chunk,
        }
    }

    fn finish(&mut self) -> Bytes {
        let tail = self
            .unwrap
            .as_mut()
            .map(SseUnwrap::finish)
            .unwrap_or_default();
        let Some(t) = &mut self.translate else {
            return tail;
        };
        let mut out = Joined::default();
        if !tail.is_empty() {
            for f in t.push(&tail) {
                out.push(f);
            }
        }
        for f in t.finish() {
            out.push(f);
        }
        out.into_bytes()
    }
}

/// Bytes that go out in one write: one piece is handed on as it is (no copy), several
/// are joined.
#[derive(Default)]
enum Joined {
    #[default]
    Empty,
    One(Bytes),
    Many(BytesMut),
}

impl Joined {
    fn all(parts: Vec<Bytes>) -> Bytes {
        let mut j = Joined::default();
        for p in parts {
            j.push(p);
        }
        j.into_bytes()
    }

    fn push(&mut self, b: Bytes) {
        if b.is_empty() {
            return;
        }
        *self = match std::mem::take(self) {
            Joined::Empty => Joined::One(b),
            Joined::One(first) => {
                let mut m = BytesMut::with_capacity(2 * (first.len() + b.len()));
                m.extend_from_slice(&first);
                m.extend_from_slice(&b);
                Joined::Many(m)
            }
            Joined::Many(mut m) => {
                m.extend_from_slice(&b);
                Joined::Many(m)
            }
        };
    }

    fn into_bytes(self) -> Bytes {
        match self {
            Joined::Empty => Bytes::new(),
            Joined::One(b) => b,
            Joined::Many(m) => m.freeze(),
        }
    }
}

/// Chunks ready together go out in one write (never waiting for more): same latency,
/// far fewer syscalls when the upstream is faster than the client.
const BATCH: usize = 64;

/// The client body after the commit: `head` (the first chunk, reframed), then the rest.
/// A failure after the first byte ends the stream with an error event in the
/// client's dialect (the status line is already sent).
fn stream_body<S>(head: Bytes, rest: S, reframe: Reframe, dialect: Dialect) -> Body
where
    S: Stream<Item = reqwest::Result<Bytes>> + Send + Unpin + 'static,
{
    let batches = rest.ready_chunks(BATCH);
    let rest = futures_util::stream::unfold(Some((batches, reframe)), move |st| async move {
        let (mut batches, mut reframe) = st?;
        loop {
            let Some(batch) = batches.next().await else {
                let tail = reframe.finish();
                return (!tail.is_empty()).then_some((Ok(tail), None));
            };
            let mut out = Joined::default();
            for item in batch {
                match item {
                    Ok(chunk) => out.push(reframe.push(chunk)),
                    Err(e) => {
                        tracing::warn!(error = %e.without_url(), "upstream stream broke after first byte");
                        out.push(in_stream_error(dialect, "upstream stream interrupted"));
                        return Some((Ok(out.into_bytes()), None));
                    }
                }
            }
            let bytes = out.into_bytes();
            if !bytes.is_empty() {
                return Some((Ok::<Bytes, std::io::Error>(bytes), Some((batches, reframe))));
            }
        }
    });
    let head = (!head.is_empty()).then_some(Ok(head));
    Body::from_stream(futures_util::stream::iter(head).chain(rest))
}

/// An error event in the route's dialect, for failures after the first byte.
fn in_stream_error(dialect: Dialect, message: &str) -> Bytes {
    let msg = serde_json::Value::String(message.to_string());
    Bytes::from(match dialect {
        Dialect::Anthropic => format!(
            "event: error\ndata: {{\"type\":\"error\",\"error\":{{\"type\":\"api_error\",\"message\":{msg}}}}}\n\n"
        ),
        _ => format!(
            "data: {{\"error\":{{\"message\":{msg},\"type\":\"server_error\",\"code\":\"stream_error\"}}}}\n\n"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_piece_is_handed_on_without_a_copy_and_several_are_joined() {
        let a = Bytes::from_static(b"data: 1\n\n");
        let mut j = Joined::default();
        j.push(Bytes::new());
        j.push(a.clone());
        let one = j.into_bytes();
        assert_eq!(one.as_ptr(), a.as_ptr(), "no copy for a single chunk");
        let joined = Joined::all(vec![
            a.clone(),
            Bytes::new(),
            Bytes::from_static(b"data: 2\n\n"),
        ]);
        assert_eq!(&joined[..], b"data: 1\n\ndata: 2\n\n");
        assert!(Joined::all(Vec::new()).is_empty());
    }

    const ANTHROPIC_EVENTS: &[&str] = &[
        r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[],"usage":{"input_tokens":3,"output_tokens":0}}}"#,
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"lo"}}"#,
        r#"{"type":"content_block_stop","index":0}"#,
        r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}"#,
        r#"{"type":"message_stop"}"#,
    ];

    fn sse(wrap: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for data in ANTHROPIC_EVENTS {
            let v: serde_json::Value = serde_json::from_str(data).unwrap();
            let data = if wrap {
                format!(r#"{{"response":{data},"traceId":"t"}}"#)
            } else {
                data.to_string()
            };
            out.extend_from_slice(
                format!("event: {}\ndata: {data}\n\n", v["type"].as_str().unwrap()).as_bytes(),
            );
        }
        out
    }

    /// The client's `data:` payloads, without the clock-dependent `created`.
    fn payloads(bytes: &[u8]) -> Vec<serde_json::Value> {
        std::str::from_utf8(bytes)
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .map(|d| {
                let mut v: serde_json::Value = serde_json::from_str(d).unwrap_or_else(|_| d.into());
                if let Some(o) = v.as_object_mut() {
                    o.remove("created");
                }
                v
            })
            .collect()
    }

    fn run(mut r: Reframe, input: &[u8], chunk: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for c in input.chunks(chunk) {
            out.extend_from_slice(&r.push(Bytes::copy_from_slice(c)));
        }
        out.extend_from_slice(&r.finish());
        out
    }

    fn translator() -> Option<StreamTranslator> {
        Some(StreamTranslator::new(
            Dialect::Anthropic,
            Dialect::OpenAiChat,
            "client-model",
        ))
    }

    #[test]
    fn a_wrapped_stream_translates_like_the_bare_one() {
        let bare = run(
            Reframe {
                unwrap: None,
                translate: translator(),
            },
            &sse(false),
            usize::MAX,
        );
        let want = payloads(&bare);
        assert!(
            want.iter()
                .any(|v| v["choices"][0]["delta"]["content"] == "Hel"),
            "{want:?}"
        );
        for chunk in [1, 7, 64, usize::MAX] {
            let wrapped = run(
                Reframe {
                    unwrap: Some(SseUnwrap::new("response")),
                    translate: translator(),
                },
                &sse(true),
                chunk,
            );
            assert_eq!(payloads(&wrapped), want, "chunks of {chunk}");
        }
    }

    #[test]
    fn a_wrapped_stream_without_translation_is_only_unwrapped() {
        let unwrapped = run(
            Reframe {
                unwrap: Some(SseUnwrap::new("response")),
                translate: None,
            },
            &sse(true),
            5,
        );
        assert_eq!(unwrapped, sse(false));
        let mut plain = Reframe {
            unwrap: None,
            translate: None,
        };
        let c = Bytes::from_static(b"event: x\n");
        assert_eq!(plain.push(c.clone()).as_ptr(), c.as_ptr(), "no copy");
        assert!(plain.finish().is_empty());
    }

    #[test]
    fn stream_errors_speak_the_route_dialect() {
        let a = in_stream_error(Dialect::Anthropic, "boom");
        assert!(a.starts_with(b"event: error\ndata: {\"type\":\"error\""));
        let o = in_stream_error(Dialect::OpenAiChat, "boom \"q\"");
        let line = std::str::from_utf8(&o).unwrap().trim();
        let v: serde_json::Value = serde_json::from_str(line.trim_start_matches("data: ")).unwrap();
        assert_eq!(v["error"]["message"], "boom \"q\"");
    }
}
