# Minimal consumer flake: cliproxy as a home-manager service (systemd user unit on Linux,
# launchd agent on macOS). Activate with `home-manager switch --flake .#me`, or from the cliproxy
# checkout: `make switch FLAKE=./examples/home-manager#me`.
{
  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixpkgs-unstable";
    home-manager = {
      url = "github:nix-community/home-manager";
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
      nixpkgs,
      home-manager,
      cliproxy,
      ...
    }:
    let
      system = "x86_64-linux"; # or aarch64-linux, aarch64-darwin, x86_64-darwin
    in
    {
      homeConfigurations.me = home-manager.lib.homeManagerConfiguration {
        pkgs = nixpkgs.legacyPackages.${system};
        modules = [
          cliproxy.homeManagerModules.default
          ./cliproxy.nix
          {
            home.username = "me";
            home.homeDirectory = "/home/me"; # "/Users/me" on macOS
            home.stateVersion = "25.11";
          }
        ];
      };
    };
}
