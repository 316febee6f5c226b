//! cliproxy: a local AI-API gateway (CLIProxyAPI drop-in) that keeps OAuth token files safe.

pub mod config;
pub mod store;
pub mod sync;
