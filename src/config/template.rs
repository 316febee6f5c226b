//! Renders a config template (replaces the seed's `sed`): `__NAME__` and `${NAME}`
//! placeholders, values inserted so that no value can break or inject YAML.

use std::collections::BTreeSet;
use std::path::Path;

use super::EnvMap;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("template {path}: missing variables: {}", names.join(", "))]
    Missing { path: String, names: Vec<String> },
    #[error("template {path}: line {line}: {message}")]
    Unsafe {
        path: String,
        line: usize,
        message: String,
    },
    #[error("template {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Where a placeholder sits, which decides how its value is quoted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Plain,
    Double,
    Single,
}

/// A placeholder found in `line[start..end]` naming `name`.
struct Hit {
    start: usize,
    end: usize,
    name: String,
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'
}

/// Finds `__NAME__` (upper-case, seed style) and `${NAME}` placeholders.
fn find_placeholders(s: &str) -> Vec<Hit> {
    let b = s.as_bytes();
    let mut hits = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' && b.get(i + 1) == Some(&b'{') {
            let start = i;
            let mut j = i + 2;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                j += 1;
            }
            if j > i + 2 && b.get(j) == Some(&b'}') && !b[i + 2].is_ascii_digit() {
                hits.push(Hit {
                    start,
                    end: j + 1,
                    name: s[i + 2..j].to_string(),
                });
                i = j + 1;
                continue;
            }
        }
        if b[i] == b'_' && b.get(i + 1) == Some(&b'_') && (i == 0 || !is_name_char(b[i - 1])) {
            let mut j = i;
            while j < b.len() && is_name_char(b[j]) {
                j += 1;
            }
            let run = &s[i..j];
            if run.len() > 4 && run.ends_with("__") {
                let inner = &run[2..run.len() - 2];
                if inner.as_bytes()[0].is_ascii_uppercase() && !inner.ends_with('_') {
                    hits.push(Hit {
                        start: i,
                        end: j,
                        name: inner.to_string(),
                    });
                }
            }
            i = j.max(i + 1);
            continue;
        }
        i += 1;
    }
    hits
}

/// Byte offset where a comment starts on this line (a `#` outside quotes that is at
/// the line start or after whitespace), if any.
fn comment_start(line: &str) -> Option<usize> {
    let b = line.as_bytes();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(b'"') if c == b'\\' => i += 1,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == b'"' || c == b'\'' => quote = Some(c),
            None if c == b'#' && (i == 0 || b[i - 1] == b' ' || b[i - 1] == b'\t') => {
                return Some(i);
            }
            None => {}
        }
        i += 1;
    }
    None
}

/// Quoting context at byte `pos` of `code` (the line without its comment).
fn context_at(code: &str, pos: usize) -> Ctx {
    let b = code.as_bytes();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < pos {
        let c = b[i];
        match quote {
            Some(b'"') if c == b'\\' => i += 1,
            Some(q) if c == q => {
                // '' inside a single-quoted scalar is an escaped quote.
                if q == b'\'' && b.get(i + 1) == Some(&b'\'') && i + 1 < pos {
                    i += 1;
                } else {
                    quote = None;
                }
            }
            Some(_) => {}
            None if c == b'"' || c == b'\'' => quote = Some(c),
            None => {}
        }
        i += 1;
    }
    match quote {
        Some(b'"') => Ctx::Double,
        Some(_) => Ctx::Single,
        None => Ctx::Plain,
    }
}

/// Escapes `v` for the inside of a YAML double-quoted scalar: quotes, backslashes and
/// every non-printable character (YAML forbids raw C0/C1 controls and DEL there).
fn yaml_escape_inner(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 8);
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || (0x7f..=0x9f).contains(&(c as u32)) => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            '\u{2028}' | '\u{2029}' | '\u{feff}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// A value that reads back as the same string when written bare.
fn is_safe_plain(v: &str) -> bool {
    let Some(first) = v.chars().next() else {
        return false;
    };
    if !(first.is_ascii_alphanumeric() || matches!(first, '.' | '/' | '_' | '+' | '~')) {
        return false;
    }
    if v.ends_with(':') || v.contains(": ") {
        return false;
    }
    // YAML reads these bare as null or as non-finite floats, which the loader cannot take
    // (`.nan`, `.inf`); quoted they stay the string they are.
    if first == '.' || matches!(v, "~" | "null" | "Null" | "NULL") {
        return false;
    }
    v.chars().all(|c| {
        c.is_ascii_alphanumeric()
            || matches!(c, '.' | '/' | '_' | '+' | '=' | '~' | '-' | ':' | '@')
    })
}

