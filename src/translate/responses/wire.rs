//! Typed shapes of the Responses API wire format. Inbound types tolerate unknown fields
//! and unknown `type`s (they become `Other`); outbound types serialize exactly what
//! clients and upstreams expect.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

// ---------------------------------------------------------------- inbound

#[derive(Debug, Deserialize)]
pub(super) struct RequestIn {
    pub model: Option<String>,
    pub instructions: Option<InstructionsIn>,
    pub input: Option<InputIn>,
    pub tools: Option<Vec<ToolIn>>,
    pub tool_choice: Option<ToolChoiceIn>,
    pub parallel_tool_calls: Option<bool>,
    pub max_output_tokens: Option<u64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub reasoning: Option<ReasoningIn>,
    pub stream: Option<bool>,
    pub user: Option<String>,
    pub prompt_cache_key: Option<String>,
    pub metadata: Option<Map<String, Value>>,
}

/// A string or a list, as `instructions`, `input`, `content` and `output` may be.
/// Hand-written rather than `untagged` so errors inside the list keep their path.
#[derive(Debug)]
pub(super) enum TextOr<T> {
    Text(String),
    Items(Vec<T>),
}

pub(super) type InstructionsIn = TextOr<ItemIn>;
pub(super) type InputIn = TextOr<ItemIn>;
pub(super) type ContentIn = TextOr<PartIn>;

