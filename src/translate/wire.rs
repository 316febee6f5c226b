//! Serde building blocks the dialect files share for their wire structs. They read in one
//! pass without buffering a value (no `#[serde(untagged)]` on input, which copies
//! whole subtrees — a base64 image, say — before choosing a variant).

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Serialize, Serializer};
use serde_json::Value;

/// The JSON shape a wire type is read from, so [`Lax`] and [`StrOr`] can skip a value
/// of another shape without buffering it.
#[derive(PartialEq, Eq)]
pub(crate) enum Json {
    Str,
    Num,
    Bool,
    Map,
    Seq,
}

pub(crate) trait Shape {
    const SHAPE: Json;
}

impl Shape for String {
    const SHAPE: Json = Json::Str;
}
impl Shape for bool {
    const SHAPE: Json = Json::Bool;
}
impl Shape for u64 {
    const SHAPE: Json = Json::Num;
}
impl Shape for f64 {
    const SHAPE: Json = Json::Num;
}
impl<T> Shape for Vec<T> {
    const SHAPE: Json = Json::Seq;
}
/// As a member we only read a `Value` where an object belongs (tool arguments).
impl Shape for Value {
    const SHAPE: Json = Json::Map;
}

/// Declares the JSON shape of wire structs (`Map`) or string enums (`Str`).
macro_rules! shape {
    ($shape:ident: $($t:ty),+ $(,)?) => {
        $(impl $crate::translate::wire::Shape for $t {
            const SHAPE: $crate::translate::wire::Json = $crate::translate::wire::Json::$shape;
        })+
    };
}
pub(crate) use shape;

/// Reads `T` when the value has `T`'s shape and skips it otherwise (`None`): clients
/// and upstreams put other things in the same member (a `search_result` block's
/// `source` is a string, an image's an object), and the old behaviour of ignoring what
/// we cannot use is kept. A value of the right shape but wrong inside still fails.
#[derive(Debug)]
pub(crate) struct Lax<T>(pub Option<T>);

impl<T> Default for Lax<T> {
    fn default() -> Self {
        Lax(None)
    }
}

impl Lax<String> {
    /// The string, unless absent or empty.
    pub(crate) fn non_empty(self) -> Option<String> {
        self.0.filter(|s| !s.is_empty())
    }
}

/// A string member read leniently.
pub(crate) type LaxStr = Lax<String>;

/// Hands a value to `T` when its shape is `T::SHAPE`, else skips it; both [`Lax`] and
/// [`StrOr`] read through this.
struct ShapeVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de> + Shape> Visitor<'de> for ShapeVisitor<T> {
    type Value = Option<T>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Option<T>, E> {
        if T::SHAPE != Json::Str {
            return Ok(None);
        }
        T::deserialize(de::value::StrDeserializer::<E>::new(s)).map(Some)
    }
    fn visit_string<E: de::Error>(self, s: String) -> Result<Option<T>, E> {
        if T::SHAPE != Json::Str {
            return Ok(None);
        }
        T::deserialize(de::value::StringDeserializer::<E>::new(s)).map(Some)
    }
    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Option<T>, E> {
        if T::SHAPE != Json::Bool {
            return Ok(None);
        }
        T::deserialize(de::value::BoolDeserializer::<E>::new(b)).map(Some)
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Option<T>, E> {
        if T::SHAPE != Json::Num {
            return Ok(None);
        }
        T::deserialize(de::value::U64Deserializer::<E>::new(n)).map(Some)
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Option<T>, E> {
        if T::SHAPE != Json::Num {
            return Ok(None);
        }
        // A negative count or limit is as unusable as a missing one.
        Ok(T::deserialize(de::value::I64Deserializer::<E>::new(n)).ok())
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Option<T>, E> {
        if T::SHAPE != Json::Num {
            return Ok(None);
        }
        Ok(T::deserialize(de::value::F64Deserializer::<E>::new(n)).ok())
    }
    fn visit_unit<E>(self) -> Result<Option<T>, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, a: A) -> Result<Option<T>, A::Error> {
        if T::SHAPE != Json::Seq {
            return IgnoredAny.visit_seq(a).map(|_| None);
        }
        T::deserialize(SeqAccessDeserializer::new(a)).map(Some)
    }
    fn visit_map<A: MapAccess<'de>>(self, a: A) -> Result<Option<T>, A::Error> {
        if T::SHAPE != Json::Map {
            return IgnoredAny.visit_map(a).map(|_| None);
        }
        T::deserialize(MapAccessDeserializer::new(a)).map(Some)
    }
}

impl<'de, T: Deserialize<'de> + Shape> Deserialize<'de> for Lax<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ShapeVisitor::<T>(PhantomData)).map(Lax)
    }
}

/// A member that is a string or something structured: OpenAI `content` (string or
/// parts), `stop` (string or list), `tool_choice` (string or object), Anthropic
/// `system` and `content` (string or blocks). Any other shape is skipped.
#[derive(Debug, Default)]
pub(crate) enum StrOr<T> {
    Str(String),
    Other(T),
    #[default]
    Neither,
}

