//! The usage objects of every dialect, deserialized straight from the bytes: only the
//! few keys that can carry usage are kept, everything else is skipped unparsed
//! (serde's `IgnoredAny`), so finding a body's usage costs a scan, not a `Value` tree.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A token count: any non-negative number (floats truncated, as some upstreams send
/// `12.0`); anything else (null, negative, a string, an object) counts as absent.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Num(pub Option<u64>);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Num, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Num;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a token count")
            }
            fn visit_u64<E>(self, v: u64) -> Result<Num, E> {
                Ok(Num(Some(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Num, E> {
                Ok(Num(u64::try_from(v).ok()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Num, E> {
                Ok(Num((v >= 0.0).then_some(v as u64)))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Num, E> {
                Ok(Num(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<Num, E> {
                Ok(Num(None))
            }
            fn visit_unit<E>(self) -> Result<Num, E> {
                Ok(Num(None))
            }
            fn visit_none<E>(self) -> Result<Num, E> {
                Ok(Num(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Num, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Num(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Num, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Num(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// `T` when the value is a JSON object, `None` (skipped) for anything else, so a
/// `"usage": null` or an odd type never fails the document.
#[derive(Debug)]
pub struct Obj<T>(pub Option<T>);

impl<T> Default for Obj<T> {
    fn default() -> Self {
        Obj(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Obj<T>, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Obj<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<Obj<T>, A::Error> {
                T::deserialize(MapAccessDeserializer::new(m)).map(|t| Obj(Some(t)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Obj<T>, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Obj(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Obj<T>, E> {
                Ok(Obj(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Obj<T>, E> {
                Ok(Obj(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Obj<T>, E> {
                Ok(Obj(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Obj<T>, E> {
                Ok(Obj(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<Obj<T>, E> {
                Ok(Obj(None))
            }
            fn visit_unit<E>(self) -> Result<Obj<T>, E> {
                Ok(Obj(None))
            }
            fn visit_none<E>(self) -> Result<Obj<T>, E> {
                Ok(Obj(None))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct Cached {
    #[serde(default)]
    pub cached_tokens: Num,
}

#[derive(Debug, Default, Deserialize)]
pub struct Reasoning {
    #[serde(default)]
    pub reasoning_tokens: Num,
}

/// Every dialect's usage keys in one object; the format decides which are read, so
/// one dialect's fields are never taken for another's.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Usage {
    // Anthropic and Responses.
    pub input_tokens: Num,
    pub output_tokens: Num,
    // Anthropic.
    pub cache_read_input_tokens: Num,
    pub cache_creation_input_tokens: Num,
    // OpenAI chat.
    pub prompt_tokens: Num,
    pub completion_tokens: Num,
    pub prompt_tokens_details: Obj<Cached>,
    pub completion_tokens_details: Obj<Reasoning>,
    // Responses.
    pub input_tokens_details: Obj<Cached>,
    pub output_tokens_details: Obj<Reasoning>,
    // Gemini.
    #[serde(rename = "promptTokenCount")]
    pub prompt_token_count: Num,
    #[serde(rename = "candidatesTokenCount")]
    pub candidates_token_count: Num,
    #[serde(rename = "cachedContentTokenCount")]
    pub cached_content_token_count: Num,
    #[serde(rename = "thoughtsTokenCount")]
    pub thoughts_token_count: Num,
}

/// Where a usage object can sit inside `message` (Anthropic's message_start) or
/// `response` (Responses' response.completed, Gemini CLI envelopes).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Inner {
    pub usage: Obj<Usage>,
    #[serde(rename = "usageMetadata")]
    pub usage_metadata: Obj<Usage>,
}

/// One JSON document (a whole body or one stream event), reduced to where usage sits.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Doc {
    pub usage: Obj<Usage>,
    #[serde(rename = "usageMetadata")]
    pub usage_metadata: Obj<Usage>,
    pub message: Obj<Inner>,
    pub response: Obj<Inner>,
}

/// A document or an array of them (Gemini's stream without `alt=sse`), each handed
/// to `f` as it is read.
pub struct Docs<F>(pub F);

impl<'de, F: FnMut(Doc)> serde::de::DeserializeSeed<'de> for Docs<F> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        struct V<F>(F);
        impl<'de, F: FnMut(Doc)> Visitor<'de> for V<F> {
            type Value = ();
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object or array of objects")
            }
            fn visit_map<A: MapAccess<'de>>(mut self, m: A) -> Result<(), A::Error> {
                (self.0)(Doc::deserialize(MapAccessDeserializer::new(m))?);
                Ok(())
            }
            fn visit_seq<A: SeqAccess<'de>>(mut self, mut s: A) -> Result<(), A::Error> {
                while let Some(Obj(d)) = s.next_element::<Obj<Doc>>()? {
                    if let Some(d) = d {
                        (self.0)(d);
                    }
                }
                Ok(())
            }
        }
        d.deserialize_any(V(self.0))
    }
}
