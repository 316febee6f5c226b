"""systemd user units (home-manager systemd.user.*) from lib.nix, checked with systemd-analyze verify."""

import os
import subprocess

import pytest

from conftest import FAKE_PACKAGE, FAKE_TEMPLATE, missing_tool, nix_eval, nix_str, require_systemd_analyze, systemd, to_nix

ENV = "/home/me/dotfiles/.env"


def test_default_service_matches_the_contract():
    units = systemd({"environmentFile": ENV})
    assert sorted(units) == ["services"], "no path or timer unit unless sync runs separately"
    assert sorted(units["services"]) == ["cliproxy"]
    u = units["services"]["cliproxy"]
    svc = u["Service"]
    assert svc["ExecStart"] == (
        f"{FAKE_PACKAGE}/bin/cliproxy serve --config /home/me/.cli-proxy-api/config.yaml "
        f"--template {FAKE_TEMPLATE} --env-file {ENV} --host 127.0.0.1 --port 8317"
    )
    assert svc["EnvironmentFile"] == ENV
    assert svc["Restart"] == "on-failure"
    assert svc["RestartPreventExitStatus"] == 2
    assert svc["UMask"] == "0077"
    assert svc["Environment"] == ["HOME=/home/me", f"PATH={FAKE_PACKAGE}/bin:/usr/bin:/bin:/usr/sbin:/sbin"]
    assert "StandardOutput" not in svc, "Linux logs go to the journal by default"
    assert u["Unit"]["X-Restart-Triggers"] == [FAKE_TEMPLATE]
    assert u["Unit"]["StartLimitBurst"] >= 1 and u["Unit"]["StartLimitIntervalSec"] >= 60
    assert u["Install"] == {"WantedBy": ["default.target"]}


def test_separate_sync_units():
    units = systemd({"environmentFile": ENV, "sync": {"separateService": True}})
    assert sorted(units) == ["paths", "services", "timers"]
    sync = units["services"]["cliproxy-sync"]
    assert sync["Service"]["Type"] == "oneshot"
    # It renders with the server's exact template, env file and output before it reads the config.
    assert sync["Service"]["ExecStartPre"] == (
        f"{FAKE_PACKAGE}/bin/cliproxy config render --template {FAKE_TEMPLATE} --env-file {ENV} "
        "--out /home/me/.cli-proxy-api/config.yaml"
    )
    assert sync["Service"]["ExecStart"] == (
        f"{FAKE_PACKAGE}/bin/cliproxy sync once --config /home/me/.cli-proxy-api/config.yaml --env-file {ENV}"
    )
    assert sync["Service"]["EnvironmentFile"] == ENV
    assert "Restart" not in sync["Service"], "a one-shot reconcile is never restarted in a loop"
    assert sync["Unit"]["StartLimitBurst"] > 0
    path = units["paths"]["cliproxy-sync"]["Path"]
    assert path["PathChanged"] == ["/home/me/.cli-proxy-api", "/home/me/.ccs/cliproxy/auth"]
    assert path["Unit"] == "cliproxy-sync.service"
    assert path["TriggerLimitBurst"] > 0 and path["TriggerLimitIntervalSec"] == "60s"
    timer = units["timers"]["cliproxy-sync"]["Timer"]
    assert timer["OnUnitActiveSec"] == "60s"
    assert units["timers"]["cliproxy-sync"]["Install"]["WantedBy"] == ["timers.target"]
    assert "CLIPROXY_SYNC__ENABLED=false" in units["services"]["cliproxy"]["Service"]["Environment"]
    assert "CLIPROXY_SYNC__ENABLED=false" not in sync["Service"]["Environment"]


def test_custom_paths_quoting_and_log_dir():
    units = systemd(
        {
            "port": 18317,
            "configFile": "/srv/cp conf/config.yaml",
            "environmentFile": "/srv/secrets/cp.env",
            "logDir": "/home/me/.local/state/cliproxy",
            "extraArgs": ["--log-format", "json", "100%"],
            "objectStore": {"enable": True, "localPath": "/srv/cp"},
            "sync": {"separateService": True, "dotfilesDir": None},
        }
    )
    svc = units["services"]["cliproxy"]["Service"]
    # A space splits words and % is a specifier in unit files: both must be escaped.
    assert '--config "/srv/cp conf/config.yaml"' in svc["ExecStart"]
    assert svc["ExecStart"].endswith("--port 18317 --log-format json \"100%%\"")
    assert svc["StandardOutput"] == "append:/home/me/.local/state/cliproxy/cliproxy.log"
    assert "OBJECTSTORE_LOCAL_PATH=/srv/cp" in svc["Environment"]
    assert units["paths"]["cliproxy-sync"]["Path"]["PathChanged"] == [
        "/srv/cp/objectstore/auths",
        "/home/me/.ccs/cliproxy/auth",
    ]


