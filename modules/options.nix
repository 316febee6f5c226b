# Option declarations shared by the home-manager and the nix-darwin module (`services.cliproxy`).
# Kept thin on purpose: defaults come from ./lib.nix, and all logic lives there.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib) mkOption mkEnableOption types literalExpression;
  cfg = config.services.cliproxy;
  clib = import ./lib.nix;
  d = clib.defaults {
    homeDirectory = cfg.homeDirectory;
    isDarwin = pkgs.stdenv.hostPlatform.isDarwin;
  };
  str = types.str;
  pathStr = types.nullOr (types.either types.str types.path);
  home = text: literalExpression ''"''${config.services.cliproxy.homeDirectory}/${text}"'';
in
{
  options.services.cliproxy = {
    enable = mkEnableOption "cliproxy, the local AI-API gateway (a CLIProxyAPI drop-in) with auth-file sync";

    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ../nix/package.nix { };
      defaultText = literalExpression "cliproxy.packages.\${system}.default";
      description = "The cliproxy package (it also provides the old name `cliproxyapi`).";
    };

    homeDirectory = mkOption {
      type = str;
      description = ''
        Home directory of the user the service runs as. Set by the platform module from
        `home.homeDirectory` (home-manager) or the home of `system.primaryUser` (nix-darwin).
      '';
    };

    host = mkOption {
      type = str;
      default = d.host;
      description = "Address to listen on (passed as `--host`; wins over `settings.host`).";
    };

    port = mkOption {
      type = types.port;
      default = d.port;
      description = "Port to listen on (passed as `--port`; wins over `settings.port`).";
    };

    configFile = mkOption {
      type = str;
      default = d.configFile;
      defaultText = home ".cli-proxy-api/config.yaml";
      description = "Where the rendered configuration is written (mode 0600) at every start.";
    };

    authDir = mkOption {
      type = pathStr;
      default = null;
      defaultText = literalExpression ''
        if objectStore.enable then "''${objectStore.localPath}/objectstore/auths" else "~/.cli-proxy-api"
      '';
      description = "The auth folder (written as `auth-dir`; watched by the sync trigger).";
    };

    settings = mkOption {
      type = (pkgs.formats.yaml { }).type;
      default = { };
      example = literalExpression ''
        {
          remote-management.secret-key = "__CLIPROXY_MANAGEMENT_PASSWORD__";
          openai-compatibility = [{
            name = "openrouter";
            base-url = "https://openrouter.ai/api/v1";
            api-key-entries = [ { api-key = "''${OPENROUTER_API_KEY}"; } ];
          }];
        }
      '';
      description = ''
        Free-form `config.yaml` content (CLIProxyAPI's kebab-case keys plus `sync:`), written into the
        template in the Nix store. Secrets only as placeholders (`__NAME__` or `''${NAME}`), whose values
        come from `environmentFile` when the service starts; a literal value under a secret-looking key
        (secret, password, token, api-key, access-key) is rejected. `host`, `port`, `authDir` and `sync.*`
        options win over the same keys here. Ignored when `configTemplate` is set.
      '';
    };

    configTemplate = mkOption {
      type = types.nullOr types.path;
      default = null;
      example = literalExpression "./config.template.yaml";
      description = ''
        A template file to use instead of `settings` (placeholders as above). It is copied into the store,
        so it must hold no secret values.
      '';
    };

    environmentFile = mkOption {
      type = pathStr;
      default = null;
      example = "/Users/me/dotfiles/.env";
      description = ''
        Absolute path, as a string, of a dotenv file outside the Nix store holding the secrets
        (OBJECTSTORE_ACCESS_KEY, OBJECTSTORE_SECRET_KEY, CLIPROXY_MANAGEMENT_PASSWORD, OPENROUTER_API_KEY,
        ZAI_API_KEY, AMP_UPSTREAM_API_KEY, ...). It is read at start (`--env-file`, and `EnvironmentFile=`
        on Linux), never by Nix. A store path or a Nix path value is rejected.
      '';
    };

    objectStore = {
      enable = mkEnableOption "the S3-compatible bucket (Cloudflare R2) as the primary auth-file store";
      endpoint = mkOption {
        type = types.nullOr str;
        default = null;
        example = "https://<account>.r2.cloudflarestorage.com";
        description = "Bucket endpoint (`OBJECTSTORE_ENDPOINT`); null = take it from `environmentFile`.";
      };
      bucket = mkOption {
        type = types.nullOr str;
        default = null;
        example = "cliproxyapi";
        description = "Bucket name (`OBJECTSTORE_BUCKET`); null = take it from `environmentFile`.";
      };
      region = mkOption {
        type = str;
        default = d.objectStore.region;
        description = "Bucket region.";
      };
      localPath = mkOption {
        type = str;
        default = d.objectStore.localPath;
        defaultText = home ".cli-proxy-api";
        description = "`OBJECTSTORE_LOCAL_PATH`: the auth folder is `<localPath>/objectstore/auths`.";
      };
    };

    sync = {
      enable = mkOption {
        type = types.bool;
        default = d.sync.enable;
        description = "Sync auth files between the auth folder, the bucket, the CCS folder and the dotfiles copy.";
      };
      ccsDir = mkOption {
        type = pathStr;
        default = d.sync.ccsDir;
        defaultText = home ".ccs/cliproxy/auth";
        description = "The CCS tool's auth folder (two-way sync); null to leave CCS out.";
      };
      dotfilesDir = mkOption {
        type = pathStr;
        default = d.sync.dotfilesDir;
        defaultText = home "dotfiles/objectstore/auths";
        description = "Git-tracked copy (written, never watched; read only to bootstrap); null to leave it out.";
      };
      watchPaths = mkOption {
        type = types.nullOr (types.listOf (types.either types.str types.path));
        default = null;
        defaultText = literalExpression "[ authDir sync.ccsDir ]";
        description = "Folders whose changes trigger `cliproxy sync once` (separate service only). Must not contain `dotfilesDir`.";
      };
      interval = mkOption {
        type = types.ints.positive;
        default = d.sync.interval;
        description = "Seconds between pulls from the bucket (`sync.poll-interval`).";
      };
      separateService = mkOption {
        type = types.bool;
        default = d.sync.separateService;
        description = ''
          Run sync as its own unit (`cliproxy sync once` on a launchd `WatchPaths` agent or a systemd
          `.path` unit, plus a periodic run) instead of inside the server.
        '';
      };
    };

    logDir = mkOption {
      type = pathStr;
      default = d.logDir;
      defaultText = literalExpression ''
        if isDarwin then "~/Library/Logs/cliproxy" else null  # null: the journal on Linux
      '';
      description = "Folder for log files (created 0700). On Linux null means the user journal.";
    };

    extraArgs = mkOption {
      type = types.listOf str;
      default = [ ];
      example = [
        "--log-format"
        "json"
      ];
      description = "Extra arguments for `cliproxy serve`.";
    };
  };

  # Exposed for the platform modules (and tests): everything they need, computed once.
  options.services.cliproxy.internal = mkOption {
    type = types.raw;
    internal = true;
    readOnly = true;
    default =
      let
        resolved = clib.resolve {
          homeDirectory = cfg.homeDirectory;
          isDarwin = pkgs.stdenv.hostPlatform.isDarwin;
          cfg = builtins.removeAttrs cfg [
            "internal"
            "package"
            "homeDirectory"
          ];
        };
        templatePath =
          if cfg.configTemplate != null then
            cfg.configTemplate
          else
            pkgs.writeText "cliproxy-config.template.yaml" (clib.templateText resolved);
      in
      {
        inherit resolved templatePath;
        errors = clib.errors resolved;
        lib = clib;
      };
  };
}
