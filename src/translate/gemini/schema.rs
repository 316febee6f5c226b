//! Tool-parameter schemas: JSON Schema from other dialects → the subset Gemini accepts,
//! and Gemini's OpenAPI-style schemas (upper-case types) → JSON Schema.
//!
//! Gemini rejects most JSON-Schema keywords it does not model, so [`clean_schema`] keeps
//! an allow-list (`type`, `description`, `enum`, `properties`, `required`, `items`,
//! `minimum`, `maximum`, supported `format`s), inlines local `$ref`s, flattens
//! `allOf` / `anyOf` / `oneOf` / type arrays, and moves informative constraints
//! (`minLength: 3`, `default: …`) into the description so the model still sees them.
//! Keys under `properties` are property names, never keywords.

use serde_json::{Map, Value, json};

/// Bounds the work an adversarial schema can cause (refs expanding refs).
const MAX_REF_EXPANSIONS: usize = 512;
const MAX_DEPTH: usize = 48;

/// Keywords whose value is worth keeping as a description hint when dropped.
const HINT_KEYWORDS: &[&str] = &[
    "minLength",
    "maxLength",
    "pattern",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
    "default",
    "examples",
];

/// JSON Schema → Gemini function-parameter schema. Pure; never fails: a non-object
/// input becomes an empty object schema.
pub fn clean_schema(schema: &Value) -> Value {
    let mut cx = Cleaner {
        root: schema,
        expansions: 0,
        active: Vec::new(),
    };
    let (mut out, _) = cx.node(schema, 0);
    if !out.contains_key("type") {
        out.insert("type".into(), json!("object"));
    }
    Value::Object(out)
}

/// Whether a cleaned schema declares no parameters (Gemini wants those omitted).
pub(super) fn is_empty_object(schema: &Value) -> bool {
    let Some(o) = schema.as_object() else {
        return true;
    };
    let no_props = o
        .get("properties")
        .and_then(Value::as_object)
        .is_none_or(Map::is_empty);
    o.get("type").and_then(Value::as_str) == Some("object") && no_props
}

struct Cleaner<'a> {
    root: &'a Value,
    expansions: usize,
    /// `$ref`s being expanded on the current path (cycle guard).
    active: Vec<String>,
}

