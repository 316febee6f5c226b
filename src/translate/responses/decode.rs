//! Responses SSE events (upstream) → IR events.

use serde_json::Value;

use super::super::ir::{ApiError, ErrorKind, Event, Part};
use super::items::{Converted, convert};
use super::response::{api_error, stop_of};
use super::usage_from_wire;
use super::wire::{ErrorIn, EventIn, ItemIn, ResponseIn};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Message,
    Reasoning,
    /// A function call and its IR tool index.
    Tool(usize),
    Other,
}

#[derive(Debug)]
struct Item {
    output_index: Option<u64>,
    id: Option<String>,
    kind: Kind,
    /// Some content of it was already emitted from deltas.
    streamed: bool,
    /// Its `output_item.done` was handled.
    done: bool,
    summary_index: Option<u64>,
}

/// Decodes one upstream Responses stream. Items are matched by `item_id`, falling back
/// to `output_index`; content an upstream sends only on `output_item.done` (or only in
/// the final response's `output`) is emitted from there, so nothing is lost and
/// nothing is emitted twice.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    started: bool,
    items: Vec<Item>,
    tools: usize,
    /// A terminal event (completed, incomplete, failed, error) was seen.
    ended: bool,
}

impl StreamDecoder {
    /// Decodes one event's `data`. Unknown and malformed events are skipped.
    pub fn decode(&mut self, data: &str, out: &mut Vec<Event>) {
        if self.ended {
            return;
        }
        let Ok(ev) = serde_json::from_str::<EventIn>(data) else {
            return;
        };
        let EventIn {
            kind,
            response,
            output_index,
            item,
            item_id,
            summary_index,
            delta,
            arguments,
            code,
            message,
            error,
        } = ev;
        let delta = delta.unwrap_or_default();
        match kind.as_str() {
            "response.created" | "response.in_progress" => {
                self.start(&response.unwrap_or_default(), out)
            }
            "response.output_item.added" => {
                self.start(&ResponseIn::default(), out);
                if let Some(item) = item {
                    self.added(output_index, item, out);
                }
            }
            "response.output_item.done" => {
                self.start(&ResponseIn::default(), out);
                if let Some(item) = item {
                    self.item_done(output_index, item, out);
                }
            }
            "response.output_text.delta" | "response.refusal.delta" => {
                let i = self.find_or_add(item_id, output_index, Kind::Message, out);
                self.items[i].streamed = true;
                if !delta.is_empty() {
                    out.push(Event::Text(delta));
                }
            }
            "response.reasoning_summary_text.delta" => {
                let i = self.find_or_add(item_id, output_index, Kind::Reasoning, out);
                let item = &mut self.items[i];
                // Summary parts join with a blank line, as in a non-stream response.
                if item.streamed && summary_index.is_some() && summary_index != item.summary_index {
                    out.push(Event::Thinking("\n\n".into()));
                }
                item.summary_index = summary_index;
                item.streamed = true;
                if !delta.is_empty() {
                    out.push(Event::Thinking(delta));
                }
            }
            "response.reasoning_text.delta" => {
                let i = self.find_or_add(item_id, output_index, Kind::Reasoning, out);
                self.items[i].streamed = true;
                if !delta.is_empty() {
                    out.push(Event::Thinking(delta));
                }
            }
            "response.function_call_arguments.delta" => {
                if let Some(i) = self.find(item_id.as_deref(), output_index)
                    && let Kind::Tool(index) = self.items[i].kind
                {
                    self.items[i].streamed = true;
                    if !delta.is_empty() {
                        out.push(Event::ToolArgs {
                            index,
                            fragment: delta,
                        });
                    }
                }
            }
            "response.function_call_arguments.done" => {
                if let Some(i) = self.find(item_id.as_deref(), output_index)
                    && let Kind::Tool(index) = self.items[i].kind
                    && !self.items[i].streamed
                    && let Some(a) = arguments.filter(|a| !a.is_empty())
                {
                    self.items[i].streamed = true;
                    out.push(Event::ToolArgs { index, fragment: a });
                }
            }
            "response.completed" | "response.incomplete" => {
                let response = response.unwrap_or_default();
                self.start(&response, out);
                self.completed(response, out);
            }
            "response.failed" => {
                self.ended = true;
                let e = response.and_then(|r| r.error);
                out.push(Event::Error(api_error(
                    e.as_ref(),
                    "upstream response failed",
                )));
            }
            "error" => {
                self.ended = true;
                let flat = ErrorIn {
                    code,
                    kind: None,
                    message,
                };
                out.push(Event::Error(api_error(
                    Some(error.as_ref().unwrap_or(&flat)),
                    "upstream stream error",
                )));
            }
            _ => {}
        }
    }

