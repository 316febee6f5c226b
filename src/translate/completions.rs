//! Legacy OpenAI Completions (`POST /v1/completions`: `prompt` in, `choices[].text` out)
//! <-> internal representation. As in CLIProxyAPI, a completion is served as a chat
//! turn: the prompt is one user message, the answer's text is the completion. Error
//! bodies are OpenAI's (the Chat file's).

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::TranslateError;
use super::ir::{ApiError, Event, Message, Part, Request, Response, Role, StopReason, Usage};
use super::openai_chat;

/// The model is the body's `model`.
pub const MODEL_IN_PATH: bool = false;

#[derive(Deserialize)]
#[serde(untagged)]
enum Prompt {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct RequestIn {
    #[serde(default)]
    model: String,
    prompt: Option<Prompt>,
    #[serde(default)]
    suffix: Option<String>,
    max_tokens: Option<u64>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    #[serde(default)]
    stop: Option<Prompt>,
    #[serde(default)]
    stream: bool,
    user: Option<String>,
}

/// A completions body → IR: the prompt (a string or strings, joined by newlines) is
/// one user message.
pub fn parse_request(body: &[u8]) -> Result<Request, TranslateError> {
    let r: RequestIn = serde_json::from_slice(body)?;
    let prompt = match r.prompt {
        Some(Prompt::One(s)) => s,
        Some(Prompt::Many(v)) => v.join("\n"),
        None => {
            return Err(TranslateError::Invalid(
                "missing field `prompt` (a string or an array of strings)".into(),
            ));
        }
    };
    let text = match r.suffix.filter(|s| !s.is_empty()) {
        Some(s) => format!("{prompt}{s}"),
        None => prompt,
    };
    Ok(Request {
        model: r.model,
        messages: vec![Message {
            role: Role::User,
            parts: vec![Part::Text(text)],
        }],
        max_tokens: r.max_tokens,
        temperature: r.temperature,
        top_p: r.top_p,
        stop: match r.stop {
            Some(Prompt::One(s)) => vec![s],
            Some(Prompt::Many(v)) => v,
            None => Vec::new(),
        },
        stream: r.stream,
        include_usage: r.stream,
        user: r.user,
        ..Request::default()
    })
}

#[derive(Serialize)]
struct RequestOut<'a> {
    model: &'a str,
    prompt: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop: &'a [String],
    stream: bool,
}

