//! Anthropic Messages API <-> internal representation.

use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::ir::{
    ApiError, ErrorKind, Event, Image, Message, Part, Reasoning, Request, Response, Role,
    StopReason, Tool, ToolChoice, Usage,
};
use super::{TranslateError, get_str, get_u64, new_id, sse};

/// Anthropic requires `max_tokens`; used when the client sent none.
pub const DEFAULT_MAX_TOKENS: u64 = 8192;

// ---------------------------------------------------------------- requests

pub fn parse_request(v: &Value) -> Result<Request, TranslateError> {
    let obj = v
        .as_object()
        .ok_or_else(|| TranslateError::Invalid("request body must be a JSON object".into()))?;
    let mut r = Request {
        model: get_str(v, "model").unwrap_or_default().to_string(),
        ..Request::default()
    };
    match obj.get("system") {
        Some(Value::String(s)) if !s.is_empty() => r.system.push(s.clone()),
        Some(Value::Array(blocks)) => {
            for b in blocks {
                if let Some(t) = get_str(b, "text").filter(|t| !t.is_empty()) {
                    r.system.push(t.to_string());
                }
            }
        }
        _ => {}
    }
    let messages = obj
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| TranslateError::Invalid("`messages` must be an array".into()))?;
    for m in messages {
        let role = match get_str(m, "role") {
            Some("user") => Role::User,
            Some("assistant") => Role::Assistant,
            _ => continue,
        };
        r.messages.push(Message {
            role,
            parts: parse_content(m.get("content")),
        });
    }
    if let Some(tools) = obj.get("tools").and_then(Value::as_array) {
        for t in tools {
            // Server tools (web_search_…, bash_…) carry a versioned `type` and no schema.
            let custom = matches!(get_str(t, "type"), None | Some("custom"));
            let (Some(name), true) = (get_str(t, "name"), custom) else {
                continue;
            };
            r.tools.push(Tool {
                name: name.to_string(),
                description: get_str(t, "description").map(str::to_string),
                parameters: t
                    .get("input_schema")
                    .cloned()
                    .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
                ..Tool::default()
            });
        }
    }
    if let Some(tc) = obj.get("tool_choice") {
        r.tool_choice = match get_str(tc, "type") {
            Some("auto") => Some(ToolChoice::Auto),
            Some("none") => Some(ToolChoice::None),
            Some("any") => Some(ToolChoice::Required),
            Some("tool") => get_str(tc, "name").map(|n| ToolChoice::Named(n.to_string())),
            _ => None,
        };
        if tc.get("disable_parallel_tool_use") == Some(&Value::Bool(true)) {
            r.parallel_tool_calls = Some(false);
        }
    }
    r.max_tokens = get_u64(v, "max_tokens");
    r.temperature = obj.get("temperature").and_then(Value::as_f64);
    r.top_p = obj.get("top_p").and_then(Value::as_f64);
    if let Some(stops) = obj.get("stop_sequences").and_then(Value::as_array) {
        r.stop = stops
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
    }
    r.stream = obj.get("stream").and_then(Value::as_bool).unwrap_or(false);
    if let Some(th) = obj.get("thinking") {
        r.reasoning = match get_str(th, "type") {
            Some("enabled") => Some(Reasoning::Budget(
                get_u64(th, "budget_tokens").unwrap_or(super::ir::Effort::Medium.budget()),
            )),
            Some("adaptive") => Some(Reasoning::Effort(super::ir::Effort::Medium)),
            Some("disabled") => Some(Reasoning::Disabled),
            _ => None,
        };
    }
    r.user = obj
        .get("metadata")
        .and_then(|m| get_str(m, "user_id"))
        .map(str::to_string);
    Ok(r)
}

fn parse_content(c: Option<&Value>) -> Vec<Part> {
    match c {
        Some(Value::String(s)) => vec![Part::Text(s.clone())],
        Some(Value::Array(blocks)) => blocks.iter().filter_map(parse_block).collect(),
        _ => Vec::new(),
    }
}

