"""The platform modules (home-manager.nix, nix-darwin.nix) evaluated without nixpkgs: their `config`
function is called with a stub `lib` (mkIf/mkMerge as plain attribute-set merges) and the
`services.cliproxy` values options.nix would compute. What is checked here is the modules' own
wiring: activation ordering, where folders are made, what the agents get. (The full evaluation
through nixpkgs' lib.evalModules is test_modules_evalmodules.py, when NIXPKGS_LIB is available.)"""

from conftest import FAKE_PACKAGE, FAKE_TEMPLATE, ROOT, nix_eval, nix_str, to_nix

STUB = f"""
let
  clib = import {ROOT}/modules/lib.nix;
  stubLib = {{
    mkMerge = builtins.foldl' clib.recursiveUpdate {{ }};
    mkIf = cond: value: if cond then value else {{ }};
    mkDefault = value: value;
    mapAttrs = builtins.mapAttrs;
    concatMapStrings = f: list: builtins.concatStringsSep "" (map f list);
    escapeShellArg = s: "'" + builtins.replaceStrings [ "'" ] [ "'\\\\''" ] s + "'";
  }};
  service = {{ home, isDarwin, cfg }}:
    let resolved = clib.resolve {{ homeDirectory = home; inherit isDarwin cfg; }};
    in {{
      enable = true;
      package = {nix_str(FAKE_PACKAGE)};
      homeDirectory = home;
      internal = {{
        inherit resolved;
        templatePath = {nix_str(FAKE_TEMPLATE)};
        errors = clib.errors resolved;
        lib = clib;
      }};
    }};
  hm = isDarwin: cfg:
    let home = if isDarwin then "/Users/me" else "/home/me"; in
    (import {ROOT}/modules/home-manager.nix {{
      config = {{
        services.cliproxy = service {{ inherit home isDarwin cfg; }};
        home.homeDirectory = home;
      }};
      lib = stubLib;
      pkgs.stdenv.hostPlatform.isDarwin = isDarwin;
    }}).config;
  darwin = cfg:
    (import {ROOT}/modules/nix-darwin.nix {{
      config = {{
        services.cliproxy = service {{ home = "/Users/me"; isDarwin = true; inherit cfg; }};
        system.primaryUser = "me";
        users.users = {{ }};
      }};
      lib = stubLib;
      pkgs.stdenv.hostPlatform.isDarwin = true;
    }}).config;
in
"""


def ev(expr):
    return nix_eval(STUB + expr)


CFG = {"environmentFile": "/Users/me/dotfiles/.env"}


def test_home_manager_makes_folders_after_write_boundary_on_both_platforms():
    linux = ev(f"(hm false {to_nix(CFG)}).home.activation")
    darwin = ev(f"(hm true {to_nix(CFG)}).home.activation")
    for act in (linux, darwin):
        step = act["cliproxyDirectories"]
        assert step["after"] == ["writeBoundary"], "activation may only write after writeBoundary"
    # On macOS also before the agents are (re)loaded: launchd does not create log folders.
    assert darwin["cliproxyDirectories"]["before"] == ["setupLaunchAgents"]
    assert darwin["cliproxyDirectories"]["data"] == "run mkdir -p -m 0700 '/Users/me/Library/Logs/cliproxy'\n"


def test_home_manager_agent_and_units_come_from_lib():
    agent = ev(f"(hm true {to_nix(CFG)}).launchd.agents.cliproxy")
    assert agent["enable"] is True
    assert agent["config"]["KeepAlive"] == {"Crashed": True, "SuccessfulExit": False}
    assert agent["config"]["EnvironmentVariables"]["CLIPROXY_CONFIG_ERROR_EXIT_CODE"] == "0"
    svc = ev(f"(hm false {to_nix(CFG)}).systemd.user.services.cliproxy.Service")
    assert svc["RestartPreventExitStatus"] == 2
    assert "CLIPROXY_CONFIG_ERROR_EXIT_CODE" not in repr(svc), "systemd tells exit 2 apart by itself"


def test_nix_darwin_makes_the_log_folder_before_agents_load():
    scripts = ev(f"(darwin {to_nix(CFG)}).system.activationScripts")
    # nix-darwin runs preActivation first and userLaunchd (which loads the agents) before
    # postActivation, so a folder made in postActivation would come too late on first activation.
    assert sorted(scripts) == ["preActivation"]
    assert scripts["preActivation"]["text"] == (
        "sudo --user='me' -- mkdir -p -m 0700 '/Users/me/Library/Logs/cliproxy'\n"
    )
    agents = ev(f"(darwin {to_nix(CFG)}).launchd.user.agents")
    assert agents["cliproxy"]["serviceConfig"]["Label"] == "org.nixos.cliproxy"
    assert agents["cliproxy"]["serviceConfig"]["EnvironmentVariables"]["CLIPROXY_CONFIG_ERROR_EXIT_CODE"] == "0"


def test_no_log_dir_means_no_folder_step():
    act = ev(f"(hm true {to_nix(dict(CFG, logDir=None))}).home.activation")
    assert act["cliproxyDirectories"]["data"] == ""
    scripts = ev(f"(darwin {to_nix(dict(CFG, logDir=None))}).system.activationScripts")
    assert scripts["preActivation"]["text"] == ""
