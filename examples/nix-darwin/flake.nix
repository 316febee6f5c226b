# Minimal consumer flake: cliproxy as a nix-darwin launchd user agent of system.primaryUser.
# Activate with `sudo darwin-rebuild switch --flake .#mac`, or from the cliproxy checkout:
# `make switch SWITCH=darwin FLAKE=./examples/nix-darwin#mac`.
{
  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixpkgs-unstable";
    nix-darwin = {
      url = "github:nix-darwin/nix-darwin";
      inputs.nixpkgs.follows = "nixpkgs";
    };
    # In your own flake: cliproxy.url = "github:<owner>/cliproxy";
    cliproxy = {
      url = "path:../..";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  outputs =
    {
      nix-darwin,
      cliproxy,
      ...
    }:
    {
      darwinConfigurations.mac = nix-darwin.lib.darwinSystem {
        modules = [
          cliproxy.darwinModules.default
          {
            nixpkgs.hostPlatform = "aarch64-darwin";
            system.stateVersion = 6;
            system.primaryUser = "me";
            users.users.me.home = "/Users/me";

            services.cliproxy = {
              enable = true;
              # The seed's template shipped with cliproxy (placeholders only; values from the .env file).
              configTemplate = "${cliproxy}/templates/config.template.yaml";
              environmentFile = "/Users/me/dotfiles/.env";
              objectStore = {
                enable = true;
                bucket = "cliproxyapi";
              };
              # Seed style: a WatchPaths agent runs `cliproxy sync once` on changes in the auth and
              # CCS folders (the dotfiles copy is written, never watched).
              sync.separateService = true;
              # Logs: ~/Library/Logs/cliproxy/cliproxy.log and cliproxy-sync.log.
            };
          }
        ];
      };
    };
}
