//! OpenAI Chat Completions requests <-> IR.

use bytes::Bytes;
use serde_json::Value;

use super::super::ir::{Effort, Image, Message, Part, Reasoning, Request, Role, Tool, ToolChoice};
use super::super::wire::{Lax, StrOr, empty_schema};
use super::super::{TranslateError, new_id};
use super::wire::{
    InPart, InRequest, InRole, InToolCall, OutCallFunction, OutFunction, OutImageUrl, OutMessage,
    OutNamed, OutPart, OutRequest, OutStreamOptions, OutTool, OutToolCall, OutToolChoice,
    OutUserContent, PartType,
};

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
pub(super) fn text_of(c: StrOr<Vec<InPart>>) -> String {
    match c {
        StrOr::Str(s) => s,
        StrOr::Other(parts) => parts
            .into_iter()
            .filter_map(|p| p.text.0.or(p.refusal.0))
            .collect(),
        StrOr::Neither => String::new(),
    }
}

pub(super) fn parse_image_url(url: String) -> Image {
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
pub(super) fn parse_arguments(args: StrOr<Value>) -> Value {
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
pub(super) fn push_tool_calls(parts: &mut Vec<Part>, calls: Lax<Vec<InToolCall>>) {
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

pub(super) fn image_url(i: &Image) -> String {
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

pub(super) fn tool_calls(parts: &[Part]) -> Vec<OutToolCall<'_>> {
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
