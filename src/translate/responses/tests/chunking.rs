//! Streams arrive in arbitrary pieces and may stop anywhere.

use bytes::Bytes;
use proptest::prelude::*;

use super::super::super::anthropic;
use super::super::super::ir::{ApiError, ErrorKind, Event, StopReason, Usage};
use super::super::super::sse::SseParser;
use super::super::{StreamDecoder, StreamEncoder};
use super::golden::{codex_stream, golden_events};
use super::{check_stream, decode, decode_chunks, encode, frames};

#[derive(Clone, Copy)]
enum From {
    Responses,
    Anthropic,
}

/// Upstream SSE in `chunks` → Responses SSE for the client, as a route would run it.
fn translate(from: From, chunks: &[&[u8]]) -> Vec<u8> {
    let mut parser = SseParser::default();
    let mut resp = StreamDecoder::default();
    let mut anth = anthropic::StreamDecoder::default();
    let mut enc = StreamEncoder::new("client-model");
    let mut events = Vec::new();
    let mut out: Vec<Bytes> = Vec::new();
    let mut on_event = |_: &str, data: &str| {
        events.clear();
        match from {
            From::Responses => resp.decode(data, &mut events),
            From::Anthropic => anth.decode(data, &mut events),
        }
        for e in &events {
            enc.encode(e, &mut out);
        }
    };
    for c in chunks {
        parser.feed(c, &mut on_event);
    }
    parser.finish(&mut on_event);
    let mut tail = Vec::new();
    if let From::Responses = from {
        resp.finish(&mut tail);
    }
    for e in &tail {
        enc.encode(e, &mut out);
    }
    enc.finish(&mut out);
    without_clock(&out.concat())
}

/// The output with `"created_at":<seconds>` blanked (encoders started in different
/// seconds differ only there).
fn without_clock(out: &[u8]) -> Vec<u8> {
    const KEY: &[u8] = b"\"created_at\":";
    let mut res = Vec::with_capacity(out.len());
    let mut rest = out;
    while let Some(i) = rest.windows(KEY.len()).position(|w| w == KEY) {
        res.extend_from_slice(&rest[..i + KEY.len()]);
        rest = &rest[i + KEY.len()..];
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        res.push(b'0');
        rest = &rest[digits..];
    }
    res.extend_from_slice(rest);
    res
}

fn anthropic_stream() -> Vec<u8> {
    let mut enc = anthropic::StreamEncoder::new("claude");
    let mut out = Vec::new();
    for e in golden_events() {
        enc.encode(&e, &mut out);
    }
    enc.finish(&mut out);
    out.concat()
}

#[test]
fn decoding_split_at_every_byte_gives_the_same_events() {
    let input = codex_stream();
    let bytes = input.as_bytes();
    let whole = decode(bytes, usize::MAX);
    assert_eq!(whole, golden_events());
    for i in 0..=bytes.len() {
        assert_eq!(
            decode_chunks(&[&bytes[..i], &bytes[i..]]),
            whole,
            "split at {i}"
        );
    }
    assert_eq!(decode(bytes, 1), whole);
    let crlf = input.replace('\n', "\r\n");
    assert_eq!(decode(crlf.as_bytes(), 3), whole, "CRLF line endings");
}

#[test]
fn translation_fed_in_any_steps_gives_the_same_frames() {
    let codex = codex_stream();
    let anth = anthropic_stream();
    for (from, bytes) in [
        (From::Responses, codex.as_bytes()),
        (From::Anthropic, anth.as_slice()),
    ] {
        let whole = translate(from, &[bytes]);
        let text = std::str::from_utf8(&whole).expect("UTF-8");
        let split: Vec<Bytes> = text
            .split_inclusive("\n\n")
            .map(|f| Bytes::copy_from_slice(f.as_bytes()))
            .collect();
        let parsed = frames(&split);
        check_stream(&parsed);
        assert_eq!(
            parsed.last().map(|(e, _)| e.as_str()),
            Some("response.completed")
        );
        // Step 1 splits at every byte boundary at once; the others mix boundaries.
        for step in [1, 2, 3, 7, 64] {
            let chunks: Vec<&[u8]> = bytes.chunks(step).collect();
            assert_eq!(translate(from, &chunks), whole, "step {step}");
        }
    }
}

