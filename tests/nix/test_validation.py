"""Configuration errors: store-path env files, literal secrets, self-triggering watch paths."""

from conftest import FAKE_PACKAGE, FAKE_TEMPLATE, errors, nix_eval, resolved_expr


def test_valid_config_has_no_errors():
    assert errors({"environmentFile": "/home/me/.env", "objectStore": {"enable": True}}) == []


def _units_proc(cfg_nix):
    r = resolved_expr(cfg_nix, darwin=False, home="/home/me")
    return nix_eval(
        f'lib.systemdUnits {{ resolved = {r}; package = "{FAKE_PACKAGE}"; templatePath = "{FAKE_TEMPLATE}"; }}',
        check=False,
    )


def test_store_path_env_file_is_rejected_with_a_clear_message():
    proc = _units_proc('{ environmentFile = "/nix/store/aaaabbbbccccddddeeeeffffgggghhhh-dot-env"; }')
    assert proc.returncode != 0
    assert "services.cliproxy.environmentFile = /nix/store/aaaabbbbccccddddeeeeffffgggghhhh-dot-env" in proc.stderr
    assert "inside the Nix store" in proc.stderr


def test_env_file_from_a_store_derived_string_is_rejected():
    # "${./x}" style: a string with store context.
    errs = errors('{ environmentFile = "${builtins.toFile "dot-env" "A=1"}"; }')
    assert len(errs) == 1 and "inside the Nix store" in errs[0]


def test_nix_path_value_env_file_is_rejected_without_copying_it(tmp_path):
    env = tmp_path / "secrets.env"
    env.write_text("ZAI_API_KEY=not-a-real-key-but-secret-looking\n")
    errs = errors(f"{{ environmentFile = {env}; }}")  # a Nix path literal
    assert len(errs) == 1
    assert "not a Nix path value" in errs[0]
    # The message names the file by its own path: nothing was copied into the store.
    assert f"environmentFile = {env}:" in errs[0]
    assert "/nix/store" not in errs[0].split(":")[0]


def test_relative_env_file_string_is_rejected():
    errs = errors({"environmentFile": "dotfiles/.env"})
    assert len(errs) == 1 and "must be an absolute path" in errs[0]


def test_literal_secrets_in_settings_are_rejected():
    errs = errors(
        {
            "environmentFile": "/home/me/.env",
            "settings": {
                "remote-management": {"secret-key": "hunter2"},
                "api-keys": ["__CLIENT_KEY__", "plain-client-key"],
                "openai-compatibility": [
                    {"name": "zai", "api-key-entries": [{"api-key": "${ZAI_API_KEY}"}]},
                    {"name": "or", "api-key-entries": [{"api-key": "sk-or-v1-literal"}]},
                ],
                "ampcode": {"upstream-api-key": "", "upstream-url": "https://ampcode.com"},
            },
        }
    )
    assert len(errs) == 1
    msg = errs[0]
    assert "remote-management.secret-key" in msg
    assert "api-keys[1]" in msg and "api-keys[0]" not in msg
    assert "openai-compatibility[1].api-key-entries[0].api-key" in msg
    assert "openai-compatibility[0]" not in msg
    assert "ampcode" not in msg, "empty values and non-secret keys are fine"
    assert "hunter2" not in msg, "the error must not echo the secret"


def test_watching_the_dotfiles_copy_is_rejected():
    errs = errors(
        {
            "sync": {
                "separateService": True,
                "watchPaths": ["/home/me/.cli-proxy-api", "/home/me/dotfiles/objectstore/auths"],
            }
        }
    )
    assert len(errs) == 1 and "write-only" in errs[0]


def test_other_errors_are_listed_together():
    errs = errors(
        {
            "port": 70000,
            "sync": {"enable": False, "separateService": True},
            "objectStore": {"enable": True},
        }
    )
    joined = "\n".join(errs)
    assert len(errs) == 3
    assert "port must be an integer between 1 and 65535" in joined
    assert "separateService needs services.cliproxy.sync.enable" in joined
    assert "objectStore.enable needs objectStore.endpoint" in joined


def test_template_refuses_to_render_with_errors():
    proc = nix_eval(
        f"lib.templateText {resolved_expr({'settings': {'api-keys': ['literal']}}, darwin=False, home='/h')}",
        check=False,
    )
    assert proc.returncode != 0 and "literal secrets at api-keys[0]" in proc.stderr
