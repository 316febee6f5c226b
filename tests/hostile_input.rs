//! Hostile input: arbitrary bytes as auth files and as config.yaml never panic, and every
//! error names the file it is about. In-process property tests for the parsers, then the real
//! binary (`serve`, `auth list`) over a folder of random files.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use cliproxy::auth::AuthFile;
use cliproxy::config::{EnvMap, Overrides};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use serde_json::{Value, json};

fn cases(floor: u32) -> ProptestConfig {
    // PROPTEST_CASES raises the count for long runs.
    ProptestConfig::with_cases(floor.max(ProptestConfig::default().cases))
}

/// Bytes that are sometimes JSON, sometimes almost JSON, sometimes noise.
fn auth_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        auth_object().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        // Truncated: what a crash during a non-atomic write would leave.
        (auth_object(), any::<prop::sample::Index>()).prop_map(|(v, cut)| {
            let b = serde_json::to_vec(&v).unwrap();
            b[..cut.index(b.len() + 1)].to_vec()
        }),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Auth-file shaped objects whose known fields hold values of any type.
fn auth_object() -> impl Strategy<Value = Value> {
    let field = prop::sample::select(vec![
        "type",
        "access_token",
        "refresh_token",
        "id_token",
        "expired",
        "expiry",
        "expires_at",
        "last_refresh",
        "email",
        "disabled",
        "priority",
        "prefix",
        "proxy_url",
        "excluded_models",
        "headers",
        "token",
        "project_id",
        "account_id",
    ]);
    let typ = prop::sample::select(vec![
        "claude",
        "codex",
        "gemini",
        "antigravity",
        "other",
        "",
    ]);
    (
        typ,
        prop::collection::btree_map(field, json_value(), 0..10),
        prop::collection::vec(
            prop::sample::select(vec![
                "2026-01-01T00:00:00Z",
                "2026-13-45T99:99:99Z",
                "not a time",
                "",
            ]),
            0..2,
        ),
    )
        .prop_map(|(t, fields, times)| {
            let mut m = serde_json::Map::new();
            m.insert("type".into(), json!(t));
            for (k, v) in fields {
                m.insert(k.to_string(), v);
            }
            for (i, ts) in times.into_iter().enumerate() {
                m.insert(
                    if i == 0 { "expired" } else { "last_refresh" }.into(),
                    json!(ts),
                );
            }
            Value::Object(m)
        })
}

proptest! {
    #![proptest_config(cases(1024))]

    #[test]
    fn auth_parser_never_panics_and_errors_name_the_file(bytes in auth_bytes()) {
        let path = Path::new("/auths/claude-hostile@example.com.json");
        match AuthFile::parse(path, &bytes) {
            Ok(f) => {
                // Every accessor the gateway and sync use copes with any field type.
                let _ = (f.expiry(), f.last_refresh(), f.email(), f.headers(), f.excluded_models());
                let _ = (f.bool_field("disabled"), f.int_field("priority"), f.secret_field("access_token"));
                let _ = format!("{f:?}");
                // A rewrite keeps every field, known or not.
                let again = AuthFile::parse(path, &f.to_bytes()).unwrap();
                prop_assert_eq!(&again.fields, &f.fields);
            }
            Err(e) => {
                prop_assert!(e.to_string().contains(&path.display().to_string()), "{e}");
            }
        }
        // The sync engine's view of the same bytes agrees on validity.
        let meta = cliproxy::sync::plan::Meta::of(&bytes, None);
        prop_assert_eq!(meta.valid, AuthFile::parse(path, &bytes).is_ok());
    }

    #[test]
    fn config_loader_never_panics_and_errors_name_the_file(bytes in config_bytes()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hostile-config.yaml");
        std::fs::write(&path, &bytes).unwrap();
        let env = EnvMap::from_pairs([("HOME", dir.path().to_str().unwrap())]);
        if let Err(e) = cliproxy::config::load(Some(&path), &env, &Overrides::default()) {
            let msg = e.to_string();
            prop_assert!(msg.contains(&path.display().to_string()), "error does not name the file: {msg}");
        }
    }
}

