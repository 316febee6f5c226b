//! OpenAI Chat Completions <-> internal representation.

use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::ir::{
    ApiError, Effort, ErrorKind, Event, Image, Message, Part, Reasoning, Request, Response, Role,
    StopReason, Tool, ToolChoice, Usage,
};
use super::{TranslateError, get_str, get_u64, new_id, sse};

// ---------------------------------------------------------------- requests

fn parse_effort(s: &str) -> Option<Reasoning> {
    match s {
        "minimal" | "low" => Some(Reasoning::Effort(Effort::Low)),
        "medium" => Some(Reasoning::Effort(Effort::Medium)),
        "high" | "xhigh" => Some(Reasoning::Effort(Effort::High)),
        "none" => Some(Reasoning::Disabled),
        _ => None,
    }
}

/// Text of a `content` that may be a string or an array of text parts.
fn text_of(c: Option<&Value>) -> String {
    match c {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| get_str(p, "text").or_else(|| get_str(p, "refusal")))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

fn parse_image_url(url: &str) -> Image {
    if let Some(rest) = url.strip_prefix("data:")
        && let Some((meta, data)) = rest.split_once(',')
        && let Some(media_type) = meta.strip_suffix(";base64")
    {
        return Image::Base64 {
            media_type: media_type.to_string(),
            data: data.to_string(),
        };
    }
    Image::Url(url.to_string())
}

fn parse_user_content(c: Option<&Value>) -> Vec<Part> {
    match c {
        Some(Value::String(s)) => vec![Part::Text(s.clone())],
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| match get_str(p, "type") {
                Some("text") | Some("input_text") => {
                    get_str(p, "text").map(|t| Part::Text(t.to_string()))
                }
                Some("image_url") => {
                    let iu = p.get("image_url")?;
                    let url = iu.as_str().or_else(|| get_str(iu, "url"))?;
                    Some(Part::Image(parse_image_url(url)))
                }
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn parse_arguments(args: Option<&Value>) -> Value {
    match args {
        Some(Value::String(s)) => serde_json::from_str::<Value>(s)
            .ok()
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({})),
        Some(v @ Value::Object(_)) => v.clone(),
        _ => json!({}),
    }
}

pub fn parse_request(v: &Value) -> Result<Request, TranslateError> {
    let obj = v
        .as_object()
        .ok_or_else(|| TranslateError::Invalid("request body must be a JSON object".into()))?;
    let mut r = Request {
        model: get_str(v, "model").unwrap_or_default().to_string(),
        ..Request::default()
    };
    let messages = obj
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| TranslateError::Invalid("`messages` must be an array".into()))?;
    for m in messages {
        match get_str(m, "role") {
            Some("system") | Some("developer") => {
                let t = text_of(m.get("content"));
                if !t.is_empty() {
                    r.system.push(t);
                }
            }
            Some("user") => r.messages.push(Message {
                role: Role::User,
                parts: parse_user_content(m.get("content")),
            }),
            Some("assistant") => {
                let mut parts = Vec::new();
                let t = text_of(m.get("content"));
                if !t.is_empty() {
                    parts.push(Part::Text(t));
                }
                push_tool_calls(&mut parts, m);
                r.messages.push(Message {
                    role: Role::Assistant,
                    parts,
                });
            }
            Some("tool") => r.messages.push(Message {
                role: Role::User,
                parts: vec![Part::ToolResult {
                    call_id: get_str(m, "tool_call_id").unwrap_or_default().to_string(),
                    content: parse_user_content(m.get("content")),
                    is_error: false,
                }],
            }),
            _ => {}
        }
    }
    for t in obj
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if !matches!(get_str(t, "type"), None | Some("function")) {
            continue;
        }
        let Some(f) = t.get("function") else { continue };
        let Some(name) = get_str(f, "name") else {
            continue;
        };
        r.tools.push(Tool {
            name: name.to_string(),
            description: get_str(f, "description").map(str::to_string),
            parameters: f
                .get("parameters")
                .cloned()
                .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
            ..Tool::default()
        });
    }
    r.tool_choice = match obj.get("tool_choice") {
        Some(Value::String(s)) => match s.as_str() {
            "auto" => Some(ToolChoice::Auto),
            "none" => Some(ToolChoice::None),
            "required" => Some(ToolChoice::Required),
            _ => None,
        },
        Some(o @ Value::Object(_)) => o
            .get("function")
            .and_then(|f| get_str(f, "name"))
            .map(|n| ToolChoice::Named(n.to_string())),
        _ => None,
    };
    r.parallel_tool_calls = obj.get("parallel_tool_calls").and_then(Value::as_bool);
    r.max_tokens = get_u64(v, "max_completion_tokens").or_else(|| get_u64(v, "max_tokens"));
    r.temperature = obj.get("temperature").and_then(Value::as_f64);
    r.top_p = obj.get("top_p").and_then(Value::as_f64);
    r.stop = match obj.get("stop") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    r.stream = obj.get("stream").and_then(Value::as_bool).unwrap_or(false);
    r.include_usage = obj
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    r.reasoning = get_str(v, "reasoning_effort").and_then(parse_effort);
    if r.reasoning.is_none()
        && let Some(rs) = obj.get("reasoning")
    {
        // OpenRouter-style `reasoning: {effort | max_tokens}`.
        r.reasoning = get_u64(rs, "max_tokens")
            .map(Reasoning::Budget)
            .or_else(|| get_str(rs, "effort").and_then(parse_effort));
    }
    r.user = get_str(v, "user").map(str::to_string);
    Ok(r)
}

fn image_url(i: &Image) -> String {
    match i {
        Image::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
        Image::Url(u) => u.clone(),
    }
}

fn user_content(parts: &[&Part]) -> Option<Value> {
    match parts {
        [] => None,
        [Part::Text(t)] => Some(json!(t)),
        _ => Some(Value::Array(
            parts
                .iter()
                .filter_map(|p| match p {
                    Part::Text(t) => Some(json!({"type": "text", "text": t})),
                    Part::Image(i) => {
                        Some(json!({"type": "image_url", "image_url": {"url": image_url(i)}}))
                    }
                    _ => None,
                })
                .collect(),
        )),
    }
}

fn emit_messages(r: &Request, out: &mut Vec<Value>) {
    if !r.system.is_empty() {
        out.push(json!({"role": "system", "content": r.system.join("\n\n")}));
    }
    for m in &r.messages {
        match m.role {
            Role::User => {
                // Tool results become `tool` messages first; their images (which a tool
                // message cannot carry) join the user message that follows.
                let mut rest: Vec<&Part> = Vec::new();
                for p in &m.parts {
                    match p {
                        Part::ToolResult {
                            call_id, content, ..
                        } => {
                            let text: String = content
                                .iter()
                                .filter_map(|c| match c {
                                    Part::Text(t) => Some(t.as_str()),
                                    _ => None,
                                })
                                .collect::<Vec<_>>()
                                .join("\n");
                            out.push(
                                json!({"role": "tool", "tool_call_id": call_id, "content": text}),
                            );
                            rest.extend(content.iter().filter(|c| matches!(c, Part::Image(_))));
                        }
                        Part::Text(t) if t.is_empty() => {}
                        Part::Text(_) | Part::Image(_) => rest.push(p),
                        _ => {}
                    }
                }
                if let Some(c) = user_content(&rest) {
                    out.push(json!({"role": "user", "content": c}));
                }
            }
            Role::Assistant => {
                let text: String = m
                    .parts
                    .iter()
                    .filter_map(|p| match p {
                        Part::Text(t) => Some(t.as_str()),
                        _ => None,
                    })
                    .collect();
                let calls: Vec<Value> = m
                    .parts
                    .iter()
                    .filter_map(|p| match p {
                        Part::ToolCall {
                            id,
                            name,
                            arguments,
                        } => Some(json!({
                            "id": id,
                            "type": "function",
                            "function": {"name": name, "arguments": arguments.to_string()},
                        })),
                        _ => None,
                    })
                    .collect();
                if text.is_empty() && calls.is_empty() {
                    continue;
                }
                let mut o = Map::new();
                o.insert("role".into(), json!("assistant"));
                o.insert(
                    "content".into(),
                    if text.is_empty() {
                        Value::Null
                    } else {
                        json!(text)
                    },
                );
                if !calls.is_empty() {
                    o.insert("tool_calls".into(), Value::Array(calls));
                }
                out.push(Value::Object(o));
            }
        }
    }
}

pub fn emit_request(r: &Request) -> Value {
    let mut m = Map::new();
    m.insert("model".into(), json!(r.model));
    let mut msgs = Vec::with_capacity(r.messages.len() + 1);
    emit_messages(r, &mut msgs);
    m.insert("messages".into(), Value::Array(msgs));
    if !r.tools.is_empty() {
        let tools: Vec<Value> = r
            .tools
            .iter()
            .map(|t| {
                let mut f = Map::new();
                f.insert("name".into(), json!(t.name));
                if let Some(d) = &t.description {
                    f.insert("description".into(), json!(d));
                }
                f.insert("parameters".into(), t.parameters.clone());
                json!({"type": "function", "function": f})
            })
            .collect();
        m.insert("tools".into(), Value::Array(tools));
        if let Some(tc) = &r.tool_choice {
            let v = match tc {
                ToolChoice::Auto => json!("auto"),
                ToolChoice::None => json!("none"),
                ToolChoice::Required => json!("required"),
                ToolChoice::Named(n) => json!({"type": "function", "function": {"name": n}}),
            };
            m.insert("tool_choice".into(), v);
        }
        if let Some(p) = r.parallel_tool_calls {
            m.insert("parallel_tool_calls".into(), json!(p));
        }
    }
    if let Some(n) = r.max_tokens {
        m.insert("max_tokens".into(), json!(n));
    }
    if let Some(t) = r.temperature {
        m.insert("temperature".into(), json!(t));
    }
    if let Some(p) = r.top_p {
        m.insert("top_p".into(), json!(p));
    }
    if !r.stop.is_empty() {
        m.insert("stop".into(), json!(r.stop));
    }
    if r.stream {
        m.insert("stream".into(), json!(true));
        // Always ask: the Anthropic side reports usage in message_delta.
        m.insert("stream_options".into(), json!({"include_usage": true}));
    }
    let effort = match r.reasoning {
        Some(Reasoning::Effort(e)) => Some(e),
        Some(Reasoning::Budget(b)) => Some(Effort::from_budget(b)),
        _ => None,
    };
    if let Some(e) = effort {
        m.insert("reasoning_effort".into(), json!(e.as_str()));
    }
    if let Some(u) = &r.user {
        m.insert("user".into(), json!(u));
    }
    Value::Object(m)
}

// ---------------------------------------------------------------- responses

fn parse_finish(s: &str) -> Option<StopReason> {
    match s {
        "stop" => Some(StopReason::EndTurn),
        "length" => Some(StopReason::MaxTokens),
        "tool_calls" | "function_call" => Some(StopReason::ToolUse),
        "content_filter" => Some(StopReason::Refusal),
        _ => None,
    }
}

fn finish_str(s: &StopReason) -> &'static str {
    match s {
        StopReason::EndTurn | StopReason::StopSequence => "stop",
        StopReason::MaxTokens => "length",
        StopReason::ToolUse => "tool_calls",
        StopReason::Refusal => "content_filter",
    }
}

