//! Documented event sequences, decoded and encoded.

use serde_json::{Value, json};

use super::super::super::ir::{ApiError, ErrorKind, Event, StopReason, Usage};
use super::super::response_from_stream;
use super::{check_stream, decode, encode, frames, sse};

pub(super) fn response_obj(status: &str, output: Value, usage: Value) -> Value {
    json!({"id": "resp_68af4030592c", "object": "response", "created_at": 1756315696,
           "status": status, "model": "gpt-5-codex", "output": output, "usage": usage,
           "error": null, "incomplete_details": null, "parallel_tool_calls": true})
}

pub(super) fn usage_wire() -> Value {
    json!({"input_tokens": 1200, "input_tokens_details": {"cached_tokens": 1024, "cache_write_tokens": 0},
           "output_tokens": 300, "output_tokens_details": {"reasoning_tokens": 256},
           "total_tokens": 1500})
}

pub(super) fn reasoning_item(done: bool) -> Value {
    if done {
        json!({"id": "rs_01", "type": "reasoning", "encrypted_content": "gAAAAABo-enc==",
               "summary": [{"type": "summary_text", "text": "**Checking weather**"},
                           {"type": "summary_text", "text": "Need a tool."}]})
    } else {
        json!({"id": "rs_01", "type": "reasoning", "summary": []})
    }
}

pub(super) fn message_item(text: &str, done: bool) -> Value {
    let content = if done {
        json!([{"type": "output_text", "text": text, "annotations": []}])
    } else {
        json!([])
    };
    let status = if done { "completed" } else { "in_progress" };
    json!({"id": "msg_01", "type": "message", "status": status, "role": "assistant", "content": content})
}

pub(super) fn call_item(args: &str, done: bool) -> Value {
    let status = if done { "completed" } else { "in_progress" };
    json!({"id": "fc_01", "type": "function_call", "status": status, "arguments": args,
           "call_id": "call_abc", "name": "get_weather"})
}

