#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};

use super::*;

fn gemini_history(sig: &str) -> Value {
    json!({"contents": [
        {"role": "user", "parts": [{"text": "weather?"}]},
        {"role": "model", "parts": [
            {"text": "Thinking.", "thought": true},
            {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": sig},
            {"text": "and", "thought_signature": "T1RIRVI="}
        ]},
        {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]}
    ]})
}

fn responses_history(sig: &str) -> Value {
    json!({"input": [
        {"role": "user", "content": "weather?"},
        {"type": "reasoning", "summary": [], "encrypted_content": sig},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "18C"}
    ]})
}

fn anthropic_history(sig: &str) -> Value {
    json!({"messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "hm", "signature": sig},
            {"type": "tool_use", "id": "t1", "name": "f", "input": {"signature": "not-a-thought"}}
        ]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "18C"}]}
    ]})
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

#[test]
fn signatures_are_found_where_each_dialect_keeps_them() {
    #[rustfmt::skip]
    let table: Vec<(&str, Dialect, Vec<u8>, Vec<&str>)> = vec![
        ("gemini, both spellings", Dialect::Gemini, bytes(&gemini_history("U0lHLUE=")), vec!["U0lHLUE=", "T1RIRVI="]),
        ("gemini sentinel is no signature", Dialect::Gemini, bytes(&gemini_history(SKIP_THOUGHT_SIGNATURE)), vec!["T1RIRVI="]),
        ("responses reasoning", Dialect::Responses, bytes(&responses_history("U0lHLUE=")), vec!["U0lHLUE="]),
        ("responses string input", Dialect::Responses, bytes(&json!({"input": "encrypted_content"})), vec![]),
        ("anthropic thinking only, not tool input", Dialect::Anthropic, bytes(&anthropic_history("U0lHLUE=")), vec!["U0lHLUE="]),
        ("anthropic empty signature", Dialect::Anthropic, bytes(&anthropic_history("")), vec![]),
        ("chat has no slot", Dialect::OpenAiChat, bytes(&json!({"messages": [{"signature": "x"}]})), vec![]),
        ("not json", Dialect::Gemini, b"thoughtSignature{".to_vec(), vec![]),
    ];
    for (name, d, body, want) in table {
        assert_eq!(request_signatures(d, &body), want, "{name}");
    }
}

#[test]
fn refused_signatures_become_the_skip_sentinel_and_kept_ones_stay() {
    let keep_other = |s: &str| s == "T1RIRVI=";
    let out = replace_signatures(
        Dialect::Gemini,
        &bytes(&gemini_history("U0lHLUE=")),
        keep_other,
    )
    .unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        v["contents"][1]["parts"][1]["thoughtSignature"],
        SKIP_THOUGHT_SIGNATURE
    );
    assert_eq!(
        v["contents"][1]["parts"][2]["thought_signature"],
        "T1RIRVI="
    );

    let out = replace_signatures(
        Dialect::Responses,
        &bytes(&responses_history("U0lHLUE=")),
        |_| false,
    )
    .unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["input"][1]["encrypted_content"], SKIP_THOUGHT_SIGNATURE);

    let out = replace_signatures(
        Dialect::Anthropic,
        &bytes(&anthropic_history("U0lHLUE=")),
        |_| false,
    )
    .unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        v["messages"][1]["content"][0]["signature"],
        SKIP_THOUGHT_SIGNATURE
    );
    assert_eq!(
        v["messages"][1]["content"][1]["input"]["signature"], "not-a-thought",
        "tool input untouched"
    );

    assert_eq!(
        replace_signatures(Dialect::Gemini, &bytes(&gemini_history("U0lHLUE=")), |_| {
            true
        }),
        None,
        "all kept: the body goes as it came"
    );
    assert_eq!(
        replace_signatures(Dialect::Gemini, b"{\"contents\":[]}", |_| false),
        None
    );
}

fn scan(d: Dialect, chunks: &[&[u8]]) -> Vec<String> {
    let mut s = SignatureScanner::new(d).unwrap();
    let mut out = Vec::new();
    for c in chunks {
        s.feed(c, |sig| out.push(sig.to_string()));
    }
    out
}

