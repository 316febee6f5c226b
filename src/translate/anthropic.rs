//! Anthropic Messages API <-> internal representation. The model is in the body.
//!
//! Wire structs are read leniently (unknown members and block types are skipped) and
//! written from borrowed IR data, so a conversion allocates little beyond its output.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{ErrorMember, read_member};
use super::ir::{
    ApiError, Effort, ErrorKind, Event, Image, Message, Part, Reasoning, Request, Response, Role,
    StopReason, Tool, ToolChoice, Usage,
};
use super::wire::{
    Lax, LaxStr, LaxU64, ObjectOrEmpty, StrOr, empty_schema, is_false, shape, to_bytes,
};
use super::{TranslateError, new_id, sse};

/// The model is the body's `model` member.
pub const MODEL_IN_PATH: bool = false;

/// Anthropic requires `max_tokens`; used when the client sent none.
pub const DEFAULT_MAX_TOKENS: u64 = 8192;

// ---------------------------------------------------------------- wire: input

// Members are read leniently (`Lax`, `StrOr`): a value of an unexpected shape is
// skipped, as are unknown members and block types, so history from newer clients
// still translates.

#[derive(Deserialize)]
struct InRequest {
    #[serde(default)]
    model: LaxStr,
    #[serde(default)]
    system: StrOr<Vec<InTextBlock>>,
    messages: Vec<InMessage>,
    #[serde(default)]
    tools: Lax<Vec<InTool>>,
    #[serde(default)]
    tool_choice: Lax<InToolChoice>,
    #[serde(default)]
    max_tokens: LaxU64,
    #[serde(default)]
    temperature: Lax<f64>,
    #[serde(default)]
    top_p: Lax<f64>,
    #[serde(default)]
    stop_sequences: Lax<Vec<String>>,
    #[serde(default)]
    stream: Lax<bool>,
    #[serde(default)]
    thinking: Lax<InThinking>,
    #[serde(default)]
    metadata: Lax<InMetadata>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InTextBlock {
    text: LaxStr,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum InRole {
    User,
    Assistant,
    #[serde(other)]
    Other,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InMessage {
    role: Lax<InRole>,
    content: StrOr<Vec<InBlock>>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum BlockType {
    Text,
    Image,
    ToolUse,
    ToolResult,
    Thinking,
    #[serde(other)]
    Other,
}

/// Every block kind in one flat struct: read in one pass whatever the `type`.
#[derive(Deserialize, Default)]
#[serde(default)]
struct InBlock {
    #[serde(rename = "type")]
    kind: Lax<BlockType>,
    text: LaxStr,
    source: Lax<InSource>,
    id: LaxStr,
    name: LaxStr,
    input: Option<Value>,
    tool_use_id: LaxStr,
    content: StrOr<Vec<InBlock>>,
    is_error: Lax<bool>,
    thinking: LaxStr,
    signature: LaxStr,
}

impl InBlock {
    fn kind(&self) -> BlockType {
        self.kind.0.unwrap_or(BlockType::Other)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum SourceType {
    Base64,
    Url,
    #[serde(other)]
    Other,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InSource {
    #[serde(rename = "type")]
    kind: Lax<SourceType>,
    media_type: LaxStr,
    data: LaxStr,
    url: LaxStr,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InTool {
    /// Server tools (web_search_…, bash_…) carry a versioned `type` and no schema.
    #[serde(rename = "type")]
    kind: LaxStr,
    name: LaxStr,
    description: LaxStr,
    input_schema: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum ChoiceType {
    Auto,
    None,
    Any,
    Tool,
    #[serde(other)]
    Other,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InToolChoice {
    #[serde(rename = "type")]
    kind: Lax<ChoiceType>,
    name: LaxStr,
    disable_parallel_tool_use: Lax<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum ThinkingType {
    Enabled,
    Adaptive,
    Disabled,
    #[serde(other)]
    Other,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InThinking {
    #[serde(rename = "type")]
    kind: Lax<ThinkingType>,
    budget_tokens: LaxU64,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InMetadata {
    user_id: LaxStr,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum InStop {
    EndTurn,
    PauseTurn,
    StopSequence,
    MaxTokens,
    ModelContextWindowExceeded,
    ToolUse,
    Refusal,
    #[serde(other)]
    Other,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InUsage {
    input_tokens: LaxU64,
    output_tokens: LaxU64,
    cache_read_input_tokens: LaxU64,
    cache_creation_input_tokens: LaxU64,
}

#[derive(Deserialize)]
struct InResponse {
    #[serde(default)]
    id: LaxStr,
    #[serde(default)]
    model: LaxStr,
    content: Vec<InBlock>,
    #[serde(default)]
    stop_reason: Lax<InStop>,
    #[serde(default)]
    usage: Lax<InUsage>,
}

shape!(Map: InTextBlock, InBlock, InSource, InTool, InToolChoice, InThinking, InMetadata, InUsage);
shape!(Str: InRole, BlockType, SourceType, ChoiceType, ThinkingType, InStop);

// ---------------------------------------------------------------- wire: output

#[derive(Serialize)]
struct OutRequest<'a> {
    model: &'a str,
    max_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<OutSystem<'a>>,
    messages: Vec<OutMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<OutTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<OutToolChoice<'a>>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "is_false")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<OutThinking>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<OutMetadata<'a>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum OutSystem<'a> {
    Text(&'a str),
    Blocks(Vec<OutBlock<'a>>),
}

#[derive(Serialize)]
struct OutMessage<'a> {
    role: &'static str,
    content: Vec<OutBlock<'a>>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutBlock<'a> {
    Text {
        text: &'a str,
    },
    Image {
        source: OutSource<'a>,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: ObjectOrEmpty<'a>,
    },
    ToolResult {
        tool_use_id: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        content: Option<OutToolContent<'a>>,
        #[serde(skip_serializing_if = "is_false")]
        is_error: bool,
    },
    Thinking {
        thinking: &'a str,
        signature: &'a str,
    },
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutSource<'a> {
    Base64 { media_type: &'a str, data: &'a str },
    Url { url: &'a str },
}

#[derive(Serialize)]
#[serde(untagged)]
enum OutToolContent<'a> {
    Text(&'a str),
    Blocks(Vec<OutBlock<'a>>),
}

#[derive(Serialize)]
struct OutTool<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    input_schema: ObjectOrEmptySchema<'a>,
}

/// A tool's schema: the client's object, or an empty object schema.
struct ObjectOrEmptySchema<'a>(&'a Value);

impl Serialize for ObjectOrEmptySchema<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_object() {
            self.0.serialize(s)
        } else {
            empty_schema().serialize(s)
        }
    }
}

#[derive(Serialize)]
struct OutToolChoice<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "is_false")]
    disable_parallel_tool_use: bool,
}

#[derive(Serialize)]
struct OutThinking {
    #[serde(rename = "type")]
    kind: &'static str,
    budget_tokens: u64,
}

#[derive(Serialize)]
struct OutMetadata<'a> {
    user_id: &'a str,
}

#[derive(Serialize)]
struct OutUsage {
    input_tokens: u64,
    output_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_creation_input_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_read_input_tokens: Option<u64>,
}

#[derive(Serialize)]
struct OutResponse<'a> {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: Vec<OutBlock<'a>>,
    stop_reason: Option<&'static str>,
    stop_sequence: Option<&'static str>,
    usage: OutUsage,
}

#[derive(Serialize)]
struct OutError<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    error: OutErrorBody<'a>,
}

#[derive(Serialize)]
struct OutErrorBody<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reset_seconds: Option<u64>,
}

// ---------------------------------------------------------------- requests

pub fn parse_request(body: &[u8]) -> Result<Request, TranslateError> {
    let w: InRequest = serde_json::from_slice(body)?;
    let mut r = Request {
        model: w.model.0.unwrap_or_default(),
        ..Request::default()
    };
    match w.system {
        StrOr::Str(s) if !s.is_empty() => r.system.push(s),
        StrOr::Other(blocks) => r
            .system
            .extend(blocks.into_iter().filter_map(|b| b.text.non_empty())),
        _ => {}
    }
    for m in w.messages {
        let role = match m.role.0 {
            Some(InRole::User) => Role::User,
            Some(InRole::Assistant) => Role::Assistant,
            _ => continue,
        };
        r.messages.push(Message {
            role,
            parts: parse_content(m.content),
        });
    }
    for t in w.tools.0.into_iter().flatten() {
        let custom = matches!(t.kind.0.as_deref(), None | Some("custom"));
        let (Some(name), true) = (t.name.0, custom) else {
            continue;
        };
        r.tools.push(Tool {
            name,
            description: t.description.0,
            parameters: t.input_schema.unwrap_or_else(empty_schema),
            ..Tool::default()
        });
    }
    if let Some(tc) = w.tool_choice.0 {
        r.tool_choice = match tc.kind.0 {
            Some(ChoiceType::Auto) => Some(ToolChoice::Auto),
            Some(ChoiceType::None) => Some(ToolChoice::None),
            Some(ChoiceType::Any) => Some(ToolChoice::Required),
            Some(ChoiceType::Tool) => tc.name.0.map(ToolChoice::Named),
            _ => None,
        };
        if tc.disable_parallel_tool_use.0 == Some(true) {
            r.parallel_tool_calls = Some(false);
        }
    }
    r.max_tokens = w.max_tokens.0;
    r.temperature = w.temperature.0;
    r.top_p = w.top_p.0;
    r.stop = w.stop_sequences.0.unwrap_or_default();
    r.stream = w.stream.0.unwrap_or(false);
    r.reasoning = w.thinking.0.and_then(|th| match th.kind.0? {
        ThinkingType::Enabled => Some(Reasoning::Budget(
            th.budget_tokens.0.unwrap_or(Effort::Medium.budget()),
        )),
        ThinkingType::Adaptive => Some(Reasoning::Effort(Effort::Medium)),
        ThinkingType::Disabled => Some(Reasoning::Disabled),
        ThinkingType::Other => None,
    });
    r.user = w.metadata.0.and_then(|m| m.user_id.0);
    Ok(r)
}

fn parse_content(c: StrOr<Vec<InBlock>>) -> Vec<Part> {
    match c {
        StrOr::Str(s) => vec![Part::Text(s)],
        StrOr::Other(blocks) => blocks.into_iter().filter_map(parse_block).collect(),
        StrOr::Neither => Vec::new(),
    }
}

fn parse_block(b: InBlock) -> Option<Part> {
    match b.kind() {
        BlockType::Text => Some(Part::Text(b.text.0?)),
        BlockType::Image => {
            let src = b.source.0?;
            match src.kind.0? {
                SourceType::Base64 => Some(Part::Image(Image::Base64 {
                    media_type: src.media_type.0.unwrap_or_else(|| "image/png".into()),
                    data: src.data.0?,
                })),
                SourceType::Url => Some(Part::Image(Image::Url(src.url.0?))),
                SourceType::Other => None,
            }
        }
        BlockType::ToolUse => Some(Part::ToolCall {
            id: b.id.0?,
            name: b.name.0?,
            arguments: b
                .input
                .unwrap_or_else(|| Value::Object(serde_json::Map::new())),
        }),
        BlockType::ToolResult => Some(Part::ToolResult {
            call_id: b.tool_use_id.0?,
            content: parse_content(b.content)
                .into_iter()
                .filter(|p| matches!(p, Part::Text(_) | Part::Image(_)))
                .collect(),
            is_error: b.is_error.0 == Some(true),
        }),
        BlockType::Thinking => Some(Part::Thinking {
            text: b.thinking.0.unwrap_or_default(),
            signature: b.signature.0,
        }),
        BlockType::Other => None,
    }
}

pub fn emit_request(r: &Request) -> Result<Bytes, TranslateError> {
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
    let system = match r.system.as_slice() {
        [] => None,
        [one] => Some(OutSystem::Text(one)),
        many => Some(OutSystem::Blocks(
            many.iter().map(|t| OutBlock::Text { text: t }).collect(),
        )),
    };
    let tools: Vec<OutTool> = r
        .tools
        .iter()
        .map(|t| OutTool {
            name: &t.name,
            description: t.description.as_deref(),
            input_schema: ObjectOrEmptySchema(&t.parameters),
        })
        .collect();
    let tool_choice = if tools.is_empty() {
        None
    } else {
        let no_parallel = r.parallel_tool_calls == Some(false);
        let (kind, name) = match &r.tool_choice {
            Some(ToolChoice::Auto) | None => ("auto", None),
            Some(ToolChoice::None) => ("none", None),
            Some(ToolChoice::Required) => ("any", None),
            Some(ToolChoice::Named(n)) => ("tool", Some(n.as_str())),
        };
        (r.tool_choice.is_some() || no_parallel).then_some(OutToolChoice {
            kind,
            name,
            disable_parallel_tool_use: no_parallel && r.tool_choice != Some(ToolChoice::None),
        })
    };
    // Extended thinking rejects sampling tweaks; Anthropic's temperature tops out at 1.
    let sampling = budget.is_none();
    let out = OutRequest {
        model: &r.model,
        max_tokens,
        system,
        messages: emit_messages(&r.messages),
        tools,
        tool_choice,
        stop_sequences: &r.stop,
        temperature: r
            .temperature
            .filter(|_| sampling)
            .map(|t| t.clamp(0.0, 1.0)),
        top_p: r.top_p.filter(|_| sampling),
        stream: r.stream,
        thinking: budget.map(|b| OutThinking {
            kind: "enabled",
            budget_tokens: b,
        }),
        metadata: r.user.as_deref().map(|u| OutMetadata { user_id: u }),
    };
    Ok(Bytes::from(serde_json::to_vec(&out)?))
}

fn emit_image(i: &Image) -> OutBlock<'_> {
    OutBlock::Image {
        source: match i {
            Image::Base64 { media_type, data } => OutSource::Base64 { media_type, data },
            Image::Url(url) => OutSource::Url { url },
        },
    }
}

fn emit_block(p: &Part) -> Option<OutBlock<'_>> {
    match p {
        Part::Text(t) if t.is_empty() => None,
        Part::Text(text) => Some(OutBlock::Text { text }),
        Part::Image(i) => Some(emit_image(i)),
        Part::ToolCall {
            id,
            name,
            arguments,
        } => Some(OutBlock::ToolUse {
            id,
            name,
            input: ObjectOrEmpty(Some(arguments)),
        }),
        Part::ToolResult {
            call_id,
            content,
            is_error,
        } => Some(OutBlock::ToolResult {
            tool_use_id: call_id,
            content: match content.as_slice() {
                [] => None,
                [Part::Text(t)] => Some(OutToolContent::Text(t)),
                parts => Some(OutToolContent::Blocks(
                    parts.iter().filter_map(emit_block).collect(),
                )),
            },
            is_error: *is_error,
        }),
        // Unsigned thinking (from another provider) would be rejected; drop it.
        Part::Thinking {
            text,
            signature: Some(sig),
        } => Some(OutBlock::Thinking {
            thinking: text,
            signature: sig,
        }),
        Part::Thinking { .. } => None,
    }
}

/// Anthropic wants strictly alternating roles and tool results first in a user turn.
fn emit_messages(msgs: &[Message]) -> Vec<OutMessage<'_>> {
    let mut turns: Vec<(Role, Vec<OutBlock>)> = Vec::with_capacity(msgs.len());
    for m in msgs {
        let mut blocks = m.parts.iter().filter_map(emit_block).peekable();
        if blocks.peek().is_none() {
            continue;
        }
        match turns.last_mut() {
            Some((role, acc)) if *role == m.role => acc.extend(blocks),
            _ => turns.push((m.role, blocks.collect())),
        }
    }
    turns
        .into_iter()
        .map(|(role, mut content)| match role {
            Role::User => {
                // Stable: tool results keep their order, so do the rest.
                content.sort_by_key(|b| !matches!(b, OutBlock::ToolResult { .. }));
                OutMessage {
                    role: "user",
                    content,
                }
            }
            Role::Assistant => OutMessage {
                role: "assistant",
                content,
            },
        })
        .collect()
}

// ---------------------------------------------------------------- responses

fn parse_stop(s: InStop) -> Option<StopReason> {
    match s {
        InStop::EndTurn | InStop::PauseTurn => Some(StopReason::EndTurn),
        InStop::StopSequence => Some(StopReason::StopSequence),
        InStop::MaxTokens | InStop::ModelContextWindowExceeded => Some(StopReason::MaxTokens),
        InStop::ToolUse => Some(StopReason::ToolUse),
        InStop::Refusal => Some(StopReason::Refusal),
        InStop::Other => None,
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

fn parse_usage(u: &InUsage) -> Usage {
    Usage {
        input: u.input_tokens.0,
        output: u.output_tokens.0,
        cache_read: u.cache_read_input_tokens.0,
        cache_creation: u.cache_creation_input_tokens.0,
        ..Usage::default()
    }
}

fn emit_usage(u: &Usage) -> OutUsage {
    OutUsage {
        input_tokens: u.input.unwrap_or(0),
        output_tokens: u.output.unwrap_or(0),
        cache_creation_input_tokens: u.cache_creation,
        cache_read_input_tokens: u.cache_read,
    }
}

/// `chatcmpl-abc` → `msg_abc`; other ids get the prefix.
pub fn message_id(id: &str) -> String {
    super::relabel_id(id, "msg_", "chatcmpl-")
}

pub fn parse_response(body: &[u8]) -> Result<Response, TranslateError> {
    let w: InResponse = serde_json::from_slice(body)?;
    Ok(Response {
        id: w.id.0.unwrap_or_default(),
        model: w.model.0.unwrap_or_default(),
        parts: w
            .content
            .into_iter()
            .filter_map(parse_block)
            .filter(|p| {
                matches!(
                    p,
                    Part::Text(_) | Part::ToolCall { .. } | Part::Thinking { .. }
                )
            })
            .collect(),
        stop: w.stop_reason.0.and_then(parse_stop),
        usage: w.usage.0.as_ref().map(parse_usage).unwrap_or_default(),
    })
}

pub fn emit_response(r: &Response, client_model: &str) -> Bytes {
    let content = r
        .parts
        .iter()
        .filter_map(|p| match p {
            // A response's thinking is echoed even unsigned: clients display it.
            Part::Thinking { text, signature } => Some(OutBlock::Thinking {
                thinking: text,
                signature: signature.as_deref().unwrap_or_default(),
            }),
            other => emit_block(other),
        })
        .collect();
    to_bytes(&OutResponse {
        id: message_id(&r.id),
        kind: "message",
        role: "assistant",
        model: client_model,
        content,
        stop_reason: r.stop.as_ref().map(stop_str),
        stop_sequence: None,
        usage: emit_usage(&r.usage),
    })
}

// ---------------------------------------------------------------- errors

pub fn error_type(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidRequest | ErrorKind::MethodNotAllowed | ErrorKind::HeadersTooLarge => {
            "invalid_request_error"
        }
        ErrorKind::Authentication => "authentication_error",
        ErrorKind::Permission => "permission_error",
        ErrorKind::NotFound => "not_found_error",
        ErrorKind::TooLarge => "request_too_large",
        ErrorKind::RateLimit => "rate_limit_error",
        ErrorKind::Overloaded | ErrorKind::Unavailable => "overloaded_error",
        ErrorKind::Api => "api_error",
    }
}

fn out_error(e: &ApiError) -> OutError<'_> {
    OutError {
        kind: "error",
        error: OutErrorBody {
            kind: error_type(e.kind),
            message: &e.message,
            code: e.code,
            model: e.cooldown.as_ref().map(|c| c.model.as_str()),
            reset_seconds: e.cooldown.as_ref().map(|c| c.reset_seconds),
        },
    }
}

/// `{"type":"error","error":{"type","message"}}`, plus `code`, `model` and
/// `reset_seconds` on the gateway's own errors that have them.
pub fn emit_error(e: &ApiError) -> Bytes {
    to_bytes(&out_error(e))
}

/// The same body as an SSE `error` event, for failures after the first byte.
pub fn emit_stream_error(e: &ApiError) -> Bytes {
    sse::frame(Some("error"), &out_error(e))
}

// ---------------------------------------------------------------- streams

mod stream;
pub use stream::{StreamDecoder, StreamEncoder};

#[cfg(test)]
#[path = "anthropic_tests.rs"]
mod tests;
