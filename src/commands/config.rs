//! `cliproxy config render|check`.

use std::process::ExitCode;

use super::{EXIT_USAGE, context, fail};
use crate::cli::{ConfigCommand, GlobalArgs};
use crate::config::{self, EnvMap, Overrides};

pub fn run(cmd: ConfigCommand, global: &GlobalArgs) -> ExitCode {
    match cmd {
        ConfigCommand::Render {
            template,
            env_file,
            out,
        } => {
            let mut env = EnvMap::from_process();
            if let Some(f) = env_file.as_ref().or(global.env_file.as_ref()) {
                env = match env.with_env_file(f) {
                    Ok(e) => e,
                    Err(e) => return fail(e, EXIT_USAGE),
                };
            }
            match config::template::render_file(&template, &env, &out) {
                Ok(()) => {
                    eprintln!("rendered {} -> {}", template.display(), out.display());
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e, EXIT_USAGE),
            }
        }
        ConfigCommand::Check => match context(global, &Overrides::default(), None) {
            Ok(ctx) => {
                match &ctx.loaded.source {
                    config::ConfigSource::File(p) => println!("config: {}", p.display()),
                    config::ConfigSource::BuiltinDefault => {
                        println!("config: built-in defaults (no config file found)")
                    }
                }
                for k in &ctx.loaded.unknown_keys {
                    println!("warning: unknown key `{k}` (ignored)");
                }
                println!("listen: {}:{}", ctx.config().host, ctx.config().port);
                println!("auth folder: {}", ctx.auth_dir.display());
                println!("ok");
                ExitCode::SUCCESS
            }
            Err(e) => fail(e, EXIT_USAGE),
        },
    }
}