/// What the ChatGPT Codex backend streams for reasoning, text and a tool call, ending
/// with a `response.completed` whose `output` is empty (seen in the wild).
pub(super) fn codex_events(completed_output: Value) -> Vec<Value> {
    let summary = |i: u64, kind: &str, extra: Value| {
        let mut v =
            json!({"type": kind, "item_id": "rs_01", "output_index": 0, "summary_index": i});
        for (k, x) in extra.as_object().expect("object") {
            v[k] = x.clone();
        }
        v
    };
    let text = |kind: &str, extra: Value| {
        let mut v =
            json!({"type": kind, "item_id": "msg_01", "output_index": 1, "content_index": 0});
        for (k, x) in extra.as_object().expect("object") {
            v[k] = x.clone();
        }
        v
    };
    vec![
        json!({"type": "response.created", "response": response_obj("in_progress", json!([]), Value::Null)}),
        json!({"type": "response.in_progress", "response": response_obj("in_progress", json!([]), Value::Null)}),
        json!({"type": "response.output_item.added", "output_index": 0, "item": reasoning_item(false)}),
        summary(
            0,
            "response.reasoning_summary_part.added",
            json!({"part": {"type": "summary_text", "text": ""}}),
        ),
        summary(
            0,
            "response.reasoning_summary_text.delta",
            json!({"delta": "**Checking weather**"}),
        ),
        summary(
            0,
            "response.reasoning_summary_text.done",
            json!({"text": "**Checking weather**"}),
        ),
        summary(
            0,
            "response.reasoning_summary_part.done",
            json!({"part": {"type": "summary_text", "text": "**Checking weather**"}}),
        ),
        summary(
            1,
            "response.reasoning_summary_part.added",
            json!({"part": {"type": "summary_text", "text": ""}}),
        ),
        summary(
            1,
            "response.reasoning_summary_text.delta",
            json!({"delta": "Need a tool."}),
        ),
        summary(
            1,
            "response.reasoning_summary_text.done",
            json!({"text": "Need a tool."}),
        ),
        summary(
            1,
            "response.reasoning_summary_part.done",
            json!({"part": {"type": "summary_text", "text": "Need a tool."}}),
        ),
        json!({"type": "response.output_item.done", "output_index": 0, "item": reasoning_item(true)}),
        json!({"type": "codex.rate_limits", "primary": {"used_percent": 12.0, "window_minutes": 300}}),
        json!({"type": "response.output_item.added", "output_index": 1, "item": message_item("", false)}),
        text(
            "response.content_part.added",
            json!({"part": {"type": "output_text", "text": "", "annotations": []}}),
        ),
        text(
            "response.output_text.delta",
            json!({"delta": "Let me ", "logprobs": []}),
        ),
        text(
            "response.output_text.delta",
            json!({"delta": "check.", "logprobs": []}),
        ),
        text(
            "response.output_text.done",
            json!({"text": "Let me check.", "logprobs": []}),
        ),
        text(
            "response.content_part.done",
            json!({"part": {"type": "output_text", "text": "Let me check.", "annotations": []}}),
        ),
        json!({"type": "response.output_item.done", "output_index": 1, "item": message_item("Let me check.", true)}),
        json!({"type": "response.output_item.added", "output_index": 2, "item": call_item("", false)}),
        json!({"type": "response.function_call_arguments.delta", "item_id": "fc_01", "output_index": 2, "delta": "{\"city\":"}),
        json!({"type": "response.function_call_arguments.delta", "item_id": "fc_01", "output_index": 2, "delta": "\"Paris\"}"}),
        json!({"type": "response.function_call_arguments.done", "item_id": "fc_01", "output_index": 2, "arguments": "{\"city\":\"Paris\"}"}),
        json!({"type": "response.output_item.done", "output_index": 2, "item": call_item("{\"city\":\"Paris\"}", true)}),
        json!({"type": "response.completed", "response": response_obj("completed", completed_output, usage_wire())}),
    ]
}

pub(super) fn codex_stream() -> String {
    // A keep-alive comment between events, as proxies insert.
    sse(&codex_events(json!([]))).replacen("\n\nevent: codex.", "\n\n: ping\n\nevent: codex.", 1)
}

pub(super) fn golden_usage() -> Usage {
    Usage {
        input: Some(176),
        output: Some(300),
        cache_read: Some(1024),
        cache_creation: None,
        reasoning: Some(256),
    }
}

pub(super) fn golden_events() -> Vec<Event> {
    vec![
        Event::Start {
            id: "resp_68af4030592c".into(),
            model: "gpt-5-codex".into(),
        },
        Event::Thinking("**Checking weather**".into()),
        Event::Thinking("\n\n".into()),
        Event::Thinking("Need a tool.".into()),
        Event::Signature("gAAAAABo-enc==".into()),
        Event::Text("Let me ".into()),
        Event::Text("check.".into()),
        Event::ToolStart {
            index: 0,
            id: "call_abc".into(),
            name: "get_weather".into(),
        },
        Event::ToolArgs {
            index: 0,
            fragment: "{\"city\":".into(),
        },
        Event::ToolArgs {
            index: 0,
            fragment: "\"Paris\"}".into(),
        },
        Event::Usage(golden_usage()),
        Event::Finish(StopReason::ToolUse),
        Event::Done,
    ]
}

#[test]
fn codex_stream_decodes_to_ir_events() {
    assert_eq!(
        decode(codex_stream().as_bytes(), usize::MAX),
        golden_events()
    );
}

#[test]
fn completed_output_repeating_streamed_items_adds_nothing() {
    let full = json!([
        reasoning_item(true),
        message_item("Let me check.", true),
        call_item("{\"city\":\"Paris\"}", true)
    ]);
    let input = sse(&codex_events(full));
    assert_eq!(decode(input.as_bytes(), usize::MAX), golden_events());
}

