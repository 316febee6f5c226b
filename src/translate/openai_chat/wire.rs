//! OpenAI Chat Completions wire shapes: what is read (`In…`) and what is written (`Out…`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::super::error::ErrorMember;
use super::super::wire::{Lax, LaxStr, LaxU64, StrOr, is_false, shape};

// ---------------------------------------------------------------- wire: input

#[derive(Deserialize)]
pub(super) struct InRequest {
    #[serde(default)]
    pub model: LaxStr,
    pub messages: Vec<InMessage>,
    #[serde(default)]
    pub tools: Lax<Vec<InTool>>,
    #[serde(default)]
    pub tool_choice: StrOr<InToolChoice>,
    #[serde(default)]
    pub parallel_tool_calls: Lax<bool>,
    #[serde(default)]
    pub max_completion_tokens: LaxU64,
    #[serde(default)]
    pub max_tokens: LaxU64,
    #[serde(default)]
    pub temperature: Lax<f64>,
    #[serde(default)]
    pub top_p: Lax<f64>,
    #[serde(default)]
    pub stop: StrOr<Vec<LaxStr>>,
    #[serde(default)]
    pub stream: Lax<bool>,
    #[serde(default)]
    pub stream_options: Lax<InStreamOptions>,
    #[serde(default)]
    pub reasoning_effort: LaxStr,
    /// OpenRouter-style `reasoning: {effort | max_tokens}`.
    #[serde(default)]
    pub reasoning: Lax<InReasoning>,
    #[serde(default)]
    pub user: LaxStr,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum InRole {
    System,
    Developer,
    User,
    Assistant,
    Tool,
    #[serde(other)]
    Other,
}

/// A request message, or a response's `message`/`delta`: one flat struct for all roles.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct InMessage {
    pub role: Lax<InRole>,
    pub content: StrOr<Vec<InPart>>,
    pub tool_calls: Lax<Vec<InToolCall>>,
    pub tool_call_id: LaxStr,
    pub reasoning_content: LaxStr,
    pub reasoning: LaxStr,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum PartType {
    Text,
    InputText,
    ImageUrl,
    #[serde(other)]
    Other,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct InPart {
    #[serde(rename = "type")]
    pub kind: Lax<PartType>,
    pub text: LaxStr,
    pub refusal: LaxStr,
    pub image_url: StrOr<InImageUrl>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct InImageUrl {
    pub url: LaxStr,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct InTool {
    #[serde(rename = "type")]
    pub kind: LaxStr,
    pub function: Lax<InFunction>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct InFunction {
    pub name: LaxStr,
    pub description: LaxStr,
    pub parameters: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct InToolChoice {
    pub function: Lax<InNamed>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct InNamed {
    pub name: LaxStr,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct InStreamOptions {
    pub include_usage: Lax<bool>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct InReasoning {
    pub max_tokens: LaxU64,
    pub effort: LaxStr,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct InToolCall {
    pub id: LaxStr,
    pub index: LaxU64,
    pub function: Lax<InCallFunction>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct InCallFunction {
    pub name: LaxStr,
    pub arguments: StrOr<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum InFinish {
    Stop,
    Length,
    ToolCalls,
    FunctionCall,
    ContentFilter,
    #[serde(other)]
    Other,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct InUsage {
    pub prompt_tokens: LaxU64,
    pub completion_tokens: LaxU64,
    pub prompt_tokens_details: Lax<InUsageDetails>,
    pub completion_tokens_details: Lax<InCompletionDetails>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct InCompletionDetails {
    pub reasoning_tokens: LaxU64,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct InUsageDetails {
    pub cached_tokens: LaxU64,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct InChoice {
    pub message: Lax<InMessage>,
    pub delta: Lax<InMessage>,
    pub finish_reason: Lax<InFinish>,
}

#[derive(Deserialize)]
pub(super) struct InResponse {
    #[serde(default)]
    pub id: LaxStr,
    #[serde(default)]
    pub model: LaxStr,
    pub choices: Vec<InChoice>,
    #[serde(default)]
    pub usage: Lax<InUsage>,
}

/// A `chat.completion.chunk`, or an error object some upstreams send mid-stream. The
/// `id` and `model` every chunk repeats are read once, from the first ([`InChunkHead`]).
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct InChunk {
    pub choices: Lax<Vec<InChoice>>,
    pub usage: Lax<InUsage>,
    pub error: ErrorMember,
}

shape!(Map: InMessage, InPart, InImageUrl, InTool, InFunction, InToolChoice, InNamed);
shape!(Map: InStreamOptions, InReasoning, InToolCall, InCallFunction, InUsage, InUsageDetails);
shape!(Map: InCompletionDetails);
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct InChunkHead {
    pub id: LaxStr,
    pub model: LaxStr,
}

shape!(Map: InChoice);
shape!(Str: InRole, PartType, InFinish);

// ---------------------------------------------------------------- wire: output

#[derive(Serialize)]
pub(super) struct OutRequest<'a> {
    pub model: &'a str,
    pub messages: Vec<OutMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<OutTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<OutToolChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub stop: &'a [String],
    #[serde(skip_serializing_if = "is_false")]
    pub stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<OutStreamOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub(super) enum OutMessage<'a> {
    System {
        content: String,
    },
    User {
        content: OutUserContent<'a>,
    },
    Assistant {
        content: Option<String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<OutToolCall<'a>>,
    },
    Tool {
        tool_call_id: &'a str,
        content: String,
    },
}

#[derive(Serialize)]
#[serde(untagged)]
pub(super) enum OutUserContent<'a> {
    Text(&'a str),
    Parts(Vec<OutPart<'a>>),
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum OutPart<'a> {
    Text { text: &'a str },
    ImageUrl { image_url: OutImageUrl },
}

#[derive(Serialize)]
pub(super) struct OutImageUrl {
    pub url: String,
}

#[derive(Serialize)]
pub(super) struct OutToolCall<'a> {
    pub id: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: OutCallFunction<'a>,
}

#[derive(Serialize)]
pub(super) struct OutCallFunction<'a> {
    pub name: &'a str,
    /// JSON text, as OpenAI sends and expects it.
    pub arguments: String,
}

#[derive(Serialize)]
pub(super) struct OutTool<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: OutFunction<'a>,
}

#[derive(Serialize)]
pub(super) struct OutFunction<'a> {
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    pub parameters: &'a Value,
}

#[derive(Serialize)]
#[serde(untagged)]
pub(super) enum OutToolChoice<'a> {
    Mode(&'static str),
    Named {
        #[serde(rename = "type")]
        kind: &'static str,
        function: OutNamed<'a>,
    },
}

#[derive(Serialize)]
pub(super) struct OutNamed<'a> {
    pub name: &'a str,
}

#[derive(Serialize)]
pub(super) struct OutStreamOptions {
    pub include_usage: bool,
}

#[derive(Serialize)]
pub(super) struct OutUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<OutUsageDetails>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<OutCompletionDetails>,
}

#[derive(Serialize)]
pub(super) struct OutCompletionDetails {
    pub reasoning_tokens: u64,
}

#[derive(Serialize)]
pub(super) struct OutUsageDetails {
    pub cached_tokens: u64,
}

#[derive(Serialize)]
pub(super) struct OutResponse<'a> {
    pub id: String,
    pub object: &'static str,
    pub created: i64,
    pub model: &'a str,
    pub choices: [OutChoice<'a>; 1],
    pub usage: OutUsage,
}

#[derive(Serialize)]
pub(super) struct OutChoice<'a> {
    pub index: u32,
    pub message: OutRespMessage<'a>,
    pub logprobs: Option<()>,
    pub finish_reason: Option<&'static str>,
}

#[derive(Serialize)]
pub(super) struct OutRespMessage<'a> {
    pub role: &'static str,
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<OutToolCall<'a>>,
}

#[derive(Serialize)]
pub(super) struct OutError<'a> {
    pub error: OutErrorBody<'a>,
}

#[derive(Serialize)]
pub(super) struct OutErrorBody<'a> {
    pub message: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reset_seconds: Option<u64>,
}
