{
  description = "cliproxy: local AI-API gateway (CLIProxyAPI drop-in) that keeps OAuth auth files in sync";

  # One input. The binary is built with nixpkgs' own rustPlatform from Cargo.lock; the module checks
  # stub the few home-manager / nix-darwin options they touch instead of pulling those flakes in.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixpkgs-unstable";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      systems = [
        "x86_64-linux"
        "aarch64-linux"
        "x86_64-darwin"
        "aarch64-darwin"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});

      # The platform module, with `package` defaulting to this flake's build for the host system.
      withOurPackage =
        module:
        { lib, pkgs, ... }:
        {
          imports = [ module ];
          services.cliproxy.package = lib.mkDefault self.packages.${pkgs.stdenv.hostPlatform.system}.default;
        };
    in
    {
      packages = forAllSystems (pkgs: rec {
        cliproxy = pkgs.callPackage ./nix/package.nix { };
        default = cliproxy;
      });

      apps = forAllSystems (
        pkgs:
        let
          app = {
            type = "app";
            program = lib.getExe self.packages.${pkgs.stdenv.hostPlatform.system}.default;
            meta.description = "Run the cliproxy gateway (`nix run .#cliproxy -- --help`)";
          };
        in
        {
          default = app;
          cliproxy = app;
        }
      );

      overlays.default = final: _prev: { cliproxy = final.callPackage ./nix/package.nix { }; };

      homeManagerModules = {
        cliproxy = withOurPackage ./modules/home-manager.nix;
        default = self.homeManagerModules.cliproxy;
      };
      # The name home-manager's own flake and newer tooling look for.
      homeModules = self.homeManagerModules;

      darwinModules = {
        cliproxy = withOurPackage ./modules/nix-darwin.nix;
        default = self.darwinModules.cliproxy;
      };

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          inputsFrom = [ self.packages.${pkgs.stdenv.hostPlatform.system}.default ];
          packages = [
            pkgs.clippy
            pkgs.rustfmt
            pkgs.rust-analyzer
            pkgs.nixfmt
            pkgs.gnumake
            (pkgs.python3.withPackages (ps: [ ps.pytest ]))
          ];
        };
      });

      checks = forAllSystems (
        pkgs:
        import ./nix/checks.nix {
          inherit pkgs;
          package = self.packages.${pkgs.stdenv.hostPlatform.system}.default;
        }
      );

      formatter = forAllSystems (pkgs: pkgs.nixfmt);
    };
}