fn parse_block(b: &Value) -> Option<Part> {
    match get_str(b, "type")? {
        "text" => Some(Part::Text(get_str(b, "text")?.to_string())),
        "image" => {
            let src = b.get("source")?;
            match get_str(src, "type")? {
                "base64" => Some(Part::Image(Image::Base64 {
                    media_type: get_str(src, "media_type")
                        .unwrap_or("image/png")
                        .to_string(),
                    data: get_str(src, "data")?.to_string(),
                })),
                "url" => Some(Part::Image(Image::Url(get_str(src, "url")?.to_string()))),
                _ => None,
            }
        }
        "tool_use" => Some(Part::ToolCall {
            id: get_str(b, "id")?.to_string(),
            name: get_str(b, "name")?.to_string(),
            arguments: b.get("input").cloned().unwrap_or_else(|| json!({})),
        }),
        "tool_result" => Some(Part::ToolResult {
            call_id: get_str(b, "tool_use_id")?.to_string(),
            content: parse_content(b.get("content"))
                .into_iter()
                .filter(|p| matches!(p, Part::Text(_) | Part::Image(_)))
                .collect(),
            is_error: b.get("is_error") == Some(&Value::Bool(true)),
        }),
        "thinking" => Some(Part::Thinking {
            text: get_str(b, "thinking").unwrap_or_default().to_string(),
            signature: get_str(b, "signature").map(str::to_string),
        }),
        _ => None,
    }
}

pub fn emit_request(r: &Request) -> Value {
    let mut m = Map::new();
    m.insert("model".into(), json!(r.model));
    let budget = match r.reasoning {
        Some(Reasoning::Effort(e)) => Some(e.budget()),
        Some(Reasoning::Budget(b)) => Some(b.max(1024)),
        _ => None,
    };
    let mut max_tokens = r.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
    if let Some(b) = budget {
        // max_tokens counts thinking too and must exceed the budget.
        if max_tokens <= b {
            max_tokens += b;
        }
    }
    m.insert("max_tokens".into(), json!(max_tokens));
    match r.system.len() {
        0 => {}
        1 => {
            m.insert("system".into(), json!(r.system[0]));
        }
        _ => {
            let blocks: Vec<Value> = r
                .system
                .iter()
                .map(|t| json!({"type": "text", "text": t}))
                .collect();
            m.insert("system".into(), Value::Array(blocks));
        }
    }
    m.insert("messages".into(), Value::Array(emit_messages(&r.messages)));
    if !r.tools.is_empty() {
        let tools: Vec<Value> = r
            .tools
            .iter()
            .map(|t| {
                let mut o = Map::new();
                o.insert("name".into(), json!(t.name));
                if let Some(d) = &t.description {
                    o.insert("description".into(), json!(d));
                }
                let schema = if t.parameters.is_object() {
                    t.parameters.clone()
                } else {
                    json!({"type": "object", "properties": {}})
                };
                o.insert("input_schema".into(), schema);
                Value::Object(o)
            })
            .collect();
        m.insert("tools".into(), Value::Array(tools));
        let mut tc = match &r.tool_choice {
            Some(ToolChoice::Auto) | None => json!({"type": "auto"}),
            Some(ToolChoice::None) => json!({"type": "none"}),
            Some(ToolChoice::Required) => json!({"type": "any"}),
            Some(ToolChoice::Named(n)) => json!({"type": "tool", "name": n}),
        };
        let no_parallel = r.parallel_tool_calls == Some(false);
        if no_parallel && r.tool_choice != Some(ToolChoice::None) {
            tc["disable_parallel_tool_use"] = json!(true);
        }
        if r.tool_choice.is_some() || no_parallel {
            m.insert("tool_choice".into(), tc);
        }
    }
    if !r.stop.is_empty() {
        m.insert("stop_sequences".into(), json!(r.stop));
    }
    if budget.is_none() {
        // Extended thinking rejects sampling tweaks; Anthropic's temperature tops out at 1.
        if let Some(t) = r.temperature {
            m.insert("temperature".into(), json!(t.clamp(0.0, 1.0)));
        }
        if let Some(p) = r.top_p {
            m.insert("top_p".into(), json!(p));
        }
    }
    if r.stream {
        m.insert("stream".into(), json!(true));
    }
    if let Some(b) = budget {
        m.insert(
            "thinking".into(),
            json!({"type": "enabled", "budget_tokens": b}),
        );
    }
    if let Some(u) = &r.user {
        m.insert("metadata".into(), json!({"user_id": u}));
    }
    Value::Object(m)
}

fn emit_image(i: &Image) -> Value {
    match i {
        Image::Base64 { media_type, data } => json!({
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data}
        }),
        Image::Url(u) => json!({"type": "image", "source": {"type": "url", "url": u}}),
    }
}

