# `nix flake check` outputs: the package builds, the real modules evaluate to the expected units and
# plists (nix/module-checks.nix), and on Linux the generated unit files pass `systemd-analyze verify`.
{ pkgs, package }:
let
  inherit (pkgs) lib;
  clib = import ../modules/lib.nix;
  result = import ./module-checks.nix { inherit lib pkgs; };
  units = clib.systemdUnits {
    resolved = result.configs.hmSeparate.services.cliproxy.internal.resolved;
    inherit package;
    templatePath = result.configs.hmSeparate.services.cliproxy.internal.templatePath;
  };
  unitFiles = lib.concatLists (
    lib.mapAttrsToList (
      kind: byName:
      lib.mapAttrsToList (name: sections: {
        name = "${name}.${lib.removeSuffix "s" kind}";
        text = clib.toSystemdUnit sections;
      }) byName
    ) units
  );
in
{
  inherit package;

  modules =
    if result.failures != [ ] then
      throw "cliproxy module checks failed: ${lib.concatStringsSep ", " result.failures}"
    else
      pkgs.runCommand "cliproxy-module-checks" { } ''
        echo ok > $out
      '';
}
// lib.optionalAttrs pkgs.stdenv.hostPlatform.isLinux {
  systemd-units = pkgs.runCommand "cliproxy-systemd-verify" { nativeBuildInputs = [ pkgs.systemd ]; } ''
    mkdir -p units xdg && chmod 700 xdg
    ${lib.concatMapStrings (u: ''
      cp ${pkgs.writeText u.name u.text} units/${u.name}
    '') unitFiles}
    export XDG_RUNTIME_DIR=$PWD/xdg
    systemd-analyze verify --user --man=no units/* 2>&1 | tee log
    if grep -v 'timers.target\|default.target' log | grep -q .; then
      echo "systemd-analyze reported problems" >&2; exit 1
    fi
    touch $out
  '';
}
