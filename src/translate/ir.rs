//! The internal representation every dialect converts to and from (N+M converters).
//! It keeps only what at least two dialects can express; anything else is dropped
//! on the way in rather than forwarded to an upstream that would reject it.

/// A chat request in dialect-neutral form.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Request {
    pub model: String,
    /// System prompt parts, in order (OpenAI `system`/`developer` messages, Anthropic `system`).
    pub system: Vec<String>,
    pub messages: Vec<Message>,
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    /// `Some(false)` when the client asked for at most one tool call per turn.
    pub parallel_tool_calls: Option<bool>,
    pub max_tokens: Option<u64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub stop: Vec<String>,
    pub stream: bool,
    pub include_usage: bool,
    pub reasoning: Option<Reasoning>,
    pub user: Option<String>,
    /// Why: the Responses API (Codex) keys its prompt cache and session on it.
    pub prompt_cache_key: Option<String>,
    /// Why: Responses (and Chat) carry free-form request metadata; kept so it survives a round trip.
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    Image(Image),
    ToolCall {
        id: String,
        name: String,
        /// The arguments as a JSON value (an object for every dialect we speak).
        arguments: serde_json::Value,
    },
    ToolResult {
        call_id: String,
        /// Text and image parts only.
        content: Vec<Part>,
        is_error: bool,
    },
    Thinking {
        text: String,
        signature: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Image {
    Base64 { media_type: String, data: String },
    Url(String),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tool {
    pub name: String,
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    pub parameters: serde_json::Value,
    /// Why: Responses and Chat function tools say whether the schema is enforced; Responses
    /// enforces it when absent, so the client's choice has to travel with the tool.
    pub strict: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    Auto,
    None,
    /// Must call some tool (OpenAI `required`, Anthropic `any`).
    Required,
    Named(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effort {
    Low,
    Medium,
    High,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reasoning {
    Disabled,
    Effort(Effort),
    /// An explicit token budget (Anthropic `thinking.budget_tokens`).
    Budget(u64),
}

impl Effort {
    pub fn budget(self) -> u64 {
        match self {
            Effort::Low => 1024,
            Effort::Medium => 8192,
            Effort::High => 24576,
        }
    }

    pub fn from_budget(budget: u64) -> Self {
        if budget <= 1024 {
            Effort::Low
        } else if budget <= 8192 {
            Effort::Medium
        } else {
            Effort::High
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Effort::Low => "low",
            Effort::Medium => "medium",
            Effort::High => "high",
        }
    }
}

/// A complete (non-stream) assistant response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Response {
    pub id: String,
    pub model: String,
    /// Text, ToolCall and Thinking parts, in order.
    pub parts: Vec<Part>,
    pub stop: Option<StopReason>,
    pub usage: Usage,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    EndTurn,
    StopSequence,
    MaxTokens,
    ToolUse,
    Refusal,
}

/// Token counts. `input` excludes cached tokens (Anthropic's convention); OpenAI's
/// `prompt_tokens` is `input + cache_read + cache_creation`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input: Option<u64>,
    pub output: Option<u64>,
    pub cache_read: Option<u64>,
    pub cache_creation: Option<u64>,
    /// Why: Responses, Chat and Gemini report reasoning tokens (a part of `output`).
    pub reasoning: Option<u64>,
}

impl Usage {
    /// Later reports win field by field (Anthropic splits usage over message_start and message_delta).
    pub fn merge(&mut self, other: &Usage) {
        self.input = other.input.or(self.input);
        self.output = other.output.or(self.output);
        self.cache_read = other.cache_read.or(self.cache_read);
        self.cache_creation = other.cache_creation.or(self.cache_creation);
        self.reasoning = other.reasoning.or(self.reasoning);
    }

    pub fn is_empty(&self) -> bool {
        *self == Usage::default()
    }
}

/// Error category, shared by all dialects' error bodies. Each kind has one HTTP status
/// ([`ErrorKind::status`]); each dialect file names it in its own words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidRequest,
    Authentication,
    Permission,
    NotFound,
    MethodNotAllowed,
    TooLarge,
    HeadersTooLarge,
    RateLimit,
    Api,
    /// Nothing can serve the request right now (no usable account, HTTP 503).
    Unavailable,
    /// The upstream is overloaded (Anthropic's 529).
    Overloaded,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 11] = [
        ErrorKind::InvalidRequest,
        ErrorKind::Authentication,
        ErrorKind::Permission,
        ErrorKind::NotFound,
        ErrorKind::MethodNotAllowed,
        ErrorKind::TooLarge,
        ErrorKind::HeadersTooLarge,
        ErrorKind::RateLimit,
        ErrorKind::Api,
        ErrorKind::Unavailable,
        ErrorKind::Overloaded,
    ];

    /// The one status table.
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::InvalidRequest => 400,
            ErrorKind::Authentication => 401,
            ErrorKind::Permission => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::MethodNotAllowed => 405,
            ErrorKind::TooLarge => 413,
            ErrorKind::HeadersTooLarge => 431,
            ErrorKind::RateLimit => 429,
            ErrorKind::Api => 500,
            ErrorKind::Unavailable => 503,
            ErrorKind::Overloaded => 529,
        }
    }

    /// An upstream's status read back through the same table (422 is a bad request too;
    /// statuses no kind owns are [`ErrorKind::Api`]).
    pub fn from_status(status: u16) -> Self {
        if status == 422 {
            return ErrorKind::InvalidRequest;
        }
        Self::ALL
            .into_iter()
            .find(|k| k.status() == status)
            .unwrap_or(ErrorKind::Api)
    }
}

