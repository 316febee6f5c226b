//! Durable file primitives shared by the auth store, the template renderer and the sync engine.

mod atomic;

pub use atomic::{
    ensure_private_dir, replace_if, sha256_hex, sweep_stale_temps, write_atomic,
    write_atomic_visible_first,
};
