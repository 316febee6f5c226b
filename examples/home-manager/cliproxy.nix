# The seed's setup (CLIProxyAPI + R2 backup + CCS + dotfiles copy) expressed through services.cliproxy.
# Secrets stay in ~/dotfiles/.env (OBJECTSTORE_ACCESS_KEY, OBJECTSTORE_SECRET_KEY, OBJECTSTORE_ENDPOINT,
# CLIPROXY_MANAGEMENT_PASSWORD, OPENROUTER_API_KEY, ZAI_API_KEY, AMP_UPSTREAM_API_KEY); only their
# placeholders appear here.
{ config, ... }:
{
  services.cliproxy = {
    enable = true;
    # A string, not ./.env: a Nix path would be copied into the world-readable store.
    environmentFile = "${config.home.homeDirectory}/dotfiles/.env";

    objectStore = {
      enable = true; # endpoint comes from OBJECTSTORE_ENDPOINT in the .env file
      bucket = "cliproxyapi";
    };

    sync = {
      ccsDir = "${config.home.homeDirectory}/.ccs/cliproxy/auth";
      dotfilesDir = "${config.home.homeDirectory}/dotfiles/objectstore/auths";
      interval = 60;
    };

    settings = {
      remote-management = {
        allow-remote = false;
        secret-key = "__CLIPROXY_MANAGEMENT_PASSWORD__";
      };
      request-retry = 3;
      max-retry-interval = 30;
      routing.strategy = "round-robin";
      openai-compatibility = [
        {
          name = "openrouter";
          base-url = "https://openrouter.ai/api/v1";
          api-key-entries = [ { api-key = "\${OPENROUTER_API_KEY}"; } ];
          models = [
            {
              name = "anthropic/claude-sonnet-4.5";
              alias = "openrouter-claude-sonnet-4.5";
            }
          ];
        }
        {
          name = "zai";
          base-url = "https://api.z.ai/api/coding/paas/v4";
          api-key-entries = [ { api-key = "\${ZAI_API_KEY}"; } ];
          models = [
            {
              name = "glm-4.6";
              alias = "glm-4.6";
            }
          ];
        }
      ];
      ampcode = {
        upstream-url = "https://ampcode.com";
        upstream-api-key = "__AMP_UPSTREAM_API_KEY__";
      };
    };
  };
}