/// Every account for a model is cooling down: the body names the model and the seconds
/// until the first one is usable again (CLIProxyAPI's `model_cooldown`), and the HTTP
/// answer carries `Retry-After`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cooldown {
    pub model: String,
    pub reset_seconds: u64,
}

/// The one error type: read from any dialect's body, or made by the gateway, and written
/// in the route's dialect by that dialect's `emit_error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
    /// The status an upstream answered with, when it is not the kind's own (a 502 reads
    /// as [`ErrorKind::Api`]); `None` for the gateway's errors.
    pub status: Option<u16>,
    /// A specific code in place of the kind's (`model_cooldown`, `auth_unavailable`).
    pub code: Option<&'static str>,
    pub cooldown: Option<Cooldown>,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
            status: None,
            code: None,
            cooldown: None,
        }
    }

    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    /// The HTTP status this error is answered with.
    pub fn http_status(&self) -> u16 {
        self.status.unwrap_or_else(|| self.kind.status())
    }
}

/// One step of a streamed response, dialect-neutral. Decoders turn upstream SSE
/// events into these; encoders turn them into client SSE frames.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Start {
        id: String,
        model: String,
    },
    Text(String),
    Thinking(String),
    Signature(String),
    /// `index` counts tool calls in this response from 0 (OpenAI's tool_calls index).
    ToolStart {
        index: usize,
        id: String,
        name: String,
    },
    ToolArgs {
        index: usize,
        fragment: String,
    },
    Usage(Usage),
    Finish(StopReason),
    /// The upstream said the message is complete (`message_stop`, `[DONE]`).
    Done,
    Error(ApiError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effort_budgets_round_trip() {
        for e in [Effort::Low, Effort::Medium, Effort::High] {
            assert_eq!(Effort::from_budget(e.budget()), e);
        }
        assert_eq!(Effort::from_budget(2000), Effort::Medium);
        assert_eq!(Effort::from_budget(64000), Effort::High);
    }

    #[test]
    fn every_kind_has_one_status_and_reads_back_from_it() {
        for kind in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_status(kind.status()), kind);
        }
        assert_eq!(ErrorKind::from_status(422), ErrorKind::InvalidRequest);
        assert_eq!(ErrorKind::from_status(502), ErrorKind::Api);
        let e = ApiError {
            status: Some(502),
            ..ApiError::new(ErrorKind::Api, "x")
        };
        assert_eq!(e.http_status(), 502);
        assert_eq!(
            ApiError::new(ErrorKind::Unavailable, "x").http_status(),
            503
        );
    }

    #[test]
    fn usage_merge_keeps_earlier_fields() {
        let mut u = Usage {
            input: Some(10),
            cache_read: Some(3),
            ..Usage::default()
        };
        u.merge(&Usage {
            output: Some(7),
            ..Usage::default()
        });
        assert_eq!(u.input, Some(10));
        assert_eq!(u.output, Some(7));
        assert_eq!(u.cache_read, Some(3));
    }
}
