"""launchd agents (home-manager launchd.agents / nix-darwin launchd.user.agents) from lib.nix."""

import plistlib
import shutil
import subprocess

from conftest import FAKE_PACKAGE, FAKE_TEMPLATE, launchd, nix_eval, nix_str, to_nix

ENV = "/Users/me/dotfiles/.env"


def test_default_agent_matches_the_contract():
    agents = launchd({"environmentFile": ENV})
    assert sorted(agents) == ["cliproxy"], "sync runs inside the server by default: one agent"
    a = agents["cliproxy"]
    assert a["Label"] == "org.nix-community.home.cliproxy"
    assert a["ProgramArguments"] == [
        f"{FAKE_PACKAGE}/bin/cliproxy",
        "serve",
        "--config",
        "/Users/me/.cli-proxy-api/config.yaml",
        "--template",
        FAKE_TEMPLATE,
        "--env-file",
        ENV,
        "--host",
        "127.0.0.1",
        "--port",
        "8317",
    ]
    assert a["KeepAlive"] == {"Crashed": True, "SuccessfulExit": False}
    assert a["RunAtLoad"] is True
    assert a["ProcessType"] == "Background"
    assert a["Umask"] == 0o077
    # The seed's bug: `Environment` is not a launchd key, so PATH/HOME were never set.
    assert "Environment" not in a
    assert a["EnvironmentVariables"] == {
        "HOME": "/Users/me",
        "PATH": f"{FAKE_PACKAGE}/bin:/usr/bin:/bin:/usr/sbin:/sbin",
        # A configuration error exits 0 so KeepAlive.SuccessfulExit=false does not loop on it.
        "CLIPROXY_CONFIG_ERROR_EXIT_CODE": "0",
    }
    assert a["ThrottleInterval"] >= 10, "failures restart at most once per ThrottleInterval"
    # The seed logged to world-readable /tmp.
    assert a["StandardOutPath"] == "/Users/me/Library/Logs/cliproxy/cliproxy.log"
    assert a["StandardErrorPath"] == "/Users/me/Library/Logs/cliproxy/cliproxy.log"
    assert "/tmp" not in repr(agents)


def test_no_secret_or_env_file_content_in_the_agent(tmp_path):
    env = tmp_path / ".env"
    env.write_text('OPENROUTER_API_KEY="sk-or-v1-not-a-real-key-0123456789"\n')
    agents = launchd({"environmentFile": str(env)})
    text = repr(agents)
    assert str(env) in agents["cliproxy"]["ProgramArguments"]
    assert "sk-or-v1-not-a-real-key" not in text


def test_nix_darwin_label_prefix():
    a = launchd({}, prefix="org.nixos.")["cliproxy"]
    assert a["Label"] == "org.nixos.cliproxy"
    assert "--env-file" not in a["ProgramArguments"], "no env file configured, none passed"


def test_separate_sync_agent_watches_auth_and_ccs_not_dotfiles():
    agents = launchd(
        {"environmentFile": ENV, "objectStore": {"enable": True}, "sync": {"separateService": True}}
    )
    assert sorted(agents) == ["cliproxy", "cliproxy-sync"]
    s = agents["cliproxy-sync"]
    # The server's own render (same template, env file, output), then one reconcile.
    assert s["ProgramArguments"] == [
        "/bin/sh",
        "-c",
        f"'{FAKE_PACKAGE}/bin/cliproxy' 'config' 'render' '--template' '{FAKE_TEMPLATE}' "
        f"'--env-file' '{ENV}' '--out' '/Users/me/.cli-proxy-api/config.yaml' && exec "
        f"'{FAKE_PACKAGE}/bin/cliproxy' 'sync' 'once' '--config' '/Users/me/.cli-proxy-api/config.yaml' "
        f"'--env-file' '{ENV}'",
    ]
    assert "CLIPROXY_CONFIG_ERROR_EXIT_CODE" not in s["EnvironmentVariables"], "not kept alive: no loop"
    assert s["WatchPaths"] == [
        "/Users/me/.cli-proxy-api/objectstore/auths",
        "/Users/me/.ccs/cliproxy/auth",
    ]
    assert "/Users/me/dotfiles/objectstore/auths" not in s["WatchPaths"]
    assert s["ThrottleInterval"] >= 10, "launchd must not start the sync job back to back"
    assert s["StartInterval"] == 60
    assert "KeepAlive" not in s, "a one-shot job must not be kept alive (that would loop)"
    assert s["StandardErrorPath"] == "/Users/me/Library/Logs/cliproxy/cliproxy-sync.log"
    # The server must not also run its own watcher.
    assert agents["cliproxy"]["EnvironmentVariables"]["CLIPROXY_SYNC__ENABLED"] == "false"
    assert "CLIPROXY_SYNC__ENABLED" not in s["EnvironmentVariables"]
    assert agents["cliproxy"]["EnvironmentVariables"]["OBJECTSTORE_LOCAL_PATH"] == "/Users/me/.cli-proxy-api"