impl Cleaner<'_> {
    /// Returns the cleaned node and whether it admits `null` (so a parent can stop
    /// requiring it: Gemini has no way to say "required but nullable").
    fn node(&mut self, v: &Value, depth: usize) -> (Map<String, Value>, bool) {
        let Some(src) = v.as_object() else {
            return (Map::new(), false);
        };
        if depth > MAX_DEPTH {
            return (Map::new(), false);
        }
        if let Some(r) = src.get("$ref").and_then(Value::as_str) {
            return self.reference(r, src, depth);
        }
        let mut work = src.clone();
        let mut nullable = false;
        let mut hints: Vec<String> = Vec::new();

        if let Some(Value::Array(all)) = work.remove("allOf") {
            for branch in &all {
                let (b, _) = self.node(branch, depth + 1);
                merge_missing(&mut work, b);
            }
        }
        for key in ["anyOf", "oneOf"] {
            let Some(Value::Array(branches)) = work.remove(key) else {
                continue;
            };
            let mut best: Option<(u8, Map<String, Value>)> = None;
            let mut types: Vec<String> = Vec::new();
            for branch in &branches {
                let (b, null) = self.node(branch, depth + 1);
                let ty = b.get("type").and_then(Value::as_str).unwrap_or("");
                if null || ty == "null" {
                    nullable = true;
                    if ty == "null" {
                        continue;
                    }
                }
                let score = match ty {
                    "object" => 3,
                    "array" => 2,
                    "" => 0,
                    _ => 1,
                };
                if !ty.is_empty() && !types.iter().any(|t| t == ty) {
                    types.push(ty.to_string());
                }
                if best.as_ref().is_none_or(|(s, _)| score > *s) {
                    best = Some((score, b));
                }
            }
            if types.len() > 1 {
                hints.push(format!("Accepts: {}", types.join(" | ")));
            }
            if let Some((_, b)) = best {
                merge_missing(&mut work, b);
            }
        }

        let mut out = Map::new();
        // type: a string, or an array whose first non-null member wins.
        let mut ty = match work.get("type") {
            Some(Value::String(t)) if t == "null" => {
                nullable = true;
                None
            }
            Some(Value::String(t)) => Some(t.clone()),
            Some(Value::Array(ts)) => {
                let names: Vec<&str> = ts.iter().filter_map(Value::as_str).collect();
                nullable |= names.contains(&"null");
                let real: Vec<&str> = names.into_iter().filter(|t| *t != "null").collect();
                if real.len() > 1 {
                    hints.push(format!("Accepts: {}", real.join(" | ")));
                }
                real.first().map(|t| t.to_string())
            }
            _ => None,
        };
        let mut enum_vals: Option<Vec<Value>> = match work.get("enum") {
            Some(Value::Array(a)) if !a.is_empty() => Some(a.clone()),
            _ => work.get("const").map(|c| vec![c.clone()]),
        };
        if let Some(vals) = enum_vals.take() {
            // Gemini models enums as strings only.
            let strs: Vec<Value> = vals
                .iter()
                .filter(|v| !v.is_null())
                .map(|v| match v {
                    Value::String(s) => json!(s),
                    other => json!(other.to_string()),
                })
                .collect();
            if !strs.is_empty() {
                ty = Some("string".into());
                enum_vals = Some(strs);
            }
        }
        if ty.is_none() {
            if work.contains_key("properties") {
                ty = Some("object".into());
            } else if work.contains_key("items") {
                ty = Some("array".into());
            }
        }
        if let Some(t) = &ty {
            out.insert("type".into(), json!(t));
        }
        if let Some(Value::String(f)) = work.get("format") {
            if format_supported(ty.as_deref(), f) {
                out.insert("format".into(), json!(f));
            } else {
                hints.push(format!("format: {f}"));
            }
        }
        let description = work
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if let Some(vals) = enum_vals {
            out.insert("enum".into(), Value::Array(vals));
        }
        if let Some(Value::Object(props)) = work.get("properties") {
            let mut cleaned = Map::new();
            let mut optional: Vec<&str> = Vec::new();
            for (name, pv) in props {
                let (p, null) = self.node(pv, depth + 1);
                if null {
                    optional.push(name);
                }
                cleaned.insert(name.clone(), Value::Object(p));
            }
            let mut required: Vec<Value> = Vec::new();
            for r in work
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if cleaned.contains_key(r)
                    && !optional.contains(&r)
                    && !required.iter().any(|x| x == r)
                {
                    required.push(json!(r));
                }
            }
            out.insert("properties".into(), Value::Object(cleaned));
            if !required.is_empty() {
                out.insert("required".into(), Value::Array(required));
            }
        }
        match work.get("items") {
            Some(items @ Value::Object(_)) => {
                let (i, _) = self.node(items, depth + 1);
                out.insert("items".into(), Value::Object(i));
            }
            // Tuple form: Gemini has one item schema; the first is the best guess.
            Some(Value::Array(items)) => {
                let (i, _) = items
                    .first()
                    .map(|f| self.node(f, depth + 1))
                    .unwrap_or_default();
                out.insert("items".into(), Value::Object(i));
            }
            _ => {}
        }
        for key in ["minimum", "maximum"] {
            if let Some(n @ Value::Number(_)) = work.get(key) {
                out.insert(key.into(), n.clone());
            }
        }
        for key in HINT_KEYWORDS {
            match work.get(*key) {
                None | Some(Value::Null) | Some(Value::Bool(false)) => {}
                Some(Value::String(s)) => hints.push(format!("{key}: {s}")),
                Some(v) => hints.push(format!("{key}: {v}")),
            }
        }
        if work.get("additionalProperties") == Some(&Value::Bool(false)) {
            hints.push("No extra properties allowed".into());
        }
        let description = hints.iter().fold(description, |d, h| merge_hint(d, h));
        if !description.is_empty() {
            out.insert("description".into(), json!(description));
        }
        (out, nullable)
    }

    fn reference(
        &mut self,
        r: &str,
        src: &Map<String, Value>,
        depth: usize,
    ) -> (Map<String, Value>, bool) {
        let name = r.rsplit('/').next().unwrap_or(r).to_string();
        let target = r
            .strip_prefix('#')
            .and_then(|ptr| self.root.pointer(ptr))
            .filter(|_| self.expansions < MAX_REF_EXPANSIONS)
            .filter(|_| !self.active.iter().any(|a| a == r));
        let Some(target) = target else {
            // External, cyclic or over-budget: say where it pointed instead.
            let mut out = Map::new();
            out.insert("type".into(), json!("object"));
            let desc = src
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            out.insert(
                "description".into(),
                json!(merge_hint(desc, &format!("See: {name}"))),
            );
            return (out, false);
        };
        self.expansions += 1;
        self.active.push(r.to_string());
        // Siblings of `$ref` (description, title) refine the target.
        let mut merged = src.clone();
        merged.remove("$ref");
        if let Some(t) = target.as_object() {
            merge_missing(&mut merged, t.clone());
        }
        let out = self.node(&Value::Object(merged), depth + 1);
        self.active.pop();
        out
    }
}

