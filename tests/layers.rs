//! The top-level modules form layers and nothing imports upward:
//! `cli`/`commands` → `server` → `auth`, `providers`, `translate`, `sync` → `config` → `store`.
//! Modules of one layer may use each other, except the pairs in [`FORBIDDEN`].
//! Scans every `crate::…` path in `src/**/*.rs` (comments skipped).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Top-level module → layer (higher may use lower).
const LAYERS: &[(&str, u8)] = &[
    ("cli", 4),
    ("commands", 4),
    ("server", 3),
    ("auth", 2),
    ("providers", 2),
    ("translate", 2),
    ("sync", 2),
    ("usage", 2),
    ("config", 1),
    ("store", 0),
];

/// Same-layer uses that are not allowed, with the reason.
const FORBIDDEN: &[(&str, &str, &str)] = &[(
    "auth",
    "sync",
    "refresh tells sync about written files through a callback (RefreshEnv::on_write)",
)];

fn layer(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

/// The top-level modules a source file names through `crate::` paths.
fn crate_uses(source: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in source.lines() {
        if line.trim_start().starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            // `$crate::` (macros) and identifiers ending in `crate` are not the crate root.
            let before = rest[..i].chars().next_back();
            rest = &rest[i + "crate::".len()..];
            if before.is_some_and(|c| c == '$' || c == '_' || c.is_alphanumeric()) {
                continue;
            }
            if let Some(group) = rest.strip_prefix('{') {
                // `crate::{a::b, c}`: the first segment of each item at depth 0.
                let mut depth = 0;
                let mut item_start = true;
                for (j, c) in group.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => item_start = true,
                        c if item_start && (c.is_alphabetic() || c == '_') => {
                            out.insert(ident(&group[j..]));
                            item_start = false;
                        }
                        _ => {}
                    }
                }
            } else {
                let name = ident(rest);
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        }
    }
    out
}

fn ident(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// Violations of the layer rules by `module`'s source.
fn violations(module: &str, source: &str) -> Vec<String> {
    let Some(own) = layer(module) else {
        return vec![format!("module `{module}` has no layer in LAYERS")];
    };
    let mut out = Vec::new();
    for used in crate_uses(source) {
        if used == module {
            continue;
        }
        match layer(&used) {
            None => out.push(format!("{module} uses `crate::{used}`, which has no layer")),
            Some(l) if l > own => out.push(format!(
                "{module} (layer {own}) imports upward from {used} (layer {l})"
            )),
            Some(_) => {
                if let Some((_, _, why)) = FORBIDDEN
                    .iter()
                    .find(|(from, to, _)| *from == module && *to == used)
                {
                    out.push(format!("{module} must not use {used}: {why}"));
                }
            }
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_module_imports_from_a_layer_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut problems = Vec::new();
    let mut checked = 0;
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let first = rel.iter().next().unwrap().to_string_lossy().into_owned();
        let module = first.trim_end_matches(".rs");
        if matches!(module, "lib" | "main") {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap();
        for v in violations(module, &text) {
            problems.push(format!("{}: {v}", rel.display()));
        }
        checked += 1;
    }
    assert!(checked > 20, "only {checked} files scanned under {src:?}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_top_level_module_has_a_layer() {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let declared: Vec<String> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';').to_string())
        .collect();
    assert!(!declared.is_empty());
    for m in &declared {
        assert!(
            layer(m).is_some(),
            "src/lib.rs declares `{m}` with no layer in LAYERS"
        );
    }
}

#[test]
fn the_checker_finds_upward_and_forbidden_imports() {
    assert_eq!(
        violations("auth", "use crate::server::AppState;"),
        ["auth (layer 2) imports upward from server (layer 3)"]
    );
    assert_eq!(
        violations(
            "sync",
            "use crate::{config::{Config, EnvMap}, commands::EXIT_USAGE};"
        ),
        ["sync (layer 2) imports upward from commands (layer 4)"]
    );
    assert_eq!(
        violations("config", "    let x = crate::sync::SyncConfig::default();"),
        ["config (layer 1) imports upward from sync (layer 2)"]
    );
    assert_eq!(
        violations("auth", "pub sync: Option<&crate::sync::SyncHandle>,").len(),
        1
    );
    assert_eq!(
        violations("store", "fn f() { crate::cli::main() }"),
        ["store (layer 0) imports upward from cli (layer 4)"]
    );
    // Allowed: downward, same layer, comments, `$crate`, and other words ending in `crate`.
    assert!(
        violations(
            "server",
            "use crate::auth::lease;\nuse crate::{store, config::Config};"
        )
        .is_empty()
    );
    assert!(violations("providers", "use crate::auth::credential::Credential;").is_empty());
    assert!(violations("auth", "// see crate::server::router\n/// crate::commands").is_empty());
    assert!(violations("store", "$crate::server::x!(); my_crate::server::y();").is_empty());
}