fn parse_usage(u: &Value) -> Usage {
    let cached = u
        .get("prompt_tokens_details")
        .and_then(|d| get_u64(d, "cached_tokens"));
    Usage {
        input: get_u64(u, "prompt_tokens").map(|p| p.saturating_sub(cached.unwrap_or(0))),
        output: get_u64(u, "completion_tokens"),
        cache_read: cached,
        cache_creation: None,
        ..Usage::default()
    }
}

fn emit_usage(u: &Usage) -> Value {
    let prompt = u.input.unwrap_or(0) + u.cache_read.unwrap_or(0) + u.cache_creation.unwrap_or(0);
    let completion = u.output.unwrap_or(0);
    let mut o = Map::new();
    o.insert("prompt_tokens".into(), json!(prompt));
    o.insert("completion_tokens".into(), json!(completion));
    o.insert("total_tokens".into(), json!(prompt + completion));
    if let Some(c) = u.cache_read {
        o.insert("prompt_tokens_details".into(), json!({"cached_tokens": c}));
    }
    Value::Object(o)
}

/// An assistant message's `tool_calls` as tool-call parts (ids made up when missing).
fn push_tool_calls(parts: &mut Vec<Part>, msg: &Value) {
    for tc in msg
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let f = tc.get("function").unwrap_or(&Value::Null);
        parts.push(Part::ToolCall {
            id: get_str(tc, "id")
                .map(str::to_string)
                .unwrap_or_else(|| format!("call_{}", new_id())),
            name: get_str(f, "name").unwrap_or_default().to_string(),
            arguments: parse_arguments(f.get("arguments")),
        });
    }
}