/// Random bytes, random YAML-ish text, and documents whose known keys hold values of the wrong
/// shape (the validation path).
fn config_bytes() -> impl Strategy<Value = Vec<u8>> {
    let key = prop::sample::select(vec![
        "host",
        "port",
        "auth-dir",
        "api-keys",
        "debug",
        "proxy-url",
        "request-retry",
        "max-retry-interval",
        "routing",
        "claude-api-key",
        "openai-compatibility",
        "sync",
        "template",
        "remote-management",
        "streaming",
        "oauth-model-alias",
    ]);
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        "[ -~\n\t]{0,200}".prop_map(String::into_bytes),
        prop::collection::btree_map(key, json_value(), 0..5).prop_map(|m| {
            let v = Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect());
            serde_json::to_vec(&v).unwrap() // JSON is YAML
        }),
        // Entries present but incomplete.
        prop::sample::select(vec![
            "openai-compatibility:\n  - name: \"\"\n    base-url: http://x\n",
            "openai-compatibility:\n  - name: x\n",
            "claude-api-key:\n  - api-key: \"\"\n",
            "port: 99999\n",
            "port: -1\n",
            "routing:\n  strategy: sideways\n",
            "api-keys: 5\n",
            "sync: [1, 2]\n",
            "\u{feff}port: 1\n",
            "a: &x [*x]\n",
            "port: 1\nport: 2\n",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
    ]
}

#[test]
fn config_validation_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(
        &path,
        "openai-compatibility:\n  - name: \"\"\n    base-url: http://x\n",
    )
    .unwrap();
    let env = EnvMap::from_pairs([("HOME", dir.path().to_str().unwrap())]);
    let e = cliproxy::config::load(Some(&path), &env, &Overrides::default()).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("openai-compatibility[0].name"), "{msg}");
}

/// The real binary over a folder of random files: it serves, lists every broken file by name,
/// and `auth list` does the same without printing a token.
#[tokio::test(flavor = "multi_thread")]
async fn the_binary_serves_and_lists_a_folder_of_random_auth_files() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = prop::collection::vec(auth_bytes(), 24);
    let rounds = if std::env::var_os("CLIPROXY_FAULTS_LONG").is_some() {
        12
    } else {
        3
    };
    for round in 0..rounds {
        let files = strategy.new_tree(&mut runner).unwrap().current();
        // Nothing reachable: accounts that look due for a refresh fail fast, offline.
        let g = common::start(
            "claude:\n  base-url: http://127.0.0.1:9\n  token-url: http://127.0.0.1:9/token\n",
            &[],
        )
        .await;
        for (i, bytes) in files.iter().enumerate() {
            common::write_file(
                &g.auth_dir().join(format!("claude-r{i}@example.com.json")),
                bytes,
            );
        }
        let broken: Vec<usize> = files
            .iter()
            .enumerate()
            .filter(|(i, b)| {
                AuthFile::parse(Path::new(&format!("claude-r{i}@example.com.json")), b).is_err()
            })
            .map(|(i, _)| i)
            .collect();
        // Hot reload picks them up; the gateway keeps answering.
        common::eventually(
            "gateway reported every broken file",
            std::time::Duration::from_secs(10),
            async || {
                let logs = g.logs();
                broken
                    .iter()
                    .all(|i| logs.contains(&format!("claude-r{i}@example.com.json")))
            },
        )
        .await;
        let r = reqwest::get(g.url("/healthz")).await.unwrap();
        assert_eq!(r.status(), 200, "round {round}: {}", g.logs());
        let r = common::post_messages(
            &g,
            &common::messages_body("claude-opus-4-5-20251101", false),
            &[],
        )
        .await;
        assert!(
            r.status().is_client_error() || r.status().is_server_error() || r.status() == 200,
            "{}",
            r.status()
        );
        assert!(!g.logs().contains("panicked"), "{}", g.logs());

        let out = std::process::Command::new(common::BIN)
            .args(["--config"])
            .arg(g.config_path())
            .args(["auth", "list"])
            .env_clear()
            .env("HOME", g.home())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        common::testlog::save("auth-list", text.as_bytes());
        assert!(out.status.success(), "round {round}: {text}");
        for i in &broken {
            assert!(
                text.contains(&format!("claude-r{i}@example.com.json")),
                "broken file {i} not named: {text}"
            );
        }
        assert!(!text.contains("panicked"), "{text}");
    }
}