def unit_files(cfg, package, template):
    return nix_eval(
        "let u = lib.systemdUnits { resolved = lib.resolve { homeDirectory = \"/home/me\"; isDarwin = false; "
        f"cfg = {to_nix(cfg)}; }}; package = {nix_str(package)}; templatePath = {nix_str(template)}; }}; "
        "in builtins.concatLists (map (kind: map (n: { name = \"${n}.${builtins.substring 0 "
        "(builtins.stringLength kind - 1) kind}\"; text = lib.toSystemdUnit u.${kind}.${n}; }) "
        "(builtins.attrNames u.${kind})) (builtins.attrNames u))"
    )


CASES = {
    "defaults": {"environmentFile": ENV},
    "separate-sync": {"environmentFile": ENV, "objectStore": {"enable": True}, "sync": {"separateService": True}},
    "custom-paths": {
        "configFile": "/srv/cp conf/config.yaml",
        "logDir": "/tmp/cliproxy-test-logs",
        "extraArgs": ["--log-format", "json"],
        "sync": {"separateService": True, "ccsDir": "/srv/ccs auth", "interval": 15},
    },
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_units_pass_systemd_analyze_verify(case, tmp_path):
    analyze = require_systemd_analyze()
    pkg = tmp_path / "pkg"
    (pkg / "bin").mkdir(parents=True)
    exe = pkg / "bin" / "cliproxy"
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    template = tmp_path / "config.template.yaml"
    template.write_text("port: 8317\n")
    files = unit_files(CASES[case], str(pkg), str(template))
    names = sorted(f["name"] for f in files)
    expected = ["cliproxy.service"] + (
        ["cliproxy-sync.path", "cliproxy-sync.service", "cliproxy-sync.timer"] if case != "defaults" else []
    )
    assert names == sorted(expected)
    unit_dir = tmp_path / "units"
    unit_dir.mkdir()
    for f in files:
        (unit_dir / f["name"]).write_text(f["text"])
    runtime = tmp_path / "xdg"
    runtime.mkdir(mode=0o700)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime))
    proc = subprocess.run(
        [analyze, "verify", "--user", "--man=no", *sorted(str(p) for p in unit_dir.iterdir())],
        capture_output=True,
        text=True,
        env=env,
    )
    if proc.returncode != 0 and "Failed to initialize manager" in proc.stderr:
        missing_tool("a working systemd-analyze", f"it cannot run here: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    # Unknown keys and unparsable values are only warnings: treat any remark about our files as a failure.
    remarks = [line for line in proc.stderr.splitlines() if str(unit_dir) in line or "cliproxy" in line]
    assert remarks == [], "\n".join(remarks)


def test_verify_catches_a_broken_unit(tmp_path):
    """The verify step above can fail: a relative ExecStart is a fatal error."""
    analyze = require_systemd_analyze()
    text = nix_eval('lib.toSystemdUnit { Service = { ExecStart = "bin/cliproxy serve"; Restart = "bogus"; }; }')
    unit = tmp_path / "broken.service"
    unit.write_text(text)
    runtime = tmp_path / "xdg"
    runtime.mkdir(mode=0o700)
    proc = subprocess.run(
        [analyze, "verify", "--user", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        env=dict(os.environ, XDG_RUNTIME_DIR=str(runtime)),
    )
    if "Failed to initialize manager" in proc.stderr:
        missing_tool("a working systemd-analyze", f"it cannot run here: {proc.stderr.strip()}")
    assert proc.returncode != 0
    assert "neither a valid executable name nor an absolute path" in proc.stderr.lower()


def test_unit_file_rendering():
    text = nix_eval(
        'lib.toSystemdUnit { Install.WantedBy = [ "default.target" ]; '
        'Service = { Environment = [ "A=1" "B=2" ]; Restart = "on-failure"; }; Unit.X-Flag = true; }'
    )
    assert text == (
        "[Unit]\nX-Flag=true\n\n[Service]\nEnvironment=A=1\nEnvironment=B=2\nRestart=on-failure\n\n"
        "[Install]\nWantedBy=default.target\n"
    )
