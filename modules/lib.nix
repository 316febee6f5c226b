# Logic of the cliproxy home-manager and nix-darwin modules, as plain functions.
#
# This file needs nothing but Nix builtins (no nixpkgs), so the tests in tests/nix evaluate it
# with a bare `nix-instantiate --eval --strict --json` and no network. The modules in this folder
# declare the options and hand the resolved values to these functions; they add no logic of their own
# beyond writing the template file and wiring the results into home-manager / nix-darwin options.
#
# Entry points:
#   defaults { homeDirectory, isDarwin }      option defaults that depend only on the home directory
#   resolve  { homeDirectory, isDarwin, cfg } cfg (partial or full option set) -> resolved option set
#   errors   resolved                         list of configuration errors (empty = fine)
#   settings resolved                         the attrset rendered into config.template.yaml
#   templateText resolved                     YAML text of the template (secrets only as placeholders)
#   launchdAgents { resolved, package, templatePath, labelPrefix } -> { cliproxy = plist; cliproxy-sync = plist; }
#   systemdUnits  { resolved, package, templatePath }  -> { services = {...}; paths = {...}; timers = {...}; }
#   toPlist attrs / toSystemdUnit sections / toYAML value  serialisers (used by tests and by the flake checks)
let
  inherit (builtins)
    attrNames
    concatMap
    concatStringsSep
    elem
    filter
    genList
    head
    isAttrs
    isBool
    isFloat
    isInt
    isList
    isPath
    isString
    length
    match
    replaceStrings
    stringLength
    substring
    tail
    toJSON
    ;

  optional = cond: x: if cond then [ x ] else [ ];
  optionalAttrs = cond: as: if cond then as else { };
  nonNull = filter (x: x != null);
  hasPrefix = p: s: substring 0 (stringLength p) s == p;
  repeat = n: s: concatStringsSep "" (genList (_: s) n);
  mapAttrsToList = f: as: map (n: f n as.${n}) (attrNames as);
  filterAttrs =
    pred: as:
    builtins.listToAttrs (
      concatMap (n: optional (pred n as.${n}) { name = n; value = as.${n}; }) (attrNames as)
    );

  # Recursive merge; the right side wins, attribute sets are merged key by key, everything else replaced.
  recursiveUpdate =
    lhs: rhs:
    lhs
    // builtins.mapAttrs (
      n: v: if isAttrs v && lhs ? ${n} && isAttrs lhs.${n} then recursiveUpdate lhs.${n} v else v
    ) rhs;

  # A path given as a Nix path value (./.env, /home/me/.env) must never be interpolated: that copies the
  # file into the world-readable store. toString gives its absolute name without copying.
  pathString = p: if p == null then null else if isPath p then toString p else p;

  storeDir = builtins.storeDir or "/nix/store";

  # ---------------------------------------------------------------------------------------------------
  # Placeholders and secrets

  placeholderRegex = "__[A-Za-z_][A-Za-z0-9_]*__|\\$\\{[A-Za-z_][A-Za-z0-9_]*}";
  isPlaceholder = s: isString s && match placeholderRegex s != null;

  # Keys whose string values are secrets: they may only hold a placeholder (or be empty).
  secretKeyRegex = ".*([Ss]ecret|[Pp]assword|[Pp]asswd|[Tt]oken|[Aa]pi[-_]?[Kk]ey|[Aa]ccess[-_]?[Kk]ey).*";
  isSecretKey = k: isString k && match secretKeyRegex k != null;

  # Walk a settings value; return "a.b[2].c" paths of literal (non-placeholder) secrets.
  literalSecrets =
    path: key: v:
    if isAttrs v then
      concatMap (n: literalSecrets (if path == "" then n else "${path}.${n}") n v.${n}) (attrNames v)
    else if isList v then
      concatMap (i: literalSecrets "${path}[${toString i}]" key (builtins.elemAt v i)) (
        genList (i: i) (length v)
      )
    else if isString v && isSecretKey key && v != "" && !(isPlaceholder v) then
      [ path ]
    else
      [ ];

  # ---------------------------------------------------------------------------------------------------
  # YAML (block style). Strings that are exactly one placeholder are written bare, the way the seed's
  # template had them (`secret-key: __CLIPROXY_MANAGEMENT_PASSWORD__`), so `cliproxy config render`
  # can insert the value YAML-safely; every other string that is not a plain safe word is JSON-quoted
  # (a JSON string is a valid YAML double-quoted scalar).

  reservedWords = [
    "true" "True" "TRUE" "false" "False" "FALSE" "yes" "Yes" "YES" "no" "No" "NO"
    "on" "On" "ON" "off" "Off" "OFF" "null" "Null" "NULL" "y" "Y" "n" "N" "~"
  ];
  plainSafe =
    s:
    match "[A-Za-z0-9/]([A-Za-z0-9_./:@+-]*[A-Za-z0-9_./@+-])?" s != null
    && !(elem s reservedWords)
    && match "[-+]?[0-9][0-9._]*([eE][-+]?[0-9]+)?|0[xXoObB].*" s == null;

  yamlScalar =
    v:
    if v == null then
      "null"
    else if isBool v then
      (if v then "true" else "false")
    else if isInt v || isFloat v then
      toString v
    else if isPath v then
      toJSON (toString v)
    else if isString v then
      (if isPlaceholder v || plainSafe v then v else toJSON v)
    else
      throw "cliproxy: cannot render a value of type ${builtins.typeOf v} into YAML";

  yamlKey = k: if match "[A-Za-z0-9_][A-Za-z0-9_.-]*" k != null then k else toJSON k;

  isBlock = v: (isAttrs v && v != { }) || (isList v && v != [ ]);
  inlineValue = v: if isAttrs v then "{}" else if isList v then "[]" else yamlScalar v;

  # Lines of a block node at the given indent (a non-empty attrset or list).
  yamlLines =
    indent: v:
    let
      pad = repeat indent " ";
    in
    if isAttrs v then
      concatMap (
        k:
        let
          c = v.${k};
        in
        if isBlock c then
          [ "${pad}${yamlKey k}:" ] ++ yamlLines (indent + 2) c
        else
          [ "${pad}${yamlKey k}: ${inlineValue c}" ]
      ) (attrNames v)
    else
      concatMap (
        item:
        if isBlock item then
          let
            inner = yamlLines (indent + 2) item;
            first = head inner;
          in
          [ "${pad}- ${substring (indent + 2) (stringLength first) first}" ] ++ tail inner
        else
          [ "${pad}- ${inlineValue item}" ]
      ) v;

  toYAML =
    v:
    if isBlock v then
      concatStringsSep "\n" (yamlLines 0 v) + "\n"
    else
      inlineValue v + "\n";

  # ---------------------------------------------------------------------------------------------------
  # Serialisers for tests and flake checks: launchd plist XML and systemd unit files.

  xmlEscape = replaceStrings [ "&" "<" ">" ] [ "&amp;" "&lt;" "&gt;" ];
  plistNode =
    indent: v:
    let
      pad = repeat indent "\t";
    in
    if isBool v then
      [ "${pad}${if v then "<true/>" else "<false/>"}" ]
    else if isInt v then
      [ "${pad}<integer>${toString v}</integer>" ]
    else if isFloat v then
      [ "${pad}<real>${toString v}</real>" ]
    else if isString v || isPath v then
      [ "${pad}<string>${xmlEscape (toString v)}</string>" ]
    else if isList v then
      [ "${pad}<array>" ] ++ concatMap (plistNode (indent + 1)) v ++ [ "${pad}</array>" ]
    else if isAttrs v then
      [ "${pad}<dict>" ]
      ++ concatMap (k: [ "${pad}\t<key>${xmlEscape k}</key>" ] ++ plistNode (indent + 1) v.${k}) (
        attrNames v
      )
      ++ [ "${pad}</dict>" ]
    else
      throw "cliproxy: a launchd plist cannot hold ${builtins.typeOf v}";
  toPlist =
    attrs:
    concatStringsSep "\n" (
      [
        ''<?xml version="1.0" encoding="UTF-8"?>''
        ''<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">''
        ''<plist version="1.0">''
      ]
      ++ plistNode 0 attrs
      ++ [ "</plist>" ]
    )
    + "\n";

  # Render like home-manager does (lists become repeated keys, booleans true/false).
  unitValue = v: if isBool v then (if v then "true" else "false") else toString v;
  sectionOrder = [ "Unit" "Service" "Path" "Timer" "Install" ];
  toSystemdUnit =
    sections:
    let
      names =
        filter (s: sections ? ${s}) sectionOrder
        ++ filter (s: !(elem s sectionOrder)) (attrNames sections);
      renderSection =
        s:
        [ "[${s}]" ]
        ++ concatMap (
          k:
          let
            v = sections.${s}.${k};
          in
          map (x: "${k}=${unitValue x}") (if isList v then v else [ v ])
        ) (attrNames sections.${s})
        ++ [ "" ];
    in
    concatStringsSep "\n" (concatMap renderSection names);

  # One word of a systemd command line: `%` and `$` are specifiers there, spaces and quotes split words.
  systemdArg =
    a:
    let
      e = replaceStrings [ "%" "$" ] [ "%%" "$$" ] a;
    in
    if match "[A-Za-z0-9_./:@+=,-]+" a != null then
      e
    else
      "\"" + replaceStrings [ "\\" "\"" ] [ "\\\\" "\\\"" ] e + "\"";
  systemdCommand = args: concatStringsSep " " (map systemdArg args);
  systemdEnv =
    env:
    mapAttrsToList (
      k: v:
      let
        a = "${k}=${replaceStrings [ "%" ] [ "%%" ] v}";
      in
      if match "[^ \t\"'\\\\]*" a != null then a else "\"" + replaceStrings [ "\\" "\"" ] [ "\\\\" "\\\"" ] a + "\""
    ) env;

  # ---------------------------------------------------------------------------------------------------
  # Options

  defaults =
    { homeDirectory, isDarwin }:
    let
      home = homeDirectory;
    in
    {
      enable = false;
      host = "127.0.0.1";
      port = 8317;
      configFile = "${home}/.cli-proxy-api/config.yaml";
      authDir = null; # derived, see resolve
      settings = { };
      configTemplate = null;
      environmentFile = null;
      logDir = if isDarwin then "${home}/Library/Logs/cliproxy" else null;
      extraArgs = [ ];
      objectStore = {
        enable = false;
        endpoint = null;
        bucket = null;
        region = "auto";
        localPath = "${home}/.cli-proxy-api";
      };
      sync = {
        enable = true;
        ccsDir = "${home}/.ccs/cliproxy/auth";
        dotfilesDir = "${home}/dotfiles/objectstore/auths";
        watchPaths = null; # derived: auth folder and CCS folder
        interval = 60;
        separateService = false;
      };
    };

  resolve =
    {
      homeDirectory,
      isDarwin,
      cfg ? { },
    }:
    let
      r0 = recursiveUpdate (defaults { inherit homeDirectory isDarwin; }) cfg;
      os = r0.objectStore;
      authDir =
        if r0.authDir != null then
          pathString r0.authDir
        else if os.enable then
          "${os.localPath}/objectstore/auths"
        else
          "${homeDirectory}/.cli-proxy-api";
    in
    r0
    // {
      inherit homeDirectory isDarwin authDir;
      environmentFile = r0.environmentFile; # validated (and stringified) in errors / envFile
      sync = r0.sync // {
        watchPaths =
          if r0.sync.watchPaths != null then
            map pathString r0.sync.watchPaths
          else
            nonNull [
              authDir
              r0.sync.ccsDir
            ];
      };
    };

  envFileErrors =
    f:
    let
      s = pathString f;
    in
    if f == null then
      [ ]
    else if isPath f then
      [
        "services.cliproxy.environmentFile = ${s}: give the path as a string (\"${s}\"), not a Nix path value; a Nix path is copied into the world-readable Nix store when used, and with it every secret in the file."
      ]
    else if !(isString f) then
      [ "services.cliproxy.environmentFile must be a string holding an absolute path." ]
    else if builtins.hasContext f || hasPrefix "${storeDir}/" f || f == storeDir then
      [
        "services.cliproxy.environmentFile = ${builtins.unsafeDiscardStringContext f}: the file is inside the Nix store, which every user can read; keep it outside the store (for example \"/home/me/dotfiles/.env\") and give that absolute path as a string."
      ]
    else if !(hasPrefix "/" f) then
      [
        "services.cliproxy.environmentFile = ${f}: must be an absolute path (it is read when the service starts, from no particular working directory)."
      ]
    else
      [ ];

  errors =
    r:
    let
      secrets = literalSecrets "" "" (r.settings or { });
      watched = r.sync.watchPaths;
    in
    envFileErrors r.environmentFile
    ++ optional (!(isInt r.port) || r.port < 1 || r.port > 65535) "services.cliproxy.port must be an integer between 1 and 65535 (got ${toString r.port})."
    ++ optional (secrets != [ ]) "services.cliproxy.settings holds literal secrets at ${concatStringsSep ", " secrets}: the settings are written into the Nix store, which every user can read. Write a placeholder instead (\"__NAME__\" or \"\${NAME}\") and put NAME=value in services.cliproxy.environmentFile."
    ++ optional (
      r.sync.dotfilesDir != null && elem (pathString r.sync.dotfilesDir) watched
    ) "services.cliproxy.sync.watchPaths contains the dotfiles folder ${pathString r.sync.dotfilesDir}: it is write-only (sync writes it on every change), so watching it would make sync trigger itself."
    ++ optional (
      r.sync.separateService && !r.sync.enable
    ) "services.cliproxy.sync.separateService needs services.cliproxy.sync.enable = true."
    ++ optional (
      !(isInt r.sync.interval) || r.sync.interval < 1
    ) "services.cliproxy.sync.interval must be a positive number of seconds."
    ++ optional (
      r.objectStore.enable && r.objectStore.endpoint == null && r.environmentFile == null
    ) "services.cliproxy.objectStore.enable needs objectStore.endpoint, or OBJECTSTORE_ENDPOINT in services.cliproxy.environmentFile (which is not set).";

  check =
    r:
    let
      es = errors r;
    in
    if es == [ ] then r else throw ("cliproxy configuration error:\n- " + concatStringsSep "\n- " es);

  envFile = r: pathString r.environmentFile;

  # ---------------------------------------------------------------------------------------------------
  # What goes into the template and onto the command line

  settings =
    r:
    let
      os = r.objectStore;
      derived = {
        host = r.host;
        port = r.port;
        auth-dir = r.authDir;
      }
      // optionalAttrs r.sync.enable {
        sync = filterAttrs (_: v: v != null) {
          enabled = true;
          poll-interval = r.sync.interval;
          ccs-dir = pathString r.sync.ccsDir;
          dotfiles-dir = pathString r.sync.dotfilesDir;
          bucket =
            if os.enable then
              filterAttrs (_: v: v != null) {
                endpoint = os.endpoint;
                name = os.bucket;
                region = os.region;
              }
            else
              null;
        };
      };
    in
    # The options win over the same keys in `settings`: they also drive the units and the command line.
    recursiveUpdate r.settings derived;

  templateText =
    r:
    "# cliproxy configuration template, generated by the cliproxy Nix module.\n"
    + "# Secrets appear only as placeholders; `cliproxy serve --template` renders them at start.\n"
    + toYAML (settings (check r));

  # Non-secret environment for the service. Secrets reach the process through --env-file
  # (and, on Linux, EnvironmentFile=), never through the unit or plist.
  serviceEnv =
    { r, package }:
    let
      os = r.objectStore;
    in
    {
      HOME = r.homeDirectory;
      PATH = "${package}/bin:/usr/bin:/bin:/usr/sbin:/sbin";
    }
    // optionalAttrs os.enable (
      {
        OBJECTSTORE_LOCAL_PATH = os.localPath;
      }
      // optionalAttrs (os.endpoint != null) { OBJECTSTORE_ENDPOINT = os.endpoint; }
      // optionalAttrs (os.bucket != null) { OBJECTSTORE_BUCKET = os.bucket; }
    );

  envFileArgs = r: if r.environmentFile == null then [ ] else [ "--env-file" (envFile r) ];

  serveArgs =
    {
      r,
      package,
      templatePath,
    }:
    [
      "${package}/bin/cliproxy"
      "serve"
      "--config"
      r.configFile
      "--template"
      "${templatePath}"
    ]
    ++ envFileArgs r
    ++ [
      "--host"
      r.host
      "--port"
      (toString r.port)
    ]
    ++ r.extraArgs;

  syncOnceArgs =
    { r, package }:
    [
      "${package}/bin/cliproxy"
      "sync"
      "once"
      "--config"
      r.configFile
    ]
    ++ envFileArgs r;

  # `cliproxy config render` with exactly the server's template, env file and output. The separate
  # sync job runs it before `sync once`, so both read the same rendered configuration, and sync never
  # reads a missing file (first start before the server) or a stale one (template changed).
  renderArgs =
    {
      r,
      package,
      templatePath,
    }:
    [
      "${package}/bin/cliproxy"
      "config"
      "render"
      "--template"
      "${templatePath}"
    ]
    ++ envFileArgs r
    ++ [
      "--out"
      r.configFile
    ];

  shellArg = s: "'" + replaceStrings [ "'" ] [ "'\\''" ] s + "'";
  shellCommand = args: concatStringsSep " " (map shellArg args);

  separate = r: r.sync.enable && r.sync.separateService;

  # With a separate sync unit, the server must not run its own watcher as well
  # (config layering: CLIPROXY_* environment, `__` for nesting, overrides config.yaml).
  serveOnlyEnv = r: optionalAttrs (separate r) { CLIPROXY_SYNC__ENABLED = "false"; };

  launchdAgents =
    {
      resolved,
      package,
      templatePath,
      labelPrefix ? "org.nix-community.home.",
    }:
    let
      r = check resolved;
      env = serviceEnv { inherit r package; };
      logs =
        name:
        optionalAttrs (r.logDir != null) {
          StandardOutPath = "${pathString r.logDir}/${name}.log";
          StandardErrorPath = "${pathString r.logDir}/${name}.log";
        };
    in
    {
      cliproxy = {
        Label = "${labelPrefix}cliproxy";
        ProgramArguments = serveArgs { inherit r package templatePath; };
        # launchd cannot be told "not after exit code 2" (systemd's RestartPreventExitStatus): the
        # binary reports a configuration error and exits 0 under this variable, so KeepAlive leaves
        # it stopped instead of restarting it forever; failures (exit 1) and crashes still restart,
        # at most once per ThrottleInterval.
        EnvironmentVariables = env // serveOnlyEnv r // { CLIPROXY_CONFIG_ERROR_EXIT_CODE = "0"; };
        KeepAlive = {
          Crashed = true;
          SuccessfulExit = false;
        };
        RunAtLoad = true;
        ProcessType = "Background";
        ThrottleInterval = 30;
        Umask = 63; # 0077
      }
      // logs "cliproxy";
    }
    // optionalAttrs (separate r) {
      cliproxy-sync = {
        Label = "${labelPrefix}cliproxy-sync";
        # Render (the server's exact command) then reconcile; launchd runs one program, hence sh.
        ProgramArguments = [
          "/bin/sh"
          "-c"
          (
            shellCommand (renderArgs { inherit r package templatePath; })
            + " && exec "
            + shellCommand (syncOnceArgs { inherit r package; })
          )
        ];
        EnvironmentVariables = env;
        # Only the auth folder and the CCS folder: the dotfiles copy is written here and never watched.
        WatchPaths = r.sync.watchPaths;
        StartInterval = r.sync.interval; # periodic pull of other machines' changes
        RunAtLoad = true;
        # launchd starts the job at most once per ThrottleInterval; sync writes only changed bytes,
        # so its own writes cause at most one more (no-op) run.
        ThrottleInterval = 10;
        ProcessType = "Background";
        Umask = 63;
      }
      // logs "cliproxy-sync";
    };

  systemdUnits =
    {
      resolved,
      package,
      templatePath,
    }:
    let
      r = check resolved;
      env = serviceEnv { inherit r package; };
      ef = optionalAttrs (r.environmentFile != null) { EnvironmentFile = envFile r; };
      logs =
        name:
        optionalAttrs (r.logDir != null) {
          StandardOutput = "append:${pathString r.logDir}/${name}.log";
          StandardError = "append:${pathString r.logDir}/${name}.log";
        };
    in
    {
      services = {
        cliproxy = {
          Unit = {
            Description = "cliproxy AI-API gateway";
            X-Restart-Triggers = [ "${templatePath}" ];
            StartLimitIntervalSec = 300;
            StartLimitBurst = 5;
          };
          Service = {
            Type = "exec";
            ExecStart = systemdCommand (serveArgs { inherit r package templatePath; });
            Environment = systemdEnv (env // serveOnlyEnv r);
            Restart = "on-failure";
            RestartSec = 5;
            # Exit code 2 is a usage or configuration error: restarting cannot fix it.
            RestartPreventExitStatus = 2;
            UMask = "0077";
          }
          // ef
          // logs "cliproxy";
          Install.WantedBy = [ "default.target" ];
        };
      }
      // optionalAttrs (separate r) {
        cliproxy-sync = {
          Unit = {
            Description = "cliproxy auth-file sync (one reconcile)";
            X-Restart-Triggers = [ "${templatePath}" ];
            StartLimitIntervalSec = 60;
            StartLimitBurst = 30;
          };
          Service = {
            Type = "oneshot";
            ExecStartPre = systemdCommand (renderArgs { inherit r package templatePath; });
            ExecStart = systemdCommand (syncOnceArgs { inherit r package; });
            Environment = systemdEnv env;
            UMask = "0077";
          }
          // ef
          // logs "cliproxy-sync";
        };
      };
    }
    // optionalAttrs (separate r) {
      paths.cliproxy-sync = {
        Unit.Description = "Run cliproxy sync when auth files change";
        Path = {
          # The auth folder and the CCS folder only; the dotfiles copy is write-only.
          PathChanged = r.sync.watchPaths;
          Unit = "cliproxy-sync.service";
          TriggerLimitIntervalSec = "60s";
          TriggerLimitBurst = 30;
        };
        Install.WantedBy = [ "default.target" ];
      };
      timers.cliproxy-sync = {
        Unit.Description = "Pull other machines' auth-file changes every ${toString r.sync.interval}s";
        Timer = {
          OnActiveSec = "${toString r.sync.interval}s";
          OnUnitActiveSec = "${toString r.sync.interval}s";
          Unit = "cliproxy-sync.service";
        };
        Install.WantedBy = [ "timers.target" ];
      };
    };

  # Directories that must exist before the service starts (launchd does not create log folders).
  directories = r: nonNull [ (pathString r.logDir) ];
in
{
  inherit
    defaults
    resolve
    errors
    check
    settings
    templateText
    launchdAgents
    systemdUnits
    directories
    toYAML
    toPlist
    toSystemdUnit
    isPlaceholder
    recursiveUpdate
    ;
}
