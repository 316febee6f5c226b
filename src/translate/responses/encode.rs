//! IR events → Responses SSE frames (client side), in the documented order:
//! `response.created`, `response.in_progress`, then per item `output_item.added`, its
//! part/delta/done events and `output_item.done`, and finally `response.completed`
//! (or `response.incomplete`, or `error` + `response.failed`).

use bytes::Bytes;
use serde::Serialize;

use super::super::ir::{ApiError, ErrorKind, Event, StopReason, Usage};
use super::response::status_of;
use super::wire::{ErrorOut, ItemOut, ResponseOut, SummaryOut, TextOut};
use super::{error_code, new_id, now, response_id, usage_to_wire};

/// `event: <type>` + `data: <json>`. Serializing these types cannot fail; the fallback
/// only guarantees that no frame ever has an empty `data:`.
fn frame<T: Serialize>(event: &str, data: &T) -> Bytes {
    let mut buf = Vec::with_capacity(192);
    buf.extend_from_slice(b"event: ");
    buf.extend_from_slice(event.as_bytes());
    buf.extend_from_slice(b"\ndata: ");
    let mark = buf.len();
    if serde_json::to_writer(&mut buf, data).is_err() {
        buf.truncate(mark);
        buf.extend_from_slice(b"{}");
    }
    buf.extend_from_slice(b"\n\n");
    Bytes::from(buf)
}

#[derive(Serialize)]
struct Envelope<T> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence_number: u64,
    #[serde(flatten)]
    payload: T,
}

/// Numbers frames from 0 and writes them.
#[derive(Debug, Default)]
struct Writer {
    seq: u64,
}

impl Writer {
    fn push<T: Serialize>(&mut self, kind: &'static str, payload: T, out: &mut Vec<Bytes>) {
        let env = Envelope {
            kind,
            sequence_number: self.seq,
            payload,
        };
        self.seq += 1;
        out.push(frame(kind, &env));
    }
}

#[derive(Serialize)]
struct ResponseP<'a> {
    response: ResponseOut<'a>,
}

#[derive(Serialize)]
struct ItemP<'a> {
    output_index: usize,
    item: &'a ItemOut,
}

#[derive(Serialize)]
struct ContentPartP<'a> {
    item_id: &'a str,
    output_index: usize,
    content_index: usize,
    part: &'a TextOut,
}

#[derive(Serialize)]
struct TextP<'a> {
    item_id: &'a str,
    output_index: usize,
    content_index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    delta: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    logprobs: [(); 0],
}

#[derive(Serialize)]
struct SummaryPartP<'a> {
    item_id: &'a str,
    output_index: usize,
    summary_index: usize,
    part: &'a SummaryOut,
}

#[derive(Serialize)]
struct SummaryTextP<'a> {
    item_id: &'a str,
    output_index: usize,
    summary_index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    delta: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
}

#[derive(Serialize)]
struct ArgsP<'a> {
    item_id: &'a str,
    output_index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    delta: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arguments: Option<&'a str>,
}

#[derive(Serialize)]
struct ErrorP<'a> {
    code: &'static str,
    message: &'a str,
    param: Option<()>,
}

/// IR events → Responses SSE frames. Items close when an item of another kind starts
/// (function calls stay open until text or reasoning follows, so interleaved argument
/// deltas of parallel calls still land) and all close before the terminal event.
#[derive(Debug)]
pub struct StreamEncoder {
    model: String,
    id: String,
    created_at: i64,
    writer: Writer,
    started: bool,
    /// Every item so far; the position is the `output_index`.
    items: Vec<ItemOut>,
    /// Output indices of items not yet done, ascending.
    open: Vec<usize>,
    /// IR tool index → output index.
    tools: Vec<(usize, usize)>,
    usage: Usage,
    stop: Option<StopReason>,
    finished: bool,
}

impl StreamEncoder {
    pub fn new(client_model: &str) -> Self {
        StreamEncoder {
            model: client_model.to_string(),
            id: String::new(),
            created_at: now(),
            writer: Writer::default(),
            started: false,
            items: Vec::new(),
            open: Vec::new(),
            tools: Vec::new(),
            usage: Usage::default(),
            stop: None,
            finished: false,
        }
    }

