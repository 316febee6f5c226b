//! The list and map settings: `api-keys`, the provider key lists, `openai-compatibility`,
//! `oauth-excluded-models`, `oauth-model-alias` and `ampcode`, each with GET, PUT
//! (the whole value), PATCH (one item) and DELETE (one item), as CLIProxyAPI does.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::routing::{MethodRouter, get};
use serde_json::{Map, Value, json};

use super::doc;
use super::reply::{self, Fail};
use crate::config::{edit, mask};
use crate::server::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A list of strings (`api-keys`).
    Strings,
    /// A list of objects told apart by `field` (`api-key`, `name`).
    Entries { field: &'static str },
    /// Provider → list (`oauth-excluded-models` → models, `oauth-model-alias` → aliases).
    Map { items: &'static str },
    /// One object (`ampcode`).
    Object,
}

pub struct List {
    pub route: &'static str,
    pub key: &'static str,
    pub kind: Kind,
}

pub const LISTS: &[List] = &[
    List {
        route: "/api-keys",
        key: "api-keys",
        kind: Kind::Strings,
    },
    List {
        route: "/claude-api-key",
        key: "claude-api-key",
        kind: Kind::Entries { field: "api-key" },
    },
    List {
        route: "/codex-api-key",
        key: "codex-api-key",
        kind: Kind::Entries { field: "api-key" },
    },
    List {
        route: "/gemini-api-key",
        key: "gemini-api-key",
        kind: Kind::Entries { field: "api-key" },
    },
    List {
        route: "/vertex-api-key",
        key: "vertex-api-key",
        kind: Kind::Entries { field: "api-key" },
    },
    List {
        route: "/openai-compatibility",
        key: "openai-compatibility",
        kind: Kind::Entries { field: "name" },
    },
    List {
        route: "/oauth-excluded-models",
        key: "oauth-excluded-models",
        kind: Kind::Map { items: "models" },
    },
    List {
        route: "/oauth-model-alias",
        key: "oauth-model-alias",
        kind: Kind::Map { items: "aliases" },
    },
    List {
        route: "/ampcode",
        key: "ampcode",
        kind: Kind::Object,
    },
];

fn empty(kind: Kind) -> Value {
    match kind {
        Kind::Strings | Kind::Entries { .. } => json!([]),
        Kind::Map { .. } | Kind::Object => json!({}),
    }
}

/// The whole new value of a PUT: the value itself or `{"items": ...}` (`{"value": ...}`
/// for the object).
pub fn put_value(kind: Kind, body: &Value) -> Result<Value, String> {
    let wrapped = body.get("items").or_else(|| body.get("value"));
    match kind {
        Kind::Strings => {
            let v = if body.is_array() {
                body
            } else {
                wrapped.unwrap_or(body)
            };
            match v.as_array() {
                Some(a) if a.iter().all(Value::is_string) => Ok(v.clone()),
                _ => Err("expected a list of strings (or {\"items\": [...]})".into()),
            }
        }
        Kind::Entries { .. } => {
            let v = if body.is_array() {
                body
            } else {
                wrapped.unwrap_or(body)
            };
            match v.as_array() {
                Some(a) if a.iter().all(Value::is_object) => Ok(v.clone()),
                _ => Err("expected a list of objects (or {\"items\": [...]})".into()),
            }
        }
        Kind::Map { .. } | Kind::Object => {
            let v = match wrapped {
                Some(w) if w.is_object() => w,
                _ => body,
            };
            if v.is_object() {
                Ok(v.clone())
            } else {
                Err("expected an object".into())
            }
        }
    }
}

fn index_of(body: &Value) -> Option<usize> {
    body.get("index")
        .and_then(Value::as_u64)
        .map(|i| i as usize)
}

fn merge(target: &mut Map<String, Value>, changes: &Map<String, Value>) {
    for (k, v) in changes {
        if v.is_null() {
            target.remove(k);
        } else {
            target.insert(k.clone(), v.clone());
        }
    }
}

/// The new value after a PATCH `body` (already unmasked) on `current`.
pub fn patch(kind: Kind, current: &Value, body: &Value) -> Result<Value, Fail> {
    let mut cur = if current.is_null() {
        empty(kind)
    } else {
        current.clone()
    };
    match kind {
        Kind::Strings => {
            let list = cur
                .as_array_mut()
                .ok_or_else(|| Fail::internal("stored value is not a list"))?;
            if let (Some(i), Some(v)) = (index_of(body), body.get("value").and_then(Value::as_str))
            {
                let slot = list
                    .get_mut(i)
                    .ok_or_else(|| Fail::not_found(format!("no item at index {i}")))?;
                *slot = json!(v);
            } else if let (Some(old), Some(new)) = (
                body.get("old").and_then(Value::as_str),
                body.get("new").and_then(Value::as_str),
            ) {
                match list.iter_mut().find(|x| x.as_str() == Some(old)) {
                    Some(slot) => *slot = json!(new),
                    None => list.push(json!(new)),
                }
            } else {
                return Err(Fail::bad("expected {index, value} or {old, new}"));
            }
        }
        Kind::Entries { field } => {
            let list = cur
                .as_array_mut()
                .ok_or_else(|| Fail::internal("stored value is not a list"))?;
            let changes = body
                .get("value")
                .and_then(Value::as_object)
                .ok_or_else(|| Fail::bad("expected {index | match, value: {...}}"))?;
            let wanted = body
                .get("match")
                .or_else(|| body.get(field))
                .or_else(|| body.get("name"))
                .and_then(Value::as_str)
                .map(str::trim);
            let at = index_of(body).filter(|i| *i < list.len()).or_else(|| {
                wanted.and_then(|w| {
                    list.iter()
                        .position(|e| e.get(field).and_then(Value::as_str) == Some(w))
                })
            });
            let i = at.ok_or_else(|| Fail::not_found("item not found"))?;
            // An emptied key removes the entry (CLIProxyAPI's rule for key lists).
            if field == "api-key"
                && changes
                    .get(field)
                    .and_then(Value::as_str)
                    .is_some_and(|k| k.trim().is_empty())
            {
                list.remove(i);
            } else if let Some(entry) = list[i].as_object_mut() {
                merge(entry, changes);
            }
        }
        Kind::Map { items } => {
            let map = cur
                .as_object_mut()
                .ok_or_else(|| Fail::internal("stored value is not a map"))?;
            let provider = body
                .get("provider")
                .or_else(|| body.get("channel"))
                .and_then(Value::as_str)
                .map(|s| s.trim().to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .ok_or_else(|| Fail::bad(format!("expected {{provider, {items}}}")))?;
            let list = body
                .get(items)
                .or_else(|| body.get("value"))
                .cloned()
                .unwrap_or(Value::Null);
            match list {
                Value::Array(a) if !a.is_empty() => {
                    map.insert(provider, Value::Array(a));
                }
                Value::Array(_) | Value::Null => {
                    map.remove(&provider);
                }
                _ => return Err(Fail::bad(format!("`{items}` must be a list"))),
            }
        }
        Kind::Object => {
            let obj = cur
                .as_object_mut()
                .ok_or_else(|| Fail::internal("stored value is not an object"))?;
            let changes = body
                .get("value")
                .filter(|v| v.is_object())
                .unwrap_or(body)
                .as_object()
                .ok_or_else(|| Fail::bad("expected an object"))?;
            merge(obj, changes);
        }
    }
    Ok(cur)
}

/// The new value after a DELETE with `query` (values already unmasked); `None`
/// removes the key.
pub fn delete(
    kind: Kind,
    current: &Value,
    query: &HashMap<String, String>,
) -> Result<Option<Value>, Fail> {
    let mut cur = if current.is_null() {
        empty(kind)
    } else {
        current.clone()
    };
    let index = query
        .get("index")
        .and_then(|i| i.trim().parse::<usize>().ok());
    match kind {
        Kind::Strings => {
            let list = cur
                .as_array_mut()
                .ok_or_else(|| Fail::internal("stored value is not a list"))?;
            if let Some(i) = index.filter(|i| *i < list.len()) {
                list.remove(i);
            } else if let Some(v) = query
                .get("value")
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
            {
                list.retain(|x| x.as_str().map(str::trim) != Some(v));
            } else {
                return Err(Fail::bad("missing index or value"));
            }
        }
        Kind::Entries { field } => {
            let list = cur
                .as_array_mut()
                .ok_or_else(|| Fail::internal("stored value is not a list"))?;
            if let Some(i) = index.filter(|i| *i < list.len()) {
                list.remove(i);
            } else if let Some(v) = query.get(field).map(|v| v.trim()).filter(|v| !v.is_empty()) {
                let before = list.len();
                list.retain(|e| e.get(field).and_then(Value::as_str).map(str::trim) != Some(v));
                if list.len() == before {
                    return Err(Fail::not_found("item not found"));
                }
            } else {
                return Err(Fail::bad(format!("missing index or {field}")));
            }
        }
        Kind::Map { .. } => {
            let map = cur
                .as_object_mut()
                .ok_or_else(|| Fail::internal("stored value is not a map"))?;
            let p = query
                .get("provider")
                .or_else(|| query.get("channel"))
                .map(|p| p.trim().to_ascii_lowercase())
                .ok_or_else(|| Fail::bad("missing provider"))?;
            map.remove(&p);
        }
        Kind::Object => return Ok(None),
    }
    Ok(Some(cur))
}

async fn get_list(state: Arc<AppState>, l: &'static List) -> reply::Result {
    let d = doc::read(&state)?;
    let v = d
        .value
        .get(l.key)
        .filter(|v| !v.is_null())
        .cloned()
        .unwrap_or_else(|| empty(l.kind));
    Ok(reply::ok_json(&mask::mask_value(&json!({ l.key: v }))))
}

fn parse_body(body: &[u8]) -> reply::Result<Value> {
    serde_json::from_slice(body).map_err(|e| Fail::bad(format!("body is not JSON: {e}")))
}

fn write(d: &doc::Doc, key: &str, v: Option<Value>) -> reply::Result<String> {
    match v {
        Some(v) => edit::set_top(&d.text, key, &v).map_err(Fail::internal),
        None => Ok(edit::remove_top(&d.text, key)),
    }
}

async fn put_list(state: Arc<AppState>, l: &'static List, body: Bytes) -> reply::Result {
    let v = put_value(l.kind, &parse_body(&body)?).map_err(Fail::bad)?;
    doc::set_key(&state, l.key, v).await
}

async fn patch_list(state: Arc<AppState>, l: &'static List, body: Bytes) -> reply::Result {
    let mut body = parse_body(&body)?;
    doc::edit_with(&state, |d| {
        mask::unmask_value(&mut body, &d.secrets()).map_err(Fail::bad)?;
        let cur = d.value.get(l.key).cloned().unwrap_or(Value::Null);
        let new = patch(l.kind, &cur, &body)?;
        write(d, l.key, Some(new))
    })
    .await
}

async fn delete_list(
    state: Arc<AppState>,
    l: &'static List,
    mut query: HashMap<String, String>,
) -> reply::Result {
    doc::edit_with(&state, |d| {
        let secrets = d.secrets();
        for v in query.values_mut() {
            let mut x = json!(v.clone());
            mask::unmask_value(&mut x, &secrets).map_err(Fail::bad)?;
            if let Some(s) = x.as_str() {
                *v = s.to_string();
            }
        }
        let cur = d.value.get(l.key).cloned().unwrap_or(Value::Null);
        let new = delete(l.kind, &cur, &query)?;
        write(d, l.key, new)
    })
    .await
}

pub fn route(l: &'static List) -> MethodRouter<Arc<AppState>> {
    get(move |State(st): State<Arc<AppState>>| get_list(st, l))
        .put(move |State(st): State<Arc<AppState>>, b: Bytes| put_list(st, l, b))
        .patch(move |State(st): State<Arc<AppState>>, b: Bytes| patch_list(st, l, b))
        .delete(
            move |State(st): State<Arc<AppState>>, Query(q): Query<HashMap<String, String>>| {
                delete_list(st, l, q)
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn puts_take_the_value_or_items() {
        assert_eq!(
            put_value(Kind::Strings, &json!(["a"])).unwrap(),
            json!(["a"])
        );
        assert_eq!(
            put_value(Kind::Strings, &json!({"items": ["a"]})).unwrap(),
            json!(["a"])
        );
        assert!(put_value(Kind::Strings, &json!([1])).is_err());
        assert!(put_value(Kind::Entries { field: "api-key" }, &json!(["a"])).is_err());
        assert_eq!(
            put_value(Kind::Map { items: "models" }, &json!({"claude": ["x"]})).unwrap(),
            json!({"claude": ["x"]})
        );
        assert!(put_value(Kind::Object, &json!([1])).is_err());
    }

    #[test]
    fn string_list_patches_and_deletes() {
        let cur = json!(["a", "b"]);
        let cases: &[(Value, Option<Value>)] = &[
            (json!({"index": 1, "value": "c"}), Some(json!(["a", "c"]))),
            (json!({"old": "a", "new": "z"}), Some(json!(["z", "b"]))),
            (
                json!({"old": "q", "new": "z"}),
                Some(json!(["a", "b", "z"])),
            ),
            (json!({"index": 5, "value": "c"}), None),
            (json!({"nothing": 1}), None),
        ];
        for (body, want) in cases {
            assert_eq!(patch(Kind::Strings, &cur, body).ok(), *want, "{body}");
        }
        assert_eq!(
            delete(Kind::Strings, &cur, &q(&[("index", "0")])).unwrap(),
            Some(json!(["b"]))
        );
        assert_eq!(
            delete(Kind::Strings, &cur, &q(&[("value", "b")])).unwrap(),
            Some(json!(["a"]))
        );
        assert!(delete(Kind::Strings, &cur, &q(&[])).is_err());
    }

    #[test]
    fn entry_list_patches_merge_and_an_emptied_key_removes() {
        let k = Kind::Entries { field: "api-key" };
        let cur = json!([{"api-key": "k1", "prefix": "a"}, {"api-key": "k2"}]);
        let out = patch(k, &cur, &json!({"match": "k2", "value": {"prefix": "b"}})).unwrap();
        assert_eq!(out[1], json!({"api-key": "k2", "prefix": "b"}));
        let out = patch(k, &cur, &json!({"index": 0, "value": {"prefix": null}})).unwrap();
        assert_eq!(out[0], json!({"api-key": "k1"}));
        let out = patch(k, &cur, &json!({"index": 0, "value": {"api-key": ""}})).unwrap();
        assert_eq!(out, json!([{"api-key": "k2"}]));
        assert_eq!(
            patch(k, &cur, &json!({"match": "zz", "value": {}}))
                .unwrap_err()
                .status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            delete(k, &cur, &q(&[("api-key", "k1")])).unwrap(),
            Some(json!([{"api-key": "k2"}]))
        );
        assert_eq!(
            delete(k, &cur, &q(&[("api-key", "nope")]))
                .unwrap_err()
                .status,
            StatusCode::NOT_FOUND
        );
        let compat = Kind::Entries { field: "name" };
        let cur = json!([{"name": "or", "base-url": "u"}]);
        let out = patch(
            compat,
            &cur,
            &json!({"name": "or", "value": {"base-url": "v"}}),
        )
        .unwrap();
        assert_eq!(out[0]["base-url"], "v");
        assert_eq!(
            delete(compat, &cur, &q(&[("name", "or")])).unwrap(),
            Some(json!([]))
        );
    }

    #[test]
    fn maps_set_and_remove_a_provider_and_objects_merge() {
        let k = Kind::Map { items: "models" };
        let out = patch(
            k,
            &Value::Null,
            &json!({"provider": "Claude", "models": ["m1"]}),
        )
        .unwrap();
        assert_eq!(out, json!({"claude": ["m1"]}));
        let out = patch(k, &out, &json!({"provider": "claude", "models": []})).unwrap();
        assert_eq!(out, json!({}));
        let cur = json!({"claude": ["x"], "codex": ["y"]});
        assert_eq!(
            delete(k, &cur, &q(&[("provider", "codex")])).unwrap(),
            Some(json!({"claude": ["x"]}))
        );
        let out = patch(
            Kind::Object,
            &json!({"upstream-url": "a", "x": 1}),
            &json!({"upstream-url": "b", "x": null}),
        )
        .unwrap();
        assert_eq!(out, json!({"upstream-url": "b"}));
        assert_eq!(delete(Kind::Object, &out, &q(&[])).unwrap(), None);
    }
}