#[test]
fn items_only_in_done_events_or_the_final_output_are_not_lost() {
    // No added/delta events: everything arrives on output_item.done …
    let events = vec![
        json!({"type": "response.created", "response": response_obj("in_progress", json!([]), Value::Null)}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": reasoning_item(true)}),
        json!({"type": "response.output_item.done", "output_index": 1, "item": message_item("Let me check.", true)}),
        json!({"type": "response.output_item.done", "output_index": 2, "item": call_item("{\"city\":\"Paris\"}", true)}),
        json!({"type": "response.completed", "response": response_obj("completed", json!([]), usage_wire())}),
    ];
    let want = vec![
        golden_events()[0].clone(),
        Event::Thinking("**Checking weather**\n\nNeed a tool.".into()),
        Event::Signature("gAAAAABo-enc==".into()),
        Event::Text("Let me check.".into()),
        golden_events()[7].clone(),
        Event::ToolArgs {
            index: 0,
            fragment: "{\"city\":\"Paris\"}".into(),
        },
        Event::Usage(golden_usage()),
        Event::Finish(StopReason::ToolUse),
        Event::Done,
    ];
    assert_eq!(decode(sse(&events).as_bytes(), usize::MAX), want);
    // … or only in the completed response's output.
    let full = json!([
        reasoning_item(true),
        message_item("Let me check.", true),
        call_item("{\"city\":\"Paris\"}", true)
    ]);
    let events = vec![
        json!({"type": "response.created", "response": response_obj("in_progress", json!([]), Value::Null)}),
        json!({"type": "response.completed", "response": response_obj("completed", full, usage_wire())}),
    ];
    assert_eq!(decode(sse(&events).as_bytes(), usize::MAX), want);
}

#[test]
fn incomplete_failed_error_and_truncated_streams() {
    let mut incomplete = response_obj("incomplete", json!([]), usage_wire());
    incomplete["incomplete_details"] = json!({"reason": "max_output_tokens"});
    let events = vec![
        json!({"type": "response.created", "response": response_obj("in_progress", json!([]), Value::Null)}),
        json!({"type": "response.output_text.delta", "item_id": "msg_9", "output_index": 0, "content_index": 0, "delta": "Hi"}),
        json!({"type": "response.incomplete", "response": incomplete}),
    ];
    let got = decode(sse(&events).as_bytes(), 3);
    assert_eq!(
        &got[1..],
        &[
            Event::Text("Hi".into()),
            Event::Usage(golden_usage()),
            Event::Finish(StopReason::MaxTokens),
            Event::Done
        ]
    );

    let mut failed = response_obj("failed", json!([]), Value::Null);
    failed["error"] = json!({"code": "rate_limit_exceeded", "message": "Rate limit reached"});
    let events = vec![
        json!({"type": "response.created", "response": response_obj("in_progress", json!([]), Value::Null)}),
        json!({"type": "response.failed", "response": failed}),
        json!({"type": "response.completed", "response": response_obj("completed", json!([]), Value::Null)}),
    ];
    let got = decode(sse(&events).as_bytes(), 5);
    assert_eq!(
        got.last(),
        Some(&Event::Error(ApiError::new(
            ErrorKind::RateLimit,
            "Rate limit reached"
        ))),
        "nothing after the failure counts"
    );
    assert_eq!(got.len(), 2);

    for error in [
        json!({"type": "error", "code": "server_is_overloaded", "message": "Slow down", "param": null}),
        json!({"type": "error", "error": {"type": "server_error", "code": "server_is_overloaded", "message": "Slow down"}}),
    ] {
        let got = decode(sse(&[error]).as_bytes(), 1);
        assert_eq!(
            got,
            vec![Event::Error(ApiError::new(
                ErrorKind::Overloaded,
                "Slow down"
            ))]
        );
    }

    let cut = codex_stream();
    let cut = &cut[..cut
        .find("event: response.completed")
        .expect("has completed")];
    let got = decode(cut.as_bytes(), 64);
    assert_eq!(
        got.last(),
        Some(&Event::Error(ApiError::new(
            ErrorKind::Api,
            "stream closed before response.completed"
        )))
    );
    assert!(!got.contains(&Event::Done));
}

#[test]
fn encoder_emits_the_documented_order() {
    let got = frames(&encode(&golden_events(), "gpt-5-alias"));
    check_stream(&got);
    let names: Vec<&str> = got.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done",
            "response.reasoning_summary_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(
        got[12].1,
        json!({"type": "response.output_text.delta", "sequence_number": 12, "item_id": "msg_68af4030592c_1",
               "output_index": 1, "content_index": 0, "delta": "Let me ", "logprobs": []})
    );
    assert_eq!(
        got[17].1,
        json!({"type": "response.output_item.added", "sequence_number": 17, "output_index": 2,
               "item": {"type": "function_call", "id": "fc_68af4030592c_2", "status": "in_progress",
                        "arguments": "", "call_id": "call_abc", "name": "get_weather"}})
    );
    let completed = &got[22].1["response"];
    assert_eq!(completed["id"], "resp_68af4030592c");
    assert_eq!(completed["object"], "response");
    assert_eq!(completed["status"], "completed");
    assert_eq!(completed["model"], "gpt-5-alias");
    assert_eq!(completed["usage"], usage_wire());
    assert_eq!(
        completed["output"][0],
        json!({"type": "reasoning", "id": "rs_68af4030592c_0", "encrypted_content": "gAAAAABo-enc==",
               "summary": [{"type": "summary_text", "text": "**Checking weather**\n\nNeed a tool."}]})
    );
    assert_eq!(
        completed["output"][1]["content"],
        json!([{"type": "output_text", "text": "Let me check.", "annotations": []}])
    );
    assert_eq!(completed["output"][2]["arguments"], "{\"city\":\"Paris\"}");
}

