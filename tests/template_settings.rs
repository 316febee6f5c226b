//! The template settings through the real binary: one render reached by flags, by
//! environment variables and by `template.*` config keys; their precedence; refusal to
//! render over the template's own inputs; missing variables named without values.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;

const SECRET: &str = "ck-template-secret-0xC0FFEE";

fn cliproxy(home: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("HOME", home)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(home);
    c
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

struct Setup {
    dir: tempfile::TempDir,
    port: u16,
}

impl Setup {
    /// A template needing PORT and CLIENT_KEY, and an env file defining them.
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        std::fs::write(
            dir.path().join("config.template.yaml"),
            "host: 127.0.0.1\nport: __PORT__\napi-keys: [\"${CLIENT_KEY}\"]\nauth-dir: ~/auths\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("secrets.env"),
            format!("PORT={port}\nCLIENT_KEY={SECRET}\n"),
        )
        .unwrap();
        Setup { dir, port }
    }
    fn p(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn cmd(&self) -> Command {
        cliproxy(self.dir.path())
    }
    /// A config file holding only `template.*` keys (relative paths: from its folder).
    fn launcher(&self, out: Option<&str>) -> PathBuf {
        let mut body =
            "template:\n  path: config.template.yaml\n  env-file: secrets.env\n".to_string();
        if let Some(o) = out {
            body.push_str(&format!("  out: {o}\n"));
        }
        let f = self.p("launcher.yaml");
        std::fs::write(&f, body).unwrap();
        f
    }
}

fn ok(o: Output) -> Output {
    assert!(o.status.success(), "{}", text(&o));
    o
}

#[test]
fn one_render_is_reached_by_flags_by_environment_and_by_config_keys() {
    let s = Setup::new();
    ok(s.cmd()
        .args(["config", "render", "--template"])
        .arg(s.p("config.template.yaml"))
        .arg("--env-file")
        .arg(s.p("secrets.env"))
        .arg("--out")
        .arg(s.p("by-flags.yaml"))
        .output()
        .unwrap());
    ok(s.cmd()
        .args(["config", "render"])
        .env("CLIPROXY_TEMPLATE", s.p("config.template.yaml"))
        .env("CLIPROXY_ENV_FILE", s.p("secrets.env"))
        .env("CLIPROXY_CONFIG", s.p("by-env.yaml"))
        .output()
        .unwrap());
    let launcher = s.launcher(Some("by-keys.yaml"));
    ok(s.cmd()
        .args(["config", "render", "--config"])
        .arg(&launcher)
        .output()
        .unwrap());
    let flags = std::fs::read_to_string(s.p("by-flags.yaml")).unwrap();
    assert!(flags.contains(&format!("port: {}", s.port)), "{flags}");
    assert!(flags.contains(SECRET), "{flags}");
    assert_eq!(std::fs::read_to_string(s.p("by-env.yaml")).unwrap(), flags);
    assert_eq!(std::fs::read_to_string(s.p("by-keys.yaml")).unwrap(), flags);
    assert!(
        std::fs::read_to_string(&launcher)
            .unwrap()
            .contains("template:"),
        "the file holding the keys is left as it was"
    );
}

/// `CLIPROXY_TEMPLATE` used to be read as the `template:` section: every command
/// failed with exit code 2.
#[test]
fn cliproxy_template_in_the_environment_leaves_other_commands_working() {
    let s = Setup::new();
    ok(s.cmd()
        .args(["config", "render", "--template"])
        .arg(s.p("config.template.yaml"))
        .arg("--env-file")
        .arg(s.p("secrets.env"))
        .arg("--out")
        .arg(s.p("config.yaml"))
        .output()
        .unwrap());
    for args in [
        &["config", "check"][..],
        &["auth", "list"][..],
        &["usage"][..],
    ] {
        let o = s
            .cmd()
            .args(args)
            .arg("--config")
            .arg(s.p("config.yaml"))
            .env("CLIPROXY_TEMPLATE", s.p("config.template.yaml"))
            .env("CLIPROXY_ENV_FILE", s.p("secrets.env"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}: {}", text(&o));
        assert!(!text(&o).contains(SECRET), "{args:?}: {}", text(&o));
    }
    let o = s
        .cmd()
        .args(["doctor", "--config"])
        .arg(s.p("config.yaml"))
        .env("CLIPROXY_TEMPLATE", s.p("config.template.yaml"))
        .env("CLIPROXY_ENV_FILE", s.p("secrets.env"))
        .output()
        .unwrap();
    let t = text(&o);
    assert!(
        t.contains("template: ") && t.contains("(from CLIPROXY_TEMPLATE)"),
        "{t}"
    );
    assert!(!t.contains(SECRET), "{t}");
}

async fn serve_until_healthy(mut cmd: Command, port: u16) -> std::process::Child {
    let child = cmd
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/healthz");
    eventually(
        "healthz",
        Duration::from_secs(15),
        async || matches!(reqwest::get(&url).await, Ok(r) if r.status() == 200),
    )
    .await;
    child
}

async fn assert_keyed(port: u16) {
    let base = format!("http://127.0.0.1:{port}");
    let r = reqwest::get(format!("{base}/v1/models")).await.unwrap();
    assert_eq!(r.status(), 401, "the rendered api-keys are in force");
    let r = reqwest::Client::new()
        .get(format!("{base}/v1/models"))
        .bearer_auth(SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_renders_from_the_environment_and_from_config_keys() {
    let s = Setup::new();
    let mut by_env = s.cmd();
    by_env
        .env("CLIPROXY_TEMPLATE", s.p("config.template.yaml"))
        .env("CLIPROXY_ENV_FILE", s.p("secrets.env"))
        .env("CLIPROXY_CONFIG", s.p("served-env.yaml"));
    let mut child = serve_until_healthy(by_env, s.port).await;
    assert_keyed(s.port).await;
    let _ = child.kill();
    let _ = child.wait();
    assert!(s.p("served-env.yaml").is_file());

    // Only the config keys: `template.env-file` is read, `template.out` is served.
    let launcher = s.launcher(Some("served-keys.yaml"));
    let mut by_keys = s.cmd();
    by_keys.arg("--config").arg(&launcher);
    let mut child = serve_until_healthy(by_keys, s.port).await;
    assert_keyed(s.port).await;
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        std::fs::read_to_string(s.p("served-keys.yaml"))
            .unwrap()
            .contains(SECRET)
    );
    assert!(
        !std::fs::read_to_string(&launcher).unwrap().contains(SECRET),
        "the launcher config is not overwritten"
    );
}

#[test]
fn flag_beats_environment_beats_config_key() {
    let s = Setup::new();
    for (name, port) in [("flag", 1001), ("env", 1002), ("key", 1003)] {
        std::fs::write(
            s.p(&format!("{name}.template.yaml")),
            format!("port: {port}\nhost: __HOST__\n"),
        )
        .unwrap();
    }
    std::fs::write(s.p("flag.env"), "HOST=127.0.0.1\n").unwrap();
    std::fs::write(s.p("key.env"), "HOST=::1\n").unwrap();
    std::fs::write(
        s.p("c.yaml"),
        "template:\n  path: key.template.yaml\n  env-file: key.env\n  out: out.yaml\n",
    )
    .unwrap();
    let render = |flag: bool, env: bool, env_file_flag: bool| {
        let mut c = s.cmd();
        c.args(["config", "render", "--config"]).arg(s.p("c.yaml"));
        if flag {
            c.arg("--template").arg(s.p("flag.template.yaml"));
        }
        if env {
            c.env("CLIPROXY_TEMPLATE", s.p("env.template.yaml"));
        }
        if env_file_flag {
            c.arg("--env-file").arg(s.p("flag.env"));
        }
        ok(c.output().unwrap());
        std::fs::read_to_string(s.p("out.yaml")).unwrap()
    };
    assert!(render(true, true, false).contains("port: 1001"));
    assert!(render(false, true, false).contains("port: 1002"));
    let by_key = render(false, false, false);
    assert!(by_key.contains("port: 1003"), "{by_key}");
    assert!(
        by_key.contains("::1"),
        "template.env-file is read: {by_key}"
    );
    assert!(
        render(false, false, true).contains("host: 127.0.0.1"),
        "--env-file beats template.env-file"
    );
}

#[test]
fn rendering_over_its_own_template_env_file_or_settings_is_refused() {
    let s = Setup::new();
    let tpl = s.p("config.template.yaml");
    let env = s.p("secrets.env");
    let before_tpl = std::fs::read(&tpl).unwrap();
    let before_env = std::fs::read(&env).unwrap();
    for (out, what) in [(&tpl, "its own template"), (&env, "its env file")] {
        let o = s
            .cmd()
            .args(["config", "render", "--template"])
            .arg(&tpl)
            .arg("--env-file")
            .arg(&env)
            .arg("--out")
            .arg(out)
            .output()
            .unwrap();
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{t}");
        assert!(
            t.contains(what) && t.contains(&out.display().to_string()),
            "{t}"
        );
        assert!(t.contains(&tpl.display().to_string()), "{t}");
        assert!(!t.contains(SECRET), "{t}");
    }
    assert_eq!(std::fs::read(&tpl).unwrap(), before_tpl);
    assert_eq!(std::fs::read(&env).unwrap(), before_env);

    // The config file holding `template.path` with no `template.out`: rendering into it
    // would replace the settings themselves (what happened before).
    let launcher = s.launcher(None);
    let before = std::fs::read(&launcher).unwrap();
    for args in [&["config", "render"][..], &["serve"][..]] {
        let o = s
            .cmd()
            .args(args)
            .arg("--config")
            .arg(&launcher)
            .output()
            .unwrap();
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {t}");
        assert!(
            t.contains(&launcher.display().to_string()) && t.contains("template.out"),
            "{t}"
        );
    }
    assert_eq!(std::fs::read(&launcher).unwrap(), before);
    let o = s
        .cmd()
        .args(["doctor", "--config"])
        .arg(&launcher)
        .output()
        .unwrap();
    let t = text(&o);
    assert!(
        t.contains("problem: template settings") && t.contains("template.out"),
        "{t}"
    );
}

#[test]
fn a_missing_variable_is_named_and_no_value_is_shown() {
    let s = Setup::new();
    std::fs::write(
        s.p("config.template.yaml"),
        "port: __PORT__\napi-keys: [\"${CLIENT_KEY}\"]\nremote-management:\n  secret-key: __MGMT_SECRET__\n",
    )
    .unwrap();
    let launcher = s.launcher(Some("out.yaml"));
    for args in [&["config", "render"][..], &["serve"][..]] {
        let o = s
            .cmd()
            .args(args)
            .arg("--config")
            .arg(&launcher)
            .output()
            .unwrap();
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {t}");
        assert!(t.contains("missing variables: MGMT_SECRET"), "{t}");
        assert!(t.contains("config.template.yaml"), "{t}");
        assert!(!t.contains(SECRET), "{t}");
    }
    assert!(!s.p("out.yaml").exists());
    let o = s
        .cmd()
        .args(["doctor", "--config"])
        .arg(&launcher)
        .output()
        .unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("missing variables: MGMT_SECRET"), "{t}");
    assert!(t.contains("(from template.env-file in"), "{t}");
    assert!(!t.contains(SECRET), "{t}");
}
