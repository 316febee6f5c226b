# Evaluates the real modules (modules/home-manager.nix, modules/nix-darwin.nix) with nixpkgs'
# lib.evalModules. home-manager and nix-darwin are not inputs of this flake, so the few options the
# modules write to are declared here as stubs with loose types. Returns { failures; configs; }:
# `failures` lists the names of expectations that do not hold (empty = all good).
{ lib, pkgs }:
let
  inherit (lib) mkOption types;
  anyAttrs = mkOption {
    type = types.attrsOf types.anything;
    default = { };
  };
  common = {
    options.assertions = mkOption {
      type = types.listOf types.unspecified;
      default = [ ];
    };
    config._module.args.pkgs = pkgs;
  };
  hmStubs = {
    imports = [ common ];
    options = {
      home.homeDirectory = mkOption { type = types.str; };
      home.packages = mkOption {
        type = types.listOf types.package;
        default = [ ];
      };
      home.activation = anyAttrs;
      launchd.agents = anyAttrs;
      systemd.user.services = anyAttrs;
      systemd.user.paths = anyAttrs;
      systemd.user.timers = anyAttrs;
    };
  };
  darwinStubs = {
    imports = [ common ];
    options = {
      system.primaryUser = mkOption {
        type = types.nullOr types.str;
        default = null;
      };
      users.users = anyAttrs;
      environment.systemPackages = mkOption {
        type = types.listOf types.package;
        default = [ ];
      };
      launchd.user.agents = anyAttrs;
      system.activationScripts.preActivation.text = mkOption {
        type = types.lines;
        default = "";
      };
    };
  };

  eval =
    modules:
    (lib.evalModules {
      modules = modules;
    }).config;
  # (builtins.match refuses strings that refer to store paths on older Nix.)
  hasInfix = a: b: lib.hasInfix (builtins.unsafeDiscardStringContext a) (builtins.unsafeDiscardStringContext b);
  failedAssertions = c: map (a: a.message) (lib.filter (a: !a.assertion) c.assertions);

  envFile = "/home/me/dotfiles/.env";
  seedSettings = {
    remote-management.secret-key = "__CLIPROXY_MANAGEMENT_PASSWORD__";
    ampcode = {
      upstream-url = "https://ampcode.com";
      upstream-api-key = "\${AMP_UPSTREAM_API_KEY}";
    };
  };

  hm =
    extra:
    eval [
      hmStubs
      ../modules/home-manager.nix
      {
        home.homeDirectory = "/home/me";
        services.cliproxy = {
          enable = true;
          environmentFile = envFile;
          objectStore.enable = true;
          settings = seedSettings;
        };
      }
      extra
    ];
  darwin =
    extra:
    eval [
      darwinStubs
      ../modules/nix-darwin.nix
      {
        system.primaryUser = "me";
        services.cliproxy = {
          enable = true;
          environmentFile = "/Users/me/dotfiles/.env";
          objectStore.enable = true;
        };
      }
      extra
    ];

  hmDefault = hm { };
  hmSeparate = hm { services.cliproxy.sync.separateService = true; };
  hmStoreEnv = hm { services.cliproxy.environmentFile = lib.mkForce "${pkgs.writeText "dot-env" ""}"; };
  dw = darwin { };
  dwSeparate = darwin { services.cliproxy.sync.separateService = true; };

  svc = hmDefault.systemd.user.services.cliproxy or { };
  agent = (hmDefault.launchd.agents.cliproxy or { }).config or { };
  isDarwin = pkgs.stdenv.hostPlatform.isDarwin;
  template = hmDefault.services.cliproxy.internal.templatePath;
  dwAgent = dw.launchd.user.agents.cliproxy.serviceConfig;

  expectations = {
    hm-no-assertion-fails = failedAssertions hmDefault == [ ];
    hm-package-installed = builtins.length hmDefault.home.packages == 1;
    hm-template-in-command =
      if isDarwin then
        lib.elem "${template}" agent.ProgramArguments
      else
        hasInfix "--template ${template}" svc.Service.ExecStart;
    hm-env-file-passed =
      if isDarwin then
        lib.elem envFile agent.ProgramArguments
      else
        svc.Service.EnvironmentFile == envFile;
    hm-linux-unit =
      isDarwin
      || (
        svc.Service.Restart == "on-failure"
        && svc.Service.UMask == "0077"
        && svc.Install.WantedBy == [ "default.target" ]
        && svc.Unit.X-Restart-Triggers == [ "${template}" ]
      );
    hm-darwin-agent =
      !isDarwin
      || (
        agent.KeepAlive == {
          Crashed = true;
          SuccessfulExit = false;
        }
        && agent.RunAtLoad
        && agent.ProcessType == "Background"
        && agent.StandardErrorPath == "/home/me/Library/Logs/cliproxy/cliproxy.log"
      );
    hm-auth-dir-objectstore =
      hmDefault.services.cliproxy.internal.resolved.authDir == "/home/me/.cli-proxy-api/objectstore/auths";
    hm-no-sync-unit-by-default =
      !(hmDefault.systemd.user.services ? cliproxy-sync) && !(hmDefault.launchd.agents ? cliproxy-sync);
    hm-separate-sync-unit =
      if isDarwin then
        hmSeparate.launchd.agents.cliproxy-sync.config.WatchPaths == [
          "/home/me/.cli-proxy-api/objectstore/auths"
          "/home/me/.ccs/cliproxy/auth"
        ]
      else
        hmSeparate.systemd.user.paths.cliproxy-sync.Path.PathChanged == [
          "/home/me/.cli-proxy-api/objectstore/auths"
          "/home/me/.ccs/cliproxy/auth"
        ];
    # Reported as an error, and the units refuse to build (evaluation aborts with the same message).
    hm-store-env-file-rejected =
      lib.any (m: hasInfix "inside the Nix store" m) hmStoreEnv.services.cliproxy.internal.errors
      && !(builtins.tryEval (builtins.deepSeq hmStoreEnv.systemd.user.services hmStoreEnv.launchd.agents))
        .success;
    darwin-no-assertion-fails = failedAssertions dw == [ ];
    darwin-agent =
      dwAgent.Label == "org.nixos.cliproxy"
      && dwAgent.EnvironmentVariables.HOME == "/Users/me"
      && lib.elem "/Users/me/dotfiles/.env" dwAgent.ProgramArguments
      && dwAgent.KeepAlive.Crashed;
    darwin-separate-sync = dwSeparate.launchd.user.agents ? cliproxy-sync;
    hm-directories-after-write-boundary =
      lib.elem "writeBoundary" hmDefault.home.activation.cliproxyDirectories.after;
    hm-config-error-stops-the-agent =
      !isDarwin || agent.EnvironmentVariables.CLIPROXY_CONFIG_ERROR_EXIT_CODE == "0";
    darwin-log-dir-created = !isDarwin || hasInfix "mkdir -p -m 0700 /Users/me/Library/Logs/cliproxy" dw.system.activationScripts.preActivation.text;
  };
in
{
  failures = lib.attrNames (lib.filterAttrs (_: ok: !ok) expectations);
  configs = {
    inherit hmDefault hmSeparate dw;
  };
}