/// `msg_abc` → `chatcmpl-abc`; other ids get the prefix.
pub fn completion_id(id: &str) -> String {
    super::relabel_id(id, "chatcmpl-", "msg_")
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

pub fn parse_response(v: &Value) -> Result<Response, TranslateError> {
    let choice = v
        .get("choices")
        .and_then(|c| c.get(0))
        .ok_or_else(|| TranslateError::Invalid("response has no `choices`".into()))?;
    let msg = choice.get("message").unwrap_or(&Value::Null);
    let mut parts = Vec::new();
    let thinking = get_str(msg, "reasoning_content").or_else(|| get_str(msg, "reasoning"));
    if let Some(t) = thinking.filter(|t| !t.is_empty()) {
        parts.push(Part::Thinking {
            text: t.to_string(),
            signature: None,
        });
    }
    let text = text_of(msg.get("content"));
    if !text.is_empty() {
        parts.push(Part::Text(text));
    }
    push_tool_calls(&mut parts, msg);
    Ok(Response {
        id: get_str(v, "id").unwrap_or_default().to_string(),
        model: get_str(v, "model").unwrap_or_default().to_string(),
        stop: get_str(choice, "finish_reason")
            .and_then(parse_finish)
            .map(|s| {
                // Some compatible upstreams report "stop" after tool calls.
                let has_calls = parts.iter().any(|p| matches!(p, Part::ToolCall { .. }));
                if has_calls && s == StopReason::EndTurn {
                    StopReason::ToolUse
                } else {
                    s
                }
            }),
        usage: v.get("usage").map(parse_usage).unwrap_or_default(),
        parts,
    })
}

pub fn emit_response(r: &Response, client_model: &str) -> Value {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    for p in &r.parts {
        match p {
            Part::Text(t) => text.push_str(t),
            Part::Thinking { text: t, .. } => reasoning.push_str(t),
            Part::ToolCall {
                id,
                name,
                arguments,
            } => calls.push(json!({
                "id": id,
                "type": "function",
                "function": {"name": name, "arguments": arguments.to_string()},
            })),
            _ => {}
        }
    }
    let mut msg = Map::new();
    msg.insert("role".into(), json!("assistant"));
    msg.insert(
        "content".into(),
        if text.is_empty() && !calls.is_empty() {
            Value::Null
        } else {
            json!(text)
        },
    );
    if !reasoning.is_empty() {
        msg.insert("reasoning_content".into(), json!(reasoning));
    }
    if !calls.is_empty() {
        msg.insert("tool_calls".into(), Value::Array(calls));
    }
    json!({
        "id": completion_id(&r.id),
        "object": "chat.completion",
        "created": now(),
        "model": client_model,
        "choices": [{
            "index": 0,
            "message": msg,
            "logprobs": null,
            "finish_reason": r.stop.as_ref().map(finish_str),
        }],
        "usage": emit_usage(&r.usage),
    })
}

// ---------------------------------------------------------------- errors

pub fn emit_error(e: &ApiError) -> Value {
    let (ty, code) = match e.kind {
        ErrorKind::InvalidRequest => ("invalid_request_error", Value::Null),
        ErrorKind::Authentication => ("authentication_error", json!("invalid_api_key")),
        ErrorKind::Permission => ("permission_error", json!("permission_denied")),
        ErrorKind::NotFound => ("invalid_request_error", json!("model_not_found")),
        ErrorKind::TooLarge => ("invalid_request_error", json!("request_too_large")),
        ErrorKind::RateLimit => ("rate_limit_error", json!("rate_limit_exceeded")),
        ErrorKind::Overloaded => ("server_error", json!("overloaded")),
        ErrorKind::Api => ("server_error", json!("internal_server_error")),
    };
    json!({"error": {"message": e.message, "type": ty, "code": code}})
}

// ---------------------------------------------------------------- streams

/// OpenAI chat.completion.chunk frames (upstream) → IR events.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    started: bool,
    /// OpenAI tool_calls indices already announced.
    tools: Vec<u64>,
}

