//! `cliproxy login <provider>`: picks the provider's OAuth flow and reports the saved file.

use std::process::ExitCode;
use std::time::Duration;

use super::EXIT_USAGE;
use crate::auth::login::{DEFAULT_TIMEOUT, Flow, LoginError, antigravity, claude, codex, gemini};
use crate::cli::{LoginArgs, Provider};
use crate::config::Context;

pub(super) async fn run(args: LoginArgs, ctx: &Context) -> ExitCode {
    let client = match crate::providers::clients::HttpClients::default()
        .get(None, &ctx.config().proxy_url)
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: proxy-url: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let timeout = ctx
        .env
        .get_any(&["CLIPROXY_LOGIN_TIMEOUT"])
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT);
    if args.device && args.provider != Provider::Codex {
        eprintln!("error: --device is only available for `cliproxy login codex`");
        return ExitCode::from(EXIT_USAGE);
    }
    let flow = Flow {
        config: ctx.config(),
        auth_dir: &ctx.auth_dir,
        client,
        no_browser: args.no_browser,
        callback_port: args.callback_port,
        timeout,
    };
    let result = match (args.provider, args.device) {
        (Provider::Claude, _) => claude::login(&flow).await,
        (Provider::Codex, false) => codex::login(&flow).await,
        (Provider::Codex, true) => codex::device_login(&flow).await,
        (Provider::Gemini, _) => gemini::login(&flow).await,
        (Provider::Antigravity, _) => antigravity::login(&flow).await,
        (p @ (Provider::OpenAiCompat | Provider::GeminiApi | Provider::Vertex), _) => {
            Err(LoginError::new(format!(
                "{} uses the API keys in config.yaml; there is no login",
                p.name()
            )))
        }
    };
    match result {
        Ok(saved) => {
            println!(
                "Saved {} ({}){}",
                saved.path.display(),
                saved.email,
                if saved.updated {
                    "; updated the existing account"
                } else {
                    ""
                }
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: login failed: {e}");
            ExitCode::from(1)
        }
    }
}
