//! OpenAI chat.completion.chunk streams <-> IR events: the upstream-side decoder and the client-side encoder.

use bytes::Bytes;
use serde::Serialize;

use super::super::error::read_member;
use super::super::ir::{ApiError, Event, Usage};
use super::super::wire::StrOr;
use super::super::{new_id, sse};
use super::request::text_of;
use super::response::{
    completion_id, emit_stream_error, emit_usage, finish_str, now, parse_finish, parse_usage,
};
use super::wire::{InChunk, InChunkHead, OutUsage};

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
        let Ok(c) = serde_json::from_str::<InChunk>(data) else {
            return;
        };
        if let Some(e) = read_member(c.error, None) {
            out.push(Event::Error(e));
            return;
        }
        if !self.started {
            self.started = true;
            let head = serde_json::from_str::<InChunkHead>(data).ok();
            let (id, model) = head.map_or((None, None), |h| (h.id.0, h.model.0));
            out.push(Event::Start {
                id: id.unwrap_or_default(),
                model: model.unwrap_or_default(),
            });
        }
        let mut finish = None;
        if let Some(choice) = c.choices.0.and_then(|cs| cs.into_iter().next()) {
            let d = choice.delta.0.unwrap_or_default();
            let thinking = d.reasoning_content.non_empty().or(d.reasoning.0);
            out.extend(thinking.filter(|t| !t.is_empty()).map(Event::Thinking));
            let text = text_of(d.content);
            if !text.is_empty() {
                out.push(Event::Text(text));
            }
            for (pos, tc) in d.tool_calls.0.into_iter().flatten().enumerate() {
                let oai_index = tc.index.0.unwrap_or(pos as u64);
                let f = tc.function.0.unwrap_or_default();
                let index = match self.tools.iter().position(|i| *i == oai_index) {
                    Some(i) => i,
                    None => {
                        self.tools.push(oai_index);
                        let index = self.tools.len() - 1;
                        out.push(Event::ToolStart {
                            index,
                            id: tc.id.0.unwrap_or_else(|| format!("call_{}", new_id())),
                            name: f.name.0.unwrap_or_default(),
                        });
                        index
                    }
                };
                if let StrOr::Str(fragment) = f.arguments
                    && !fragment.is_empty()
                {
                    out.push(Event::ToolArgs { index, fragment });
                }
            }
            finish = choice.finish_reason.0.and_then(parse_finish);
        }
        out.extend(finish.map(Event::Finish));
        if let Some(u) = &c.usage.0 {
            out.push(Event::Usage(parse_usage(u)));
        }
    }

    /// Upstream EOF: nothing is held back between chunks.
    pub fn finish(&mut self, _out: &mut Vec<Event>) {}
}

#[derive(Serialize)]
struct OutChunk<'a> {
    id: &'a str,
    object: &'static str,
    created: i64,
    model: &'a str,
    choices: &'a [OutChunkChoice<'a>],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<OutUsage>,
}

#[derive(Serialize)]
struct OutChunkChoice<'a> {
    index: u32,
    delta: OutDelta<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
}

#[derive(Serialize, Default)]
struct OutDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[OutDeltaCall<'a>; 1]>,
}

#[derive(Serialize)]
struct OutDeltaCall<'a> {
    index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: OutDeltaFunction<'a>,
}