    fn response(&self, status: &'static str) -> ResponseOut<'_> {
        let mut r = ResponseOut::new(&self.id, &self.model, self.created_at, &self.items);
        r.status = status;
        r
    }

    fn start(&mut self, id: &str, out: &mut Vec<Bytes>) {
        if self.started {
            return;
        }
        self.started = true;
        self.id = response_id(id);
        let mut w = std::mem::take(&mut self.writer);
        w.push(
            "response.created",
            ResponseP {
                response: self.response("in_progress"),
            },
            out,
        );
        w.push(
            "response.in_progress",
            ResponseP {
                response: self.response("in_progress"),
            },
            out,
        );
        self.writer = w;
    }

    fn item_id(&self, prefix: &str) -> String {
        let base = self.id.trim_start_matches("resp_");
        format!("{prefix}_{base}_{}", self.items.len())
    }

    fn open_item(&mut self, item: ItemOut, out: &mut Vec<Bytes>) -> usize {
        let n = self.items.len();
        self.items.push(item);
        self.open.push(n);
        self.writer.push(
            "response.output_item.added",
            ItemP {
                output_index: n,
                item: &self.items[n],
            },
            out,
        );
        n
    }

    /// The open item accepting more text, opening one after closing the others.
    fn message(&mut self, out: &mut Vec<Bytes>) -> usize {
        if let Some(&n) = self.open.last()
            && matches!(self.items[n], ItemOut::Message { .. })
        {
            return n;
        }
        self.close_all(out);
        let item = ItemOut::Message {
            id: self.item_id("msg"),
            status: "in_progress",
            role: "assistant",
            content: Vec::new(),
        };
        let n = self.open_item(item, out);
        let part = TextOut::new(String::new());
        if let ItemOut::Message { id, content, .. } = &mut self.items[n] {
            self.writer.push(
                "response.content_part.added",
                ContentPartP {
                    item_id: id,
                    output_index: n,
                    content_index: 0,
                    part: &part,
                },
                out,
            );
            content.push(part);
        }
        n
    }

    /// The open reasoning item accepting more summary text (`summary_part`: with an open
    /// summary part). One that already has its signature is finished.
    fn reasoning(&mut self, summary_part: bool, out: &mut Vec<Bytes>) -> usize {
        let n = match self.open.last() {
            Some(&n)
                if matches!(
                    self.items[n],
                    ItemOut::Reasoning {
                        encrypted_content: None,
                        ..
                    }
                ) =>
            {
                n
            }
            _ => {
                self.close_all(out);
                let item = ItemOut::Reasoning {
                    id: self.item_id("rs"),
                    summary: Vec::new(),
                    encrypted_content: None,
                };
                self.open_item(item, out)
            }
        };
        if let ItemOut::Reasoning { id, summary, .. } = &mut self.items[n]
            && summary_part
            && summary.is_empty()
        {
            let part = SummaryOut::new(String::new());
            self.writer.push(
                "response.reasoning_summary_part.added",
                SummaryPartP {
                    item_id: id,
                    output_index: n,
                    summary_index: 0,
                    part: &part,
                },
                out,
            );
            summary.push(part);
        }
        n
    }

    fn close(&mut self, n: usize, out: &mut Vec<Bytes>) {
        let w = &mut self.writer;
        match &mut self.items[n] {
            ItemOut::Message {
                id,
                status,
                content,
                ..
            } => {
                for (i, part) in content.iter().enumerate() {
                    w.push(
                        "response.output_text.done",
                        TextP {
                            item_id: id,
                            output_index: n,
                            content_index: i,
                            delta: None,
                            text: Some(&part.text),
                            logprobs: [],
                        },
                        out,
                    );
                    w.push(
                        "response.content_part.done",
                        ContentPartP {
                            item_id: id,
                            output_index: n,
                            content_index: i,
                            part,
                        },
                        out,
                    );
                }
                *status = "completed";
            }
            ItemOut::Reasoning { id, summary, .. } => {
                for (i, part) in summary.iter().enumerate() {
                    w.push(
                        "response.reasoning_summary_text.done",
                        SummaryTextP {
                            item_id: id,
                            output_index: n,
                            summary_index: i,
                            delta: None,
                            text: Some(&part.text),
                        },
                        out,
                    );
                    w.push(
                        "response.reasoning_summary_part.done",
                        SummaryPartP {
                            item_id: id,
                            output_index: n,
                            summary_index: i,
                            part,
                        },
                        out,
                    );
                }
            }
            ItemOut::FunctionCall {
                id,
                status,
                arguments,
                name,
                ..
            } => {
                w.push(
                    "response.function_call_arguments.done",
                    ArgsP {
                        item_id: id,
                        output_index: n,
                        delta: None,
                        name: Some(name),
                        arguments: Some(arguments),
                    },
                    out,
                );
                *status = "completed";
            }
        }
        w.push(
            "response.output_item.done",
            ItemP {
                output_index: n,
                item: &self.items[n],
            },
            out,
        );
    }

    fn close_where(&mut self, keep: impl Fn(&ItemOut) -> bool, out: &mut Vec<Bytes>) {
        let open = std::mem::take(&mut self.open);
        let mut still = Vec::new();
        for n in open {
            if keep(&self.items[n]) {
                still.push(n);
            } else {
                self.close(n, out);
            }
        }
        self.open = still;
    }

    fn close_all(&mut self, out: &mut Vec<Bytes>) {
        self.close_where(|_| false, out);
    }

    pub fn encode(&mut self, ev: &Event, out: &mut Vec<Bytes>) {
        if self.finished {
            return;
        }
        match ev {
            Event::Start { id, .. } => self.start(id, out),
            Event::Text(t) if !t.is_empty() => {
                self.start("", out);
                let n = self.message(out);
                if let ItemOut::Message { id, content, .. } = &mut self.items[n]
                    && let Some(part) = content.last_mut()
                {
                    part.text.push_str(t);
                    self.writer.push(
                        "response.output_text.delta",
                        TextP {
                            item_id: id,
                            output_index: n,
                            content_index: content.len() - 1,
                            delta: Some(t),
                            text: None,
                            logprobs: [],
                        },
                        out,
                    );
                }
            }
            Event::Thinking(t) if !t.is_empty() => {
                self.start("", out);
                let n = self.reasoning(true, out);
                if let ItemOut::Reasoning { id, summary, .. } = &mut self.items[n]
                    && let Some(part) = summary.last_mut()
                {
                    part.text.push_str(t);
                    self.writer.push(
                        "response.reasoning_summary_text.delta",
                        SummaryTextP {
                            item_id: id,
                            output_index: n,
                            summary_index: summary.len() - 1,
                            delta: Some(t),
                            text: None,
                        },
                        out,
                    );
                }
            }
            Event::Signature(s) if !s.is_empty() => {
                self.start("", out);
                let n = self.reasoning(false, out);
                if let ItemOut::Reasoning {
                    encrypted_content, ..
                } = &mut self.items[n]
                {
                    encrypted_content.get_or_insert_default().push_str(s);
                }
            }
            Event::ToolStart { index, id, name } => {
                self.start("", out);
                self.close_where(|i| matches!(i, ItemOut::FunctionCall { .. }), out);
                let call_id = if id.is_empty() {
                    format!("call_{}", new_id())
                } else {
                    id.clone()
                };
                let item = ItemOut::FunctionCall {
                    id: self.item_id("fc"),
                    status: "in_progress",
                    arguments: String::new(),
                    call_id,
                    name: name.clone(),
                };
                let n = self.open_item(item, out);
                self.tools.retain(|(i, _)| i != index);
                self.tools.push((*index, n));
            }
            Event::ToolArgs { index, fragment } if !fragment.is_empty() => {
                let Some(&(_, n)) = self.tools.iter().find(|(i, _)| i == index) else {
                    return;
                };
                if !self.open.contains(&n) {
                    return;
                }
                if let ItemOut::FunctionCall { id, arguments, .. } = &mut self.items[n] {
                    arguments.push_str(fragment);
                    self.writer.push(
                        "response.function_call_arguments.delta",
                        ArgsP {
                            item_id: id,
                            output_index: n,
                            delta: Some(fragment),
                            name: None,
                            arguments: None,
                        },
                        out,
                    );
                }
            }
            Event::Usage(u) => self.usage.merge(u),
            Event::Finish(s) => self.stop = Some(s.clone()),
            Event::Done => self.end(out),
            Event::Error(e) => self.fail(e, out),
            Event::Text(_) | Event::Thinking(_) | Event::Signature(_) | Event::ToolArgs { .. } => {}
        }
    }

    fn end(&mut self, out: &mut Vec<Bytes>) {
        self.start("", out);
        self.close_all(out);
        let (status, incomplete) = status_of(self.stop.as_ref());
        let kind = if status == "incomplete" {
            "response.incomplete"
        } else {
            "response.completed"
        };
        let mut w = std::mem::take(&mut self.writer);
        let mut response = self.response(status);
        response.incomplete_details = incomplete;
        response.usage = Some(usage_to_wire(&self.usage));
        w.push(kind, ResponseP { response }, out);
        self.writer = w;
        self.finished = true;
    }

    /// `error` (what the SDKs raise on) then `response.failed` (what Codex CLI reads).
    fn fail(&mut self, e: &ApiError, out: &mut Vec<Bytes>) {
        self.start("", out);
        let code = error_code(e.kind);
        let mut w = std::mem::take(&mut self.writer);
        w.push(
            "error",
            ErrorP {
                code,
                message: &e.message,
                param: None,
            },
            out,
        );
        let mut response = self.response("failed");
        response.error = Some(ErrorOut {
            code,
            message: &e.message,
        });
        if !self.usage.is_empty() {
            response.usage = Some(usage_to_wire(&self.usage));
        }
        w.push("response.failed", ResponseP { response }, out);
        self.writer = w;
        self.finished = true;
    }

    /// An in-stream failure reported by the gateway (the upstream broke after the
    /// first byte): `error` + `response.failed`, ending the stream.
    pub fn error(&mut self, e: &ApiError, out: &mut Vec<Bytes>) {
        if !self.finished {
            self.fail(e, out);
        }
    }

    /// Upstream EOF. After a stop reason the response completes; otherwise it failed.
    pub fn finish(&mut self, out: &mut Vec<Bytes>) {
        if self.finished {
            return;
        }
        if self.stop.is_some() {
            self.end(out);
        } else {
            self.fail(
                &ApiError::new(
                    ErrorKind::Api,
                    "upstream closed the stream before the response completed",
                ),
                out,
            );
        }
    }
}
