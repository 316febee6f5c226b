# home-manager module: `services.cliproxy` as a launchd agent (macOS) or a systemd user service (Linux).
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.cliproxy;
  inherit (cfg.internal) resolved templatePath errors;
  clib = cfg.internal.lib;
  isDarwin = pkgs.stdenv.hostPlatform.isDarwin;
  args = {
    inherit resolved templatePath;
    package = cfg.package;
  };
  mkdirs = lib.concatMapStrings (
    dir: "run mkdir -p -m 0700 ${lib.escapeShellArg dir}\n"
  ) (clib.directories resolved);
in
{
  imports = [ ./options.nix ];

  config = lib.mkMerge [
    { services.cliproxy.homeDirectory = lib.mkDefault config.home.homeDirectory; }

    (lib.mkIf cfg.enable (
      lib.mkMerge [
        {
          assertions = map (message: {
            assertion = false;
            inherit message;
          }) errors;
          home.packages = [ cfg.package ];
        }

        (lib.mkIf isDarwin {
          # launchd does not create the folders of StandardOutPath/StandardErrorPath: make them
          # after writeBoundary (where activation may write) and before the agents are loaded.
          # (lib.hm.dag.entryBetween, written out so the module also evaluates without it.)
          home.activation.cliproxyDirectories = {
            after = [ "writeBoundary" ];
            before = [ "setupLaunchAgents" ];
            data = mkdirs;
          };
          launchd.agents = lib.mapAttrs (_: plist: {
            enable = true;
            config = plist;
          }) (clib.launchdAgents (args // { labelPrefix = "org.nix-community.home."; }));
        })

        (lib.mkIf (!isDarwin) (
          let
            units = clib.systemdUnits args;
          in
          {
            home.activation.cliproxyDirectories = {
              after = [ "writeBoundary" ];
              before = [ ];
              data = mkdirs;
            };
            systemd.user.services = units.services;
            systemd.user.paths = units.paths or { };
            systemd.user.timers = units.timers or { };
          }
        ))
      ]
    ))
  ];
}