#[test]
fn answers_are_scanned_for_signatures_across_chunks() {
    let sse = b"data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":\"f\"},\"thoughtSignature\":\"U0lHLUE=\"}]}}]}\r\n\r\n";
    // Every split point: the key, the colon and the value may each straddle chunks.
    for cut in 0..sse.len() {
        let (a, b) = sse.split_at(cut);
        assert_eq!(
            scan(Dialect::Gemini, &[a, b]),
            vec!["U0lHLUE="],
            "cut at {cut}"
        );
    }
    let pretty =
        b"{\n  \"parts\": [{\"text\": \"hi\",\n \"thoughtSignature\" :\n \"U0lH\\/LUE=\"}]}";
    assert_eq!(
        scan(Dialect::Gemini, &[pretty]),
        vec!["U0lH/LUE="],
        "whitespace and escapes"
    );
    let anthropic = b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"U0lHLUI=\"}}\n\n";
    assert_eq!(scan(Dialect::Anthropic, &[anthropic]), vec!["U0lHLUI="]);
    let escaped = br#"{"type":"input_json_delta","partial_json":"{\"signature\":\"no\"}"}"#;
    assert!(
        scan(Dialect::Anthropic, &[escaped]).is_empty(),
        "keys inside strings are not keys"
    );
    let responses = br#"{"item":{"type":"reasoning","encrypted_content":"U0lHLUM=","summary":[]}}"#;
    assert_eq!(scan(Dialect::Responses, &[responses]), vec!["U0lHLUM="]);
    let values = br#"{"type":"signature","signature":"","x":"thoughtSignature"}"#;
    assert!(
        scan(Dialect::Anthropic, &[values]).is_empty(),
        "a key's name as a value, an empty signature"
    );
    assert!(scan(Dialect::Gemini, &[values]).is_empty());
    let sentinel = format!(r#"{{"thoughtSignature":"{SKIP_THOUGHT_SIGNATURE}"}}"#);
    assert!(scan(Dialect::Gemini, &[sentinel.as_bytes()]).is_empty());
    assert!(SignatureScanner::new(Dialect::OpenAiChat).is_none());
}

#[test]
fn the_scanner_is_bounded() {
    let long = format!(r#"{{"thoughtSignature":"{}"}}"#, "A".repeat(MAX_VALUE + 1));
    let chunks: Vec<&[u8]> = long.as_bytes().chunks(1000).collect();
    assert!(
        scan(Dialect::Gemini, &chunks).is_empty(),
        "too long to remember"
    );
    let many: String = (0..MAX_FOUND + 10)
        .map(|i| format!(r#"{{"thoughtSignature":"S{i}"}}"#))
        .collect();
    assert_eq!(scan(Dialect::Gemini, &[many.as_bytes()]).len(), MAX_FOUND);
    let after = format!(r#"{}{{"thoughtSignature":"OK"}}"#, long);
    assert_eq!(
        scan(Dialect::Gemini, &[after.as_bytes()]),
        vec!["OK"],
        "a skipped value ends where it ends"
    );
}

proptest::proptest! {
    /// However an answer is cut into chunks, the same signatures are found as in one
    /// piece: leads and keys cut at a chunk's end are picked up in the next.
    #[test]
    fn chunking_never_changes_what_is_found(
        parts in proptest::collection::vec(
            proptest::sample::select(vec![
                "\"thoughtSignature\"", "\"thought_signature\"", "\"thought", "\"signature\"",
                "\"signature", "\"encrypted_content\"", ":", " ", "\"", "\\\"", "\"S1\"",
                "\"AbC=\"", "{", "}", ",", "x", "data: ",
            ]),
            0..40,
        ),
        cuts in proptest::collection::vec(0usize..400, 0..6),
    ) {
        let doc: String = parts.concat();
        let bytes = doc.as_bytes();
        let mut at: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
        at.sort_unstable();
        let mut chunks = Vec::new();
        let mut from = 0;
        for c in at {
            chunks.push(&bytes[from..c]);
            from = c;
        }
        chunks.push(&bytes[from..]);
        let chunks: Vec<&[u8]> = chunks.into_iter().filter(|c| !c.is_empty()).collect();
        for d in [Dialect::Gemini, Dialect::Anthropic, Dialect::Responses] {
            proptest::prop_assert_eq!(scan(d, &chunks), scan(d, &[bytes]), "{:?} {:?}", d, doc);
        }
    }
}

#[test]
fn each_dialect_is_searched_by_the_quoted_start_its_keys_share() {
    let lead = |d| String::from_utf8(lead_of(keys(d))).unwrap();
    assert_eq!(lead(Dialect::Gemini), "\"thought");
    assert_eq!(lead(Dialect::Anthropic), "\"signature\"");
    assert_eq!(lead(Dialect::Responses), "\"encrypted_content\"");
    assert!(
        lead_of(keys(Dialect::OpenAiChat)) == b"\""
            && SignatureScanner::new(Dialect::OpenAiChat).is_none()
    );
}
