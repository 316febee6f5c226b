# The cliproxy binary, built from Cargo.lock with nixpkgs' rustPlatform (no extra flake inputs).
{
  lib,
  rustPlatform,
}:
let
  root = ../.;
  manifest = builtins.fromTOML (builtins.readFile (root + "/Cargo.toml"));
  # Only what cargo reads: a change to the Nix files, docs or Python tests does not rebuild the binary.
  rustFiles = dir: lib.fileset.fileFilter (file: file.hasExt "rs") dir;
  optionalDir = dir: lib.optional (builtins.pathExists dir) (rustFiles dir);
in
rustPlatform.buildRustPackage {
  pname = manifest.package.name;
  inherit (manifest.package) version;

  src = lib.fileset.toSource {
    inherit root;
    fileset = lib.fileset.unions (
      [
        (root + "/Cargo.toml")
        (root + "/Cargo.lock")
        (root + "/src")
      ]
      # Targets cargo may find or that Cargo.toml may declare ([[bench]], [[example]], [[test]]).
      ++ optionalDir (root + "/benches")
      ++ optionalDir (root + "/examples")
      ++ optionalDir (root + "/tests")
      ++ lib.optional (builtins.pathExists (root + "/build.rs")) (root + "/build.rs")
    );
  };

  cargoLock.lockFile = root + "/Cargo.lock";

  # The test suite starts local servers (moto, stand-in upstreams) and Python SDK clients; it runs in CI
  # through scripts/test, not in the build sandbox.
  doCheck = false;

  # The old name, for users and scripts of CLIProxyAPI (`cliproxyapi --claude-login`, ...).
  postInstall = ''
    ln -s cliproxy $out/bin/cliproxyapi
  '';

  meta = {
    description = manifest.package.description or "Local AI-API gateway";
    license = lib.licenses.mit;
    mainProgram = "cliproxy";
    platforms = lib.platforms.linux ++ lib.platforms.darwin;
  };
}
