//! OpenAI Chat Completions <-> internal representation. The model is in the body.
//!
//! Upstreams of this dialect are often third-party "compatible" servers, so answers
//! are read leniently: a member of an unexpected shape is skipped, not fatal.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{ErrorMember, read_member};
use super::ir::{
    ApiError, Effort, ErrorKind, Event, Image, Message, Part, Reasoning, Request, Response, Role,
    StopReason, Tool, ToolChoice, Usage,
};
use super::wire::{Lax, LaxStr, LaxU64, StrOr, empty_schema, is_false, shape, to_bytes};
use super::{TranslateError, new_id, sse};

/// The model is the body's `model` member.
pub const MODEL_IN_PATH: bool = false;

// ---------------------------------------------------------------- wire: input

#[derive(Deserialize)]
struct InRequest {
    #[serde(default)]
    model: LaxStr,
    messages: Vec<InMessage>,
    #[serde(default)]
    tools: Lax<Vec<InTool>>,
    #[serde(default)]
    tool_choice: StrOr<InToolChoice>,
    #[serde(default)]
    parallel_tool_calls: Lax<bool>,
    #[serde(default)]
    max_completion_tokens: LaxU64,
    #[serde(default)]
    max_tokens: LaxU64,
    #[serde(default)]
    temperature: Lax<f64>,
    #[serde(default)]
    top_p: Lax<f64>,
    #[serde(default)]
    stop: StrOr<Vec<LaxStr>>,
    #[serde(default)]
    stream: Lax<bool>,
    #[serde(default)]
    stream_options: Lax<InStreamOptions>,
    #[serde(default)]
    reasoning_effort: LaxStr,
    /// OpenRouter-style `reasoning: {effort | max_tokens}`.
    #[serde(default)]
    reasoning: Lax<InReasoning>,
    #[serde(default)]
    user: LaxStr,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum InRole {
    System,
    Developer,
    User,
    Assistant,
    Tool,
    #[serde(other)]
    Other,
}

/// A request message, or a response's `message`/`delta`: one flat struct for all roles.
#[derive(Deserialize, Default)]
#[serde(default)]
struct InMessage {
    role: Lax<InRole>,
    content: StrOr<Vec<InPart>>,
    tool_calls: Lax<Vec<InToolCall>>,
    tool_call_id: LaxStr,
    reasoning_content: LaxStr,
    reasoning: LaxStr,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum PartType {
    Text,
    InputText,
    ImageUrl,
    #[serde(other)]
    Other,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InPart {
    #[serde(rename = "type")]
    kind: Lax<PartType>,
    text: LaxStr,
    refusal: LaxStr,
    image_url: StrOr<InImageUrl>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InImageUrl {
    url: LaxStr,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InTool {
    #[serde(rename = "type")]
    kind: LaxStr,
    function: Lax<InFunction>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InFunction {
    name: LaxStr,
    description: LaxStr,
    parameters: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InToolChoice {
    function: Lax<InNamed>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InNamed {
    name: LaxStr,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InStreamOptions {
    include_usage: Lax<bool>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InReasoning {
    max_tokens: LaxU64,
    effort: LaxStr,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InToolCall {
    id: LaxStr,
    index: LaxU64,
    function: Lax<InCallFunction>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InCallFunction {
    name: LaxStr,
    arguments: StrOr<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum InFinish {
    Stop,
    Length,
    ToolCalls,
    FunctionCall,
    ContentFilter,
    #[serde(other)]
    Other,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InUsage {
    prompt_tokens: LaxU64,
    completion_tokens: LaxU64,
    prompt_tokens_details: Lax<InUsageDetails>,
    completion_tokens_details: Lax<InCompletionDetails>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InCompletionDetails {
    reasoning_tokens: LaxU64,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InUsageDetails {
    cached_tokens: LaxU64,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InChoice {
    message: Lax<InMessage>,
    delta: Lax<InMessage>,
    finish_reason: Lax<InFinish>,
}

#[derive(Deserialize)]
struct InResponse {
    #[serde(default)]
    id: LaxStr,
    #[serde(default)]
    model: LaxStr,
    choices: Vec<InChoice>,
    #[serde(default)]
    usage: Lax<InUsage>,
}

/// A `chat.completion.chunk`, or an error object some upstreams send mid-stream. The
/// `id` and `model` every chunk repeats are read once, from the first ([`InChunkHead`]).
#[derive(Deserialize, Default)]
#[serde(default)]
struct InChunk {
    choices: Lax<Vec<InChoice>>,
    usage: Lax<InUsage>,
    error: ErrorMember,
}

shape!(Map: InMessage, InPart, InImageUrl, InTool, InFunction, InToolChoice, InNamed);
shape!(Map: InStreamOptions, InReasoning, InToolCall, InCallFunction, InUsage, InUsageDetails);
shape!(Map: InCompletionDetails);
#[derive(Deserialize, Default)]
#[serde(default)]
struct InChunkHead {
    id: LaxStr,
    model: LaxStr,
}

shape!(Map: InChoice);
shape!(Str: InRole, PartType, InFinish);

// ---------------------------------------------------------------- wire: output

#[derive(Serialize)]
struct OutRequest<'a> {
    model: &'a str,
    messages: Vec<OutMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<OutTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<OutToolChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop: &'a [String],
    #[serde(skip_serializing_if = "is_false")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<OutStreamOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(tag = "role", rename_all = "snake_case")]
enum OutMessage<'a> {
    System {
        content: String,
    },
    User {
        content: OutUserContent<'a>,
    },
    Assistant {
        content: Option<String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<OutToolCall<'a>>,
    },
    Tool {
        tool_call_id: &'a str,
        content: String,
    },
}

#[derive(Serialize)]
#[serde(untagged)]
enum OutUserContent<'a> {
    Text(&'a str),
    Parts(Vec<OutPart<'a>>),
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutPart<'a> {
    Text { text: &'a str },
    ImageUrl { image_url: OutImageUrl },
}

#[derive(Serialize)]
struct OutImageUrl {
    url: String,
}

#[derive(Serialize)]
struct OutToolCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: OutCallFunction<'a>,
}

#[derive(Serialize)]
struct OutCallFunction<'a> {
    name: &'a str,
    /// JSON text, as OpenAI sends and expects it.
    arguments: String,
}

#[derive(Serialize)]
struct OutTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: OutFunction<'a>,
}

#[derive(Serialize)]
struct OutFunction<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    parameters: &'a Value,
}

#[derive(Serialize)]
#[serde(untagged)]
enum OutToolChoice<'a> {
    Mode(&'static str),
    Named {
        #[serde(rename = "type")]
        kind: &'static str,
        function: OutNamed<'a>,
    },
}

#[derive(Serialize)]
struct OutNamed<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct OutStreamOptions {
    include_usage: bool,
}

#[derive(Serialize)]
struct OutUsage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_tokens_details: Option<OutUsageDetails>,
    #[serde(skip_serializing_if = "Option::is_none")]
    completion_tokens_details: Option<OutCompletionDetails>,
}

#[derive(Serialize)]
struct OutCompletionDetails {
    reasoning_tokens: u64,
}

#[derive(Serialize)]
struct OutUsageDetails {
    cached_tokens: u64,
}

#[derive(Serialize)]
struct OutResponse<'a> {
    id: String,
    object: &'static str,
    created: i64,
    model: &'a str,
    choices: [OutChoice<'a>; 1],
    usage: OutUsage,
}

#[derive(Serialize)]
struct OutChoice<'a> {
    index: u32,
    message: OutRespMessage<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
}

#[derive(Serialize)]
struct OutRespMessage<'a> {
    role: &'static str,
    content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<OutToolCall<'a>>,
}

#[derive(Serialize)]
struct OutError<'a> {
    error: OutErrorBody<'a>,
}

#[derive(Serialize)]
struct OutErrorBody<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reset_seconds: Option<u64>,
}

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

/// Text of a `content` that may be a string or an array of text (or refusal) parts.
fn text_of(c: StrOr<Vec<InPart>>) -> String {
    match c {
        StrOr::Str(s) => s,
        StrOr::Other(parts) => parts
            .into_iter()
            .filter_map(|p| p.text.0.or(p.refusal.0))
            .collect(),
        StrOr::Neither => String::new(),
    }
}

fn parse_image_url(url: String) -> Image {
    if let Some(rest) = url.strip_prefix("data:")
        && let Some((meta, data)) = rest.split_once(',')
        && let Some(media_type) = meta.strip_suffix(";base64")
    {
        return Image::Base64 {
            media_type: media_type.to_string(),
            data: data.to_string(),
        };
    }
    Image::Url(url)
}

fn parse_user_content(c: StrOr<Vec<InPart>>) -> Vec<Part> {
    match c {
        StrOr::Str(s) => vec![Part::Text(s)],
        StrOr::Other(parts) => parts
            .into_iter()
            .filter_map(|p| match p.kind.0? {
                PartType::Text | PartType::InputText => p.text.0.map(Part::Text),
                PartType::ImageUrl => {
                    let url = match p.image_url {
                        StrOr::Str(u) => u,
                        StrOr::Other(o) => o.url.0?,
                        StrOr::Neither => return None,
                    };
                    Some(Part::Image(parse_image_url(url)))
                }
                PartType::Other => None,
            })
            .collect(),
        StrOr::Neither => Vec::new(),
    }
}

/// Tool-call arguments: JSON text (OpenAI) or an object (some compatible upstreams);
/// anything that is not an object becomes `{}`.
fn parse_arguments(args: StrOr<Value>) -> Value {
    match args {
        StrOr::Str(s) => serde_json::from_str::<Value>(&s)
            .ok()
            .filter(Value::is_object)
            .unwrap_or_else(|| Value::Object(serde_json::Map::new())),
        StrOr::Other(v) if v.is_object() => v,
        _ => Value::Object(serde_json::Map::new()),
    }
}

/// An assistant message's `tool_calls` as tool-call parts (ids made up when missing).
fn push_tool_calls(parts: &mut Vec<Part>, calls: Lax<Vec<InToolCall>>) {
    for tc in calls.0.into_iter().flatten() {
        let f = tc.function.0.unwrap_or_default();
        parts.push(Part::ToolCall {
            id: tc.id.0.unwrap_or_else(|| format!("call_{}", new_id())),
            name: f.name.0.unwrap_or_default(),
            arguments: parse_arguments(f.arguments),
        });
    }
}

pub fn parse_request(body: &[u8]) -> Result<Request, TranslateError> {
    let w: InRequest = serde_json::from_slice(body)?;
    let mut r = Request {
        model: w.model.0.unwrap_or_default(),
        ..Request::default()
    };
    for m in w.messages {
        match m.role.0 {
            Some(InRole::System | InRole::Developer) => {
                let t = text_of(m.content);
                if !t.is_empty() {
                    r.system.push(t);
                }
            }
            Some(InRole::User) => r.messages.push(Message {
                role: Role::User,
                parts: parse_user_content(m.content),
            }),
            Some(InRole::Assistant) => {
                let mut parts = Vec::new();
                let t = text_of(m.content);
                if !t.is_empty() {
                    parts.push(Part::Text(t));
                }
                push_tool_calls(&mut parts, m.tool_calls);
                r.messages.push(Message {
                    role: Role::Assistant,
                    parts,
                });
            }
            Some(InRole::Tool) => r.messages.push(Message {
                role: Role::User,
                parts: vec![Part::ToolResult {
                    call_id: m.tool_call_id.0.unwrap_or_default(),
                    content: parse_user_content(m.content),
                    is_error: false,
                }],
            }),
            Some(InRole::Other) | None => {}
        }
    }
    for t in w.tools.0.into_iter().flatten() {
        if !matches!(t.kind.0.as_deref(), None | Some("function")) {
            continue;
        }
        let Some(f) = t.function.0 else { continue };
        let Some(name) = f.name.0 else { continue };
        r.tools.push(Tool {
            name,
            description: f.description.0,
            parameters: f.parameters.unwrap_or_else(empty_schema),
            ..Tool::default()
        });
    }
    r.tool_choice = match w.tool_choice {
        StrOr::Str(s) => match s.as_str() {
            "auto" => Some(ToolChoice::Auto),
            "none" => Some(ToolChoice::None),
            "required" => Some(ToolChoice::Required),
            _ => None,
        },
        StrOr::Other(o) => o.function.0.and_then(|f| f.name.0).map(ToolChoice::Named),
        StrOr::Neither => None,
    };
    r.parallel_tool_calls = w.parallel_tool_calls.0;
    r.max_tokens = w.max_completion_tokens.0.or(w.max_tokens.0);
    r.temperature = w.temperature.0;
    r.top_p = w.top_p.0;
    r.stop = match w.stop {
        StrOr::Str(s) => vec![s],
        StrOr::Other(a) => a.into_iter().filter_map(|s| s.0).collect(),
        StrOr::Neither => Vec::new(),
    };
    r.stream = w.stream.0.unwrap_or(false);
    r.include_usage = w
        .stream_options
        .0
        .and_then(|o| o.include_usage.0)
        .unwrap_or(false);
    r.reasoning = w.reasoning_effort.0.as_deref().and_then(parse_effort);
    if r.reasoning.is_none()
        && let Some(rs) = w.reasoning.0
    {
        r.reasoning = rs
            .max_tokens
            .0
            .map(Reasoning::Budget)
            .or_else(|| rs.effort.0.as_deref().and_then(parse_effort));
    }
    r.user = w.user.0;
    Ok(r)
}

fn image_url(i: &Image) -> String {
    match i {
        Image::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
        Image::Url(u) => u.clone(),
    }
}

fn user_content<'a>(parts: &[&'a Part]) -> Option<OutUserContent<'a>> {
    match parts {
        [] => None,
        [Part::Text(t)] => Some(OutUserContent::Text(t)),
        _ => Some(OutUserContent::Parts(
            parts
                .iter()
                .filter_map(|p| match p {
                    Part::Text(text) => Some(OutPart::Text { text }),
                    Part::Image(i) => Some(OutPart::ImageUrl {
                        image_url: OutImageUrl { url: image_url(i) },
                    }),
                    _ => None,
                })
                .collect(),
        )),
    }
}

fn tool_calls(parts: &[Part]) -> Vec<OutToolCall<'_>> {
    parts
        .iter()
        .filter_map(|p| match p {
            Part::ToolCall {
                id,
                name,
                arguments,
            } => Some(OutToolCall {
                id,
                kind: "function",
                function: OutCallFunction {
                    name,
                    arguments: arguments.to_string(),
                },
            }),
            _ => None,
        })
        .collect()
}

fn emit_messages(r: &Request) -> Vec<OutMessage<'_>> {
    let mut out = Vec::with_capacity(r.messages.len() + 1);
    if !r.system.is_empty() {
        out.push(OutMessage::System {
            content: r.system.join("\n\n"),
        });
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
                            let text: Vec<&str> = content
                                .iter()
                                .filter_map(|c| match c {
                                    Part::Text(t) => Some(t.as_str()),
                                    _ => None,
                                })
                                .collect();
                            out.push(OutMessage::Tool {
                                tool_call_id: call_id,
                                content: text.join("\n"),
                            });
                            rest.extend(content.iter().filter(|c| matches!(c, Part::Image(_))));
                        }
                        Part::Text(t) if t.is_empty() => {}
                        Part::Text(_) | Part::Image(_) => rest.push(p),
                        _ => {}
                    }
                }
                if let Some(content) = user_content(&rest) {
                    out.push(OutMessage::User { content });
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
                let calls = tool_calls(&m.parts);
                if text.is_empty() && calls.is_empty() {
                    continue;
                }
                out.push(OutMessage::Assistant {
                    content: (!text.is_empty()).then_some(text),
                    tool_calls: calls,
                });
            }
        }
    }
    out
}

