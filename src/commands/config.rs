//! `cliproxy config render|check`.

use std::process::ExitCode;

use super::{EXIT_USAGE, context, fail, sources};
use crate::cli::{ConfigCommand, GlobalArgs};
use crate::config::context::Prepared;
use crate::config::{self, Overrides};

pub fn run(cmd: ConfigCommand, global: &GlobalArgs) -> ExitCode {
    match cmd {
        ConfigCommand::Render {
            template,
            env_file,
            out,
        } => {
            let mut src = sources(global, template.as_deref(), out.as_deref());
            if env_file.is_some() {
                src.env_file = env_file.as_deref();
            }
            let prepared = match Prepared::new(src) {
                Ok(p) => p,
                Err(e) => return fail(e, EXIT_USAGE),
            };
            match prepared.render() {
                Ok(Some(s)) => {
                    eprintln!(
                        "rendered {} -> {}",
                        s.template.path.display(),
                        s.out.path.display()
                    );
                    ExitCode::SUCCESS
                }
                Ok(None) => fail(
                    "no template to render: give --template, set CLIPROXY_TEMPLATE, or set template.path in the config file",
                    EXIT_USAGE,
                ),
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
