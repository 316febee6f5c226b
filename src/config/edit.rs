//! Edits of config.yaml text that keep what the user wrote around them: only the
//! block of the changed top-level key is rewritten (a nested scalar only on its own
//! line, keeping its trailing comment), every other line and comment stays as it was.

use serde_json::Value;

/// Renders `value` as YAML (no trailing newline).
fn render(value: &Value) -> Result<String, String> {
    serde_saphyr::to_string(value)
        .map(|s| s.trim_end().to_string())
        .map_err(|e| format!("cannot write YAML: {e}"))
}

fn render_entry(key: &str, value: &Value) -> Result<String, String> {
    let mut m = serde_json::Map::new();
    m.insert(key.to_string(), value.clone());
    render(&Value::Object(m))
}

fn lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches([' ', '\t']).len()
}

fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// `line` (after its indentation) starts the mapping key `key`.
fn starts_key(line: &str, key: &str) -> bool {
    let t = line.trim_start_matches([' ', '\t']);
    let rest = if let Some(r) = t.strip_prefix(key) {
        r
    } else if let Some(r) = t
        .strip_prefix('"')
        .and_then(|r| r.strip_prefix(key))
        .and_then(|r| r.strip_prefix('"'))
    {
        r
    } else if let Some(r) = t
        .strip_prefix('\'')
        .and_then(|r| r.strip_prefix(key))
        .and_then(|r| r.strip_prefix('\''))
    {
        r
    } else {
        return false;
    };
    let rest = rest.trim_start_matches([' ', '\t']);
    rest.strip_prefix(':')
        .is_some_and(|r| r.is_empty() || r.starts_with([' ', '\t', '\r', '\n']))
}

/// Lines `[start, end)` of top-level `key`'s block: its line and what is indented
/// under it (or a column-0 sequence). Trailing blank and comment lines are left to
/// what follows.
fn top_block(ls: &[&str], key: &str) -> Option<(usize, usize)> {
    let start = ls
        .iter()
        .position(|l| indent_of(l) == 0 && starts_key(l, key))?;
    let mut end = start + 1;
    let mut j = start + 1;
    while j < ls.len() {
        let l = ls[j];
        let inside = l.starts_with([' ', '\t']) || (l.starts_with('-') && !l.starts_with("---"));
        if inside && !is_blank_or_comment(l) {
            end = j + 1;
        } else if !is_blank_or_comment(l) {
            break;
        }
        j += 1;
    }
    Some((start, end))
}

/// Byte offset of a ` #` comment on `line` outside quotes.
fn comment_at(line: &str) -> Option<usize> {
    let b = line.as_bytes();
    let (mut single, mut double) = (false, false);
    for (i, c) in b.iter().enumerate() {
        match c {
            b'\'' if !double => single = !single,
            b'"' if !single => double = !double,
            b'#' if !single && !double && i > 0 && matches!(b[i - 1], b' ' | b'\t') => {
                return Some(i);
            }
            _ => {}
        }
    }
    None
}

fn eol(line: &str) -> &str {
    if line.ends_with("\r\n") {
        "\r\n"
    } else if line.ends_with('\n') {
        "\n"
    } else {
        ""
    }
}

/// Sets top-level `key` to `value` (appending it when absent).
pub fn set_top(text: &str, key: &str, value: &Value) -> Result<String, String> {
    let rendered = render_entry(key, value)?;
    let ls = lines(text);
    let Some((start, end)) = top_block(&ls, key) else {
        let mut out = text.to_string();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&rendered);
        out.push('\n');
        return Ok(out);
    };
    let mut block = rendered;
    // A one-line value keeps the comment that followed it.
    if end == start + 1
        && !block.contains('\n')
        && let Some(c) = comment_at(ls[start].trim_end_matches(['\r', '\n']))
    {
        block.push(' ');
        block.push_str(ls[start][c..].trim_end_matches(['\r', '\n']));
    }
    let nl = match eol(ls[end - 1]) {
        "" => "\n",
        e => e,
    };
    let mut out = String::with_capacity(text.len() + block.len());
    ls[..start].iter().for_each(|l| out.push_str(l));
    out.push_str(&block.replace('\n', nl));
    if end < ls.len() || !eol(ls[end - 1]).is_empty() {
        out.push_str(nl);
    }
    ls[end..].iter().for_each(|l| out.push_str(l));
    Ok(out)
}

