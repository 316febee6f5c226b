//! Responses request bodies <-> IR requests.

use std::borrow::Cow;

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::super::TranslateError;
use super::super::ir::{Effort, Message, Part, Reasoning, Request, Role, Tool, ToolChoice};
use super::items::{Converted, convert, image_url};
use super::parse_json;
use super::wire::{ItemIn, RequestIn, TextOr, ToolChoiceIn};

fn parse_effort(s: &str) -> Option<Reasoning> {
    match s {
        "minimal" | "low" => Some(Reasoning::Effort(Effort::Low)),
        "medium" => Some(Reasoning::Effort(Effort::Medium)),
        "high" | "xhigh" => Some(Reasoning::Effort(Effort::High)),
        "none" => Some(Reasoning::Disabled),
        _ => None,
    }
}

/// Appends one converted item, grouping a turn's items into IR messages: an assistant
/// turn (reasoning, message, function calls) is one message, and consecutive tool
/// outputs are one user message.
fn push(r: &mut Request, c: Converted) {
    match c {
        Converted::Skip => {}
        Converted::System(texts) => r.system.extend(texts),
        Converted::Message(Role::Assistant, parts) => {
            if let Some(m) = r.messages.last_mut().filter(|m| m.role == Role::Assistant) {
                m.parts.extend(parts);
            } else {
                r.messages.push(Message {
                    role: Role::Assistant,
                    parts,
                });
            }
        }
        Converted::Message(Role::User, parts) => r.messages.push(Message {
            role: Role::User,
            parts,
        }),
        Converted::Part(role, part) => {
            let joins = |m: &&mut Message| {
                m.role == role
                    && (role == Role::Assistant
                        || m.parts.iter().all(|p| matches!(p, Part::ToolResult { .. })))
            };
            if let Some(m) = r.messages.last_mut().filter(joins) {
                m.parts.push(part);
            } else {
                r.messages.push(Message {
                    role,
                    parts: vec![part],
                });
            }
        }
    }
}

/// A Responses request body → IR. Non-function tools (web_search, namespaces, …) and
/// items the IR cannot express (web_search_call, item_reference, …) are dropped.
pub fn parse_request(body: &[u8]) -> Result<Request, TranslateError> {
    let raw: RequestIn = parse_json(body)?;
    let mut r = Request {
        model: raw.model.unwrap_or_default(),
        ..Request::default()
    };
    match raw.instructions {
        Some(TextOr::Text(t)) if !t.is_empty() => r.system.push(t),
        Some(TextOr::Items(items)) => {
            for item in items {
                let item = ItemIn {
                    role: item.role.or_else(|| Some("developer".into())),
                    ..item
                };
                push(&mut r, convert(item));
            }
        }
        _ => {}
    }
    match raw.input {
        Some(TextOr::Text(t)) => r.messages.push(Message {
            role: Role::User,
            parts: vec![Part::Text(t)],
        }),
        Some(TextOr::Items(items)) => {
            for item in items {
                push(&mut r, convert(item));
            }
        }
        None => {}
    }
    for t in raw.tools.into_iter().flatten() {
        if !matches!(t.kind.as_deref(), None | Some("function")) {
            continue;
        }
        let Some(name) = t.name.filter(|n| !n.is_empty()) else {
            continue;
        };
        r.tools.push(Tool {
            name,
            description: t.description,
            parameters: t
                .parameters
                .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
            strict: t.strict,
        });
    }
    r.tool_choice = match raw.tool_choice {
        Some(ToolChoiceIn::Mode(m)) => match m.as_str() {
            "auto" => Some(ToolChoice::Auto),
            "none" => Some(ToolChoice::None),
            "required" => Some(ToolChoice::Required),
            _ => None,
        },
        Some(ToolChoiceIn::Object {
            kind,
            name,
            function,
        }) => match kind.as_deref() {
            Some("function") => name
                .or(function.and_then(|f| f.name))
                .map(ToolChoice::Named),
            _ => None,
        },
        None => None,
    };
    r.parallel_tool_calls = raw.parallel_tool_calls;
    r.max_tokens = raw.max_output_tokens;
    r.temperature = raw.temperature;
    r.top_p = raw.top_p;
    r.stream = raw.stream.unwrap_or(false);
    r.reasoning = raw
        .reasoning
        .and_then(|x| x.effort)
        .and_then(|e| parse_effort(&e));
    r.user = raw.user;
    r.prompt_cache_key = raw.prompt_cache_key;
    r.metadata = raw.metadata;
    Ok(r)
}

// ---------------------------------------------------------------- emit

#[derive(Serialize)]
struct RequestOut<'a> {
    model: &'a str,
    instructions: &'a str,
    input: Vec<InputItemOut<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<ToolOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning: Option<ReasoningOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_output_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_cache_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<&'a Map<String, Value>>,
}

/// Input items in the shape Codex CLI sends: no item ids (with `store: false` an id
/// makes the server look the item up and fail), assistant text as `output_text` parts.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum InputItemOut<'a> {
    Message {
        role: &'static str,
        content: Vec<ContentOut<'a>>,
    },
    FunctionCall {
        call_id: &'a str,
        name: &'a str,
        arguments: String,
    },
    FunctionCallOutput {
        call_id: &'a str,
        output: OutputOut<'a>,
    },
    Reasoning {
        summary: Vec<SummaryRef<'a>>,
        encrypted_content: &'a str,
    },
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ContentOut<'a> {
    InputText {
        text: &'a str,
    },
    OutputText {
        text: &'a str,
    },
    /// `detail` is required by the API reference (the IR keeps none; `auto` is the default).
    InputImage {
        image_url: Cow<'a, str>,
        detail: &'static str,
    },
}