pub fn emit_request(r: &Request) -> Result<Bytes, TranslateError> {
    let tools: Vec<OutTool> = r
        .tools
        .iter()
        .map(|t| OutTool {
            kind: "function",
            function: OutFunction {
                name: &t.name,
                description: t.description.as_deref(),
                parameters: &t.parameters,
            },
        })
        .collect();
    let has_tools = !tools.is_empty();
    let tool_choice = r
        .tool_choice
        .as_ref()
        .filter(|_| has_tools)
        .map(|tc| match tc {
            ToolChoice::Auto => OutToolChoice::Mode("auto"),
            ToolChoice::None => OutToolChoice::Mode("none"),
            ToolChoice::Required => OutToolChoice::Mode("required"),
            ToolChoice::Named(name) => OutToolChoice::Named {
                kind: "function",
                function: OutNamed { name },
            },
        });
    let effort = match r.reasoning {
        Some(Reasoning::Effort(e)) => Some(e),
        Some(Reasoning::Budget(b)) => Some(Effort::from_budget(b)),
        _ => None,
    };
    let out = OutRequest {
        model: &r.model,
        messages: emit_messages(r),
        tools,
        tool_choice,
        parallel_tool_calls: r.parallel_tool_calls.filter(|_| has_tools),
        max_tokens: r.max_tokens,
        temperature: r.temperature,
        top_p: r.top_p,
        stop: &r.stop,
        stream: r.stream,
        // Always ask: the Anthropic side reports usage in message_delta.
        stream_options: r.stream.then_some(OutStreamOptions {
            include_usage: true,
        }),
        reasoning_effort: effort.map(Effort::as_str),
        user: r.user.as_deref(),
    };
    Ok(Bytes::from(serde_json::to_vec(&out)?))
}