/// Fills keys of `into` that are missing from `from`; `properties` and `required` merge.
fn merge_missing(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (None, v) => {
                into.insert(k, v);
            }
            (Some(Value::Object(a)), Value::Object(b)) if k == "properties" => {
                for (pk, pv) in b {
                    a.entry(pk).or_insert(pv);
                }
            }
            (Some(Value::Array(a)), Value::Array(b)) if k == "required" => {
                for r in b {
                    if !a.contains(&r) {
                        a.push(r);
                    }
                }
            }
            _ => {}
        }
    }
}

fn merge_hint(existing: String, hint: &str) -> String {
    if existing.is_empty() {
        return hint.to_string();
    }
    if existing == hint || existing.contains(&format!("({hint})")) {
        return existing;
    }
    format!("{existing} ({hint})")
}

fn format_supported(ty: Option<&str>, format: &str) -> bool {
    matches!(
        (ty, format),
        (Some("string"), "enum" | "date-time")
            | (Some("integer"), "int32" | "int64")
            | (Some("number"), "float" | "double")
    )
}

/// Gemini `parameters` (OpenAPI subset, `"type": "STRING"`) → JSON Schema: lower-case
/// types, `nullable` folded into the type, Gemini-only keys dropped.
pub(super) fn from_gemini_schema(v: &Value) -> Value {
    from_gemini_node(v, 0)
}

