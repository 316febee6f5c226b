//! One file per command.

pub mod usage;