fn emit_block(p: &Part) -> Option<Value> {
    match p {
        Part::Text(t) if t.is_empty() => None,
        Part::Text(t) => Some(json!({"type": "text", "text": t})),
        Part::Image(i) => Some(emit_image(i)),
        Part::ToolCall {
            id,
            name,
            arguments,
        } => {
            let input = if arguments.is_object() {
                arguments.clone()
            } else {
                json!({})
            };
            Some(json!({"type": "tool_use", "id": id, "name": name, "input": input}))
        }
        Part::ToolResult {
            call_id,
            content,
            is_error,
        } => {
            let mut o = Map::new();
            o.insert("type".into(), json!("tool_result"));
            o.insert("tool_use_id".into(), json!(call_id));
            match content.as_slice() {
                [] => {}
                [Part::Text(t)] => {
                    o.insert("content".into(), json!(t));
                }
                parts => {
                    let blocks: Vec<Value> = parts.iter().filter_map(emit_block).collect();
                    o.insert("content".into(), Value::Array(blocks));
                }
            }
            if *is_error {
                o.insert("is_error".into(), json!(true));
            }
            Some(Value::Object(o))
        }
        // Unsigned thinking (from another provider) would be rejected; drop it.
        Part::Thinking {
            text,
            signature: Some(sig),
        } => Some(json!({"type": "thinking", "thinking": text, "signature": sig})),
        Part::Thinking { .. } => None,
    }
}

/// Anthropic wants strictly alternating roles and tool results first in a user turn.
fn emit_messages(msgs: &[Message]) -> Vec<Value> {
    let mut turns: Vec<(Role, Vec<Value>)> = Vec::new();
    for m in msgs {
        let blocks: Vec<Value> = m.parts.iter().filter_map(emit_block).collect();
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((role, acc)) if *role == m.role => acc.extend(blocks),
            _ => turns.push((m.role, blocks)),
        }
    }
    turns
        .into_iter()
        .map(|(role, blocks)| {
            let (role, blocks) = match role {
                Role::User => {
                    let (mut results, rest): (Vec<Value>, Vec<Value>) = blocks
                        .into_iter()
                        .partition(|b| get_str(b, "type") == Some("tool_result"));
                    results.extend(rest);
                    ("user", results)
                }
                Role::Assistant => ("assistant", blocks),
            };
            json!({"role": role, "content": blocks})
        })
        .collect()
}

// ---------------------------------------------------------------- responses

fn parse_stop(s: &str) -> Option<StopReason> {
    match s {
        "end_turn" | "pause_turn" => Some(StopReason::EndTurn),
        "stop_sequence" => Some(StopReason::StopSequence),
        "max_tokens" | "model_context_window_exceeded" => Some(StopReason::MaxTokens),
        "tool_use" => Some(StopReason::ToolUse),
        "refusal" => Some(StopReason::Refusal),
        _ => None,
    }
}

fn stop_str(s: &StopReason) -> &'static str {
    match s {
        StopReason::EndTurn => "end_turn",
        StopReason::StopSequence => "stop_sequence",
        StopReason::MaxTokens => "max_tokens",
        StopReason::ToolUse => "tool_use",
        StopReason::Refusal => "refusal",
    }
}

fn parse_usage(u: &Value) -> Usage {
    Usage {
        input: get_u64(u, "input_tokens"),
        output: get_u64(u, "output_tokens"),
        cache_read: get_u64(u, "cache_read_input_tokens"),
        cache_creation: get_u64(u, "cache_creation_input_tokens"),
        ..Usage::default()
    }
}

fn emit_usage(u: &Usage) -> Value {
    let mut o = Map::new();
    o.insert("input_tokens".into(), json!(u.input.unwrap_or(0)));
    o.insert("output_tokens".into(), json!(u.output.unwrap_or(0)));
    if let Some(c) = u.cache_creation {
        o.insert("cache_creation_input_tokens".into(), json!(c));
    }
    if let Some(c) = u.cache_read {
        o.insert("cache_read_input_tokens".into(), json!(c));
    }
    Value::Object(o)
}

/// `chatcmpl-abc` → `msg_abc`; other ids get the prefix.
pub fn message_id(id: &str) -> String {
    super::relabel_id(id, "msg_", "chatcmpl-")
}

