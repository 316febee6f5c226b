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
}
