//! HTTP server: `router(state) -> Router`, routes per dialect, middleware.

use crate::cli::Context;

pub async fn serve(_ctx: Context) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