fn texts(parts: &[Part]) -> String {
    parts
        .iter()
        .filter_map(|p| match p {
            Part::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

/// IR → a completions body: system text and messages become one prompt.
pub fn emit_request(r: &Request) -> Result<Bytes, TranslateError> {
    let mut prompt: Vec<String> = r.system.clone();
    prompt.extend(r.messages.iter().map(|m| texts(&m.parts)));
    let out = RequestOut {
        model: &r.model,
        prompt: prompt.join("\n\n"),
        max_tokens: r.max_tokens,
        temperature: r.temperature,
        top_p: r.top_p,
        stop: &r.stop,
        stream: r.stream,
    };
    Ok(Bytes::from(serde_json::to_vec(&out)?))
}

#[derive(Deserialize, Default)]
struct UsageIn {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct ChoiceIn {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ResponseIn {
    #[serde(default)]
    id: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    choices: Vec<ChoiceIn>,
    #[serde(default)]
    usage: Option<UsageIn>,
}

fn stop_of(s: Option<&str>) -> Option<StopReason> {
    match s? {
        "length" => Some(StopReason::MaxTokens),
        "content_filter" => Some(StopReason::Refusal),
        "tool_calls" => Some(StopReason::ToolUse),
        _ => Some(StopReason::EndTurn),
    }
}

fn finish_of(s: &StopReason) -> &'static str {
    match s {
        StopReason::MaxTokens => "length",
        StopReason::Refusal => "content_filter",
        StopReason::ToolUse => "tool_calls",
        StopReason::EndTurn | StopReason::StopSequence => "stop",
    }
}

fn usage_of(u: Option<&UsageIn>) -> Usage {
    u.map(|u| Usage {
        input: u.prompt_tokens,
        output: u.completion_tokens,
        ..Usage::default()
    })
    .unwrap_or_default()
}

pub fn parse_response(body: &[u8]) -> Result<Response, TranslateError> {
    let r: ResponseIn = serde_json::from_slice(body)?;
    let choice = r.choices.into_iter().next();
    let (text, stop) = choice.map_or((None, None), |c| (c.text, c.finish_reason));
    Ok(Response {
        id: r.id,
        model: r.model,
        parts: text.into_iter().map(Part::Text).collect(),
        stop: stop_of(stop.as_deref()),
        usage: usage_of(r.usage.as_ref()),
    })
}

#[derive(Serialize)]
struct UsageOut {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
}

fn usage_out(u: &Usage) -> UsageOut {
    let prompt = u.input.unwrap_or(0) + u.cache_read.unwrap_or(0) + u.cache_creation.unwrap_or(0);
    let completion = u.output.unwrap_or(0);
    UsageOut {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
    }
}

#[derive(Serialize)]
struct ChoiceOut<'a> {
    index: u32,
    text: &'a str,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
}

#[derive(Serialize)]
struct ResponseOut<'a> {
    id: &'a str,
    object: &'static str,
    created: i64,
    model: &'a str,
    choices: [ChoiceOut<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<UsageOut>,
}

fn completion_id(id: &str) -> String {
    super::relabel_id(id, "cmpl-", "chatcmpl-")
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn to_bytes<T: Serialize>(v: &T) -> Bytes {
    serde_json::to_vec(v)
        .map(Bytes::from)
        .unwrap_or_else(|_| Bytes::from_static(b"{}"))
}

/// IR → a `text_completion` echoing `client_model`. Tool calls and reasoning have no
/// place in a completion; only text is kept.
pub fn emit_response(r: &Response, client_model: &str) -> Bytes {
    let text = texts(&r.parts);
    let id = completion_id(&r.id);
    to_bytes(&ResponseOut {
        id: &id,
        object: "text_completion",
        created: now(),
        model: client_model,
        choices: [ChoiceOut {
            index: 0,
            text: &text,
            logprobs: None,
            finish_reason: Some(r.stop.as_ref().map_or("stop", finish_of)),
        }],
        usage: Some(usage_out(&r.usage)),
    })
}

pub fn emit_error(e: &ApiError) -> Bytes {
    openai_chat::emit_error(e)
}

pub fn emit_stream_error(e: &ApiError) -> Bytes {
    openai_chat::emit_stream_error(e)
}

/// Upstream completion chunks → IR events.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    started: bool,
    done: bool,
}

impl StreamDecoder {
    pub fn decode(&mut self, data: &str, out: &mut Vec<Event>) {
        if self.done {
            return;
        }
        if data.trim() == "[DONE]" {
            self.done = true;
            out.push(Event::Done);
            return;
        }
        let Ok(r) = serde_json::from_str::<ResponseIn>(data) else {
            return;
        };
        if !self.started {
            self.started = true;
            out.push(Event::Start {
                id: r.id.clone(),
                model: r.model.clone(),
            });
        }
        if let Some(c) = r.choices.into_iter().next() {
            if let Some(t) = c.text.filter(|t| !t.is_empty()) {
                out.push(Event::Text(t));
            }
            if let Some(s) = stop_of(c.finish_reason.as_deref()) {
                out.push(Event::Finish(s));
            }
        }
        if let Some(u) = r.usage.as_ref() {
            out.push(Event::Usage(usage_of(Some(u))));
        }
    }

    pub fn finish(&mut self, out: &mut Vec<Event>) {
        if !self.done {
            self.done = true;
            out.push(Event::Error(super::truncated_stream()));
        }
    }
}

/// IR events → completion chunks, ending with `data: [DONE]`.
#[derive(Debug)]
pub struct StreamEncoder {
    model: String,
    id: String,
    created: i64,
    stop: Option<StopReason>,
    usage: Usage,
    errored: bool,
    done: bool,
}

impl StreamEncoder {
    pub fn new(client_model: &str) -> Self {
        StreamEncoder {
            model: client_model.to_string(),
            id: completion_id(""),
            created: now(),
            stop: None,
            usage: Usage::default(),
            errored: false,
            done: false,
        }
    }

    fn chunk(&self, text: &str, finish: Option<&'static str>, usage: Option<UsageOut>) -> Bytes {
        let body = to_bytes(&ResponseOut {
            id: &self.id,
            object: "text_completion",
            created: self.created,
            model: &self.model,
            choices: [ChoiceOut {
                index: 0,
                text,
                logprobs: None,
                finish_reason: finish,
            }],
            usage,
        });
        let mut f = Vec::with_capacity(body.len() + 8);
        f.extend_from_slice(b"data: ");
        f.extend_from_slice(&body);
        f.extend_from_slice(b"\n\n");
        Bytes::from(f)
    }

    pub fn encode(&mut self, ev: &Event, out: &mut Vec<Bytes>) {
        if self.done || self.errored {
            return;
        }
        match ev {
            Event::Start { id, .. } if !id.is_empty() => self.id = completion_id(id),
            Event::Text(t) if !t.is_empty() => out.push(self.chunk(t, None, None)),
            Event::Usage(u) => self.usage.merge(u),
            Event::Finish(s) => self.stop = Some(s.clone()),
            Event::Done => self.done(out),
            Event::Error(e) => self.error(e, out),
            _ => {}
        }
    }

    fn done(&mut self, out: &mut Vec<Bytes>) {
        let finish = self.stop.as_ref().map_or("stop", finish_of);
        let usage = (!self.usage.is_empty()).then(|| usage_out(&self.usage));
        out.push(self.chunk("", Some(finish), usage));
        out.push(Bytes::from_static(b"data: [DONE]\n\n"));
        self.done = true;
    }

    /// An error chunk; only `[DONE]` follows it.
    pub fn error(&mut self, e: &ApiError, out: &mut Vec<Bytes>) {
        if self.done || self.errored {
            return;
        }
        out.push(emit_stream_error(e));
        self.errored = true;
    }

    pub fn finish(&mut self, out: &mut Vec<Bytes>) {
        if self.done {
            return;
        }
        if !self.errored && self.stop.is_some() {
            self.done(out);
            return;
        }
        if !self.errored {
            self.error(&super::truncated_stream(), out);
        }
        out.push(Bytes::from_static(b"data: [DONE]\n\n"));
        self.done = true;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn a_prompt_is_one_user_message() {
        let r = parse_request(
            br#"{"model":"m","prompt":["Say","hi"],"max_tokens":7,"stop":"\n","stream":true,"suffix":"!"}"#,
        )
        .unwrap();
        assert_eq!(r.messages.len(), 1);
        assert_eq!(r.messages[0].parts, vec![Part::Text("Say\nhi!".into())]);
        assert_eq!(
            (r.max_tokens, r.stop.clone(), r.stream),
            (Some(7), vec!["\n".to_string()], true)
        );
        assert!(matches!(
            parse_request(br#"{"model":"m"}"#),
            Err(TranslateError::Invalid(m)) if m.contains("prompt")
        ));
        assert!(matches!(
            parse_request(br#"{"model":"m","prompt":[1,2]}"#),
            Err(TranslateError::Invalid(_))
        ));
        let back = parse_request(&emit_request(&r).unwrap()).unwrap();
        assert_eq!(back.messages, r.messages);
    }

    #[test]
    fn responses_become_text_completions() {
        let r = Response {
            id: "chatcmpl-abc".into(),
            model: "up".into(),
            parts: vec![Part::Text("Hello".into())],
            stop: Some(StopReason::MaxTokens),
            usage: Usage {
                input: Some(3),
                output: Some(2),
                cache_read: Some(1),
                ..Usage::default()
            },
        };
        let mut v: Value = serde_json::from_slice(&emit_response(&r, "alias")).unwrap();
        v.as_object_mut().unwrap().remove("created");
        assert_eq!(
            v,
            json!({"id": "cmpl-abc", "object": "text_completion", "model": "alias",
                   "choices": [{"index": 0, "text": "Hello", "logprobs": null, "finish_reason": "length"}],
                   "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}})
        );
        let back = parse_response(&emit_response(&r, "alias")).unwrap();
        assert_eq!(back.parts, r.parts);
        assert_eq!(back.stop, r.stop);
    }

    #[test]
    fn streams_end_with_a_finish_chunk_and_done() {
        let mut e = StreamEncoder::new("m");
        let mut out = Vec::new();
        for ev in [
            Event::Start {
                id: "chatcmpl-1".into(),
                model: "up".into(),
            },
            Event::Text("Hel".into()),
            Event::Text("lo".into()),
            Event::Finish(StopReason::EndTurn),
            Event::Usage(Usage {
                input: Some(1),
                output: Some(2),
                ..Usage::default()
            }),
        ] {
            e.encode(&ev, &mut out);
        }
        e.finish(&mut out);
        let text: String = out.iter().map(|b| String::from_utf8_lossy(b)).collect();
        let datas: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .collect();
        assert_eq!(datas.last(), Some(&"[DONE]"));
        let chunks: Vec<Value> = datas[..datas.len() - 1]
            .iter()
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        assert!(
            chunks
                .iter()
                .all(|c| c["object"] == "text_completion" && c["id"] == "cmpl-1")
        );
        let joined: String = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["text"].as_str())
            .collect();
        assert_eq!(joined, "Hello");
        assert_eq!(
            chunks.last().unwrap()["choices"][0]["finish_reason"],
            "stop"
        );
        assert_eq!(chunks.last().unwrap()["usage"]["total_tokens"], 3);
        // Decoding it back gives the same text.
        let mut d = StreamDecoder::default();
        let mut evs = Vec::new();
        for data in &datas {
            d.decode(data, &mut evs);
        }
        d.finish(&mut evs);
        assert!(evs.contains(&Event::Text("Hel".into())));
        assert_eq!(evs.last(), Some(&Event::Done));

        let mut cut = StreamEncoder::new("m");
        let mut out = Vec::new();
        cut.encode(&Event::Text("x".into()), &mut out);
        cut.finish(&mut out);
        let text: String = out.iter().map(|b| String::from_utf8_lossy(b)).collect();
        assert!(
            text.contains("\"error\"") && text.ends_with("data: [DONE]\n\n"),
            "{text}"
        );
    }
}