pub fn parse_response(v: &Value) -> Result<Response, TranslateError> {
    let content = v
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| TranslateError::Invalid("response has no `content` array".into()))?;
    Ok(Response {
        id: get_str(v, "id").unwrap_or_default().to_string(),
        model: get_str(v, "model").unwrap_or_default().to_string(),
        parts: content
            .iter()
            .filter_map(parse_block)
            .filter(|p| {
                matches!(
                    p,
                    Part::Text(_) | Part::ToolCall { .. } | Part::Thinking { .. }
                )
            })
            .collect(),
        stop: get_str(v, "stop_reason").and_then(parse_stop),
        usage: v.get("usage").map(parse_usage).unwrap_or_default(),
    })
}

pub fn emit_response(r: &Response, client_model: &str) -> Value {
    let content: Vec<Value> = r
        .parts
        .iter()
        .filter_map(|p| match p {
            // A response's thinking is echoed even unsigned: clients display it.
            Part::Thinking { text, signature } => Some(json!({
                "type": "thinking",
                "thinking": text,
                "signature": signature.as_deref().unwrap_or_default(),
            })),
            other => emit_block(other),
        })
        .collect();
    json!({
        "id": message_id(&r.id),
        "type": "message",
        "role": "assistant",
        "model": client_model,
        "content": content,
        "stop_reason": r.stop.as_ref().map(stop_str),
        "stop_sequence": null,
        "usage": emit_usage(&r.usage),
    })
}

// ---------------------------------------------------------------- errors

pub fn error_type(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidRequest => "invalid_request_error",
        ErrorKind::Authentication => "authentication_error",
        ErrorKind::Permission => "permission_error",
        ErrorKind::NotFound => "not_found_error",
        ErrorKind::TooLarge => "request_too_large",
        ErrorKind::RateLimit => "rate_limit_error",
        ErrorKind::Overloaded => "overloaded_error",
        ErrorKind::Api => "api_error",
    }
}

pub fn emit_error(e: &ApiError) -> Value {
    json!({"type": "error", "error": {"type": error_type(e.kind), "message": e.message}})
}

// ---------------------------------------------------------------- streams

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    Thinking,
    Tool(usize),
    Other,
}

/// Anthropic SSE events (upstream) → IR events.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    /// (content block index, kind); a response has a handful of blocks.
    blocks: Vec<(u64, Block)>,
    tools: usize,
}

impl StreamDecoder {
    fn block(&self, index: u64) -> Block {
        self.blocks
            .iter()
            .rev()
            .find(|(i, _)| *i == index)
            .map_or(Block::Other, |(_, b)| *b)
    }

