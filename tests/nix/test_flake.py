"""Every .nix file parses; flake.lock matches flake.nix and the recorded pins; the flake's outputs and
the package have the promised shape (evaluated against a stub nixpkgs, no network)."""

import json
import subprocess
import tomllib

from conftest import ROOT, nix_eval, require_nix, NIX_INSTANTIATE

SYSTEMS = ["aarch64-darwin", "aarch64-linux", "x86_64-darwin", "x86_64-linux"]


def nix_files():
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.nix"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()
    return sorted(ROOT / f for f in out)


def test_every_nix_file_parses():
    require_nix()
    files = nix_files()
    names = {str(f.relative_to(ROOT)) for f in files}
    assert {"flake.nix", "modules/lib.nix", "modules/home-manager.nix", "modules/nix-darwin.nix",
            "examples/home-manager/flake.nix", "examples/nix-darwin/flake.nix"} <= names
    for f in files:
        proc = subprocess.run([NIX_INSTANTIATE, "--parse", str(f)], capture_output=True, text=True)
        assert proc.returncode == 0, f"{f}: {proc.stderr}"


def test_no_impure_home_lookup():
    # The seed read HOME with builtins.getEnv, which forces --impure.
    for f in nix_files():
        assert "getEnv" not in f.read_text(), f


def test_lock_matches_inputs_and_recorded_pins():
    lock = json.loads((ROOT / "flake.lock").read_text())
    pins = json.loads((ROOT / "nix" / "lock-entries.json").read_text())
    inputs = nix_eval("(import ./flake.nix).inputs")
    assert lock["version"] == 7 and lock["root"] == "root"
    assert sorted(inputs) == sorted(lock["nodes"]["root"]["inputs"]) == ["nixpkgs"]
    assert sorted(lock["nodes"]) == ["nixpkgs", "root"]
    node = lock["nodes"]["nixpkgs"]
    assert inputs["nixpkgs"]["url"] == "github:{owner}/{repo}/{ref}".format(**node["original"])
    assert node["original"]["type"] == "github"
    assert node["locked"] == pins["nixpkgs@nixpkgs-unstable"]["locked"]


STUB = """
let
  genAttrs = names: f: builtins.listToAttrs (map (n: { name = n; value = f n; }) names);
  fakePkg = system: { type = "derivation"; name = "cliproxy"; outPath = "/nix/store/fake-cliproxy-${system}";
                      meta.mainProgram = "cliproxy"; };
  nixpkgs = {
    lib = { inherit genAttrs; getExe = p: "${p}/bin/${p.meta.mainProgram}"; };
    legacyPackages = genAttrs [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ] (system: {
      callPackage = _: _: fakePkg system;
      stdenv.hostPlatform.system = system;
    });
  };
  self = (import ./flake.nix).outputs { inherit self nixpkgs; };
in self
"""


def test_flake_outputs_have_the_promised_shape():
    out = nix_eval(
        f"let s = {STUB}; names = builtins.attrNames; in {{ top = names s; "
        "packages = builtins.mapAttrs (_: names) s.packages; apps = s.apps.x86_64-linux; "
        "appSystems = names s.apps; devShells = names s.devShells; checks = names s.checks; formatter = names s.formatter; "
        "hm = names s.homeManagerModules; hmNew = names s.homeModules; darwin = names s.darwinModules; "
        "fns = map builtins.isFunction [ s.overlays.default s.homeManagerModules.default s.darwinModules.default ]; }"
    )
    assert out["top"] == sorted(["apps", "checks", "darwinModules", "devShells", "formatter",
                                 "homeManagerModules", "homeModules", "overlays", "packages"])
    # homeModules (the name home-manager's flake uses) is the same set under the newer name.
    assert out["hmNew"] == out["hm"] == ["cliproxy", "default"]
    assert out["packages"] == {s: ["cliproxy", "default"] for s in SYSTEMS}
    assert out["appSystems"] == out["devShells"] == out["checks"] == out["formatter"] == SYSTEMS
    app = out["apps"]["cliproxy"]
    assert app == out["apps"]["default"]
    assert app["type"] == "app" and app["program"] == "/nix/store/fake-cliproxy-x86_64-linux/bin/cliproxy"
    assert out["hm"] == out["darwin"] == ["cliproxy", "default"]
    assert out["fns"] == [True, True, True]


def test_package_builds_from_cargo_lock_with_both_names():
    manifest = tomllib.loads((ROOT / "Cargo.toml").read_text())
    pkg = nix_eval(
        """
        import ./nix/package.nix {
          rustPlatform.buildRustPackage = args: args;
          lib = {
            optional = c: x: if c then [ x ] else [ ];
            licenses.mit = "MIT";
            platforms = { linux = [ "x86_64-linux" "aarch64-linux" ]; darwin = [ "x86_64-darwin" "aarch64-darwin" ]; };
            fileset = {
              toSource = { root, fileset }: { root = toString root; files = map toString fileset; };
              unions = xs: xs;
              fileFilter = _: dir: dir;
            };
          };
        }
        """
    )
    assert pkg["pname"] == "cliproxy"
    assert pkg["version"] == manifest["package"]["version"]
    assert pkg["cargoLock"]["lockFile"].endswith("-Cargo.lock")  # the path value, copied to the store
    assert pkg["meta"]["mainProgram"] == "cliproxy"
    assert "ln -s cliproxy $out/bin/cliproxyapi" in pkg["postInstall"]
    assert pkg["src"]["root"] == str(ROOT)
    files = {p.removeprefix(str(ROOT) + "/") for p in pkg["src"]["files"]}
    assert {"Cargo.toml", "Cargo.lock", "src"} <= files
    assert not any(f.startswith(("docs", "modules", "templates", "flake")) for f in files)
    assert sorted(pkg["meta"]["platforms"]) == SYSTEMS