#[test]
fn encoded_stream_decodes_back_to_the_same_events() {
    let bytes: Vec<u8> = encode(&golden_events(), "gpt-5-codex").concat();
    let want = golden_events();
    let got = decode(&bytes, 7);
    assert_eq!(got, want);
}

#[test]
fn max_tokens_and_refusal_end_incomplete() {
    for (stop, reason) in [
        (StopReason::MaxTokens, "max_output_tokens"),
        (StopReason::Refusal, "content_filter"),
    ] {
        let events = [
            Event::Start {
                id: "msg_1".into(),
                model: "m".into(),
            },
            Event::Text("Hel".into()),
            Event::Finish(stop),
            Event::Usage(Usage {
                input: Some(5),
                output: Some(3),
                ..Usage::default()
            }),
        ];
        // No Done: upstream EOF after the stop reason still completes normally.
        let got = frames(&encode(&events, "m"));
        check_stream(&got);
        let (ev, last) = got.last().expect("frames");
        assert_eq!(ev, "response.incomplete");
        assert_eq!(last["response"]["status"], "incomplete");
        assert_eq!(
            last["response"]["incomplete_details"],
            json!({"reason": reason})
        );
        assert_eq!(last["response"]["id"], "resp_1");
        assert_eq!(last["response"]["usage"]["total_tokens"], 8);
    }
}

