//! Anthropic SSE events <-> IR events: the upstream-side decoder and the client-side encoder.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::super::error::{ErrorMember, read_member};
use super::super::ir::{ApiError, ErrorKind, Event, StopReason, Usage};
use super::super::wire::{Lax, LaxStr, LaxU64, ObjectOrEmpty, shape};
use super::super::{new_id, sse};
use super::response::{
    emit_stream_error, emit_usage, message_id, parse_stop, parse_usage, stop_str,
};
use super::wire::{BlockType, InBlock, InStop, InUsage, OutUsage};

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum EventType {
    MessageStart,
    ContentBlockStart,
    ContentBlockDelta,
    MessageDelta,
    MessageStop,
    Error,
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct InEvent {
    #[serde(rename = "type")]
    kind: EventType,
    #[serde(default)]
    message: Lax<InStartMessage>,
    #[serde(default)]
    index: LaxU64,
    #[serde(default)]
    content_block: Lax<InBlock>,
    #[serde(default)]
    delta: Lax<InDelta>,
    #[serde(default)]
    usage: Lax<InUsage>,
    #[serde(default)]
    error: ErrorMember,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InStartMessage {
    id: LaxStr,
    model: LaxStr,
    usage: Lax<InUsage>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum DeltaType {
    TextDelta,
    ThinkingDelta,
    SignatureDelta,
    InputJsonDelta,
    #[serde(other)]
    Other,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InDelta {
    #[serde(rename = "type")]
    kind: Lax<DeltaType>,
    text: LaxStr,
    thinking: LaxStr,
    signature: LaxStr,
    partial_json: LaxStr,
    stop_reason: Lax<InStop>,
}

shape!(Map: InStartMessage, InDelta);
shape!(Str: DeltaType);

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
        let Ok(ev) = serde_json::from_str::<InEvent>(data) else {
            return;
        };
        match ev.kind {
            EventType::MessageStart => {
                let (id, model, usage) = match ev.message.0 {
                    Some(m) => (m.id.0, m.model.0, m.usage.0),
                    None => (None, None, None),
                };
                out.push(Event::Start {
                    id: id.unwrap_or_default(),
                    model: model.unwrap_or_default(),
                });
                if let Some(u) = usage {
                    out.push(Event::Usage(parse_usage(&u)));
                }
            }
            EventType::ContentBlockStart => {
                let index = ev.index.0.unwrap_or(0);
                let cb = ev.content_block.0.unwrap_or_default();
                let kind = match cb.kind() {
                    BlockType::Text => {
                        out.extend(cb.text.non_empty().map(Event::Text));
                        Block::Text
                    }
                    BlockType::Thinking => {
                        out.extend(cb.thinking.non_empty().map(Event::Thinking));
                        Block::Thinking
                    }
                    BlockType::ToolUse => {
                        let n = self.tools;
                        self.tools += 1;
                        out.push(Event::ToolStart {
                            index: n,
                            id: cb.id.0.unwrap_or_default(),
                            name: cb.name.0.unwrap_or_default(),
                        });
                        Block::Tool(n)
                    }
                    _ => Block::Other,
                };
                self.blocks.push((index, kind));
            }
            EventType::ContentBlockDelta => {
                let block = self.block(ev.index.0.unwrap_or(0));
                let Some(d) = ev.delta.0 else { return };
                let Some(kind) = d.kind.0 else { return };
                let ev = match (kind, block) {
                    (DeltaType::TextDelta, _) => d.text.0.map(Event::Text),
                    (DeltaType::ThinkingDelta, _) => d.thinking.0.map(Event::Thinking),
                    (DeltaType::SignatureDelta, _) => d.signature.0.map(Event::Signature),
                    (DeltaType::InputJsonDelta, Block::Tool(index)) => d
                        .partial_json
                        .0
                        .map(|fragment| Event::ToolArgs { index, fragment }),
                    _ => None,
                };
                out.extend(ev);
            }
            EventType::MessageDelta => {
                if let Some(u) = &ev.usage.0 {
                    out.push(Event::Usage(parse_usage(u)));
                }
                let stop = ev.delta.0.and_then(|d| d.stop_reason.0);
                out.extend(stop.and_then(parse_stop).map(Event::Finish));
            }
            EventType::MessageStop => out.push(Event::Done),
            EventType::Error => {
                let e = read_member(ev.error, None)
                    .unwrap_or_else(|| ApiError::new(ErrorKind::Api, "upstream error"));
                out.push(Event::Error(e));
            }
            EventType::Other => {} // ping, content_block_stop, unknown
        }
    }

    /// Upstream EOF: nothing is held back between events.
    pub fn finish(&mut self, _out: &mut Vec<Event>) {}
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutEvent<'a> {
    MessageStart {
        message: OutStartMessage<'a>,
    },
    ContentBlockStart {
        index: u64,
        content_block: OutStartBlock<'a>,
    },
    ContentBlockDelta {
        index: u64,
        delta: OutDelta<'a>,
    },
    ContentBlockStop {
        index: u64,
    },
    MessageDelta {
        delta: OutStop,
        usage: OutUsage,
    },
    MessageStop,
}

impl OutEvent<'_> {
    fn name(&self) -> &'static str {
        match self {
            OutEvent::MessageStart { .. } => "message_start",
            OutEvent::ContentBlockStart { .. } => "content_block_start",
            OutEvent::ContentBlockDelta { .. } => "content_block_delta",
            OutEvent::ContentBlockStop { .. } => "content_block_stop",
            OutEvent::MessageDelta { .. } => "message_delta",
            OutEvent::MessageStop => "message_stop",
        }
    }

    fn frame(&self) -> Bytes {
        sse::frame(Some(self.name()), self)
    }
}

