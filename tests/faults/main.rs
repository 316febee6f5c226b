//! Fault injection against the real binary: `kill -9` at random moments while it syncs, while
//! it refreshes tokens and while it saves a login, with the invariants checked after every
//! kill; upstreams that break streams on the wire; a client that reads slowly.
//!
//! Short by default (CI); `CLIPROXY_FAULTS_LONG=1` multiplies the iterations by 10. Each test
//! prints a `faults:` line with what it survived.
#![allow(clippy::unwrap_used)]

#[path = "../common/mod.rs"]
mod common;
#[path = "../standin/mod.rs"]
mod standin;
#[path = "../support_faults/mod.rs"]
mod support_faults;
#[path = "../support_oauth/mod.rs"]
mod support_oauth;
#[path = "../support_s3/mod.rs"]
mod support_s3;

mod kill_login;
mod kill_refresh;
mod kill_sync;
mod secrets;
mod streams;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cliproxy::auth::AuthFile;
use common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};
use standin::StandIn;
use support_faults::{Fault, FaultyUpstream};

const MODEL: &str = "claude-opus-4-5-20251101";

fn iters(short: usize) -> usize {
    if std::env::var_os("CLIPROXY_FAULTS_LONG").is_some_and(|v| !v.is_empty() && v != "0") {
        short * 10
    } else {
        short
    }
}

fn millis(lo: u64, hi: u64) -> Duration {
    Duration::from_millis(rand::random_range(lo..hi))
}

fn kill9(child: &mut Child) {
    // std's Child::kill is SIGKILL on Unix: no destructor, no flush, no cleanup runs.
    let _ = child.kill();
    let _ = child.wait();
}

// ------------------------------------------------------------------------------------------
// Invariants on folders
// ------------------------------------------------------------------------------------------

/// Leftovers of an interrupted atomic write in `dir` (recursively).
fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        let n = e.file_name().to_string_lossy().into_owned();
        if p.is_dir() {
            out.extend(temp_files(&p));
        } else if n.starts_with(".tmp-") || n.ends_with(".partial") || n.ends_with(".tmp") {
            out.push(p);
        }
    }
    out
}

/// Every auth file a reader can see in `dir` parses, and every state file is JSON.
fn assert_all_parse(dir: &Path, when: &str) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let n = e.file_name().to_string_lossy().into_owned();
        if !p.is_file() || !n.ends_with(".json") {
            continue;
        }
        let bytes = std::fs::read(&p).unwrap();
        if n.starts_with('.') {
            assert!(
                serde_json::from_slice::<Value>(&bytes).is_ok(),
                "{when}: {} is not JSON: {:?}",
                p.display(),
                String::from_utf8_lossy(&bytes)
            );
        } else {
            assert!(
                AuthFile::parse(&p, &bytes).is_ok(),
                "{when}: {} does not parse: {:?}",
                p.display(),
                String::from_utf8_lossy(&bytes)
            );
        }
    }
}

fn refresh_token_in(path: &Path) -> Option<String> {
    let v: Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    v["refresh_token"].as_str().map(str::to_string)
}