/// Removes top-level `key` (and its block); unchanged when absent.
pub fn remove_top(text: &str, key: &str) -> String {
    let ls = lines(text);
    match top_block(&ls, key) {
        Some((start, end)) => {
            let mut out = String::with_capacity(text.len());
            ls[..start].iter().for_each(|l| out.push_str(l));
            ls[end..].iter().for_each(|l| out.push_str(l));
            out
        }
        None => text.to_string(),
    }
}

/// Sets `parent.child` to the scalar `value`, on the child's own line when it has one
/// (keeping its comment), else as a new line under `parent`; `root` is the whole
/// document after the change, used to rewrite `parent`'s block when it is not a
/// plain block mapping (flow style, say).
pub fn set_nested(
    text: &str,
    parent: &str,
    child: &str,
    value: &Value,
    root: &Value,
) -> Result<String, String> {
    let fallback = || set_top(text, parent, root.get(parent).unwrap_or(&Value::Null));
    if value.is_object() || value.is_array() {
        return fallback();
    }
    let ls = lines(text);
    let Some((start, end)) = top_block(&ls, parent) else {
        return fallback();
    };
    // The parent must be a block mapping: nothing but a comment after its colon.
    let head = ls[start].trim_end_matches(['\r', '\n']);
    let after_colon = head.split_once(':').map(|(_, r)| r).unwrap_or("");
    let t = after_colon.trim();
    if !(t.is_empty() || t.starts_with('#')) {
        return fallback();
    }
    let children: Vec<usize> = (start + 1..end)
        .filter(|&j| !is_blank_or_comment(ls[j]))
        .collect();
    let Some(child_indent) = children.first().map(|&j| indent_of(ls[j])) else {
        return fallback();
    };
    let scalar = render(value)?;
    if scalar.contains('\n') {
        return fallback();
    }
    let mut out_lines: Vec<String> = ls.iter().map(|l| l.to_string()).collect();
    let found = children
        .iter()
        .copied()
        .find(|&j| indent_of(ls[j]) == child_indent && starts_key(ls[j], child));
    match found {
        Some(j) => {
            let line = ls[j];
            let body = line.trim_end_matches(['\r', '\n']);
            // A block value under the child (a list, a map) is not a scalar line.
            let value_part = body.split_once(':').map(|(_, r)| r.trim()).unwrap_or("");
            if value_part.is_empty() || value_part.starts_with('#') {
                return fallback();
            }
            let comment = comment_at(body).map(|c| &body[c..]);
            let mut new = format!("{}{child}: {scalar}", &body[..child_indent]);
            if let Some(c) = comment {
                new.push(' ');
                new.push_str(c);
            }
            new.push_str(eol(line));
            out_lines[j] = new;
        }
        None => {
            let last = *children.last().unwrap_or(&start);
            let nl = match eol(ls[last]) {
                "" => "\n",
                e => e,
            };
            if eol(ls[last]).is_empty() {
                out_lines[last].push_str(nl);
            }
            let indent = &ls[children[0]][..child_indent];
            out_lines.insert(last + 1, format!("{indent}{child}: {scalar}{nl}"));
        }
    }
    Ok(out_lines.concat())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DOC: &str = "# gateway settings\nport: 8317 # the usual port\n\n# client keys\napi-keys:\n  - old-key # first key\n  - other\n\n# Claude\nclaude-api-key:\n- api-key: k\n  base-url: http://x\nrouting:\n  # how accounts are picked\n  strategy: round-robin # default\ndebug: false\n";

    fn parse(t: &str) -> Value {
        serde_saphyr::from_str(t).unwrap()
    }

    #[test]
    fn replacing_a_block_keeps_every_other_line_and_comment() {
        let out = set_top(DOC, "api-keys", &json!(["new-key"])).unwrap();
        assert_eq!(parse(&out)["api-keys"], json!(["new-key"]));
        for keep in [
            "# gateway settings\n",
            "port: 8317 # the usual port\n",
            "# client keys\napi-keys:",
            "\n\n# Claude\nclaude-api-key:\n- api-key: k\n",
            "  # how accounts are picked\n",
        ] {
            assert!(out.contains(keep), "lost {keep:?} in\n{out}");
        }
        assert!(!out.contains("old-key"));
        let mut want = parse(DOC);
        want["api-keys"] = json!(["new-key"]);
        assert_eq!(parse(&out), want);
    }

    #[test]
    fn scalar_edits_keep_their_comments() {
        let cases: &[(&str, Value, &str)] = &[
            ("port", json!(9000), "port: 9000 # the usual port\n"),
            ("debug", json!(true), "debug: true\n"),
        ];
        for (key, v, line) in cases {
            let out = set_top(DOC, key, v).unwrap();
            assert!(out.contains(line), "{key}: {out}");
            assert_eq!(parse(&out)[key], *v);
        }
    }

    #[test]
    fn nested_scalars_change_on_their_own_line() {
        let mut root = parse(DOC);
        root["routing"]["strategy"] = json!("fill-first");
        let out = set_nested(DOC, "routing", "strategy", &json!("fill-first"), &root).unwrap();
        assert!(
            out.contains("  # how accounts are picked\n  strategy: fill-first # default\n"),
            "{out}"
        );
        assert_eq!(parse(&out), root);

        // A missing child is added under its parent.
        root["routing"]["session-affinity"] = json!(true);
        let out2 = set_nested(&out, "routing", "session-affinity", &json!(true), &root).unwrap();
        assert_eq!(parse(&out2), root);
        assert!(
            out2.contains("# default\n  session-affinity: true\ndebug"),
            "{out2}"
        );

        // A missing parent is appended.
        let mut r3 = parse(DOC);
        r3["remote-management"] = json!({"secret-key": "h"});
        let out3 = set_nested(DOC, "remote-management", "secret-key", &json!("h"), &r3).unwrap();
        assert_eq!(parse(&out3), r3);
        assert!(out3.starts_with("# gateway settings\n"));

        // Flow style falls back to rewriting the parent's block.
        let flow = "routing: {strategy: round-robin}\nport: 1\n";
        let mut r4 = parse(flow);
        r4["routing"]["strategy"] = json!("fill-first");
        let out4 = set_nested(flow, "routing", "strategy", &json!("fill-first"), &r4).unwrap();
        assert_eq!(parse(&out4), r4);
    }

    #[test]
    fn absent_keys_are_appended_and_removed_keys_leave_the_rest() {
        let out = set_top("port: 1", "debug", &json!(true)).unwrap();
        assert_eq!(out, "port: 1\ndebug: true\n");
        let out = remove_top(DOC, "api-keys");
        assert!(
            !out.contains("old-key") && out.contains("# client keys\n\n# Claude"),
            "{out}"
        );
        let mut want = parse(DOC);
        want.as_object_mut().unwrap().remove("api-keys");
        assert_eq!(parse(&out), want);
        assert_eq!(remove_top(DOC, "missing"), DOC);
    }

    #[test]
    fn keys_match_exactly_not_by_prefix() {
        let doc = "api-keys-extra: 1\napi-keys: [a]\n\"quoted\": 2\n";
        let out = set_top(doc, "api-keys", &json!(["b"])).unwrap();
        assert_eq!(parse(&out)["api-keys-extra"], json!(1));
        assert_eq!(parse(&out)["api-keys"], json!(["b"]));
        let out = set_top(doc, "quoted", &json!(3)).unwrap();
        assert_eq!(parse(&out)["quoted"], json!(3));
        assert_eq!(out.matches("quoted").count(), 1, "{out}");
    }

    #[test]
    fn tricky_values_survive_being_written() {
        let values = [
            json!("true"),
            json!("yes"),
            json!("123"),
            json!("a: b"),
            json!("#not a comment"),
            json!(""),
            json!("$2b$10$abc/def.ghi"),
            json!("*star"),
            json!("- dash"),
            json!("multi\nline"),
            json!(null),
            json!([{"api-key": "k: v", "headers": {"X-A": "1"}}]),
        ];
        for v in values {
            let out = set_top("# c\nkey: old # note\nnext: 1\n", "key", &v).unwrap();
            let parsed: Value = serde_saphyr::from_str_with_options(
                &out,
                serde_saphyr::options! { strict_booleans: true },
            )
            .unwrap();
            assert_eq!(parsed["key"], v, "{out}");
            assert_eq!(parsed["next"], json!(1), "{out}");
            assert!(out.starts_with("# c\n"), "{out}");
        }
    }

    #[test]
    fn comments_with_hashes_inside_quotes_are_not_comments() {
        assert_eq!(comment_at("key: \"a # b\" # real"), Some(13));
        assert_eq!(comment_at("key: 'a#b'"), None);
        assert_eq!(comment_at("key: value"), None);
    }
}