#[test]
fn frames_are_emitted_as_soon_as_their_input_event_completes() {
    let input = codex_stream();
    let mut parser = SseParser::default();
    let mut dec = StreamDecoder::default();
    let mut enc = StreamEncoder::new("m");
    let mut events = Vec::new();
    let mut text_frames = 0;
    for event in input.split_inclusive("\n\n") {
        let mut out: Vec<Bytes> = Vec::new();
        parser.feed(event.as_bytes(), &mut |_, data| {
            events.clear();
            dec.decode(data, &mut events);
            for e in &events {
                enc.encode(e, &mut out);
            }
        });
        if event.contains("response.output_text.delta") {
            // The delta goes out at once (after closing the previous item, if any).
            let got = frames(&out);
            let deltas: Vec<_> = got
                .iter()
                .filter(|(e, _)| e == "response.output_text.delta")
                .collect();
            assert_eq!(deltas.len(), 1, "one delta in, one delta out");
            assert_eq!(
                got.last().map(|(e, _)| e.as_str()),
                Some("response.output_text.delta")
            );
            text_frames += 1;
        }
    }
    assert_eq!(text_frames, 2);
}

fn stop() -> impl Strategy<Value = StopReason> {
    prop_oneof![
        Just(StopReason::EndTurn),
        Just(StopReason::StopSequence),
        Just(StopReason::MaxTokens),
        Just(StopReason::ToolUse),
        Just(StopReason::Refusal),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    let text = "[a-z \"{}\\\\\n]{0,6}";
    prop_oneof![
        ("[a-z_]{0,6}", "[a-z]{0,3}").prop_map(|(id, model)| Event::Start { id, model }),
        text.prop_map(Event::Text),
        text.prop_map(Event::Thinking),
        "[A-Za-z0-9=]{0,4}".prop_map(Event::Signature),
        (0usize..3, "[a-z_]{0,4}", "[a-z]{0,3}").prop_map(|(index, id, name)| Event::ToolStart {
            index,
            id,
            name
        }),
        (0usize..3, text).prop_map(|(index, fragment)| Event::ToolArgs { index, fragment }),
        (
            proptest::option::of(0u64..100),
            proptest::option::of(0u64..100)
        )
            .prop_map(|(input, reasoning)| Event::Usage(Usage {
                input,
                reasoning,
                ..Usage::default()
            })),
        stop().prop_map(Event::Finish),
        Just(Event::Done),
        "[a-z ]{0,8}"
            .prop_map(|message| Event::Error(ApiError::new(ErrorKind::RateLimit, message))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn arbitrary_chunking_yields_identical_events(
        cuts in proptest::collection::vec(any::<proptest::sample::Index>(), 0..24)
    ) {
        let input = codex_stream();
        let bytes = input.as_bytes();
        let mut at: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        at.sort_unstable();
        let mut chunks = Vec::new();
        let mut from = 0;
        for a in at {
            chunks.push(&bytes[from..a]);
            from = a;
        }
        chunks.push(&bytes[from..]);
        prop_assert_eq!(decode_chunks(&chunks), golden_events());
    }

    #[test]
    fn truncation_never_panics_and_ends_in_an_error(cut in 0usize..6000) {
        let input = codex_stream();
        let bytes = input.as_bytes();
        let cut = cut.min(bytes.len());
        let events = decode(&bytes[..cut], 97);
        let completed = input.find("event: response.completed").unwrap_or(bytes.len());
        let data = completed + input[completed..].find("data: ").unwrap_or(0);
        let line_end = data + input[data..].find('\n').unwrap_or(0);
        if cut < line_end {
            prop_assert!(matches!(events.last(), Some(Event::Error(_))), "{:?}", events.last());
        } else {
            prop_assert_eq!(events, golden_events());
            return Ok(());
        }
        check_stream(&frames(&encode(&events, "m")));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let events = decode(&bytes, 13);
        prop_assert!(matches!(events.last(), Some(Event::Error(_))));
    }

    #[test]
    fn arbitrary_event_sequences_encode_to_valid_streams(
        events in proptest::collection::vec(event(), 0..40)
    ) {
        let got = frames(&encode(&events, "m"));
        check_stream(&got);
        // And the client-side decoder reads them back without complaint.
        let bytes = encode(&events, "m").concat();
        let back = decode(&bytes, 11);
        prop_assert!(matches!(back.last(), Some(Event::Done | Event::Error(_))));
    }
}