fn from_gemini_node(v: &Value, depth: usize) -> Value {
    let Some(src) = v.as_object() else {
        return v.clone();
    };
    if depth > MAX_DEPTH {
        return json!({});
    }
    let mut out = Map::new();
    let nullable = src.get("nullable") == Some(&Value::Bool(true));
    for (k, val) in src {
        match k.as_str() {
            "nullable" | "propertyOrdering" => {}
            "type" => {
                let t = val.as_str().map(str::to_ascii_lowercase);
                let t = match t.as_deref() {
                    Some("type_unspecified") | None => continue,
                    Some(t) => t.to_string(),
                };
                out.insert(
                    k.clone(),
                    if nullable {
                        json!([t, "null"])
                    } else {
                        json!(t)
                    },
                );
            }
            "properties" => {
                let props = val
                    .as_object()
                    .map(|p| {
                        p.iter()
                            .map(|(n, s)| (n.clone(), from_gemini_node(s, depth + 1)))
                            .collect::<Map<_, _>>()
                    })
                    .unwrap_or_default();
                out.insert(k.clone(), Value::Object(props));
            }
            "items" => {
                out.insert(k.clone(), from_gemini_node(val, depth + 1));
            }
            "anyOf" => {
                let branches = val
                    .as_array()
                    .map(|a| a.iter().map(|b| from_gemini_node(b, depth + 1)).collect())
                    .unwrap_or_default();
                out.insert(k.clone(), Value::Array(branches));
            }
            _ => {
                out.insert(k.clone(), val.clone());
            }
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_schema_table() {
        let cases: Vec<(&str, Value, Value)> = vec![
            (
                "metadata keywords dropped, allow-listed kept",
                json!({"$schema": "http://json-schema.org/draft-07/schema#", "$id": "x", "title": "T",
                       "type": "object", "additionalProperties": true, "x-foo": 1, "$comment": "c",
                       "properties": {"a": {"type": "integer", "minimum": 1, "maximum": 9, "deprecated": true}},
                       "required": ["a"]}),
                json!({"type": "object", "properties": {"a": {"type": "integer", "minimum": 1, "maximum": 9}},
                       "required": ["a"]}),
            ),
            (
                "additionalProperties false becomes a hint",
                json!({"type": "object", "properties": {}, "additionalProperties": false}),
                json!({"type": "object", "properties": {}, "description": "No extra properties allowed"}),
            ),
            (
                "constraints move into the description",
                json!({"type": "object", "properties": {
                    "name": {"type": "string", "description": "User name", "minLength": 3, "pattern": "^a"},
                    "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "uniqueItems": true},
                    "n": {"type": "integer", "default": 5}}}),
                json!({"type": "object", "properties": {
                    "name": {"type": "string", "description": "User name (minLength: 3) (pattern: ^a)"},
                    "tags": {"type": "array", "items": {"type": "string"}, "description": "minItems: 1 (uniqueItems: true)"},
                    "n": {"type": "integer", "description": "default: 5"}}}),
            ),
            (
                "formats: supported kept, others hinted",
                json!({"type": "object", "properties": {
                    "when": {"type": "string", "format": "date-time"},
                    "mail": {"type": "string", "format": "email"},
                    "big": {"type": "integer", "format": "int64"},
                    "uri": {"type": "string", "format": "uri", "description": "Link"}}}),
                json!({"type": "object", "properties": {
                    "when": {"type": "string", "format": "date-time"},
                    "mail": {"type": "string", "description": "format: email"},
                    "big": {"type": "integer", "format": "int64"},
                    "uri": {"type": "string", "description": "Link (format: uri)"}}}),
            ),
            (
                "local refs are inlined and defs removed",
                json!({"type": "object", "$defs": {"Pt": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}},
                       "properties": {"p": {"$ref": "#/$defs/Pt", "description": "A point"},
                                      "q": {"$ref": "#/definitions/Missing"}}}),
                json!({"type": "object", "properties": {
                    "p": {"type": "object", "description": "A point", "properties": {"x": {"type": "number"}}, "required": ["x"]},
                    "q": {"type": "object", "description": "See: Missing"}}}),
            ),
            (
                "cyclic refs stop with a hint",
                json!({"$defs": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}},
                       "$ref": "#/$defs/Node"}),
                json!({"type": "object", "properties": {
                    "next": {"type": "object", "description": "See: Node"}}}),
            ),
            (
                "nullable type arrays are flattened and stop being required",
                json!({"type": "object", "properties": {
                    "a": {"type": ["string", "null"]}, "b": {"type": ["integer", "string"]}, "c": {"type": "string"}},
                    "required": ["a", "b", "c", "ghost"]}),
                json!({"type": "object", "properties": {
                    "a": {"type": "string"}, "b": {"type": "integer", "description": "Accepts: integer | string"},
                    "c": {"type": "string"}}, "required": ["b", "c"]}),
            ),
            (
                "anyOf picks the richest branch",
                json!({"type": "object", "properties": {"q": {"description": "Query", "anyOf": [
                    {"type": "null"}, {"type": "string"},
                    {"type": "object", "properties": {"k": {"type": "string"}}}]}},
                    "required": ["q"]}),
                json!({"type": "object", "properties": {"q": {"type": "object", "properties": {"k": {"type": "string"}},
                    "description": "Query (Accepts: string | object)"}}}),
            ),
            (
                "allOf merges properties and required",
                json!({"allOf": [
                    {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
                    {"properties": {"b": {"type": "boolean"}}, "required": ["b"]}]}),
                json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "boolean"}},
                       "required": ["a", "b"]}),
            ),
            (
                "const and non-string enums become string enums",
                json!({"type": "object", "properties": {
                    "kind": {"const": "Viz"}, "level": {"type": "integer", "enum": [1, 2, 3]}}}),
                json!({"type": "object", "properties": {
                    "kind": {"type": "string", "enum": ["Viz"]}, "level": {"type": "string", "enum": ["1", "2", "3"]}}}),
            ),
            (
                "property names that look like keywords are kept",
                json!({"type": "object", "properties": {"format": {"type": "string"}, "$ref": {"type": "string"},
                    "properties": {"type": "object", "properties": {"title": {"type": "string"}}}}}),
                json!({"type": "object", "properties": {"format": {"type": "string"}, "$ref": {"type": "string"},
                    "properties": {"type": "object", "properties": {"title": {"type": "string"}}}}}),
            ),
            (
                "types are inferred and tuple items take the first",
                json!({"properties": {"xs": {"items": [{"type": "string"}, {"type": "number"}]}}}),
                json!({"type": "object", "properties": {"xs": {"type": "array", "items": {"type": "string"}}}}),
            ),
            ("non-object input", json!(true), json!({"type": "object"})),
        ];
        for (name, input, want) in cases {
            assert_eq!(clean_schema(&input), want, "{name}");
            assert_eq!(clean_schema(&want), want, "{name}: cleaning is idempotent");
        }
    }

    #[test]
    fn exponential_ref_fanout_is_bounded() {
        // Each level references the next twice: 2^40 nodes if expanded naively.
        let mut defs = Map::new();
        for i in 0..40 {
            defs.insert(
                format!("L{i}"),
                json!({"type": "object", "properties": {
                    "a": {"$ref": format!("#/$defs/L{}", i + 1)},
                    "b": {"$ref": format!("#/$defs/L{}", i + 1)}}}),
            );
        }
        defs.insert("L40".into(), json!({"type": "string"}));
        let schema = json!({"$defs": defs, "$ref": "#/$defs/L0"});
        let out = clean_schema(&schema);
        assert!(out.to_string().len() < 1_000_000);
        assert!(out.to_string().contains("See: L"));
    }

    #[test]
    fn empty_object_detection() {
        assert!(is_empty_object(&json!({"type": "object"})));
        assert!(is_empty_object(
            &json!({"type": "object", "properties": {}})
        ));
        assert!(!is_empty_object(
            &json!({"type": "object", "properties": {"a": {}}})
        ));
    }

    #[test]
    fn gemini_schemas_become_json_schema() {
        let g = json!({"type": "OBJECT", "propertyOrdering": ["a", "b"], "properties": {
            "a": {"type": "STRING", "nullable": true, "enum": ["x"], "format": "enum"},
            "b": {"type": "ARRAY", "items": {"type": "INTEGER"}},
            "c": {"anyOf": [{"type": "NUMBER"}, {"type": "BOOLEAN"}]}},
            "required": ["b"]});
        assert_eq!(
            from_gemini_schema(&g),
            json!({"type": "object", "properties": {
                "a": {"type": ["string", "null"], "enum": ["x"], "format": "enum"},
                "b": {"type": "array", "items": {"type": "integer"}},
                "c": {"anyOf": [{"type": "number"}, {"type": "boolean"}]}},
                "required": ["b"]})
        );
    }
}
