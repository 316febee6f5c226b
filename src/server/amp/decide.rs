//! Pure decisions for the Amp routes: which provider paths are model calls the
//! gateway can serve itself, and whether a model call is served locally (under which
//! model) or goes to Amp.

use crate::config::Ampcode;
use crate::providers::Operation;
use crate::translate::Dialect;

/// Amp's own service routes under `/api/` (everything but `/api/provider/…`).
pub const API_ROUTES: &[&str] = &[
    "auth",
    "user",
    "meta",
    "threads",
    "telemetry",
    "internal",
    "ads",
    "otel",
    "tab",
];

/// Amp's routes at the root (its web pages and the CLI's login flow).
pub const ROOT_ROUTES: &[&str] = &["threads", "docs", "settings", "auth"];

/// A model call under `/api/provider/{provider}/` the gateway has a route for: the
/// dialect it is written in and the operation. `rest` is the path after the provider
/// segment, without the leading slash. Gemini calls (`v1beta/models/…`) are not
/// served locally on this branch: there is no Gemini dialect converter yet, so they
/// go to Amp like any path not listed here.
pub fn local_call(rest: &str) -> Option<(Dialect, Operation)> {
    match rest.trim_end_matches('/') {
        "v1/messages" => Some((Dialect::Anthropic, Operation::Messages)),
        "v1/messages/count_tokens" => Some((Dialect::Anthropic, Operation::CountTokens)),
        // Groq-style providers omit `/v1`; Amp sends both.
        "v1/chat/completions" | "chat/completions" => {
            Some((Dialect::OpenAiChat, Operation::ChatCompletions))
        }
        _ => None,
    }
}

/// What the usage record of a call forwarded to Amp says: the dialect its usage fields
/// are read in, the model asked (from the body, or a Gemini path; empty when neither
/// names one) and whether a stream was asked for. `rest` is the path after the provider
/// segment. Never fails: a body that is not JSON still gets a record.
pub fn forwarded_usage(provider: &str, rest: &str, body: &[u8]) -> (Dialect, String, bool) {
    #[derive(serde::Deserialize)]
    struct Asked {
        #[serde(default)]
        model: Option<String>,
        #[serde(default)]
        stream: Option<bool>,
    }
    let rest = rest.trim_end_matches('/');
    if let Some(action_path) = rest
        .strip_prefix("v1beta/models/")
        .or_else(|| rest.strip_prefix("v1beta1/models/"))
    {
        let (model, action) = action_path.split_once(':').unwrap_or((action_path, ""));
        return (
            Dialect::Gemini,
            clip_model(model),
            action == "streamGenerateContent",
        );
    }
    let dialect = if rest.ends_with("messages") || rest.ends_with("messages/count_tokens") {
        Dialect::Anthropic
    } else if rest.ends_with("responses") {
        Dialect::Responses
    } else if rest.ends_with("completions") && !rest.ends_with("chat/completions") {
        Dialect::Completions
    } else if provider == "google" || rest.starts_with("v1beta") {
        Dialect::Gemini
    } else if provider == "anthropic" {
        Dialect::Anthropic
    } else {
        Dialect::OpenAiChat
    };
    let asked = serde_json::from_slice::<Asked>(body).ok();
    let model = asked
        .as_ref()
        .and_then(|a| a.model.as_deref())
        .map(clip_model)
        .unwrap_or_default();
    let stream = asked.and_then(|a| a.stream).unwrap_or(false);
    (dialect, model, stream)
}

/// Model names from outside are bounded before they are stored.
fn clip_model(m: &str) -> String {
    const MAX: usize = 200;
    let mut end = m.len().min(MAX);
    while !m.is_char_boundary(end) {
        end -= 1;
    }
    m[..end].to_string()
}

/// Where one model call goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// Served by the user's accounts as `model` (the mapped model when `mapped`).
    Local { model: String, mapped: bool },
    /// Reverse-proxied to Amp (spends Amp credits).
    Upstream,
}

/// The `to` of the first mapping whose `from` is `model` (case-insensitive, as Amp's
/// model names are matched in CLIProxyAPI).
fn mapped<'a>(cfg: &'a Ampcode, model: &str) -> Option<&'a str> {
    cfg.model_mappings
        .iter()
        .find(|m| m.from.trim().eq_ignore_ascii_case(model.trim()))
        .map(|m| m.to.trim())
        .filter(|to| !to.is_empty())
}

