//! Storage primitives shared by the layers above: durable file writes (auth store,
//! template renderer, sync engine), the S3 adapter (sync engine, refresh leases) and
//! folder watching (hot reload, sync).

mod atomic;
pub mod s3;
pub mod seal;
pub mod watch;

pub use atomic::{
    ensure_private_dir, replace_if, sha256_hex, sweep_stale_temps, write_atomic,
    write_atomic_visible_first,
};
