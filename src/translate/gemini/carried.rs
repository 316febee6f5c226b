//! Thought signatures as each client dialect carries them (Gemini `thoughtSignature`,
//! Responses reasoning `encrypted_content`, Anthropic thinking `signature`): found in
//! a request's history, replaced there by [`SKIP_THOUGHT_SIGNATURE`] when the account
//! the request goes to did not issue them, and spotted in answers on their way out
//! (so the gateway can remember which account issued each one). Pure.

use serde_json::Value;

use super::super::Dialect;
use super::SKIP_THOUGHT_SIGNATURE;

/// The JSON keys a dialect carries signatures under (requests and answers alike).
fn keys(d: Dialect) -> &'static [&'static str] {
    match d {
        Dialect::Gemini => &["thoughtSignature", "thought_signature"],
        Dialect::Responses => &["encrypted_content"],
        Dialect::Anthropic => &["signature"],
        Dialect::OpenAiChat | Dialect::Completions => &[],
    }
}

/// What every key of `keys` starts with, quoted: `"` and their common start (the whole
/// key and its closing quote when there is one key).
fn lead_of(keys: &[&str]) -> Vec<u8> {
    let mut lead = vec![b'"'];
    match keys {
        [one] => {
            lead.extend_from_slice(one.as_bytes());
            lead.push(b'"');
        }
        [first, rest @ ..] => lead.extend(
            first
                .bytes()
                .enumerate()
                .take_while(|&(i, b)| rest.iter().all(|k| k.as_bytes().get(i) == Some(&b)))
                .map(|(_, b)| b),
        ),
        [] => {}
    }
    lead
}

/// A searcher for [`lead_of`] `d`'s keys, built once; `None` for dialects without keys.
fn lead(d: Dialect) -> Option<&'static memchr::memmem::Finder<'static>> {
    use memchr::memmem::Finder;
    use std::sync::LazyLock;
    fn finder(d: Dialect) -> Finder<'static> {
        Finder::new(&lead_of(keys(d))).into_owned()
    }
    static GEMINI: LazyLock<Finder<'static>> = LazyLock::new(|| finder(Dialect::Gemini));
    static RESPONSES: LazyLock<Finder<'static>> = LazyLock::new(|| finder(Dialect::Responses));
    static ANTHROPIC: LazyLock<Finder<'static>> = LazyLock::new(|| finder(Dialect::Anthropic));
    match d {
        Dialect::Gemini => Some(&GEMINI),
        Dialect::Responses => Some(&RESPONSES),
        Dialect::Anthropic => Some(&ANTHROPIC),
        Dialect::OpenAiChat | Dialect::Completions => None,
    }
}

/// Whether a dialect carries signatures at all.
pub fn carries_signatures(d: Dialect) -> bool {
    !keys(d).is_empty()
}

fn real(s: &str) -> bool {
    !s.is_empty() && s != SKIP_THOUGHT_SIGNATURE
}

/// The signature slots of a request, in history order, as mutable JSON strings.
fn slots(d: Dialect, v: &mut Value) -> Vec<&mut Value> {
    let mut out = Vec::new();
    let (list, inner) = match d {
        Dialect::Gemini => ("contents", "parts"),
        Dialect::Anthropic => ("messages", "content"),
        Dialect::Responses => {
            if let Some(items) = v.get_mut("input").and_then(Value::as_array_mut) {
                for item in items {
                    if let Some(s) = item.get_mut("encrypted_content") {
                        out.push(s);
                    }
                }
            }
            return out;
        }
        Dialect::OpenAiChat | Dialect::Completions => return out,
    };
    let Some(turns) = v.get_mut(list).and_then(Value::as_array_mut) else {
        return out;
    };
    for turn in turns {
        let Some(parts) = turn.get_mut(inner).and_then(Value::as_array_mut) else {
            continue;
        };
        for p in parts {
            let Some(obj) = p.as_object_mut() else {
                continue;
            };
            if d == Dialect::Anthropic
                && obj.get("type").and_then(Value::as_str) != Some("thinking")
            {
                continue;
            }
            for (k, s) in obj.iter_mut() {
                if keys(d).contains(&k.as_str()) {
                    out.push(s);
                }
            }
        }
    }
    out
}

