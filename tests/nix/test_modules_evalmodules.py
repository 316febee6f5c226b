"""The real modules (options.nix, home-manager.nix, nix-darwin.nix) through nixpkgs' lib.evalModules,
via nix/module-checks.nix. Needs a nixpkgs `lib` folder: set NIXPKGS_LIB=/path/to/nixpkgs/lib (no
network here to fetch one); `nix flake check` runs the same checks where nixpkgs is reachable."""

import os
from pathlib import Path

import pytest

from conftest import ROOT, nix_eval, nix_str


@pytest.mark.parametrize("darwin", [False, True], ids=["linux", "darwin"])
def test_module_expectations_hold(darwin):
    lib_dir = os.environ.get("NIXPKGS_LIB")
    if not lib_dir or not (Path(lib_dir) / "default.nix").exists():
        pytest.skip("SKIPPED: set NIXPKGS_LIB to a nixpkgs lib/ folder to evaluate the real modules")
    expr = f"""
      let
        nlib = import {nix_str(lib_dir)};
        pkgs = {{
          lib = nlib;
          stdenv.hostPlatform = {{ isDarwin = {str(darwin).lower()}; isLinux = {str(not darwin).lower()};
                                   system = "{'aarch64-darwin' if darwin else 'x86_64-linux'}"; }};
          writeText = name: text: builtins.toFile name text;
          formats.yaml = _: {{ type = nlib.types.attrsOf nlib.types.anything; }};
          callPackage = _: _: {{ type = "derivation"; name = "cliproxy-0.1.0";
            outPath = "/nix/store/00000000000000000000000000000000-cliproxy-0.1.0"; meta.mainProgram = "cliproxy"; }};
        }};
      in (import {ROOT}/nix/module-checks.nix {{ lib = nlib; inherit pkgs; }}).failures
    """
    assert nix_eval(expr) == []