/// Local account for the model asked, else a mapping to a model a local account
/// serves, else Amp. With `force-model-mappings` a usable mapping comes first. A
/// mapping to a model nothing local serves is ignored (Amp gets the model asked).
pub fn choose(model: &str, cfg: &Ampcode, served: impl Fn(&str) -> bool) -> Choice {
    let via_mapping = || {
        mapped(cfg, model)
            .filter(|to| served(to))
            .map(|to| Choice::Local {
                model: to.to_string(),
                mapped: true,
            })
    };
    let direct = || {
        served(model).then(|| Choice::Local {
            model: model.to_string(),
            mapped: false,
        })
    };
    let picked = if cfg.force_model_mappings {
        via_mapping().or_else(direct)
    } else {
        direct().or_else(via_mapping)
    };
    picked.unwrap_or(Choice::Upstream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AmpMapping;

    fn cfg(force: bool, maps: &[(&str, &str)]) -> Ampcode {
        Ampcode {
            force_model_mappings: force,
            model_mappings: maps
                .iter()
                .map(|(f, t)| AmpMapping {
                    from: f.to_string(),
                    to: t.to_string(),
                })
                .collect(),
            ..Default::default()
        }
    }

    fn local(m: &str, mapped: bool) -> Choice {
        Choice::Local {
            model: m.into(),
            mapped,
        }
    }

    #[test]
    fn local_first_then_mapping_then_amp_and_force_puts_mappings_first() {
        let served = |m: &str| matches!(m, "claude-local" | "gpt-local");
        let maps = [
            ("claude-local", "gpt-local"),
            ("Amp-Only", "claude-local"),
            ("to-nowhere", "not-served"),
        ];
        let table = [
            (false, "claude-local", local("claude-local", false)),
            (false, "amp-only", local("claude-local", true)),
            (false, "to-nowhere", Choice::Upstream),
            (false, "unknown", Choice::Upstream),
            (true, "claude-local", local("gpt-local", true)),
            (true, "amp-only", local("claude-local", true)),
            (true, "to-nowhere", Choice::Upstream),
            (true, "gpt-local", local("gpt-local", false)),
        ];
        for (force, model, want) in table {
            assert_eq!(
                choose(model, &cfg(force, &maps), served),
                want,
                "force={force} {model}"
            );
        }
        // No mappings, nothing served: Amp.
        assert_eq!(choose("x", &cfg(true, &[]), |_| false), Choice::Upstream);
    }

    #[test]
    fn provider_paths_map_to_their_dialect() {
        let table = [
            (
                "v1/messages",
                Some((Dialect::Anthropic, Operation::Messages)),
            ),
            (
                "v1/messages/count_tokens",
                Some((Dialect::Anthropic, Operation::CountTokens)),
            ),
            (
                "v1/chat/completions",
                Some((Dialect::OpenAiChat, Operation::ChatCompletions)),
            ),
            (
                "chat/completions/",
                Some((Dialect::OpenAiChat, Operation::ChatCompletions)),
            ),
            ("v1/responses", None),
            ("v1beta/models/gemini-2.5-pro:generateContent", None),
            ("v1/models", None),
            ("v1/messages/batches", None),
        ];
        for (rest, want) in table {
            assert_eq!(local_call(rest), want, "{rest}");
        }
    }

    #[test]
    fn forwarded_calls_are_recorded_in_their_dialect_with_the_model_asked() {
        let chat = br#"{"model":"gpt-4o-mini","stream":true,"messages":[]}"#;
        let msgs = br#"{"model":"claude-x","messages":[]}"#;
        type Case<'a> = (&'a str, &'a str, &'a [u8], (Dialect, &'a str, bool));
        let table: &[Case] = &[
            (
                "anthropic",
                "v1/messages",
                msgs,
                (Dialect::Anthropic, "claude-x", false),
            ),
            (
                "anthropic",
                "v1/messages/count_tokens",
                msgs,
                (Dialect::Anthropic, "claude-x", false),
            ),
            (
                "openai",
                "v1/chat/completions",
                chat,
                (Dialect::OpenAiChat, "gpt-4o-mini", true),
            ),
            (
                "openai",
                "v1/responses",
                chat,
                (Dialect::Responses, "gpt-4o-mini", true),
            ),
            (
                "openai",
                "v1/completions",
                chat,
                (Dialect::Completions, "gpt-4o-mini", true),
            ),
            (
                "google",
                "v1beta/models/gemini-2.5-pro:streamGenerateContent",
                b"{}",
                (Dialect::Gemini, "gemini-2.5-pro", true),
            ),
            (
                "google",
                "v1beta/models/gemini-2.5-pro:generateContent",
                chat,
                (Dialect::Gemini, "gemini-2.5-pro", false),
            ),
            ("openai", "v1/models", b"", (Dialect::OpenAiChat, "", false)),
            (
                "anthropic",
                "v1/other",
                b"not json",
                (Dialect::Anthropic, "", false),
            ),
        ];
        for (provider, rest, body, (d, m, st)) in table {
            assert_eq!(
                forwarded_usage(provider, rest, body),
                (*d, m.to_string(), *st),
                "{provider} {rest}"
            );
        }
        let long = format!(r#"{{"model":"{}"}}"#, "é".repeat(300));
        let (_, m, _) = forwarded_usage("openai", "v1/chat/completions", long.as_bytes());
        assert!(m.len() <= 200 && m.starts_with('é'));
    }
}