def test_custom_paths_and_options():
    cfg = {
        "host": "127.0.0.2",
        "port": 9999,
        "configFile": "/Volumes/data/cliproxy/config.yaml",
        "logDir": "/Users/me/logs/cp",
        "extraArgs": ["--log-format", "json"],
        "environmentFile": "/Volumes/secrets/cliproxy.env",
        "objectStore": {
            "enable": True,
            "endpoint": "https://acct.r2.cloudflarestorage.com",
            "bucket": "mybucket",
            "localPath": "/Volumes/data/cliproxy",
        },
        "sync": {
            "separateService": True,
            "ccsDir": None,
            "interval": 300,
            "watchPaths": ["/Volumes/data/cliproxy/objectstore/auths", "/Users/me/extra"],
        },
    }
    agents = launchd(cfg)
    a, s = agents["cliproxy"], agents["cliproxy-sync"]
    assert a["ProgramArguments"][1:] == [
        "serve",
        "--config",
        "/Volumes/data/cliproxy/config.yaml",
        "--template",
        FAKE_TEMPLATE,
        "--env-file",
        "/Volumes/secrets/cliproxy.env",
        "--host",
        "127.0.0.2",
        "--port",
        "9999",
        "--log-format",
        "json",
    ]
    assert a["StandardOutPath"] == "/Users/me/logs/cp/cliproxy.log"
    assert a["EnvironmentVariables"]["OBJECTSTORE_ENDPOINT"] == "https://acct.r2.cloudflarestorage.com"
    assert a["EnvironmentVariables"]["OBJECTSTORE_BUCKET"] == "mybucket"
    assert a["EnvironmentVariables"]["OBJECTSTORE_LOCAL_PATH"] == "/Volumes/data/cliproxy"
    assert s["WatchPaths"] == ["/Volumes/data/cliproxy/objectstore/auths", "/Users/me/extra"]
    assert s["StartInterval"] == 300


def test_ccs_dir_off_drops_it_from_watch_paths():
    s = launchd({"environmentFile": ENV, "sync": {"separateService": True, "ccsDir": None}})["cliproxy-sync"]
    assert s["WatchPaths"] == ["/Users/me/.cli-proxy-api"]


def test_changed_template_changes_the_plist():
    """The template's store path is in ProgramArguments, so a new template means a new plist (restart)."""
    expr = (
        "let r = s: lib.resolve {{ homeDirectory = \"/Users/me\"; isDarwin = true; cfg.settings = s; }}; "
        "agent = s: (lib.launchdAgents {{ resolved = r s; package = {pkg}; "
        "templatePath = builtins.toFile \"cliproxy-config.template.yaml\" (lib.templateText (r s)); }}).cliproxy; "
        "in [ (agent {{ request-retry = 3; }}) (agent {{ request-retry = 4; }}) ]"
    ).format(pkg=nix_str(FAKE_PACKAGE))
    one, two = nix_eval(expr)
    t1 = one["ProgramArguments"][one["ProgramArguments"].index("--template") + 1]
    t2 = two["ProgramArguments"][two["ProgramArguments"].index("--template") + 1]
    assert t1.startswith("/nix/store/") and t1.endswith("-cliproxy-config.template.yaml")
    assert t1 != t2


def plist_for(cfg):
    return nix_eval(
        "let a = lib.launchdAgents { resolved = lib.resolve { homeDirectory = \"/Users/me & co\"; "
        f"isDarwin = true; cfg = {to_nix(cfg)}; }}; package = {nix_str(FAKE_PACKAGE)}; "
        f"templatePath = {nix_str(FAKE_TEMPLATE)}; }}; in builtins.mapAttrs (n: v: {{ attrs = v; xml = lib.toPlist v; }}) a"
    )


def test_plists_load_with_plistlib_and_round_trip(tmp_path):
    out = plist_for({"environmentFile": "/Users/me & co/.env", "sync": {"separateService": True}})
    assert sorted(out) == ["cliproxy", "cliproxy-sync"]
    for name, item in out.items():
        loaded = plistlib.loads(item["xml"].encode())
        assert loaded == item["attrs"], name
        assert isinstance(loaded["RunAtLoad"], bool)
        # plistlib can write the same attrs back (every value is a plist type, no nulls).
        assert plistlib.loads(plistlib.dumps(item["attrs"])) == item["attrs"]
        assert loaded["EnvironmentVariables"]["HOME"] == "/Users/me & co"
        path = tmp_path / f"{loaded['Label']}.plist"
        path.write_text(item["xml"])
        plutil = shutil.which("plutil")
        if plutil:  # macOS only
            assert subprocess.run([plutil, "-lint", str(path)]).returncode == 0
