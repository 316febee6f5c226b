//! The Codex (Responses) stream into the other dialects and through to itself.

use super::*;

/// A Codex (Responses) stream in the documented order: reasoning with encrypted content,
/// text, a function call, then `response.completed` with an empty `output` (as the
/// backend sometimes sends it).
pub(super) const RESPONSES_STREAM: &str = concat!(
    "event: response.created\n",
    "data: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_68af\",\"object\":\"response\",\"status\":\"in_progress\",\"model\":\"gpt-5-codex\",\"output\":[]}}\n\n",
    "event: response.in_progress\n",
    "data: {\"type\":\"response.in_progress\",\"sequence_number\":1,\"response\":{\"id\":\"resp_68af\",\"status\":\"in_progress\",\"output\":[]}}\n\n",
    "event: codex.rate_limits\n",
    "data: {\"type\":\"codex.rate_limits\",\"primary\":{\"used_percent\":3.0}}\n\n",
    "event: response.output_item.added\n",
    "data: {\"type\":\"response.output_item.added\",\"sequence_number\":2,\"output_index\":0,\"item\":{\"type\":\"reasoning\",\"id\":\"rs_1\",\"summary\":[]}}\n\n",
    "event: response.reasoning_summary_text.delta\n",
    "data: {\"type\":\"response.reasoning_summary_text.delta\",\"sequence_number\":3,\"item_id\":\"rs_1\",\"output_index\":0,\"summary_index\":0,\"delta\":\"Need the weather.\"}\n\n",
    "event: response.output_item.done\n",
    "data: {\"type\":\"response.output_item.done\",\"sequence_number\":4,\"output_index\":0,\"item\":{\"type\":\"reasoning\",\"id\":\"rs_1\",\"summary\":[{\"type\":\"summary_text\",\"text\":\"Need the weather.\"}],\"encrypted_content\":\"gAAAAB-enc\"}}\n\n",
    "event: response.output_item.added\n",
    "data: {\"type\":\"response.output_item.added\",\"sequence_number\":5,\"output_index\":1,\"item\":{\"type\":\"message\",\"id\":\"msg_1\",\"role\":\"assistant\",\"content\":[]}}\n\n",
    "event: response.output_text.delta\n",
    "data: {\"type\":\"response.output_text.delta\",\"sequence_number\":6,\"item_id\":\"msg_1\",\"output_index\":1,\"content_index\":0,\"delta\":\"Checking \"}\n\n",
    "event: response.output_text.delta\n",
    "data: {\"type\":\"response.output_text.delta\",\"sequence_number\":7,\"item_id\":\"msg_1\",\"output_index\":1,\"content_index\":0,\"delta\":\"Paris.\"}\n\n",
    "event: response.output_item.done\n",
    "data: {\"type\":\"response.output_item.done\",\"sequence_number\":8,\"output_index\":1,\"item\":{\"type\":\"message\",\"id\":\"msg_1\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"Checking Paris.\"}]}}\n\n",
    "event: response.output_item.added\n",
    "data: {\"type\":\"response.output_item.added\",\"sequence_number\":9,\"output_index\":2,\"item\":{\"type\":\"function_call\",\"id\":\"fc_1\",\"call_id\":\"call_w\",\"name\":\"get_weather\",\"arguments\":\"\"}}\n\n",
    "event: response.function_call_arguments.delta\n",
    "data: {\"type\":\"response.function_call_arguments.delta\",\"sequence_number\":10,\"item_id\":\"fc_1\",\"output_index\":2,\"delta\":\"{\\\"city\\\":\"}\n\n",
    "event: response.function_call_arguments.delta\n",
    "data: {\"type\":\"response.function_call_arguments.delta\",\"sequence_number\":11,\"item_id\":\"fc_1\",\"output_index\":2,\"delta\":\"\\\"Paris\\\"}\"}\n\n",
    "event: response.output_item.done\n",
    "data: {\"type\":\"response.output_item.done\",\"sequence_number\":12,\"output_index\":2,\"item\":{\"type\":\"function_call\",\"id\":\"fc_1\",\"call_id\":\"call_w\",\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}\n\n",
    "event: response.completed\n",
    "data: {\"type\":\"response.completed\",\"sequence_number\":13,\"response\":{\"id\":\"resp_68af\",\"status\":\"completed\",\"model\":\"gpt-5-codex\",\"output\":[],\"usage\":{\"input_tokens\":1200,\"input_tokens_details\":{\"cached_tokens\":1000},\"output_tokens\":300,\"output_tokens_details\":{\"reasoning_tokens\":256},\"total_tokens\":1500}}}\n\n",
);

#[test]
fn responses_stream_to_anthropic_and_chat() {
    let a = frames(&run(
        &mut StreamTranslator::new(Dialect::Responses, Dialect::Anthropic, "gpt-alias"),
        RESPONSES_STREAM,
        usize::MAX,
    ));
    let names: Vec<&str> = a.iter().filter_map(|(e, _)| e.as_deref()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    assert_eq!(a[0].1["message"]["model"], "gpt-alias");
    assert_eq!(
        a[2].1["delta"],
        json!({"type": "thinking_delta", "thinking": "Need the weather."})
    );
    assert_eq!(
        a[3].1["delta"],
        json!({"type": "signature_delta", "signature": "gAAAAB-enc"})
    );
    assert_eq!(a[9].1["content_block"]["id"], "call_w");
    assert_eq!(a[9].1["content_block"]["name"], "get_weather");
    assert_eq!(
        a[13].1,
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
               "usage": {"input_tokens": 200, "output_tokens": 300, "cache_read_input_tokens": 1000}})
    );

    let c = frames(&run(
        &mut StreamTranslator::new(Dialect::Responses, Dialect::OpenAiChat, "gpt-alias")
            .with_include_usage(true),
        RESPONSES_STREAM,
        usize::MAX,
    ));
    let text: String = c
        .iter()
        .filter_map(|(_, v)| v["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Checking Paris.");
    let reasoning: String = c
        .iter()
        .filter_map(|(_, v)| v["choices"][0]["delta"]["reasoning_content"].as_str())
        .collect();
    assert_eq!(reasoning, "Need the weather.");
    let call = c
        .iter()
        .find_map(|(_, v)| v["choices"][0]["delta"]["tool_calls"][0]["id"].as_str())
        .unwrap();
    assert_eq!(call, "call_w");
    let finish: Vec<&str> = c
        .iter()
        .filter_map(|(_, v)| v["choices"][0]["finish_reason"].as_str())
        .collect();
    assert_eq!(finish, ["tool_calls"]);
    let usage = c.iter().find(|(_, v)| v["usage"].is_object()).unwrap();
    assert_eq!(
        usage.1["usage"],
        json!({"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500,
               "prompt_tokens_details": {"cached_tokens": 1000},
               "completion_tokens_details": {"reasoning_tokens": 256}})
    );
    assert_eq!(c.last().unwrap().1, json!("[DONE]"));
}

#[test]
fn responses_to_responses_fills_the_empty_final_output() {
    let r = frames(&run(
        &mut StreamTranslator::new(Dialect::Responses, Dialect::Responses, "m"),
        RESPONSES_STREAM,
        usize::MAX,
    ));
    assert_eq!(
        r.len(),
        RESPONSES_STREAM.matches("\n\n").count(),
        "every event passes"
    );
    let done = &r.last().unwrap().1["response"]["output"];
    let ids: Vec<&str> = done
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["rs_1", "msg_1", "fc_1"]);
}
