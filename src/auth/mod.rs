//! Accounts: auth files (OAuth) and API-key entries, their runtime state
//! (cooldowns, refresh), selection among them, and the OAuth login flows.

pub mod cooldown;
pub mod credential;
pub mod file;
pub mod lease;
pub mod login;
pub mod project;
pub mod refresh;
pub mod registry;
pub mod selector;
pub mod store;

pub use file::{AuthFile, AuthFileError};