impl StreamDecoder {
    pub fn decode(&mut self, data: &str, out: &mut Vec<Event>) {
        if data.trim() == "[DONE]" {
            out.push(Event::Done);
            return;
        }
        let Ok(v) = serde_json::from_str::<Value>(data) else {
            return;
        };
        if let Some(e) = v.get("error").filter(|e| !e.is_null()) {
            out.push(Event::Error(super::parse_error_value(&v, e, 500)));
            return;
        }
        if !self.started {
            self.started = true;
            out.push(Event::Start {
                id: get_str(&v, "id").unwrap_or_default().to_string(),
                model: get_str(&v, "model").unwrap_or_default().to_string(),
            });
        }
        let mut finish = None;
        if let Some(choice) = v.get("choices").and_then(|c| c.get(0)) {
            let d = choice.get("delta").unwrap_or(&Value::Null);
            let thinking = get_str(d, "reasoning_content").or_else(|| get_str(d, "reasoning"));
            if let Some(t) = thinking.filter(|t| !t.is_empty()) {
                out.push(Event::Thinking(t.to_string()));
            }
            if let Some(t) = get_str(d, "content").filter(|t| !t.is_empty()) {
                out.push(Event::Text(t.to_string()));
            }
            for (pos, tc) in d
                .get("tool_calls")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let oai_index = get_u64(tc, "index").unwrap_or(pos as u64);
                let f = tc.get("function").unwrap_or(&Value::Null);
                let index = match self.tools.iter().position(|i| *i == oai_index) {
                    Some(i) => i,
                    None => {
                        self.tools.push(oai_index);
                        let index = self.tools.len() - 1;
                        out.push(Event::ToolStart {
                            index,
                            id: get_str(tc, "id")
                                .map(str::to_string)
                                .unwrap_or_else(|| format!("call_{}", new_id())),
                            name: get_str(f, "name").unwrap_or_default().to_string(),
                        });
                        index
                    }
                };
                if let Some(a) = get_str(f, "arguments").filter(|a| !a.is_empty()) {
                    out.push(Event::ToolArgs {
                        index,
                        fragment: a.to_string(),
                    });
                }
            }
            finish = get_str(choice, "finish_reason").and_then(parse_finish);
        }
        if let Some(s) = finish {
            out.push(Event::Finish(s));
        }
        if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
            out.push(Event::Usage(parse_usage(u)));
        }
    }
}