#[derive(Serialize)]
struct OutStartMessage<'a> {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: [(); 0],
    stop_reason: Option<&'static str>,
    stop_sequence: Option<&'static str>,
    usage: OutStartUsage,
}

#[derive(Serialize)]
struct OutStartUsage {
    input_tokens: u64,
    output_tokens: u64,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutStartBlock<'a> {
    Text {
        text: &'static str,
    },
    Thinking {
        thinking: &'static str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: ObjectOrEmpty<'a>,
    },
}

#[derive(Serialize)]
#[serde(tag = "type")]
enum OutDelta<'a> {
    #[serde(rename = "text_delta")]
    Text { text: &'a str },
    #[serde(rename = "thinking_delta")]
    Thinking { thinking: &'a str },
    #[serde(rename = "signature_delta")]
    Signature { signature: &'a str },
    #[serde(rename = "input_json_delta")]
    InputJson { partial_json: &'a str },
}

#[derive(Serialize)]
struct OutStop {
    stop_reason: &'static str,
    stop_sequence: Option<&'static str>,
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
        let ev = OutEvent::MessageStart {
            message: OutStartMessage {
                id: message_id(id),
                kind: "message",
                role: "assistant",
                model: &self.model,
                content: [],
                stop_reason: None,
                stop_sequence: None,
                usage: OutStartUsage {
                    input_tokens: self.usage.input.unwrap_or(0),
                    output_tokens: 0,
                },
            },
        };
        out.push(ev.frame());
    }

    fn close(&mut self, out: &mut Vec<Bytes>) {
        if self.open.take().is_some() {
            let index = self.next_block - 1;
            out.push(OutEvent::ContentBlockStop { index }.frame());
        }
    }

    fn open(&mut self, kind: Open, content_block: OutStartBlock, out: &mut Vec<Bytes>) {
        self.close(out);
        let index = self.next_block;
        self.next_block += 1;
        self.open = Some(kind);
        out.push(
            OutEvent::ContentBlockStart {
                index,
                content_block,
            }
            .frame(),
        );
    }

    fn delta(&self, delta: OutDelta, out: &mut Vec<Bytes>) {
        let index = self.next_block.saturating_sub(1);
        out.push(OutEvent::ContentBlockDelta { index, delta }.frame());
    }

    fn end(&mut self, out: &mut Vec<Bytes>) {
        self.start("", out);
        self.close(out);
        let stop = self.stop.clone().unwrap_or(if self.saw_tool {
            StopReason::ToolUse
        } else {
            StopReason::EndTurn
        });
        let ev = OutEvent::MessageDelta {
            delta: OutStop {
                stop_reason: stop_str(&stop),
                stop_sequence: None,
            },
            usage: emit_usage(&self.usage),
        };
        out.push(ev.frame());
        out.push(OutEvent::MessageStop.frame());
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
                    self.open(Open::Text, OutStartBlock::Text { text: "" }, out);
                }
                self.delta(OutDelta::Text { text: t }, out);
            }
            Event::Thinking(t) => {
                if t.is_empty() {
                    return;
                }
                self.start("", out);
                if self.open != Some(Open::Thinking) {
                    self.open(
                        Open::Thinking,
                        OutStartBlock::Thinking { thinking: "" },
                        out,
                    );
                }
                self.delta(OutDelta::Thinking { thinking: t }, out);
            }
            Event::Signature(s) => {
                if s.is_empty() {
                    return;
                }
                // Reasoning that arrives as a signature alone (Codex's encrypted
                // reasoning without a summary) gets an empty thinking block to carry it,
                // so the client can send it back on the next turn.
                if self.open != Some(Open::Thinking) {
                    self.start("", out);
                    self.open(
                        Open::Thinking,
                        OutStartBlock::Thinking { thinking: "" },
                        out,
                    );
                }
                self.delta(OutDelta::Signature { signature: s }, out);
            }
            Event::ToolStart { index, id, name } => {
                self.start("", out);
                self.saw_tool = true;
                let made;
                let id = if id.is_empty() {
                    made = format!("toolu_{}", new_id());
                    &made
                } else {
                    id
                };
                self.open(
                    Open::Tool(*index),
                    OutStartBlock::ToolUse {
                        id,
                        name,
                        input: ObjectOrEmpty(None),
                    },
                    out,
                );
            }
            Event::ToolArgs { index, fragment } => {
                if !fragment.is_empty() && self.open == Some(Open::Tool(*index)) {
                    self.delta(
                        OutDelta::InputJson {
                            partial_json: fragment,
                        },
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
            Event::Error(e) => self.error(e, out),
        }
    }

    /// An `error` event; nothing follows it.
    pub fn error(&mut self, e: &ApiError, out: &mut Vec<Bytes>) {
        if self.finished {
            return;
        }
        out.push(emit_stream_error(e));
        self.finished = true;
    }

    /// Upstream EOF.
    pub fn finish(&mut self, out: &mut Vec<Bytes>) {
        if self.finished {
            return;
        }
        if self.stop.is_some() {
            self.end(out);
        } else {
            self.error(&crate::translate::truncated_stream(), out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