impl<'de, T: Deserialize<'de> + Shape> Deserialize<'de> for StrOr<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Shape> Visitor<'de> for V<T> {
            type Value = StrOr<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(StrOr::Str(s.to_owned()))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Self::Value, E> {
                Ok(StrOr::Str(s))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(StrOr::Neither)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(StrOr::Neither)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(StrOr::Neither)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(StrOr::Neither)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(StrOr::Neither)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, a: A) -> Result<Self::Value, A::Error> {
                let v = ShapeVisitor::<T>(PhantomData).visit_seq(a)?;
                Ok(v.map_or(StrOr::Neither, StrOr::Other))
            }
            fn visit_map<A: MapAccess<'de>>(self, a: A) -> Result<Self::Value, A::Error> {
                let v = ShapeVisitor::<T>(PhantomData).visit_map(a)?;
                Ok(v.map_or(StrOr::Neither, StrOr::Other))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A token count from a third-party upstream: whole floats count, anything that is not
/// a non-negative number reads as `None`.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct LaxU64(pub Option<u64>);

impl<'de> Deserialize<'de> for LaxU64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LaxU64;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_u64<E>(self, n: u64) -> Result<LaxU64, E> {
                Ok(LaxU64(Some(n)))
            }
            fn visit_i64<E>(self, n: i64) -> Result<LaxU64, E> {
                Ok(LaxU64(u64::try_from(n).ok()))
            }
            fn visit_f64<E>(self, n: f64) -> Result<LaxU64, E> {
                let whole = n >= 0.0 && n.fract() == 0.0 && n < u64::MAX as f64;
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                Ok(LaxU64(whole.then_some(n as u64)))
            }
            fn visit_str<E>(self, _: &str) -> Result<LaxU64, E> {
                Ok(LaxU64(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<LaxU64, E> {
                Ok(LaxU64(None))
            }
            fn visit_unit<E>(self) -> Result<LaxU64, E> {
                Ok(LaxU64(None))
            }
            fn visit_none<E>(self) -> Result<LaxU64, E> {
                Ok(LaxU64(None))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<LaxU64, D::Error> {
                d.deserialize_any(V)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, a: A) -> Result<LaxU64, A::Error> {
                IgnoredAny.visit_seq(a).map(|_| LaxU64(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, a: A) -> Result<LaxU64, A::Error> {
                IgnoredAny.visit_map(a).map(|_| LaxU64(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// Writes a JSON object: the value when it is one, `{}` otherwise (tool inputs and
/// schemas must be objects on every wire we speak).
pub(crate) struct ObjectOrEmpty<'a>(pub Option<&'a Value>);

impl Serialize for ObjectOrEmpty<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(v @ Value::Object(_)) => v.serialize(s),
            _ => serde::ser::SerializeMap::end(s.serialize_map(Some(0))?),
        }
    }
}

/// `{"type": "object", "properties": {}}`, the schema of a tool that declared none.
pub(crate) fn empty_schema() -> Value {
    let mut m = serde_json::Map::new();
    m.insert("type".into(), Value::String("object".into()));
    m.insert("properties".into(), Value::Object(serde_json::Map::new()));
    Value::Object(m)
}

#[allow(clippy::trivially_copy_pass_by_ref)]
pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

/// Serializes to bytes; our wire structs hold only strings, numbers and `Value`s, which
/// always serialize.
pub(crate) fn to_bytes<T: Serialize + ?Sized>(v: &T) -> bytes::Bytes {
    serde_json::to_vec(v)
        .map(bytes::Bytes::from)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct T {
        #[serde(default)]
        a: StrOr<Vec<String>>,
        #[serde(default)]
        s: LaxStr,
        #[serde(default)]
        n: LaxU64,
        #[serde(default)]
        o: Lax<Inner>,
    }

    #[derive(Deserialize, Debug, PartialEq)]
    struct Inner {
        x: u64,
    }
    shape!(Map: Inner);

    #[test]
    fn str_or_reads_both_shapes_and_skips_others() {
        let t: T = serde_json::from_str(r#"{"a":"x"}"#).unwrap();
        assert!(matches!(t.a, StrOr::Str(s) if s == "x"));
        let t: T = serde_json::from_str(r#"{"a":["x","y"]}"#).unwrap();
        assert!(matches!(t.a, StrOr::Other(v) if v == ["x", "y"]));
        for other in ["null", "5", r#"{"k":[1]}"#, "true"] {
            let t: T = serde_json::from_str(&format!(r#"{{"a":{other}}}"#)).unwrap();
            assert!(matches!(t.a, StrOr::Neither), "{other}");
        }
        // The right shape with the wrong inside is still an error, and says where.
        let e = serde_json::from_str::<T>(r#"{"a":[1]}"#).err().unwrap();
        assert!(e.to_string().contains("invalid type: integer"), "{e}");
    }

    #[test]
    fn lax_fields_skip_what_they_cannot_use() {
        let t: T = serde_json::from_str(r#"{"s":{"x":[1,{"y":2}]},"n":"12","o":"str"}"#).unwrap();
        assert_eq!((t.s.0, t.n.0, t.o.0), (None, None, None));
        let t: T = serde_json::from_str(r#"{"s":"r","n":12.0,"o":{"x":3,"y":[]}}"#).unwrap();
        assert_eq!(
            (t.s.0.as_deref(), t.n.0, t.o.0),
            (Some("r"), Some(12), Some(Inner { x: 3 }))
        );
        let t: T = serde_json::from_str(r#"{"s":null,"n":-1,"o":[{"x":1}]}"#).unwrap();
        assert_eq!((t.s.0, t.n.0, t.o.0), (None, None, None));
        assert!(serde_json::from_str::<T>(r#"{"o":{"x":"3"}}"#).is_err());
    }

    #[test]
    fn non_objects_are_written_as_empty_objects() {
        let v = serde_json::json!({"a": 1});
        assert_eq!(to_bytes(&ObjectOrEmpty(Some(&v))), r#"{"a":1}"#);
        assert_eq!(to_bytes(&ObjectOrEmpty(Some(&Value::Null))), "{}");
        assert_eq!(to_bytes(&ObjectOrEmpty(None)), "{}");
    }
}