#[derive(Serialize)]
#[serde(untagged)]
enum OutputOut<'a> {
    Text(String),
    Parts(Vec<ContentOut<'a>>),
}

#[derive(Serialize)]
struct SummaryRef<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

#[derive(Serialize)]
struct ToolOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    parameters: Cow<'a, Value>,
    strict: bool,
}

#[derive(Serialize)]
struct ReasoningOut {
    effort: &'static str,
    summary: &'static str,
}

fn content<'a>(p: &'a Part, role: Role) -> Option<ContentOut<'a>> {
    match p {
        Part::Text(t) if t.is_empty() => None,
        Part::Text(t) if role == Role::Assistant => Some(ContentOut::OutputText { text: t }),
        Part::Text(t) => Some(ContentOut::InputText { text: t }),
        Part::Image(i) if role == Role::User => Some(ContentOut::InputImage {
            image_url: Cow::Owned(image_url(i)),
            detail: "auto",
        }),
        _ => None,
    }
}

fn tool_output(content: &[Part]) -> OutputOut<'_> {
    if content.iter().any(|c| matches!(c, Part::Image(_))) {
        return OutputOut::Parts(
            content
                .iter()
                .filter_map(|c| self::content(c, Role::User))
                .collect(),
        );
    }
    let text: Vec<&str> = content
        .iter()
        .filter_map(|c| match c {
            Part::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    OutputOut::Text(text.join("\n"))
}

/// One IR message → items, in part order: text and image runs become a message item,
/// tool calls, results and signed reasoning become their own items.
fn emit_message<'a>(m: &'a Message, out: &mut Vec<InputItemOut<'a>>) {
    let role = match m.role {
        Role::User => "user",
        Role::Assistant => "assistant",
    };
    let mut run: Vec<ContentOut<'a>> = Vec::new();
    let flush = |run: &mut Vec<ContentOut<'a>>, out: &mut Vec<InputItemOut<'a>>| {
        if !run.is_empty() {
            out.push(InputItemOut::Message {
                role,
                content: std::mem::take(run),
            });
        }
    };
    for p in &m.parts {
        if let Some(c) = content(p, m.role) {
            run.push(c);
            continue;
        }
        let item = match p {
            Part::ToolCall {
                id,
                name,
                arguments,
            } if m.role == Role::Assistant => InputItemOut::FunctionCall {
                call_id: id,
                name,
                arguments: arguments.to_string(),
            },
            Part::ToolResult {
                call_id, content, ..
            } if m.role == Role::User => InputItemOut::FunctionCallOutput {
                call_id,
                output: tool_output(content),
            },
            Part::Thinking {
                text,
                signature: Some(sig),
            } if m.role == Role::Assistant => InputItemOut::Reasoning {
                summary: if text.is_empty() {
                    Vec::new()
                } else {
                    vec![SummaryRef {
                        kind: "summary_text",
                        text,
                    }]
                },
                encrypted_content: sig,
            },
            _ => continue,
        };
        flush(&mut run, out);
        out.push(item);
    }
    flush(&mut run, out);
}

/// IR → a Responses request body as the Codex backend takes it, before the provider's
/// own normalisation (`store`, `include`, dropped sampling fields). Stop sequences have
/// no Responses equivalent and are dropped; tools are sent `strict: false` unless the
/// client asked for strict schemas (Responses would otherwise enforce them).
pub fn emit_request(r: &Request) -> Result<Bytes, TranslateError> {
    let mut input = Vec::with_capacity(r.messages.len() + 1);
    if !r.system.is_empty() {
        input.push(InputItemOut::Message {
            role: "developer",
            content: r
                .system
                .iter()
                .map(|t| ContentOut::InputText { text: t })
                .collect(),
        });
    }
    for m in &r.messages {
        emit_message(m, &mut input);
    }
    let tools: Vec<ToolOut> = r
        .tools
        .iter()
        .map(|t| ToolOut {
            kind: "function",
            name: &t.name,
            description: t.description.as_deref(),
            parameters: if t.parameters.is_object() {
                Cow::Borrowed(&t.parameters)
            } else {
                Cow::Owned(json!({"type": "object", "properties": {}}))
            },
            strict: t.strict.unwrap_or(false),
        })
        .collect();
    let tool_choice = if tools.is_empty() {
        None
    } else {
        r.tool_choice.as_ref().map(|tc| match tc {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::None => json!("none"),
            ToolChoice::Required => json!("required"),
            ToolChoice::Named(n) => json!({"type": "function", "name": n}),
        })
    };
    let effort = match r.reasoning {
        Some(Reasoning::Effort(e)) => Some(e),
        Some(Reasoning::Budget(b)) => Some(Effort::from_budget(b)),
        // "none" is refused by models that cannot turn reasoning off; the default is safe.
        Some(Reasoning::Disabled) | None => None,
    };
    let out = RequestOut {
        model: &r.model,
        instructions: "",
        input,
        tools,
        tool_choice,
        parallel_tool_calls: r.parallel_tool_calls,
        reasoning: effort.map(|e| ReasoningOut {
            effort: e.as_str(),
            summary: "auto",
        }),
        max_output_tokens: r.max_tokens,
        temperature: r.temperature,
        top_p: r.top_p,
        stream: r.stream,
        user: r.user.as_deref(),
        prompt_cache_key: r.prompt_cache_key.as_deref(),
        metadata: r.metadata.as_ref(),
    };
    Ok(Bytes::from(serde_json::to_vec(&out)?))
}