    pub fn decode(&mut self, data: &str, out: &mut Vec<Event>) {
        let Ok(v) = serde_json::from_str::<Value>(data) else {
            return;
        };
        match get_str(&v, "type") {
            Some("message_start") => {
                let msg = v.get("message").unwrap_or(&Value::Null);
                out.push(Event::Start {
                    id: get_str(msg, "id").unwrap_or_default().to_string(),
                    model: get_str(msg, "model").unwrap_or_default().to_string(),
                });
                if let Some(u) = msg.get("usage") {
                    out.push(Event::Usage(parse_usage(u)));
                }
            }
            Some("content_block_start") => {
                let index = get_u64(&v, "index").unwrap_or(0);
                let cb = v.get("content_block").unwrap_or(&Value::Null);
                let kind = match get_str(cb, "type") {
                    Some("text") => {
                        if let Some(t) = get_str(cb, "text").filter(|t| !t.is_empty()) {
                            out.push(Event::Text(t.to_string()));
                        }
                        Block::Text
                    }
                    Some("thinking") => {
                        if let Some(t) = get_str(cb, "thinking").filter(|t| !t.is_empty()) {
                            out.push(Event::Thinking(t.to_string()));
                        }
                        Block::Thinking
                    }
                    Some("tool_use") => {
                        let n = self.tools;
                        self.tools += 1;
                        out.push(Event::ToolStart {
                            index: n,
                            id: get_str(cb, "id").unwrap_or_default().to_string(),
                            name: get_str(cb, "name").unwrap_or_default().to_string(),
                        });
                        Block::Tool(n)
                    }
                    _ => Block::Other,
                };
                self.blocks.push((index, kind));
            }
            Some("content_block_delta") => {
                let block = self.block(get_u64(&v, "index").unwrap_or(0));
                let d = v.get("delta").unwrap_or(&Value::Null);
                let ev = match (get_str(d, "type"), block) {
                    (Some("text_delta"), _) => get_str(d, "text").map(|t| Event::Text(t.into())),
                    (Some("thinking_delta"), _) => {
                        get_str(d, "thinking").map(|t| Event::Thinking(t.into()))
                    }
                    (Some("signature_delta"), _) => {
                        get_str(d, "signature").map(|s| Event::Signature(s.into()))
                    }
                    (Some("input_json_delta"), Block::Tool(index)) => get_str(d, "partial_json")
                        .map(|f| Event::ToolArgs {
                            index,
                            fragment: f.into(),
                        }),
                    _ => None,
                };
                if let Some(ev) = ev {
                    out.push(ev);
                }
            }
            Some("message_delta") => {
                if let Some(u) = v.get("usage") {
                    out.push(Event::Usage(parse_usage(u)));
                }
                if let Some(s) = v
                    .get("delta")
                    .and_then(|d| get_str(d, "stop_reason"))
                    .and_then(parse_stop)
                {
                    out.push(Event::Finish(s));
                }
            }
            Some("message_stop") => out.push(Event::Done),
            Some("error") => {
                let e = v.get("error").unwrap_or(&Value::Null);
                out.push(Event::Error(ApiError {
                    kind: get_str(e, "type")
                        .and_then(super::kind_from_name)
                        .unwrap_or(ErrorKind::Api),
                    message: get_str(e, "message")
                        .unwrap_or("upstream error")
                        .to_string(),
                }));
            }
            _ => {} // ping, content_block_stop, unknown
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text,
    Thinking,
    Tool(usize),
}

/// IR events → Anthropic SSE frames (client side).
#[derive(Debug)]
pub struct StreamEncoder {
    model: String,
    started: bool,
    open: Option<Open>,
    next_block: u64,
    saw_tool: bool,
    stop: Option<StopReason>,
    usage: Usage,
    finished: bool,
}

fn frame(event: &str, v: &Value) -> Bytes {
    sse::frame(Some(event), v)
}

impl StreamEncoder {
    pub fn new(client_model: &str) -> Self {
        StreamEncoder {
            model: client_model.to_string(),
            started: false,
            open: None,
            next_block: 0,
            saw_tool: false,
            stop: None,
            usage: Usage::default(),
            finished: false,
        }
    }

    fn start(&mut self, id: &str, out: &mut Vec<Bytes>) {
        if self.started {
            return;
        }
        self.started = true;
        let msg = json!({
            "type": "message_start",
            "message": {
                "id": message_id(id),
                "type": "message",
                "role": "assistant",
                "model": self.model,
                "content": [],
                "stop_reason": null,
                "stop_sequence": null,
                "usage": {"input_tokens": self.usage.input.unwrap_or(0), "output_tokens": 0},
            }
        });
        out.push(frame("message_start", &msg));
    }

    fn close(&mut self, out: &mut Vec<Bytes>) {
        if self.open.take().is_some() {
            let index = self.next_block - 1;
            out.push(frame(
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": index}),
            ));
        }
    }

    fn open(&mut self, kind: Open, block: Value, out: &mut Vec<Bytes>) {
        self.close(out);
        let index = self.next_block;
        self.next_block += 1;
        self.open = Some(kind);
        out.push(frame(
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": block}),
        ));
    }

    fn delta(&self, delta: Value, out: &mut Vec<Bytes>) {
        let index = self.next_block.saturating_sub(1);
        out.push(frame(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": index, "delta": delta}),
        ));
    }

    fn end(&mut self, out: &mut Vec<Bytes>) {
        self.start("", out);
        self.close(out);
        let stop = self.stop.clone().unwrap_or(if self.saw_tool {
            StopReason::ToolUse
        } else {
            StopReason::EndTurn
        });
        out.push(frame(
            "message_delta",
            &json!({
                "type": "message_delta",
                "delta": {"stop_reason": stop_str(&stop), "stop_sequence": null},
                "usage": emit_usage(&self.usage),
            }),
        ));
        out.push(frame("message_stop", &json!({"type": "message_stop"})));
        self.finished = true;
    }

    pub fn encode(&mut self, ev: &Event, out: &mut Vec<Bytes>) {
        if self.finished {
            return;
        }
        match ev {
            Event::Start { id, .. } => self.start(id, out),
            Event::Text(t) => {
                if t.is_empty() {
                    return;
                }
                self.start("", out);
                if self.open != Some(Open::Text) {
                    self.open(Open::Text, json!({"type": "text", "text": ""}), out);
                }
                self.delta(json!({"type": "text_delta", "text": t}), out);
            }
            Event::Thinking(t) => {
                if t.is_empty() {
                    return;
                }
                self.start("", out);
                if self.open != Some(Open::Thinking) {
                    self.open(
                        Open::Thinking,
                        json!({"type": "thinking", "thinking": ""}),
                        out,
                    );
                }
                self.delta(json!({"type": "thinking_delta", "thinking": t}), out);
            }
            Event::Signature(s) => {
                if self.open == Some(Open::Thinking) {
                    self.delta(json!({"type": "signature_delta", "signature": s}), out);
                }
            }
            Event::ToolStart { index, id, name } => {
                self.start("", out);
                self.saw_tool = true;
                let id = if id.is_empty() {
                    format!("toolu_{}", new_id())
                } else {
                    id.clone()
                };
                self.open(
                    Open::Tool(*index),
                    json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                    out,
                );
            }
            Event::ToolArgs { index, fragment } => {
                if !fragment.is_empty() && self.open == Some(Open::Tool(*index)) {
                    self.delta(
                        json!({"type": "input_json_delta", "partial_json": fragment}),
                        out,
                    );
                }
            }
            Event::Usage(u) => {
                self.usage.merge(u);
                if self.stop.is_some() {
                    self.end(out);
                }
            }
            Event::Finish(s) => {
                self.close(out);
                // Some OpenAI-compatible upstreams say "stop" after tool calls; Claude
                // clients only run tools on `tool_use`.
                let s = if self.saw_tool && *s == StopReason::EndTurn {
                    StopReason::ToolUse
                } else {
                    s.clone()
                };
                self.stop = Some(s);
            }
            Event::Done => self.end(out),
            Event::Error(e) => {
                out.push(frame("error", &emit_error(e)));
                self.finished = true;
            }
        }
    }

    /// Upstream EOF.
    pub fn finish(&mut self, out: &mut Vec<Bytes>) {
        if self.finished {
            return;
        }
        if self.stop.is_some() {
            self.end(out);
        } else {
            self.encode(
                &Event::Error(ApiError {
                    kind: ErrorKind::Api,
                    message: "upstream closed the stream before the message completed".into(),
                }),
                out,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_get_the_message_prefix() {
        assert_eq!(message_id("chatcmpl-abc"), "msg_abc");
        assert_eq!(message_id("msg_abc"), "msg_abc");
        assert_eq!(message_id("gen-1"), "msg_gen-1");
        assert!(message_id("").starts_with("msg_") && message_id("").len() > 10);
    }

    #[test]
    fn unsigned_thinking_and_empty_text_are_not_sent_upstream() {
        let r = Request {
            model: "m".into(),
            messages: vec![
                Message {
                    role: Role::User,
                    parts: vec![Part::Text("q".into())],
                },
                Message {
                    role: Role::Assistant,
                    parts: vec![
                        Part::Thinking {
                            text: "hmm".into(),
                            signature: None,
                        },
                        Part::Text(String::new()),
                        Part::Text("a".into()),
                    ],
                },
            ],
            ..Request::default()
        };
        let v = emit_request(&r);
        assert_eq!(
            v["messages"][1],
            json!({"role": "assistant", "content": [{"type": "text", "text": "a"}]})
        );
    }

    #[test]
    fn tool_results_lead_a_merged_user_turn() {
        let msgs = vec![
            Message {
                role: Role::User,
                parts: vec![Part::Text("first".into())],
            },
            Message {
                role: Role::User,
                parts: vec![Part::ToolResult {
                    call_id: "t1".into(),
                    content: vec![],
                    is_error: true,
                }],
            },
        ];
        let v = emit_messages(&msgs);
        assert_eq!(
            v,
            vec![json!({"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t1", "is_error": true},
                {"type": "text", "text": "first"}
            ]})]
        );
    }

    #[test]
    fn decoder_ignores_server_tool_deltas_and_pings() {
        let mut d = StreamDecoder::default();
        let mut out = Vec::new();
        for data in [
            r#"{"type":"ping"}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{}}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"q\":1}"}}"#,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"f","input":{}}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{}"}}"#,
            "not json",
        ] {
            d.decode(data, &mut out);
        }
        assert_eq!(
            out,
            vec![
                Event::ToolStart {
                    index: 0,
                    id: "toolu_1".into(),
                    name: "f".into()
                },
                Event::ToolArgs {
                    index: 0,
                    fragment: "{}".into()
                },
            ]
        );
    }
}