    /// Upstream EOF: a stream that ended without a terminal event is an error.
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        if !self.ended {
            self.ended = true;
            out.push(Event::Error(ApiError::new(
                ErrorKind::Api,
                "stream closed before response.completed",
            )));
        }
    }

    fn start(&mut self, r: &ResponseIn, out: &mut Vec<Event>) {
        if self.started {
            return;
        }
        self.started = true;
        out.push(Event::Start {
            id: r.id.clone().unwrap_or_default(),
            model: r.model.clone().unwrap_or_default(),
        });
    }

    fn find(&self, item_id: Option<&str>, output_index: Option<u64>) -> Option<usize> {
        if let Some(id) = item_id
            && let Some(i) = self
                .items
                .iter()
                .position(|it| it.id.as_deref() == Some(id))
        {
            return Some(i);
        }
        let index = output_index?;
        self.items
            .iter()
            .position(|it| it.output_index == Some(index))
    }

    fn find_or_add(
        &mut self,
        item_id: Option<String>,
        output_index: Option<u64>,
        kind: Kind,
        out: &mut Vec<Event>,
    ) -> usize {
        self.start(&ResponseIn::default(), out);
        if let Some(i) = self.find(item_id.as_deref(), output_index) {
            return i;
        }
        // Deltas naming no item continue the last one, so they cannot grow the list.
        if item_id.is_none()
            && output_index.is_none()
            && let Some(i) = self.items.len().checked_sub(1)
        {
            return i;
        }
        self.register(item_id, output_index, kind)
    }

    fn register(&mut self, id: Option<String>, output_index: Option<u64>, kind: Kind) -> usize {
        self.items.push(Item {
            output_index,
            id,
            kind,
            streamed: false,
            done: false,
            summary_index: None,
        });
        self.items.len() - 1
    }

    fn kind_of(item: &ItemIn) -> Option<&'static str> {
        match item.kind.as_deref() {
            Some("function_call") => Some("function_call"),
            Some("custom_tool_call") => Some("custom_tool_call"),
            Some("message") => Some("message"),
            Some("reasoning") => Some("reasoning"),
            _ => None,
        }
    }

    /// Announces a tool call; returns its IR index.
    fn tool_start(&mut self, item: &ItemIn, out: &mut Vec<Event>) -> usize {
        let index = self.tools;
        self.tools += 1;
        out.push(Event::ToolStart {
            index,
            id: item
                .call_id
                .clone()
                .filter(|c| !c.is_empty())
                .or_else(|| item.id.clone())
                .unwrap_or_default(),
            name: item.name.clone().unwrap_or_default(),
        });
        index
    }

    fn added(&mut self, output_index: Option<u64>, item: ItemIn, out: &mut Vec<Event>) {
        if self.find(item.id.as_deref(), output_index).is_some() {
            return;
        }
        let kind = match Self::kind_of(&item) {
            Some("function_call" | "custom_tool_call") => Kind::Tool(self.tool_start(&item, out)),
            Some("message") => Kind::Message,
            Some("reasoning") => Kind::Reasoning,
            _ => Kind::Other,
        };
        let i = self.register(item.id.clone(), output_index, kind);
        // Some upstreams put whole arguments on the added item and send no deltas.
        if let (Kind::Tool(index), Some(Value::String(a))) = (kind, &item.arguments)
            && !a.is_empty()
        {
            self.items[i].streamed = true;
            out.push(Event::ToolArgs {
                index,
                fragment: a.clone(),
            });
        }
    }

    /// A finished item: emits whatever of it was not streamed.
    fn item_done(&mut self, output_index: Option<u64>, item: ItemIn, out: &mut Vec<Event>) {
        let i = match self.find(item.id.as_deref(), output_index) {
            Some(i) => i,
            None => {
                self.added(output_index, item_head(&item), out);
                match self.find(item.id.as_deref(), output_index) {
                    Some(i) => i,
                    None => return,
                }
            }
        };
        let state = &mut self.items[i];
        if state.done {
            return;
        }
        state.done = true;
        let (streamed, kind) = (state.streamed, state.kind);
        match kind {
            Kind::Tool(index) if !streamed => {
                let fragment = match (&item.arguments, &item.input) {
                    (Some(Value::String(a)), _) => a.clone(),
                    (Some(v @ Value::Object(_)), _) => v.to_string(),
                    (_, Some(input)) => serde_json::json!({"input": input}).to_string(),
                    _ => String::new(),
                };
                if !fragment.is_empty() {
                    out.push(Event::ToolArgs { index, fragment });
                }
            }
            Kind::Message if !streamed => {
                if let Converted::Message(_, parts) = convert(item) {
                    let text: String = parts
                        .into_iter()
                        .filter_map(|p| match p {
                            Part::Text(t) => Some(t),
                            _ => None,
                        })
                        .collect();
                    if !text.is_empty() {
                        out.push(Event::Text(text));
                    }
                }
            }
            Kind::Reasoning => {
                if let Converted::Part(_, Part::Thinking { text, signature }) = convert(item) {
                    if !streamed && !text.is_empty() {
                        out.push(Event::Thinking(text));
                    }
                    if let Some(s) = signature {
                        out.push(Event::Signature(s));
                    }
                }
            }
            _ => {}
        }
    }

    fn completed(&mut self, response: ResponseIn, out: &mut Vec<Event>) {
        let ResponseIn {
            status,
            output,
            usage,
            incomplete_details,
            ..
        } = response;
        // Items only the final object carries (no output_item events) still count.
        for (n, item) in output.into_iter().flatten().enumerate() {
            self.item_done(Some(n as u64), item, out);
        }
        if let Some(u) = usage.as_ref() {
            out.push(Event::Usage(usage_from_wire(u)));
        }
        let has_calls = self.tools > 0;
        if let Some(stop) = stop_of(status.as_deref(), incomplete_details.as_ref(), has_calls) {
            out.push(Event::Finish(stop));
        }
        out.push(Event::Done);
        self.ended = true;
    }
}

/// The identifying fields of an item, for announcing it when its `added` event is missing.
fn item_head(item: &ItemIn) -> ItemIn {
    ItemIn {
        kind: item.kind.clone(),
        id: item.id.clone(),
        role: item.role.clone(),
        call_id: item.call_id.clone(),
        name: item.name.clone(),
        ..ItemIn::default()
    }
}