#[test]
fn errors_and_truncation_end_with_error_then_failed() {
    let events = [
        Event::Start {
            id: "x".into(),
            model: "m".into(),
        },
        Event::Text("partial".into()),
        Event::Error(ApiError::new(ErrorKind::RateLimit, "Too many requests")),
        Event::Text("ignored".into()),
    ];
    let got = frames(&encode(&events, "m"));
    check_stream(&got);
    let n = got.len();
    assert_eq!(
        got[n - 2].1,
        json!({"type": "error", "sequence_number": n - 2, "code": "rate_limit_exceeded",
               "message": "Too many requests", "param": null})
    );
    let failed = &got[n - 1].1["response"];
    assert_eq!(failed["status"], "failed");
    assert_eq!(
        failed["error"],
        json!({"code": "rate_limit_exceeded", "message": "Too many requests"})
    );

    // An error before anything else still starts the response (SDK stream helpers
    // insist on response.created first).
    let got = frames(&encode(
        &[Event::Error(ApiError::new(ErrorKind::Overloaded, "busy"))],
        "m",
    ));
    check_stream(&got);
    assert_eq!(got.len(), 4);

    // EOF without a stop reason.
    let got = frames(&encode(&[Event::Text("cut".into())], "m"));
    check_stream(&got);
    assert_eq!(got[got.len() - 1].1["response"]["status"], "failed");
}

#[test]
fn parallel_tool_calls_with_interleaved_arguments() {
    let events = [
        Event::ToolStart {
            index: 0,
            id: "call_a".into(),
            name: "f".into(),
        },
        Event::ToolStart {
            index: 1,
            id: "call_b".into(),
            name: "g".into(),
        },
        Event::ToolArgs {
            index: 0,
            fragment: "{\"a\":".into(),
        },
        Event::ToolArgs {
            index: 1,
            fragment: "{}".into(),
        },
        Event::ToolArgs {
            index: 0,
            fragment: "1}".into(),
        },
        Event::Finish(StopReason::ToolUse),
        Event::Done,
    ];
    let got = frames(&encode(&events, "m"));
    check_stream(&got);
    let output = &got.last().expect("frames").1["response"]["output"];
    assert_eq!(output[0]["arguments"], "{\"a\":1}");
    assert_eq!(output[1]["arguments"], "{}");
    assert_eq!(output[1]["call_id"], "call_b");
}

#[test]
fn non_stream_answer_is_rebuilt_from_done_items() {
    let got = response_from_stream(codex_stream().as_bytes()).expect("completed");
    assert_eq!(got["status"], "completed");
    assert_eq!(
        got["output"],
        json!([
            reasoning_item(true),
            message_item("Let me check.", true),
            call_item("{\"city\":\"Paris\"}", true)
        ])
    );
    let full = sse(&codex_events(json!([message_item("kept", true)])));
    let got = response_from_stream(full.as_bytes()).expect("completed");
    assert_eq!(
        got["output"],
        json!([message_item("kept", true)]),
        "a non-empty output is kept"
    );

    let cut = codex_stream();
    let cut = &cut[..cut.len() - 20];
    assert_eq!(
        response_from_stream(cut.as_bytes()),
        Err(ApiError::new(
            ErrorKind::Api,
            "stream closed before response.completed"
        ))
    );
    let mut failed = response_obj("failed", json!([]), Value::Null);
    failed["error"] = json!({"code": "context_length_exceeded", "message": "Your input exceeds the context window"});
    let err = response_from_stream(
        sse(&[json!({"type": "response.failed", "response": failed})]).as_bytes(),
    )
    .expect_err("failed");
    assert_eq!(err.kind, ErrorKind::InvalidRequest);
    assert_eq!(err.message, "Your input exceeds the context window");
}

#[test]
fn deltas_without_item_references_continue_the_last_item() {
    let mut events = vec![
        json!({"type": "response.created", "response": response_obj("in_progress", json!([]), Value::Null)}),
    ];
    for _ in 0..3 {
        events.push(json!({"type": "response.output_text.delta", "delta": "ab"}));
    }
    events.push(json!({"type": "response.completed", "response": response_obj("completed", json!([]), Value::Null)}));
    let got = decode(sse(&events).as_bytes(), usize::MAX);
    assert_eq!(
        &got[1..],
        &[
            Event::Text("ab".into()),
            Event::Text("ab".into()),
            Event::Text("ab".into()),
            Event::Finish(StopReason::EndTurn),
            Event::Done
        ]
    );
}