// ---------------------------------------------------------------- responses

fn parse_finish(s: InFinish) -> Option<StopReason> {
    match s {
        InFinish::Stop => Some(StopReason::EndTurn),
        InFinish::Length => Some(StopReason::MaxTokens),
        InFinish::ToolCalls | InFinish::FunctionCall => Some(StopReason::ToolUse),
        InFinish::ContentFilter => Some(StopReason::Refusal),
        InFinish::Other => None,
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

fn parse_usage(u: &InUsage) -> Usage {
    let cached = u
        .prompt_tokens_details
        .0
        .as_ref()
        .and_then(|d| d.cached_tokens.0);
    Usage {
        input: u
            .prompt_tokens
            .0
            .map(|p| p.saturating_sub(cached.unwrap_or(0))),
        output: u.completion_tokens.0,
        cache_read: cached,
        cache_creation: None,
        reasoning: u
            .completion_tokens_details
            .0
            .as_ref()
            .and_then(|d| d.reasoning_tokens.0),
    }
}

fn emit_usage(u: &Usage) -> OutUsage {
    let prompt = u.input.unwrap_or(0) + u.cache_read.unwrap_or(0) + u.cache_creation.unwrap_or(0);
    let completion = u.output.unwrap_or(0);
    OutUsage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
        prompt_tokens_details: u.cache_read.map(|c| OutUsageDetails { cached_tokens: c }),
        completion_tokens_details: u.reasoning.map(|r| OutCompletionDetails {
            reasoning_tokens: r,
        }),
    }
}

/// `msg_abc` → `chatcmpl-abc`; other ids get the prefix.
pub fn completion_id(id: &str) -> String {
    super::relabel_id(id, "chatcmpl-", "msg_")
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

pub fn parse_response(body: &[u8]) -> Result<Response, TranslateError> {
    let w: InResponse = serde_json::from_slice(body)?;
    let choice = w
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| TranslateError::Invalid("response has no `choices`".into()))?;
    let msg = choice.message.0.unwrap_or_default();
    let mut parts = Vec::new();
    let thinking = msg.reasoning_content.non_empty().or(msg.reasoning.0);
    if let Some(t) = thinking.filter(|t| !t.is_empty()) {
        parts.push(Part::Thinking {
            text: t,
            signature: None,
        });
    }
    let text = text_of(msg.content);
    if !text.is_empty() {
        parts.push(Part::Text(text));
    }
    push_tool_calls(&mut parts, msg.tool_calls);
    let has_calls = parts.iter().any(|p| matches!(p, Part::ToolCall { .. }));
    Ok(Response {
        id: w.id.0.unwrap_or_default(),
        model: w.model.0.unwrap_or_default(),
        stop: choice.finish_reason.0.and_then(parse_finish).map(|s| {
            // Some compatible upstreams report "stop" after tool calls.
            if has_calls && s == StopReason::EndTurn {
                StopReason::ToolUse
            } else {
                s
            }
        }),
        usage: w.usage.0.as_ref().map(parse_usage).unwrap_or_default(),
        parts,
    })
}

pub fn emit_response(r: &Response, client_model: &str) -> Bytes {
    let mut text = String::new();
    let mut reasoning = String::new();
    for p in &r.parts {
        match p {
            Part::Text(t) => text.push_str(t),
            Part::Thinking { text: t, .. } => reasoning.push_str(t),
            _ => {}
        }
    }
    let calls = tool_calls(&r.parts);
    let message = OutRespMessage {
        role: "assistant",
        content: (!text.is_empty() || calls.is_empty()).then_some(text),
        reasoning_content: (!reasoning.is_empty()).then_some(reasoning),
        tool_calls: calls,
    };
    to_bytes(&OutResponse {
        id: completion_id(&r.id),
        object: "chat.completion",
        created: now(),
        model: client_model,
        choices: [OutChoice {
            index: 0,
            message,
            logprobs: None,
            finish_reason: r.stop.as_ref().map(finish_str),
        }],
        usage: emit_usage(&r.usage),
    })
}

// ---------------------------------------------------------------- errors

/// `type` and default `code` per kind (CLIProxyAPI's and OpenAI's names).
pub fn error_names(kind: ErrorKind) -> (&'static str, Option<&'static str>) {
    match kind {
        ErrorKind::InvalidRequest => ("invalid_request_error", None),
        ErrorKind::Authentication => ("authentication_error", Some("invalid_api_key")),
        ErrorKind::Permission => ("permission_error", Some("permission_denied")),
        ErrorKind::NotFound => ("invalid_request_error", Some("model_not_found")),
        ErrorKind::MethodNotAllowed => ("invalid_request_error", Some("method_not_allowed")),
        ErrorKind::TooLarge => ("invalid_request_error", Some("request_too_large")),
        ErrorKind::HeadersTooLarge => ("invalid_request_error", Some("headers_too_large")),
        ErrorKind::RateLimit => ("rate_limit_error", Some("rate_limit_exceeded")),
        ErrorKind::Overloaded | ErrorKind::Unavailable => ("server_error", Some("overloaded")),
        ErrorKind::Api => ("server_error", Some("internal_server_error")),
    }
}

fn out_error(e: &ApiError) -> OutError<'_> {
    let (kind, code) = error_names(e.kind);
    OutError {
        error: OutErrorBody {
            message: &e.message,
            kind,
            code: e.code.or(code),
            model: e.cooldown.as_ref().map(|c| c.model.as_str()),
            reset_seconds: e.cooldown.as_ref().map(|c| c.reset_seconds),
        },
    }
}

/// `{"error":{"message","type","code"}}`, plus `model` and `reset_seconds` on a
/// cooldown.
pub fn emit_error(e: &ApiError) -> Bytes {
    to_bytes(&out_error(e))
}

/// The same body as a `data:` frame, for failures after the first byte.
pub fn emit_stream_error(e: &ApiError) -> Bytes {
    sse::frame(None, &out_error(e))
}

// ---------------------------------------------------------------- streams

mod stream;
pub use stream::{StreamDecoder, StreamEncoder};

#[cfg(test)]
#[path = "openai_chat_tests.rs"]
mod tests;