/// Cheap test before parsing: the body names one of the dialect's keys.
fn mentions(d: Dialect, body: &[u8]) -> bool {
    keys(d)
        .iter()
        .any(|k| memchr::memmem::find(body, k.as_bytes()).is_some())
}

/// The real signatures (not empty, not the sentinel) in a request's history, oldest first.
pub fn request_signatures(d: Dialect, body: &[u8]) -> Vec<String> {
    if !mentions(d, body) {
        return Vec::new();
    }
    let Ok(mut v) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    slots(d, &mut v)
        .into_iter()
        .filter_map(|s| s.as_str().filter(|s| real(s)).map(str::to_string))
        .collect()
}

/// The request with every real signature `keep` refuses replaced by the skip sentinel;
/// `None` when nothing was replaced (the body goes as it came).
pub fn replace_signatures(d: Dialect, body: &[u8], keep: impl Fn(&str) -> bool) -> Option<Vec<u8>> {
    if !mentions(d, body) {
        return None;
    }
    let mut v = serde_json::from_slice::<Value>(body).ok()?;
    let mut replaced = false;
    for s in slots(d, &mut v) {
        if s.as_str().is_some_and(|t| real(t) && !keep(t)) {
            *s = Value::from(SKIP_THOUGHT_SIGNATURE);
            replaced = true;
        }
    }
    replaced.then(|| serde_json::to_vec(&v).ok()).flatten()
}

/// Longest signature value remembered; longer ones are passed over.
const MAX_VALUE: usize = 256 * 1024;
/// Signatures reported per answer at most (an answer is untrusted input).
const MAX_FOUND: usize = 256;

/// Where the scanner is in the byte stream.
#[derive(Debug)]
enum At {
    /// Looking for the opening quote of a key.
    Seek,
    /// Inside a quoted string that may be a key: `len` bytes read so far, and the keys
    /// (bits, by index) that still start with them — no copy, no comparison per byte.
    Key { len: usize, candidates: u32 },
    /// After a key: whitespace, then `:`.
    Colon,
    /// After the colon: whitespace, then the value's opening quote.
    Open,
    /// Inside the value (raw JSON string bytes); `escaped`: the last byte was `\`.
    Value { raw: Vec<u8>, escaped: bool },
}

/// Finds signature values in an answer as it goes out, chunk by chunk, in any framing
/// (JSON body, SSE, JSON-array stream): a key of the client's dialect followed by a
/// string value. Tolerates whitespace and values split across chunks; bounded.
#[derive(Debug)]
pub struct SignatureScanner {
    keys: &'static [&'static str],
    /// The opening quote and the bytes every key starts with.
    lead: &'static memchr::memmem::Finder<'static>,
    at: At,
    prev: u8,
    found: usize,
}

impl SignatureScanner {
    /// `None` for dialects that carry no signatures.
    pub fn new(d: Dialect) -> Option<SignatureScanner> {
        Some(SignatureScanner {
            keys: keys(d),
            lead: lead(d)?,
            at: At::Seek,
            prev: 0,
            found: 0,
        })
    }