/// Bounds of the plain scalar containing `pos` within `code`.
fn plain_scalar_bounds(code: &str, pos: usize, end: usize) -> (usize, usize) {
    let flow = code.contains('[') || code.contains('{');
    let b = code.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < pos {
        let c = b[i];
        let next_space = b.get(i + 1).is_none_or(|n| *n == b' ');
        let indicator = (c == b':' && next_space)
            || (c == b'-' && next_space && code[..i].trim().is_empty())
            || (flow && matches!(c, b'[' | b'{' | b','));
        if indicator {
            start = i + 1;
        }
        i += 1;
    }
    let mut stop = code.len();
    let mut j = end;
    while j < b.len() {
        let c = b[j];
        let next_space = b.get(j + 1).is_none_or(|n| *n == b' ');
        if (c == b':' && next_space) || (flow && matches!(c, b']' | b'}' | b',')) {
            stop = j;
            break;
        }
        j += 1;
    }
    while start < pos && b[start] == b' ' {
        start += 1;
    }
    while stop > end && b[stop - 1] == b' ' {
        stop -= 1;
    }
    (start, stop)
}

fn substitute(seg: &str, lookup: &dyn Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(seg.len());
    let mut last = 0;
    for h in find_placeholders(seg) {
        out.push_str(&seg[last..h.start]);
        out.push_str(&lookup(&h.name));
        last = h.end;
    }
    out.push_str(&seg[last..]);
    out
}

/// Renders `template` with values from `env`. Every missing name is reported at once.
pub fn render_str(template: &str, env: &EnvMap, path: &str) -> Result<String, TemplateError> {
    // First pass: which names are needed (outside comments) and missing.
    let mut missing = BTreeSet::new();
    for line in template.lines() {
        let code = &line[..comment_start(line).unwrap_or(line.len())];
        for h in find_placeholders(code) {
            if env.get(&h.name).is_none() {
                missing.insert(h.name);
            }
        }
    }
    if !missing.is_empty() {
        return Err(TemplateError::Missing {
            path: path.to_string(),
            names: missing.into_iter().collect(),
        });
    }
    let value = |name: &str| env.get(name).unwrap_or_default().to_string();

    let mut out = String::with_capacity(template.len() + 64);
    // Indentation of the key that opened a block scalar (`key: |`), while inside it.
    let mut block_parent: Option<usize> = None;
    for (idx, raw_line) in template.split_inclusive('\n').enumerate() {
        let lineno = idx + 1;
        let (line, eol) = match raw_line.strip_suffix('\n') {
            Some(l) => (l, "\n"),
            None => (raw_line, ""),
        };
        let indent = line.len() - line.trim_start().len();
        if let Some(parent) = block_parent {
            if line.trim().is_empty() || indent > parent {
                // Literal block: keep the value's lines at this line's indentation.
                let pad = " ".repeat(indent);
                let rendered = substitute(line, &|n| value(n).replace('\n', &format!("\n{pad}")));
                out.push_str(&rendered);
                out.push_str(eol);
                continue;
            }
            block_parent = None;
        }
        let cstart = comment_start(line).unwrap_or(line.len());
        let (code, comment) = line.split_at(cstart);
        let hits = find_placeholders(code);
        let trimmed = code.trim_end();
        if trimmed.ends_with('|')
            || trimmed.ends_with('>')
            || trimmed.ends_with("|-")
            || trimmed.ends_with("|+")
            || trimmed.ends_with(">-")
            || trimmed.ends_with(">+")
        {
            block_parent = Some(indent);
        }
        if hits.is_empty() {
            out.push_str(line);
            out.push_str(eol);
            continue;
        }
        let mut rendered = String::with_capacity(code.len() + 32);
        let mut cursor = 0;
        let mut i = 0;
        while i < hits.len() {
            let h = &hits[i];
            match context_at(code, h.start) {
                Ctx::Double => {
                    rendered.push_str(&code[cursor..h.start]);
                    rendered.push_str(&yaml_escape_inner(&value(&h.name)));
                    cursor = h.end;
                    i += 1;
                }
                Ctx::Single => {
                    let v = value(&h.name);
                    if v.chars().any(|c| c.is_control()) {
                        return Err(TemplateError::Unsafe {
                            path: path.to_string(),
                            line: lineno,
                            message: format!(
                                "{} holds a line break or control character and sits in a single-quoted string; use double quotes or a bare placeholder",
                                h.name
                            ),
                        });
                    }
                    rendered.push_str(&code[cursor..h.start]);
                    rendered.push_str(&v.replace('\'', "''"));
                    cursor = h.end;
                    i += 1;
                }
                Ctx::Plain => {
                    let (s, e) = plain_scalar_bounds(code, h.start, h.end);
                    let scalar = substitute(&code[s..e], &value);
                    rendered.push_str(&code[cursor..s]);
                    if is_safe_plain(&scalar) {
                        rendered.push_str(&scalar);
                    } else {
                        rendered.push('"');
                        rendered.push_str(&yaml_escape_inner(&scalar));
                        rendered.push('"');
                    }
                    cursor = e;
                    while i < hits.len() && hits[i].start < e {
                        i += 1;
                    }
                }
            }
        }
        rendered.push_str(&code[cursor..]);
        out.push_str(&rendered);
        out.push_str(comment);
        out.push_str(eol);
    }
    Ok(out)
}

