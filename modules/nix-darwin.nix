# nix-darwin module: `services.cliproxy` as launchd user agents of `system.primaryUser`.
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
  user = config.system.primaryUser or null;
  userHome =
    let
      u = config.users.users.${user} or { };
    in
    if (u.home or null) != null then toString u.home else "/Users/${user}";
in
{
  imports = [ ./options.nix ];

  config = lib.mkMerge [
    {
      services.cliproxy.homeDirectory = lib.mkDefault (
        if user == null then
          throw "services.cliproxy: set system.primaryUser (the user the agent runs as) or services.cliproxy.homeDirectory."
        else
          userHome
      );
    }

    (lib.mkIf cfg.enable {
      assertions =
        map (message: {
          assertion = false;
          inherit message;
        }) errors
        ++ [
          {
            assertion = user != null;
            message = "services.cliproxy needs system.primaryUser: launchd user agents run as that user.";
          }
        ];

      environment.systemPackages = [ cfg.package ];

      launchd.user.agents = lib.mapAttrs (_: plist: { serviceConfig = plist; }) (
        clib.launchdAgents {
          inherit resolved templatePath;
          package = cfg.package;
          labelPrefix = "org.nixos.";
        }
      );

      # launchd does not create the folders of StandardOutPath/StandardErrorPath, and nix-darwin
      # loads user agents (userLaunchd) before postActivation: make them in preActivation, the
      # first step. Activation runs as root, hence sudo to the agent's user.
      system.activationScripts.preActivation.text = lib.concatMapStrings (
        dir: "sudo --user=${lib.escapeShellArg user} -- mkdir -p -m 0700 ${lib.escapeShellArg dir}\n"
      ) (clib.directories resolved);
    })
  ];
}
