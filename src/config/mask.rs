//! Secrets in what the management API shows: every string under a secret-named key
//! (`api-key`, `api-keys`, `secret-key`, ...) is masked, and a masked value sent back
//! (a read-modify-write by a client) is put back to the secret it stands for.

use serde_json::Value;

/// Keys whose values (strings, or lists of strings) are secrets.
pub const SECRET_KEYS: &[&str] = &[
    "api-key",
    "api-keys",
    "secret-key",
    "upstream-api-key",
    "client-secret",
    "access-key",
    "password",
    "token",
];

/// Shows a few characters of long secrets so they can be told apart, none of short
/// ones. Never starts with a YAML indicator of its own.
pub fn mask(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    let keep = match chars.len() {
        n if n >= 16 => 4,
        n if n >= 10 => 2,
        _ => return "(masked)".to_string(),
    };
    let head: String = chars[..keep].iter().collect();
    let tail: String = chars[chars.len() - keep..].iter().collect();
    format!("{head}****{tail}")
}

fn is_secret_key(k: &str) -> bool {
    SECRET_KEYS.iter().any(|s| s.eq_ignore_ascii_case(k))
}

fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) if !s.is_empty() => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        _ => {}
    }
}

/// Every secret in a config document.
pub fn secrets(v: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    if is_secret_key(k) {
                        strings(x, out);
                    } else {
                        walk(x, out);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, &mut out);
    out.sort();
    out.dedup();
    out
}

/// `v` with every secret masked.
pub fn mask_value(v: &Value) -> Value {
    fn masked(v: &Value) -> Value {
        match v {
            Value::String(s) if !s.is_empty() => Value::String(mask(s)),
            Value::Array(a) => Value::Array(a.iter().map(masked).collect()),
            other => other.clone(),
        }
    }
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| {
                    let x = if is_secret_key(k) {
                        masked(x)
                    } else {
                        mask_value(x)
                    };
                    (k.clone(), x)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(mask_value).collect()),
        other => other.clone(),
    }
}

/// The secret that `masked` stands for; an error when several secrets share it.
fn original<'a>(masked: &str, known: &'a [String]) -> Result<Option<&'a String>, String> {
    let mut hits = known
        .iter()
        .filter(|s| mask(s) == masked && s.as_str() != masked);
    let first = hits.next();
    if first.is_some() && hits.next().is_some() {
        return Err(format!(
            "the masked value `{masked}` matches more than one stored secret; send the full value"
        ));
    }
    Ok(first)
}

/// Puts masked strings in `v` back to the secrets in `known` they stand for.
pub fn unmask_value(v: &mut Value, known: &[String]) -> Result<(), String> {
    match v {
        Value::String(s) => {
            if let Some(o) = original(s, known)? {
                *s = o.clone();
            }
        }
        Value::Array(a) => {
            for x in a {
                unmask_value(x, known)?;
            }
        }
        Value::Object(m) => {
            for x in m.values_mut() {
                unmask_value(x, known)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// A scalar token in YAML text ends at these.
fn boundary(c: Option<char>) -> bool {
    c.is_none_or(|c| c.is_whitespace() || "'\",[]{}#:".contains(c))
}

fn replace_tokens(text: &str, from: &str, to: &str) -> String {
    if from.is_empty() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut prev: Option<char> = None;
    while let Some(i) = rest.find(from) {
        let before = rest[..i].chars().last().or(prev);
        let after = rest[i + from.len()..].chars().next();
        let head = &rest[..i + from.len()];
        if boundary(before) && boundary(after) {
            out.push_str(&rest[..i]);
            out.push_str(to);
        } else {
            out.push_str(head);
        }
        prev = head.chars().last();
        rest = &rest[i + from.len()..];
    }
    out.push_str(rest);
    out
}

/// `text` (YAML) with each of `known` masked where it appears as a whole value.
pub fn mask_text(text: &str, known: &[String]) -> String {
    let mut sorted: Vec<&String> = known.iter().collect();
    // Longer first, so a secret that contains another is masked whole.
    sorted.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_string();
    for s in sorted {
        out = replace_tokens(&out, s, &mask(s));
    }
    out
}

/// `text` with masks of `known` secrets put back.
pub fn unmask_text(text: &str, known: &[String]) -> Result<String, String> {
    let mut out = text.to_string();
    let mut masks: Vec<String> = known.iter().map(|s| mask(s)).collect();
    masks.sort();
    masks.dedup();
    for m in masks {
        if replace_tokens(&out, &m, "\u{0}") == out {
            continue;
        }
        if let Some(o) = original(&m, known)? {
            out = replace_tokens(&out, &m, o);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masks_show_little_and_never_the_whole() {
        let cases = [
            ("sk-ant-api03-abcdefghijkl", "sk-a****ijkl"),
            ("0123456789", "01****89"),
            ("short", "(masked)"),
            ("$2a$10$abcdefghijklmnopqrstuv", "$2a$****stuv"),
        ];
        for (s, m) in cases {
            assert_eq!(mask(s), m);
        }
    }

    #[test]
    fn secrets_are_found_under_secret_keys_anywhere() {
        let doc = json!({
            "api-keys": ["k1", "k2"],
            "claude-api-key": [{"api-key": "sk-1", "base-url": "http://x"}],
            "openai-compatibility": [{"name": "o", "api-key-entries": [{"api-key": "sk-2"}]}],
            "ampcode": {"upstream-api-key": "amp", "upstream-api-keys": [{"upstream-api-key": "u", "api-keys": ["c"]}]},
            "remote-management": {"secret-key": "$2a$hash"},
            "port": 8317,
            "host": "127.0.0.1",
        });
        assert_eq!(
            secrets(&doc),
            vec!["$2a$hash", "amp", "c", "k1", "k2", "sk-1", "sk-2", "u"]
        );
        let masked = mask_value(&doc);
        let text = masked.to_string();
        for s in secrets(&doc) {
            assert!(!text.contains(&format!("\"{s}\"")), "{s} in {text}");
        }
        assert_eq!(masked["claude-api-key"][0]["base-url"], "http://x");
        assert_eq!(masked["host"], "127.0.0.1");
    }

    #[test]
    fn masked_values_sent_back_become_the_secrets_again() {
        let known = vec![
            "sk-ant-api03-aaaa-bbbb-1111".to_string(),
            "sk-ant-api03-cccc-dddd-2222".to_string(),
        ];
        let mut v = json!({"api-keys": [mask(&known[0]), "brand-new-key", mask(&known[1])]});
        unmask_value(&mut v, &known).unwrap();
        assert_eq!(v["api-keys"], json!([known[0], "brand-new-key", known[1]]));
        // Two secrets with one mask cannot be told apart.
        let twins = vec![
            "abcd-1111111-wxyz".to_string(),
            "abcd-2222222-wxyz".to_string(),
        ];
        let mut v = json!([mask(&twins[0])]);
        assert!(unmask_value(&mut v, &twins).is_err());
    }

    #[test]
    fn text_masking_round_trips_and_leaves_lookalikes() {
        let known = vec!["sk-live-0123456789abcdef".to_string(), "k1".to_string()];
        let text = "api-keys:\n  - k1\n  - \"sk-live-0123456789abcdef\" # main\nmodel: k1-large\nother: xk1\n";
        let masked = mask_text(text, &known);
        assert_eq!(
            masked,
            "api-keys:\n  - (masked)\n  - \"sk-l****cdef\" # main\nmodel: k1-large\nother: xk1\n"
        );
        assert_eq!(unmask_text(&masked, &known).unwrap(), text);
    }
}
