//! Items (the unit of Responses input and output) <-> IR parts.

use serde_json::{Value, json};

use super::super::ir::{Image, Part, Role};
use super::new_id;
use super::wire::{ContentIn, ImageUrlIn, ItemIn, ItemOut, PartIn, SummaryOut, TextOut};

/// What one input or output item contributes to the IR.
#[derive(Debug, PartialEq)]
pub(super) enum Converted {
    /// A `system` / `developer` message: its text parts.
    System(Vec<String>),
    /// A user or assistant message.
    Message(Role, Vec<Part>),
    /// A tool call or reasoning (assistant side) or a tool result (user side).
    Part(Role, Part),
    Skip,
}

pub(super) fn convert(item: ItemIn) -> Converted {
    let kind = item
        .kind
        .as_deref()
        .unwrap_or(if item.role.is_some() { "message" } else { "" });
    match kind {
        "message" => match item.role.as_deref() {
            Some("system") | Some("developer") => Converted::System(
                parts_of(item.content)
                    .into_iter()
                    .filter_map(|p| match p {
                        Part::Text(t) => Some(t),
                        _ => None,
                    })
                    .collect(),
            ),
            Some("assistant") => Converted::Message(Role::Assistant, parts_of(item.content)),
            Some("user") => Converted::Message(Role::User, parts_of(item.content)),
            _ => Converted::Skip,
        },
        "function_call" => Converted::Part(
            Role::Assistant,
            Part::ToolCall {
                id: call_id(item.call_id, item.id),
                name: item.name.unwrap_or_default(),
                arguments: parse_arguments(item.arguments),
            },
        ),
        // Codex's free-form tools; kept so the call and its output stay paired.
        "custom_tool_call" => Converted::Part(
            Role::Assistant,
            Part::ToolCall {
                id: call_id(item.call_id, item.id),
                name: item.name.unwrap_or_default(),
                arguments: json!({"input": item.input.unwrap_or_default()}),
            },
        ),
        "function_call_output" | "custom_tool_call_output" => Converted::Part(
            Role::User,
            Part::ToolResult {
                call_id: item.call_id.unwrap_or_default(),
                content: parts_of(item.output),
                is_error: false,
            },
        ),
        "reasoning" => match thinking_of(item.summary, item.content, item.encrypted_content) {
            Some(p) => Converted::Part(Role::Assistant, p),
            None => Converted::Skip,
        },
        _ => Converted::Skip,
    }
}

fn call_id(call_id: Option<String>, item_id: Option<String>) -> String {
    call_id
        .filter(|c| !c.is_empty())
        .or(item_id)
        .unwrap_or_else(|| format!("call_{}", new_id()))
}

/// Arguments are a JSON string holding an object; anything else becomes `{}`.
pub(super) fn parse_arguments(args: Option<Value>) -> Value {
    match args {
        Some(Value::String(s)) => serde_json::from_str::<Value>(&s)
            .ok()
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({})),
        Some(v @ Value::Object(_)) => v,
        _ => json!({}),
    }
}

pub(super) fn thinking_of(
    summary: Option<Vec<PartIn>>,
    content: Option<ContentIn>,
    encrypted: Option<String>,
) -> Option<Part> {
    let mut texts: Vec<String> = summary
        .into_iter()
        .flatten()
        .filter_map(|p| match p {
            PartIn::SummaryText { text } => Some(text),
            _ => None,
        })
        .collect();
    if texts.is_empty()
        && let Some(ContentIn::Items(parts)) = content
    {
        texts = parts
            .into_iter()
            .filter_map(|p| match p {
                PartIn::ReasoningText { text } => Some(text),
                _ => None,
            })
            .collect();
    }
    let text = texts.join("\n\n");
    let signature = encrypted.filter(|e| !e.is_empty());
    if text.is_empty() && signature.is_none() {
        return None;
    }
    Some(Part::Thinking { text, signature })
}

/// Message (or tool output) content → text and image parts.
pub(super) fn parts_of(c: Option<ContentIn>) -> Vec<Part> {
    match c {
        None => Vec::new(),
        Some(ContentIn::Text(t)) if t.is_empty() => Vec::new(),
        Some(ContentIn::Text(t)) => vec![Part::Text(t)],
        Some(ContentIn::Items(parts)) => parts
            .into_iter()
            .filter_map(|p| match p {
                PartIn::InputText { text }
                | PartIn::OutputText { text }
                | PartIn::Text { text } => Some(Part::Text(text)),
                PartIn::Refusal { refusal } => Some(Part::Text(refusal)),
                PartIn::InputImage {
                    image_url: Some(ImageUrlIn::Url(u) | ImageUrlIn::Object { url: u }),
                } => Some(Part::Image(parse_image_url(&u))),
                _ => None,
            })
            .filter(|p| !matches!(p, Part::Text(t) if t.is_empty()))
            .collect(),
    }
}

pub(super) fn parse_image_url(url: &str) -> Image {
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

pub(super) fn image_url(i: &Image) -> String {
    match i {
        Image::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
        Image::Url(u) => u.clone(),
    }
}

/// A reasoning item's summary parts for a thinking text (none when it is empty).
pub(super) fn summary_of(text: &str) -> Vec<SummaryOut> {
    if text.is_empty() {
        Vec::new()
    } else {
        vec![SummaryOut::new(text.to_string())]
    }
}

/// A response's parts → output items. Consecutive text parts share one message item;
/// item ids derive from `base` (the response id without its prefix) and the position.
pub(super) fn output_items(parts: &[Part], base: &str) -> Vec<ItemOut> {
    let mut out: Vec<ItemOut> = Vec::new();
    for p in parts {
        let n = out.len();
        match p {
            Part::Text(t) if t.is_empty() => {}
            Part::Text(t) => {
                if let Some(ItemOut::Message { content, .. }) = out.last_mut() {
                    content.push(TextOut::new(t.clone()));
                } else {
                    out.push(ItemOut::Message {
                        id: format!("msg_{base}_{n}"),
                        status: "completed",
                        role: "assistant",
                        content: vec![TextOut::new(t.clone())],
                    });
                }
            }
            Part::ToolCall {
                id,
                name,
                arguments,
            } => out.push(ItemOut::FunctionCall {
                id: format!("fc_{base}_{n}"),
                status: "completed",
                arguments: arguments.to_string(),
                call_id: id.clone(),
                name: name.clone(),
            }),
            Part::Thinking { text, signature } => out.push(ItemOut::Reasoning {
                id: format!("rs_{base}_{n}"),
                summary: summary_of(text),
                encrypted_content: signature.clone(),
            }),
            Part::Image(_) | Part::ToolResult { .. } => {}
        }
    }
    out
}
