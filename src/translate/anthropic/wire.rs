//! Anthropic Messages wire shapes: what is read (`In…`) and what is written (`Out…`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::super::wire::{
    Lax, LaxStr, LaxU64, ObjectOrEmpty, StrOr, empty_schema, is_false, shape,
};

// ---------------------------------------------------------------- wire: input

// Members are read leniently (`Lax`, `StrOr`): a value of an unexpected shape is
// skipped, as are unknown members and block types, so history from newer clients
// still translates.

#[derive(Deserialize)]
pub(super) struct InRequest {
    #[serde(default)]
    pub model: LaxStr,
    #[serde(default)]
    pub system: StrOr<Vec<InTextBlock>>,
    pub messages: Vec<InMessage>,
    #[serde(default)]
    pub tools: Lax<Vec<InTool>>,
    #[serde(default)]
    pub tool_choice: Lax<InToolChoice>,
    #[serde(default)]
    pub max_tokens: LaxU64,
    #[serde(default)]
    pub temperature: Lax<f64>,
    #[serde(default)]
    pub top_p: Lax<f64>,
    #[serde(default)]
    pub stop_sequences: Lax<Vec<String>>,
    #[serde(default)]
    pub stream: Lax<bool>,
    #[serde(default)]
    pub thinking: Lax<InThinking>,
    #[serde(default)]
    pub metadata: Lax<InMetadata>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct InTextBlock {
    pub text: LaxStr,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum InRole {
    User,
    Assistant,
    #[serde(other)]
    Other,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct InMessage {
    pub role: Lax<InRole>,
    pub content: StrOr<Vec<InBlock>>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub(super) enum BlockType {
    Text,
    Image,
    ToolUse,
    ToolResult,
    Thinking,
    #[serde(other)]
    Other,
}

/// Every block kind in one flat struct: read in one pass whatever the `type`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct InBlock {
    #[serde(rename = "type")]
    pub kind: Lax<BlockType>,
    pub text: LaxStr,
    pub source: Lax<InSource>,
    pub id: LaxStr,
    pub name: LaxStr,
    pub input: Option<Value>,
    pub tool_use_id: LaxStr,
    pub content: StrOr<Vec<InBlock>>,
    pub is_error: Lax<bool>,
    pub thinking: LaxStr,
    pub signature: LaxStr,
}

impl InBlock {
    pub fn kind(&self) -> BlockType {
        self.kind.0.unwrap_or(BlockType::Other)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum SourceType {
    Base64,
    Url,
    #[serde(other)]
    Other,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct InSource {
    #[serde(rename = "type")]
    pub kind: Lax<SourceType>,
    pub media_type: LaxStr,
    pub data: LaxStr,
    pub url: LaxStr,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct InTool {
    /// Server tools (web_search_…, bash_…) carry a versioned `type` and no schema.
    #[serde(rename = "type")]
    pub kind: LaxStr,
    pub name: LaxStr,
    pub description: LaxStr,
    pub input_schema: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum ChoiceType {
    Auto,
    None,
    Any,
    Tool,
    #[serde(other)]
    Other,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct InToolChoice {
    #[serde(rename = "type")]
    pub kind: Lax<ChoiceType>,
    pub name: LaxStr,
    pub disable_parallel_tool_use: Lax<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum ThinkingType {
    Enabled,
    Adaptive,
    Disabled,
    #[serde(other)]
    Other,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct InThinking {
    #[serde(rename = "type")]
    pub kind: Lax<ThinkingType>,
    pub budget_tokens: LaxU64,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct InMetadata {
    pub user_id: LaxStr,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub(super) enum InStop {
    EndTurn,
    PauseTurn,
    StopSequence,
    MaxTokens,
    ModelContextWindowExceeded,
    ToolUse,
    Refusal,
    #[serde(other)]
    Other,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct InUsage {
    pub input_tokens: LaxU64,
    pub output_tokens: LaxU64,
    pub cache_read_input_tokens: LaxU64,
    pub cache_creation_input_tokens: LaxU64,
}

#[derive(Deserialize)]
pub(super) struct InResponse {
    #[serde(default)]
    pub id: LaxStr,
    #[serde(default)]
    pub model: LaxStr,
    pub content: Vec<InBlock>,
    #[serde(default)]
    pub stop_reason: Lax<InStop>,
    #[serde(default)]
    pub usage: Lax<InUsage>,
}

shape!(Map: InTextBlock, InBlock, InSource, InTool, InToolChoice, InThinking, InMetadata, InUsage);
shape!(Str: InRole, BlockType, SourceType, ChoiceType, ThinkingType, InStop);

// ---------------------------------------------------------------- wire: output

#[derive(Serialize)]
pub(super) struct OutRequest<'a> {
    pub model: &'a str,
    pub max_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<OutSystem<'a>>,
    pub messages: Vec<OutMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<OutTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<OutToolChoice<'a>>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "is_false")]
    pub stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking: Option<OutThinking>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<OutMetadata<'a>>,
}

#[derive(Serialize)]
#[serde(untagged)]
pub(super) enum OutSystem<'a> {
    Text(&'a str),
    Blocks(Vec<OutBlock<'a>>),
}

#[derive(Serialize)]
pub(super) struct OutMessage<'a> {
    pub role: &'static str,
    pub content: Vec<OutBlock<'a>>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum OutBlock<'a> {
    Text {
        text: &'a str,
    },
    Image {
        source: OutSource<'a>,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: ObjectOrEmpty<'a>,
    },
    ToolResult {
        tool_use_id: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        content: Option<OutToolContent<'a>>,
        #[serde(skip_serializing_if = "is_false")]
        is_error: bool,
    },
    Thinking {
        thinking: &'a str,
        signature: &'a str,
    },
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum OutSource<'a> {
    Base64 { media_type: &'a str, data: &'a str },
    Url { url: &'a str },
}

#[derive(Serialize)]
#[serde(untagged)]
pub(super) enum OutToolContent<'a> {
    Text(&'a str),
    Blocks(Vec<OutBlock<'a>>),
}

#[derive(Serialize)]
pub(super) struct OutTool<'a> {
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    pub input_schema: ObjectOrEmptySchema<'a>,
}

/// A tool's schema: the client's object, or an empty object schema.
pub(super) struct ObjectOrEmptySchema<'a>(pub &'a Value);

impl Serialize for ObjectOrEmptySchema<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_object() {
            self.0.serialize(s)
        } else {
            empty_schema().serialize(s)
        }
    }
}

#[derive(Serialize)]
pub(super) struct OutToolChoice<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    #[serde(skip_serializing_if = "is_false")]
    pub disable_parallel_tool_use: bool,
}

#[derive(Serialize)]
pub(super) struct OutThinking {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub budget_tokens: u64,
}

#[derive(Serialize)]
pub(super) struct OutMetadata<'a> {
    pub user_id: &'a str,
}

#[derive(Serialize)]
pub(super) struct OutUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
}

#[derive(Serialize)]
pub(super) struct OutResponse<'a> {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub role: &'static str,
    pub model: &'a str,
    pub content: Vec<OutBlock<'a>>,
    pub stop_reason: Option<&'static str>,
    pub stop_sequence: Option<&'static str>,
    pub usage: OutUsage,
}

#[derive(Serialize)]
pub(super) struct OutError<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub error: OutErrorBody<'a>,
}

#[derive(Serialize)]
pub(super) struct OutErrorBody<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reset_seconds: Option<u64>,
}
