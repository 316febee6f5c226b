"""What the generated service definitions do when run: the real binary started with the exact
arguments and environment the launchd agents and systemd units carry."""

import os
import shlex
import socket
import subprocess

from conftest import cliproxy_bin, nix_eval, nix_str, to_nix


def run(args, env=None, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=60, env=env, **kw)


def test_a_configuration_error_stops_the_launchd_agent_but_a_failure_still_restarts(tmp_path):
    """KeepAlive = { SuccessfulExit = false; Crashed = true; } restarts on any non-zero exit, so the
    agent's CLIPROXY_CONFIG_ERROR_EXIT_CODE=0 turns exit 2 (configuration or usage error) into 0:
    launchd leaves it stopped with the error in the log. Runtime failures keep exit 1 (restarted
    once per ThrottleInterval); systemd units do not set the variable (RestartPreventExitStatus=2)."""
    exe = str(cliproxy_bin())
    base = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    agent_env = dict(base, CLIPROXY_CONFIG_ERROR_EXIT_CODE="0")
    bad = tmp_path / "config.yaml"
    bad.write_text("port: [\n")
    cases = [
        [exe, "serve", "--config", str(bad)],  # broken YAML
        [exe, "serve", "--config", str(tmp_path / "missing.yaml")],  # missing file
        [exe, "serve", "--no-such-flag"],  # usage error from the command line
    ]
    for args in cases:
        plain = run(args, env=base)
        assert plain.returncode == 2, (args, plain.stderr)
        agent = run(args, env=agent_env)
        assert agent.returncode == 0, (args, agent.stderr)
        assert agent.stderr.strip(), "the error is still reported"
    # A runtime failure (the port is taken) is not a configuration error: it stays 1.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        good = tmp_path / "good.yaml"
        good.write_text(f"host: 127.0.0.1\nport: {port}\nauth-dir: {tmp_path / 'auths'}\n")
        busy = run([exe, "serve", "--config", str(good)], env=agent_env)
        assert busy.returncode == 1, busy.stderr


def setup_machine(tmp_path):
    home = tmp_path / "home"
    (home / "auths").mkdir(parents=True)
    pkg = tmp_path / "pkg"
    (pkg / "bin").mkdir(parents=True)
    (pkg / "bin" / "cliproxy").symlink_to(cliproxy_bin())
    template = tmp_path / "config.template.yaml"
    ccs = tmp_path / "ccs-from-template"
    template.write_text(
        f"auth-dir: {home / 'auths'}\n"
        'api-keys: ["__CLIENT_KEY__"]\n'
        "sync:\n"
        "  enabled: true\n"
        f"  ccs-dir: {ccs}\n"
        '  dotfiles-dir: ""\n'
    )
    env_file = tmp_path / "cliproxy.env"
    env_file.write_text('CLIENT_KEY="sk-test-secret-nix-client"\n')
    auth = home / "auths" / "claude-n@example.com.json"
    auth.write_text('{"type":"claude","email":"n@example.com","access_token":"sk-test-secret-nix-at"}\n')
    cfg = {"environmentFile": str(env_file), "sync": {"separateService": True}}
    return home, pkg, template, ccs, env_file, cfg


def definitions(kind, home, pkg, template, cfg, darwin):
    fn = "launchdAgents" if kind == "launchd" else "systemdUnits"
    return nix_eval(
        f"lib.{fn} {{ resolved = lib.resolve {{ homeDirectory = {nix_str(str(home))}; "
        f"isDarwin = {'true' if darwin else 'false'}; cfg = {to_nix(cfg)}; }}; "
        f"package = {nix_str(str(pkg))}; templatePath = {nix_str(str(template))}; }}"
    )


def server_render(serve_args, out, env):
    """The server's render: `serve` renders --template with --env-file into --config at start."""
    t = serve_args[serve_args.index("--template") + 1]
    e = serve_args[serve_args.index("--env-file") + 1]
    r = run([serve_args[0], "config", "render", "--template", t, "--env-file", e, "--out", str(out)], env=env)
    assert r.returncode == 0, r.stderr
    return out.read_bytes()


def check_sync_read_the_rendered_config(home, ccs, rendered_by_server, config_path):
    assert config_path.read_bytes() == rendered_by_server, "sync and server read the same configuration"
    assert b"sk-test-secret-nix-client" in config_path.read_bytes()
    assert oct(config_path.stat().st_mode & 0o777) == "0o600"
    # The CCS folder exists only in the rendered configuration: sync used it.
    assert (ccs / "claude-n@example.com.json").read_bytes() == (
        home / "auths" / "claude-n@example.com.json"
    ).read_bytes()


def test_launchd_sync_agent_renders_like_the_server_then_syncs(tmp_path):
    home, pkg, template, ccs, env_file, cfg = setup_machine(tmp_path)
    agents = definitions("launchd", home, pkg, template, cfg, darwin=True)
    sync, server = agents["cliproxy-sync"], agents["cliproxy"]
    env = dict(sync["EnvironmentVariables"])
    # Before the server ever started: no config.yaml yet.
    config_path = home / ".cli-proxy-api" / "config.yaml"
    assert not config_path.exists()
    r = run(sync["ProgramArguments"], env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    expected = server_render(server["ProgramArguments"], tmp_path / "server-rendered.yaml", env)
    check_sync_read_the_rendered_config(home, ccs, expected, config_path)


def systemd_argv(line):
    # Unit-file escaping: %% is %, $$ is $; quoting follows shell rules for our arguments.
    return shlex.split(line.replace("%%", "%").replace("$$", "$"))


def test_systemd_sync_unit_renders_like_the_server_then_syncs(tmp_path):
    home, pkg, template, ccs, env_file, cfg = setup_machine(tmp_path)
    units = definitions("systemd", home, pkg, template, cfg, darwin=False)
    svc = units["services"]["cliproxy-sync"]["Service"]
    env = dict(kv.split("=", 1) for kv in svc["Environment"])
    config_path = home / ".cli-proxy-api" / "config.yaml"
    for key in ("ExecStartPre", "ExecStart"):
        r = run(systemd_argv(svc[key]), env=env)
        assert r.returncode == 0, (key, r.stdout + r.stderr)
    serve = systemd_argv(units["services"]["cliproxy"]["Service"]["ExecStart"])
    expected = server_render(serve, tmp_path / "server-rendered.yaml", env)
    check_sync_read_the_rendered_config(home, ccs, expected, config_path)
