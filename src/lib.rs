//! cliproxy: a local AI-API gateway (CLIProxyAPI drop-in) that keeps OAuth token files safe.

pub mod auth;
pub mod cli;
pub mod commands;
pub mod config;
pub mod providers;
pub mod server;
pub mod store;
pub mod sync;
pub mod translate;
pub mod usage;
