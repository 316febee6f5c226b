//! Anthropic Messages requests <-> IR.

use bytes::Bytes;
use serde_json::Value;

use super::super::TranslateError;
use super::super::ir::{Effort, Image, Message, Part, Reasoning, Request, Role, Tool, ToolChoice};
use super::super::wire::{ObjectOrEmpty, StrOr, empty_schema};
use super::DEFAULT_MAX_TOKENS;
use super::wire::{
    BlockType, ChoiceType, InBlock, InRequest, InRole, ObjectOrEmptySchema, OutBlock, OutMessage,
    OutMetadata, OutRequest, OutSource, OutSystem, OutThinking, OutTool, OutToolChoice,
    OutToolContent, SourceType, ThinkingType,
};

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

pub(super) fn parse_block(b: InBlock) -> Option<Part> {
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

pub(super) fn emit_block(p: &Part) -> Option<OutBlock<'_>> {
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