/// Renders the template file into `out` atomically with mode 0600.
pub fn render_file(template: &Path, env: &EnvMap, out: &Path) -> Result<(), TemplateError> {
    let tpath = template.display().to_string();
    let text = std::fs::read_to_string(template).map_err(|source| TemplateError::Io {
        path: tpath.clone(),
        source,
    })?;
    let rendered = render_str(&text, env, &tpath)?;
    crate::store::write_atomic(out, rendered.as_bytes()).map_err(|source| TemplateError::Io {
        path: out.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> EnvMap {
        EnvMap::from_pairs(pairs.iter().copied())
    }

    fn roundtrip(template: &str, key: &str, value: &str) -> serde_json::Value {
        let out = render_str(template, &env(&[("V", value)]), "t.yaml").unwrap();
        let doc: serde_json::Value = serde_saphyr::from_str(&out)
            .unwrap_or_else(|e| panic!("rendered YAML does not parse: {e}\n{out}"));
        doc.pointer(key).cloned().unwrap_or(serde_json::Value::Null)
    }

    const NASTY: &[&str] = &[
        "plain-value",
        "has \"double\" quotes",
        "pipe | and > and & anchor *ref !tag",
        "hash # not a comment",
        "colon: space",
        "multi\nline\nvalue",
        "trailing: ",
        " leading space",
        "'single'",
        "back\\slash",
        "- dash",
        "[flow, {map: 1}]",
        "@at",
        "%percent",
        "true",
        "123",
        "",
        "unicode ✓ \u{7f}",
    ];

    #[test]
    fn bare_placeholders_round_trip_exactly() {
        for v in NASTY {
            for tpl in ["k: __V__\n", "k: ${V}\n", "k: __V__ # note\n"] {
                let got = roundtrip(tpl, "/k", v);
                let expect = serde_json::Value::String(v.to_string());
                if *v == "true" || *v == "123" {
                    // Bare scalars keep YAML typing (ports, flags).
                    assert!(
                        got == serde_json::json!(true)
                            || got == serde_json::json!(123)
                            || got == expect,
                        "{tpl:?} {v:?} -> {got}"
                    );
                } else {
                    assert_eq!(got, expect, "template {tpl:?} value {v:?}");
                }
            }
        }
    }

    #[test]
    fn quoted_and_embedded_placeholders_round_trip() {
        let s = |v: &str| serde_json::Value::String(v.to_string());
        for v in NASTY {
            assert_eq!(
                roundtrip("k: \"x ${V} y\"\n", "/k", v),
                s(&format!("x {v} y")),
                "{v:?}"
            );
            assert_eq!(
                roundtrip("k: pre-__V__-post\n", "/k", v),
                s(&format!("pre-{v}-post")),
                "{v:?}"
            );
            assert_eq!(
                roundtrip("k: http://h/__V__ # c\n", "/k", v),
                s(&format!("http://h/{v}")),
                "{v:?}"
            );
            assert_eq!(roundtrip("f: [a, \"__V__\"]\n", "/f/1", v), s(v), "{v:?}");
            if !["true", "123"].contains(v) {
                assert_eq!(roundtrip("l:\n  - __V__\n", "/l/0", v), s(v), "{v:?}");
                assert_eq!(roundtrip("f: [a, __V__]\n", "/f/1", v), s(v), "{v:?}");
                assert_eq!(roundtrip("m: {k: __V__}\n", "/m/k", v), s(v), "{v:?}");
            }
            if !v.chars().any(char::is_control) {
                assert_eq!(
                    roundtrip("k: 'a ${V}'\n", "/k", v),
                    s(&format!("a {v}")),
                    "{v:?}"
                );
            }
        }
    }

    #[test]
    fn single_quoted_multiline_value_is_refused_with_line() {
        let e = render_str("a: 1\nk: '${V}'\n", &env(&[("V", "x\ny")]), "t.yaml").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
    }

    #[test]
    fn block_scalar_keeps_multiline_values() {
        let out = render_str("k: |\n  __V__\nn: 1\n", &env(&[("V", "a\nb: c\n# d")]), "t").unwrap();
        let doc: serde_json::Value = serde_saphyr::from_str(&out).unwrap();
        assert_eq!(doc["k"], "a\nb: c\n# d\n");
        assert_eq!(doc["n"], 1);
    }

    #[test]
    fn every_missing_variable_is_listed_once() {
        let e = render_str(
            "a: __ONE__\nb: ${TWO}\nc: __ONE__\n# d: __COMMENTED__\ne: x # ${ALSO_COMMENT}\n",
            &env(&[]),
            "tpl.yaml",
        )
        .unwrap_err();
        match e {
            TemplateError::Missing { path, names } => {
                assert_eq!(path, "tpl.yaml");
                assert_eq!(names, vec!["ONE".to_string(), "TWO".to_string()]);
            }
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn comments_keep_their_placeholders() {
        let out = render_str("# key: __X__\na: 1 # __X__\n", &env(&[]), "t").unwrap();
        assert_eq!(out, "# key: __X__\na: 1 # __X__\n");
    }

    #[test]
    fn lowercase_dunder_words_are_not_placeholders() {
        let out = render_str("a: __init__\nb: __A\n", &env(&[]), "t").unwrap();
        assert_eq!(out, "a: __init__\nb: __A\n");
    }

    #[test]
    fn render_file_writes_0600() {
        let d = tempfile::tempdir().unwrap();
        let t = d.path().join("t.yaml");
        std::fs::write(&t, "port: __PORT__\n").unwrap();
        let o = d.path().join("out/config.yaml");
        render_file(&t, &env(&[("PORT", "9999")]), &o).unwrap();
        assert_eq!(std::fs::read_to_string(&o).unwrap(), "port: 9999\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&o).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod prop_tests {
    //! Whatever a value's bytes, the rendered YAML reads back as exactly that value.
    use proptest::prelude::*;

    use super::*;

    fn parse(text: &str) -> serde_json::Value {
        // The loader's own parser settings (YAML 1.2 booleans).
        serde_saphyr::from_str_with_options(text, serde_saphyr::options! { strict_booleans: true })
            .unwrap_or_else(|e| panic!("rendered YAML does not parse: {e}\n{text}"))
    }

    /// Values weighted towards what breaks YAML: quotes, indicators, line breaks, controls,
    /// unicode separators, placeholder syntax, YAML keywords and numbers.
    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[ -~]{0,24}",
            "[\"'#:|>&*!%@`{}\\[\\],\\\\ \\-?~=\n\r\t\u{0}\u{7f}\u{85}\u{2028}\u{feff}a-z0-9]{0,24}",
            Just("${OTHER}".to_string()),
            Just("__OTHER__".to_string()),
            prop::sample::select(vec![
                "true", "false", "null", "~", "yes", "no", "123", "0x1F", "1e3", ".inf", "-.inf",
                ".nan", "+1", "0o17", "1_000", "", " ", "-", "? x", "--- x", "...",
            ])
            .prop_map(str::to_string),
        ]
    }

    /// `__NAME__` (upper case, not ending in `_`) or `${NAME}`.
    fn placeholder() -> impl Strategy<Value = (String, String)> {
        ("[A-Z][A-Z0-9_]{0,8}[A-Z0-9]", any::<bool>()).prop_map(|(name, dunder)| {
            let ph = if dunder {
                format!("__{name}__")
            } else {
                format!("${{{name}}}")
            };
            (name, ph)
        })
    }

    /// What a bare (unquoted) placeholder must give back: the string itself, or, when the
    /// renderer left it bare because it is a plain scalar, whatever YAML makes of that
    /// scalar (ports and flags keep their type).
    fn bare_ok(got: &serde_json::Value, v: &str) -> bool {
        if *got == serde_json::Value::String(v.to_string()) {
            return true;
        }
        is_safe_plain(v) && *got == parse(&format!("k: {v}\n"))["k"]
    }

    proptest! {
        // PROPTEST_CASES raises the count (long runs); 512 is the floor.
        #![proptest_config(ProptestConfig::with_cases(512.max(ProptestConfig::default().cases)))]

        #[test]
        fn any_value_reads_back_exactly(v in value(), (name, ph) in placeholder()) {
            let env = EnvMap::from_pairs([(name.as_str(), v.as_str())]);
            let s = serde_json::Value::String;
            let render = |tpl: String| render_str(&tpl, &env, "t.yaml").unwrap();

            for tpl in [format!("k: {ph}\n"), format!("k: {ph} # note\n"), format!("l:\n  - {ph}\n")] {
                let doc = parse(&render(tpl.clone()));
                let got = doc.pointer("/k").or(doc.pointer("/l/0")).cloned().unwrap_or_default();
                prop_assert!(bare_ok(&got, &v), "{tpl:?} with {v:?} gave {got}");
            }
            for (tpl, ptr) in [
                (format!("f: [a, {ph}]\n"), "/f/1"),
                (format!("m: {{k: {ph}}}\n"), "/m/k"),
            ] {
                let got = parse(&render(tpl.clone())).pointer(ptr).cloned().unwrap_or_default();
                prop_assert!(bare_ok(&got, &v), "{tpl:?} with {v:?} gave {got}");
            }
            // Quoted or embedded: always the exact string.
            prop_assert_eq!(&parse(&render(format!("k: \"{ph}\"\n")))["k"], &s(v.clone()));
            prop_assert_eq!(
                &parse(&render(format!("k: \"x {ph} y\"\n")))["k"],
                &s(format!("x {v} y"))
            );
            prop_assert_eq!(
                &parse(&render(format!("k: pre-{ph}-post\n")))["k"],
                &s(format!("pre-{v}-post"))
            );
            prop_assert_eq!(
                &parse(&render(format!("a: 1\nk: \"{ph}\" # c\nb: 2\n"))),
                &serde_json::json!({"a": 1, "k": v.clone(), "b": 2}),
                "a value cannot add, drop or change other keys"
            );
            // Single quotes cannot carry line breaks or controls: refused, naming the line.
            match render_str(&format!("a: 1\nk: 'a {ph}'\n"), &env, "t.yaml") {
                Ok(out) => prop_assert_eq!(&parse(&out)["k"], &s(format!("a {v}"))),
                Err(e) => {
                    prop_assert!(v.chars().any(char::is_control), "{e}");
                    prop_assert!(e.to_string().contains("t.yaml") && e.to_string().contains("line 2"), "{e}");
                }
            }
        }

        #[test]
        fn every_missing_name_is_reported(names in prop::collection::btree_set("[A-Z][A-Z0-9]{0,6}", 1..5)) {
            let tpl: String = names.iter().enumerate().map(|(i, n)| {
                if i % 2 == 0 { format!("k{i}: __{n}__\n") } else { format!("k{i}: ${{{n}}}\n") }
            }).collect();
            match render_str(&tpl, &EnvMap::from_pairs::<[(&str, &str); 0], _, _>([]), "tpl.yaml") {
                Err(TemplateError::Missing { path, names: got }) => {
                    prop_assert_eq!(path, "tpl.yaml");
                    prop_assert_eq!(got, names.iter().cloned().collect::<Vec<_>>());
                }
                other => prop_assert!(false, "expected Missing, got {other:?}"),
            }
        }
    }
}