/// IR events → OpenAI chat.completion.chunk frames (client side).
#[derive(Debug)]
pub struct StreamEncoder {
    id: String,
    model: String,
    created: i64,
    include_usage: bool,
    started: bool,
    finished: bool,
    errored: bool,
    done: bool,
    usage: Usage,
}

impl StreamEncoder {
    pub fn new(client_model: &str, include_usage: bool) -> Self {
        StreamEncoder {
            id: String::new(),
            model: client_model.to_string(),
            created: now(),
            include_usage,
            started: false,
            finished: false,
            errored: false,
            done: false,
            usage: Usage::default(),
        }
    }

    pub fn set_include_usage(&mut self, include: bool) {
        self.include_usage = include;
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        })
    }

    fn start(&mut self, id: &str, out: &mut Vec<Bytes>) {
        if self.started {
            return;
        }
        self.started = true;
        self.id = completion_id(id);
        let c = self.chunk(json!({"role": "assistant", "content": ""}), None);
        out.push(sse::frame(None, &c));
    }

    fn delta(&mut self, delta: Value, out: &mut Vec<Bytes>) {
        self.start("", out);
        let c = self.chunk(delta, None);
        out.push(sse::frame(None, &c));
    }

    fn done(&mut self, out: &mut Vec<Bytes>) {
        if self.done {
            return;
        }
        if self.finished && self.include_usage {
            let c = json!({
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": [],
                "usage": emit_usage(&self.usage),
            });
            out.push(sse::frame(None, &c));
        }
        out.push(Bytes::from_static(b"data: [DONE]\n\n"));
        self.done = true;
    }

    pub fn encode(&mut self, ev: &Event, out: &mut Vec<Bytes>) {
        if self.done || self.errored {
            return;
        }
        match ev {
            Event::Start { id, .. } => self.start(id, out),
            Event::Text(t) if !t.is_empty() => self.delta(json!({"content": t}), out),
            Event::Thinking(t) if !t.is_empty() => self.delta(json!({"reasoning_content": t}), out),
            Event::ToolStart { index, id, name } => self.delta(
                json!({"tool_calls": [{
                    "index": index,
                    "id": id,
                    "type": "function",
                    "function": {"name": name, "arguments": ""},
                }]}),
                out,
            ),
            Event::ToolArgs { index, fragment } if !fragment.is_empty() => self.delta(
                json!({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}),
                out,
            ),
            Event::Usage(u) => self.usage.merge(u),
            Event::Finish(s) => {
                if self.finished {
                    return;
                }
                self.start("", out);
                let mut c = self.chunk(json!({}), Some(finish_str(s)));
                if !self.include_usage && !self.usage.is_empty() {
                    c["usage"] = emit_usage(&self.usage);
                }
                out.push(sse::frame(None, &c));
                self.finished = true;
            }
            Event::Done => self.done(out),
            Event::Error(e) => {
                out.push(sse::frame(None, &emit_error(e)));
                self.errored = true;
            }
            Event::Signature(_) | Event::Text(_) | Event::Thinking(_) | Event::ToolArgs { .. } => {}
        }
    }

    /// Upstream EOF.
    pub fn finish(&mut self, out: &mut Vec<Bytes>) {
        if self.done {
            return;
        }
        if !self.finished && !self.errored {
            let e = ApiError {
                kind: ErrorKind::Api,
                message: "upstream closed the stream before the message completed".into(),
            };
            out.push(sse::frame(None, &emit_error(&e)));
            self.errored = true;
        }
        self.done(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_get_the_completion_prefix() {
        assert_eq!(completion_id("msg_01X"), "chatcmpl-01X");
        assert_eq!(completion_id("chatcmpl-9"), "chatcmpl-9");
    }

    #[test]
    fn image_urls_split_data_from_links() {
        assert_eq!(
            parse_image_url("data:image/webp;base64,UklGR"),
            Image::Base64 {
                media_type: "image/webp".into(),
                data: "UklGR".into()
            }
        );
        assert_eq!(
            parse_image_url("https://x/y.png"),
            Image::Url("https://x/y.png".into())
        );
        assert_eq!(
            image_url(&parse_image_url("data:image/png;base64,AA==")),
            "data:image/png;base64,AA=="
        );
    }

    #[test]
    fn bad_tool_arguments_become_an_empty_object() {
        assert_eq!(parse_arguments(Some(&json!("{\"a\":"))), json!({}));
        assert_eq!(parse_arguments(Some(&json!("[1]"))), json!({}));
        assert_eq!(parse_arguments(Some(&json!(""))), json!({}));
        assert_eq!(parse_arguments(Some(&json!("{\"a\":1}"))), json!({"a": 1}));
        assert_eq!(parse_arguments(Some(&json!({"b": 2}))), json!({"b": 2}));
    }

    #[test]
    fn decoder_handles_tool_calls_without_index_and_usage_in_finish_chunk() {
        let mut d = StreamDecoder::default();
        let mut out = Vec::new();
        d.decode(
            r#"{"id":"x","choices":[{"index":0,"delta":{"tool_calls":[{"id":"c1","function":{"name":"f","arguments":"{\"a\":1}"}},{"id":"c2","function":{"name":"g","arguments":"{}"}}]}}]}"#,
            &mut out,
        );
        d.decode(
            r#"{"id":"x","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":3,"completion_tokens":2}}"#,
            &mut out,
        );
        d.decode(" [DONE] ", &mut out);
        assert_eq!(out.len(), 8);
        assert_eq!(
            out[3],
            Event::ToolStart {
                index: 1,
                id: "c2".into(),
                name: "g".into()
            }
        );
        assert_eq!(out[5], Event::Finish(StopReason::ToolUse));
        assert!(matches!(out[6], Event::Usage(Usage { input: Some(3), .. })));
        assert_eq!(out[7], Event::Done);
    }

    #[test]
    fn developer_and_system_messages_join_the_system_prompt() {
        let r = parse_request(&json!({"model": "m", "messages": [
            {"role": "developer", "content": "a"},
            {"role": "system", "content": [{"type": "text", "text": "b"}]},
            {"role": "user", "content": "hi"}
        ]}))
        .unwrap();
        assert_eq!(r.system, vec!["a".to_string(), "b".to_string()]);
        assert_eq!(r.messages.len(), 1);
        let v = emit_request(&r);
        assert_eq!(
            v["messages"][0],
            json!({"role": "system", "content": "a\n\nb"})
        );
    }
}
