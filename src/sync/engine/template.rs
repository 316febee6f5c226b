//! The config template (never the rendered config) kept in the bucket's `config/`.

use bytes::Bytes;

use super::{Engine, Observation, Report, TEMPLATE_KEY};

impl Engine {
    /// Keeps the config template (never the rendered config) in the bucket's `config/`,
    /// and restores it locally when it is missing.
    pub(super) async fn sync_template(&self, obs: &Observation, report: &mut Report) {
        let Some(path) = &self.res.template else {
            return;
        };
        let Ok(listing) = &obs.config else { return };
        let remote = listing.get(TEMPLATE_KEY);
        match std::fs::read(path) {
            Ok(bytes) => {
                let tag = self.config_store.tag_of(&bytes);
                if remote.is_some_and(|e| e.tag == tag) {
                    return;
                }
                match self
                    .config_store
                    .put_unconditional(TEMPLATE_KEY, Bytes::from(bytes))
                    .await
                {
                    Ok(_) => report.actions.push(format!("write config/{TEMPLATE_KEY}")),
                    Err(e) => report.errors.push(format!("template: {e}")),
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && remote.is_some() => {
                match self.config_store.get(TEMPLATE_KEY).await {
                    Ok(Some((b, _))) => match crate::store::write_atomic(path, &b) {
                        Ok(()) => report
                            .actions
                            .push(format!("restored template {}", path.display())),
                        Err(e) => report
                            .errors
                            .push(format!("template {}: {e}", path.display())),
                    },
                    Ok(None) => {}
                    Err(e) => report.errors.push(format!("template: {e}")),
                }
            }
            Err(_) => {}
        }
    }
}