    /// Scans one chunk; `found` gets each complete real signature.
    pub fn feed(&mut self, chunk: &[u8], mut found: impl FnMut(&str)) {
        let mut i = 0;
        while i < chunk.len() && self.found < MAX_FOUND {
            match &mut self.at {
                At::Seek => {
                    // Straight to the next place a key can start (SIMD search for the
                    // quoted lead all keys share) instead of looking at every string;
                    // the chunk's last bytes may hold a lead cut off by the chunk's end,
                    // so there every quote is looked at.
                    let rest = &chunk[i..];
                    let lead_len = self.lead.needle().len();
                    let skip = self
                        .lead
                        .find(rest)
                        .unwrap_or_else(|| rest.len().saturating_sub(lead_len - 1));
                    if skip > 0 {
                        self.prev = rest[skip - 1];
                        i += skip;
                    }
                    let Some(q) = memchr::memchr(b'"', &chunk[i..]) else {
                        self.prev = chunk[chunk.len() - 1];
                        return;
                    };
                    let before = if q == 0 { self.prev } else { chunk[i + q - 1] };
                    i += q + 1;
                    self.prev = b'"';
                    if before != b'\\' {
                        self.at = At::Key {
                            len: 0,
                            candidates: (1u32 << self.keys.len()) - 1,
                        };
                    }
                    continue;
                }
                At::Key { len, candidates } => {
                    let b = chunk[i];
                    let keys = self.keys;
                    if b == b'"' {
                        let hit = keys
                            .iter()
                            .enumerate()
                            .any(|(n, k)| *candidates & (1 << n) != 0 && k.len() == *len);
                        // This quote may open the next string: look at it again.
                        self.at = if hit { At::Colon } else { At::Seek };
                        if hit {
                            i += 1;
                        }
                        continue;
                    }
                    let mut left = 0;
                    for (n, k) in keys.iter().enumerate() {
                        if *candidates & (1 << n) != 0 && k.as_bytes().get(*len) == Some(&b) {
                            left |= 1 << n;
                        }
                    }
                    *len += 1;
                    *candidates = left;
                    if left == 0 {
                        self.at = At::Seek;
                    }
                }
                At::Colon | At::Open => {
                    let b = chunk[i];
                    let colon = matches!(self.at, At::Colon);
                    if !b.is_ascii_whitespace() {
                        self.at = match (colon, b) {
                            (true, b':') => At::Open,
                            (false, b'"') => At::Value {
                                raw: Vec::new(),
                                escaped: false,
                            },
                            _ => {
                                // Not a key after all; this byte may start one.
                                self.prev = b' ';
                                self.at = At::Seek;
                                continue;
                            }
                        };
                    }
                }
                At::Value { raw, escaped } => {
                    let rest = &chunk[i..];
                    let mut end = None;
                    for (j, &b) in rest.iter().enumerate() {
                        if *escaped {
                            *escaped = false;
                        } else if b == b'\\' {
                            *escaped = true;
                        } else if b == b'"' {
                            end = Some(j);
                            break;
                        }
                    }
                    let take = end.unwrap_or(rest.len());
                    if raw.len() + take <= MAX_VALUE {
                        raw.extend_from_slice(&rest[..take]);
                    } else {
                        // Too long to remember: skip it, keep finding its end.
                        raw.clear();
                        raw.push(0);
                    }
                    match end {
                        None => {
                            self.prev = rest[rest.len() - 1];
                            return;
                        }
                        Some(j) => {
                            if let Some(s) = decode(raw).filter(|s| real(s)) {
                                self.found += 1;
                                found(&s);
                            }
                            i += j + 1;
                            self.prev = b'"';
                            self.at = At::Seek;
                            continue;
                        }
                    }
                }
            }
            self.prev = chunk[i];
            i += 1;
        }
    }
}

/// A raw JSON string body (between the quotes) as text; `None` when it is not valid.
fn decode(raw: &[u8]) -> Option<String> {
    if raw.contains(&0) {
        return None;
    }
    if !raw.contains(&b'\\') {
        return std::str::from_utf8(raw).ok().map(str::to_string);
    }
    let mut quoted = Vec::with_capacity(raw.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(raw);
    quoted.push(b'"');
    serde_json::from_slice(&quoted).ok()
}

#[cfg(test)]
#[path = "carried_tests.rs"]
mod tests;