#[derive(Serialize)]
struct OutDeltaFunction<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    arguments: &'a str,
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
    pub fn new(client_model: &str) -> Self {
        StreamEncoder {
            id: String::new(),
            model: client_model.to_string(),
            created: now(),
            include_usage: false,
            started: false,
            finished: false,
            errored: false,
            done: false,
            usage: Usage::default(),
        }
    }

    /// Usage in a separate final chunk (`stream_options.include_usage`).
    pub fn set_include_usage(&mut self, include: bool) {
        self.include_usage = include;
    }

    fn chunk(&self, choices: &[OutChunkChoice], usage: Option<OutUsage>) -> Bytes {
        let c = OutChunk {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices,
            usage,
        };
        sse::frame(None, &c)
    }

    fn choice<'a>(delta: OutDelta<'a>, finish: Option<&'static str>) -> OutChunkChoice<'a> {
        OutChunkChoice {
            index: 0,
            delta,
            logprobs: None,
            finish_reason: finish,
        }
    }

    fn start(&mut self, id: &str, out: &mut Vec<Bytes>) {
        if self.started {
            return;
        }
        self.started = true;
        self.id = completion_id(id);
        let delta = OutDelta {
            role: Some("assistant"),
            content: Some(""),
            ..OutDelta::default()
        };
        out.push(self.chunk(&[Self::choice(delta, None)], None));
    }

    fn delta(&mut self, delta: OutDelta, out: &mut Vec<Bytes>) {
        self.start("", out);
        out.push(self.chunk(&[Self::choice(delta, None)], None));
    }

    fn done(&mut self, out: &mut Vec<Bytes>) {
        if self.done {
            return;
        }
        if self.finished && self.include_usage {
            out.push(self.chunk(&[], Some(emit_usage(&self.usage))));
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
            Event::Text(t) if !t.is_empty() => {
                let delta = OutDelta {
                    content: Some(t),
                    ..OutDelta::default()
                };
                self.delta(delta, out);
            }
            Event::Thinking(t) if !t.is_empty() => {
                let delta = OutDelta {
                    reasoning_content: Some(t),
                    ..OutDelta::default()
                };
                self.delta(delta, out);
            }
            Event::ToolStart { index, id, name } => {
                let call = OutDeltaCall {
                    index: *index,
                    id: Some(id),
                    kind: Some("function"),
                    function: OutDeltaFunction {
                        name: Some(name),
                        arguments: "",
                    },
                };
                let delta = OutDelta {
                    tool_calls: Some([call]),
                    ..OutDelta::default()
                };
                self.delta(delta, out);
            }
            Event::ToolArgs { index, fragment } if !fragment.is_empty() => {
                let call = OutDeltaCall {
                    index: *index,
                    id: None,
                    kind: None,
                    function: OutDeltaFunction {
                        name: None,
                        arguments: fragment,
                    },
                };
                let delta = OutDelta {
                    tool_calls: Some([call]),
                    ..OutDelta::default()
                };
                self.delta(delta, out);
            }
            Event::Usage(u) => self.usage.merge(u),
            Event::Finish(s) => {
                if self.finished {
                    return;
                }
                self.start("", out);
                let choice = Self::choice(OutDelta::default(), Some(finish_str(s)));
                let usage = (!self.include_usage && !self.usage.is_empty())
                    .then(|| emit_usage(&self.usage));
                out.push(self.chunk(&[choice], usage));
                self.finished = true;
            }
            Event::Done => self.done(out),
            Event::Error(e) => self.error(e, out),
            Event::Signature(_) | Event::Text(_) | Event::Thinking(_) | Event::ToolArgs { .. } => {}
        }
    }

    /// An error chunk; only `[DONE]` follows it.
    pub fn error(&mut self, e: &ApiError, out: &mut Vec<Bytes>) {
        if self.done || self.errored {
            return;
        }
        out.push(emit_stream_error(e));
        self.errored = true;
    }

    /// Upstream EOF.
    pub fn finish(&mut self, out: &mut Vec<Bytes>) {
        if self.done {
            return;
        }
        if !self.finished && !self.errored {
            self.error(&crate::translate::truncated_stream(), out);
        }
        self.done(out);
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::ir::StopReason;
    use super::*;

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
    fn decoder_skips_odd_members_of_compatible_upstreams() {
        let mut d = StreamDecoder::default();
        let mut out = Vec::new();
        d.decode(
            r#"{"id":"x","choices":[{"delta":{"content":"Hi","reasoning":{"text":"?"},"tool_calls":null},"finish_reason":"eos"}],"usage":{"prompt_tokens":"n/a"}}"#,
            &mut out,
        );
        assert_eq!(
            out,
            vec![
                Event::Start {
                    id: "x".into(),
                    model: String::new()
                },
                Event::Text("Hi".into()),
                Event::Usage(Usage::default()),
            ]
        );
    }
}