impl<'de, T: Deserialize<'de>> Deserialize<'de> for TextOr<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = TextOr<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an array")
            }
            fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
                Ok(TextOr::Text(s.to_owned()))
            }
            fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
                Ok(TextOr::Text(s))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(256));
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(TextOr::Items(items))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// Every input and output item kind in one flat shape: items may omit `type` (a bare
/// `{role, content}` is a message) and each kind uses a few of these fields.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ItemIn {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub id: Option<String>,
    pub role: Option<String>,
    /// Message content, or a reasoning item's `reasoning_text` parts.
    pub content: Option<ContentIn>,
    pub call_id: Option<String>,
    pub name: Option<String>,
    /// A JSON string per the spec; an object is tolerated.
    pub arguments: Option<Value>,
    /// `function_call_output`: a string or content parts.
    pub output: Option<ContentIn>,
    /// `custom_tool_call`: free-form input.
    pub input: Option<String>,
    pub summary: Option<Vec<PartIn>>,
    pub encrypted_content: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum PartIn {
    InputText {
        text: String,
    },
    OutputText {
        text: String,
    },
    /// Chat-style part some clients send to /responses.
    Text {
        text: String,
    },
    SummaryText {
        text: String,
    },
    ReasoningText {
        text: String,
    },
    Refusal {
        refusal: String,
    },
    InputImage {
        image_url: Option<ImageUrlIn>,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum ImageUrlIn {
    Url(String),
    /// Chat-style `{"url": …}`.
    Object {
        url: String,
    },
}

#[derive(Debug, Deserialize)]
pub(super) struct ToolIn {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub parameters: Option<Value>,
    pub strict: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum ToolChoiceIn {
    Mode(String),
    Object {
        #[serde(rename = "type")]
        kind: Option<String>,
        name: Option<String>,
        /// Chat-style `{"type": "function", "function": {"name": …}}`.
        function: Option<NameIn>,
    },
}

#[derive(Debug, Deserialize)]
pub(super) struct NameIn {
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ReasoningIn {
    pub effort: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ResponseIn {
    pub id: Option<String>,
    pub model: Option<String>,
    pub status: Option<String>,
    pub output: Option<Vec<ItemIn>>,
    pub usage: Option<UsageIn>,
    pub incomplete_details: Option<IncompleteIn>,
    pub error: Option<ErrorIn>,
    /// Set when a body is a `response.completed`-style wrapper around the object.
    pub response: Option<Box<ResponseIn>>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct UsageIn {
    pub input_tokens: Option<u64>,
    pub input_tokens_details: Option<InputDetailsIn>,
    pub output_tokens: Option<u64>,
    pub output_tokens_details: Option<OutputDetailsIn>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct InputDetailsIn {
    pub cached_tokens: Option<u64>,
    pub cache_write_tokens: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct OutputDetailsIn {
    pub reasoning_tokens: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub(super) struct IncompleteIn {
    pub reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ErrorIn {
    pub code: Option<Value>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub message: Option<String>,
}

/// One SSE event's `data`: every event type in one flat shape (one parsing pass, no
/// buffering; each type uses a few fields). Unknown types (`codex.rate_limits`,
/// annotations, …) are skipped by the decoder.
#[derive(Debug, Default, Deserialize)]
pub(super) struct EventIn {
    #[serde(rename = "type", default)]
    pub kind: String,
    pub response: Option<ResponseIn>,
    pub output_index: Option<u64>,
    pub item: Option<ItemIn>,
    pub item_id: Option<String>,
    pub summary_index: Option<u64>,
    pub delta: Option<String>,
    pub arguments: Option<String>,
    /// `error` events: flat `code` / `message`, or a nested `error`.
    pub code: Option<Value>,
    pub message: Option<String>,
    pub error: Option<ErrorIn>,
}

// ---------------------------------------------------------------- outbound

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum ItemOut {
    Message {
        id: String,
        status: &'static str,
        role: &'static str,
        content: Vec<TextOut>,
    },
    FunctionCall {
        id: String,
        status: &'static str,
        arguments: String,
        call_id: String,
        name: String,
    },
    Reasoning {
        id: String,
        summary: Vec<SummaryOut>,
        #[serde(skip_serializing_if = "Option::is_none")]
        encrypted_content: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(super) struct TextOut {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub text: String,
    pub annotations: [(); 0],
}

impl TextOut {
    pub fn new(text: String) -> Self {
        TextOut {
            kind: "output_text",
            text,
            annotations: [],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(super) struct SummaryOut {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub text: String,
}

impl SummaryOut {
    pub fn new(text: String) -> Self {
        SummaryOut {
            kind: "summary_text",
            text,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(super) struct UsageOut {
    pub input_tokens: u64,
    pub input_tokens_details: InputDetailsOut,
    pub output_tokens: u64,
    pub output_tokens_details: OutputDetailsOut,
    pub total_tokens: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(super) struct InputDetailsOut {
    pub cached_tokens: u64,
    pub cache_write_tokens: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(super) struct OutputDetailsOut {
    pub reasoning_tokens: u64,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub(super) struct IncompleteOut {
    pub reason: &'static str,
}

#[derive(Debug, Serialize)]
pub(super) struct ErrorOut<'a> {
    pub code: &'static str,
    pub message: &'a str,
}

/// The `response` object, as returned by `POST /v1/responses` and carried by the
/// lifecycle stream events. Fields the SDKs declare as required are always present.
#[derive(Debug, Serialize)]
pub(super) struct ResponseOut<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub created_at: i64,
    pub status: &'static str,
    pub error: Option<ErrorOut<'a>>,
    pub incomplete_details: Option<IncompleteOut>,
    pub instructions: Option<()>,
    pub max_output_tokens: Option<()>,
    pub model: &'a str,
    pub output: &'a [ItemOut],
    pub parallel_tool_calls: bool,
    pub previous_response_id: Option<()>,
    pub reasoning: ReasoningOut,
    pub store: bool,
    pub temperature: Option<()>,
    pub text: TextConfigOut,
    pub tool_choice: &'static str,
    pub tools: [(); 0],
    pub top_p: Option<()>,
    pub truncation: &'static str,
    pub usage: Option<UsageOut>,
    pub user: Option<()>,
    pub metadata: Empty,
}

impl<'a> ResponseOut<'a> {
    pub fn new(id: &'a str, model: &'a str, created_at: i64, output: &'a [ItemOut]) -> Self {
        ResponseOut {
            id,
            object: "response",
            created_at,
            status: "in_progress",
            error: None,
            incomplete_details: None,
            instructions: None,
            max_output_tokens: None,
            model,
            output,
            parallel_tool_calls: true,
            previous_response_id: None,
            reasoning: ReasoningOut {
                effort: None,
                summary: None,
            },
            store: false,
            temperature: None,
            text: TextConfigOut {
                format: FormatOut { kind: "text" },
            },
            tool_choice: "auto",
            tools: [],
            top_p: None,
            truncation: "disabled",
            usage: None,
            user: None,
            metadata: Empty {},
        }
    }
}

#[derive(Debug, Serialize)]
pub(super) struct ReasoningOut {
    pub effort: Option<()>,
    pub summary: Option<()>,
}

#[derive(Debug, Serialize)]
pub(super) struct TextConfigOut {
    pub format: FormatOut,
}

#[derive(Debug, Serialize)]
pub(super) struct FormatOut {
    #[serde(rename = "type")]
    pub kind: &'static str,
}

#[derive(Debug, Serialize)]
pub(super) struct Empty {}

/// `{"error": {…}}`, the OpenAI error body.
#[derive(Debug, Serialize)]
pub(super) struct ErrorBodyOut<'a> {
    pub error: ErrorDetailOut<'a>,
}

#[derive(Debug, Serialize)]
pub(super) struct ErrorDetailOut<'a> {
    pub message: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub param: Option<()>,
    pub code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reset_seconds: Option<u64>,
}
