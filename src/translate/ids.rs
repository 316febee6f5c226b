//! Response ids, which carry a per-dialect prefix (`msg_`, `chatcmpl-`, `cmpl-`).

/// Re-labels a response id for the client's dialect: `theirs_abc` → `ours_abc`; an id
/// already in our form is kept, any other gets our prefix, an empty one a fresh id.
pub(crate) fn relabel_id(id: &str, ours: &str, theirs: &str) -> String {
    if id.starts_with(ours) {
        return id.to_string();
    }
    let bare = id.strip_prefix(theirs).unwrap_or(id);
    if bare.is_empty() {
        format!("{ours}{}", new_id())
    } else {
        format!("{ours}{bare}")
    }
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
